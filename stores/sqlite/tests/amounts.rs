//! Every store accepts the amounts the core does, and refuses the ones it refuses: a card of
//! one billion of its currency is issued and read back from SQLite as from the in-memory
//! store.

use giftcert::card::CardError;
use giftcert::money::MoneyError;
use giftcert::{
    CardSpec, Currency, IdempotencyKey, MemoryStore, Money, RedeemError, Redeemer, Store,
};
use giftcert_sqlite::SqliteStore;
use giftcert_store_support::CodeKey;

fn issue_and_read<S: Store>(store: S, value: Money) -> Money {
    let redeemer = Redeemer::new(store);
    let issued = redeemer
        .issue(
            &IdempotencyKey::new("big").unwrap(),
            vec![CardSpec::new(value)],
        )
        .unwrap();
    let id = issued.outcome.cards[0].card;
    redeemer.card(id).unwrap().unwrap().balance()
}

/// The largest amount the core takes, one billion of a currency, is issued and read back
/// exactly, in a currency of no decimals and in one of eighteen; a minor unit more is refused
/// by both stores alike, before anything is written.
#[test]
fn sqlite_takes_the_largest_amounts_memory_takes() {
    let dir = tempfile::tempdir().unwrap();
    let key = CodeKey::new(b"giftcert-sqlite amounts test key").unwrap();
    let fine = Currency::custom("WEI", 18).unwrap();
    for currency in [Currency::JPY, Currency::USD, fine] {
        let value = Money::maximum(currency);
        assert_eq!(issue_and_read(MemoryStore::new(), value), value);
        let path = dir.path().join(format!("{currency}.db"));
        let sqlite = SqliteStore::open(&path, key.clone()).unwrap();
        assert_eq!(issue_and_read(sqlite, value), value);

        let over = value
            .checked_add(Money::from_minor(1, currency).unwrap())
            .unwrap();
        let refused = |result: Result<_, RedeemError>| {
            assert!(
                matches!(
                    result,
                    Err(RedeemError::Card(CardError::Money(
                        MoneyError::AboveMaximum { .. }
                    )))
                ),
                "{result:?}"
            );
        };
        let over_key = IdempotencyKey::new("over").unwrap();
        refused(
            Redeemer::new(MemoryStore::new())
                .issue(&over_key, vec![CardSpec::new(over)])
                .map(|_| ()),
        );
        refused(
            Redeemer::new(SqliteStore::open(&path, key.clone()).unwrap())
                .issue(&over_key, vec![CardSpec::new(over)])
                .map(|_| ()),
        );
    }
}

/// The liability report sums the largest amounts exactly, as the in-memory store does.
#[test]
fn the_liability_report_is_exact_at_the_largest_amounts() {
    let dir = tempfile::tempdir().unwrap();
    let key = CodeKey::new(b"giftcert-sqlite amounts test key").unwrap();
    let sqlite = Redeemer::new(SqliteStore::open(dir.path().join("report.db"), key).unwrap());
    let memory = Redeemer::new(MemoryStore::new());
    let specs: Vec<CardSpec> = ["1000000000", "999999999.99", "1000000000", "0.01"]
        .iter()
        .map(|t| CardSpec::new(Money::parse(t, Currency::KWD).unwrap()))
        .collect();
    let now = chrono::Utc::now();
    for (i, spec) in specs.into_iter().enumerate() {
        let k = IdempotencyKey::new(&format!("card-{i}")).unwrap();
        sqlite.issue(&k, vec![spec.clone()]).unwrap();
        memory.issue(&k, vec![spec]).unwrap();
    }
    let at = now + chrono::Duration::seconds(60);
    let (from_sqlite, from_memory) = (sqlite.liability(at).unwrap(), memory.liability(at).unwrap());
    assert_eq!(from_sqlite, from_memory);
    let line = from_sqlite.currency(Currency::KWD).unwrap();
    assert_eq!(
        line.issued,
        Money::parse("3000000000", Currency::KWD).unwrap()
    );
    assert_eq!(line.outstanding_cards, 4);

    // A custom currency's column names its minor units too: the report reads it back.
    let points = Currency::custom("WEI", 18).unwrap();
    let value = Money::parse("999999999.000000000000000001", points).unwrap();
    let k = IdempotencyKey::new("custom").unwrap();
    sqlite.issue(&k, vec![CardSpec::new(value)]).unwrap();
    memory.issue(&k, vec![CardSpec::new(value)]).unwrap();
    let (from_sqlite, from_memory) = (sqlite.liability(at).unwrap(), memory.liability(at).unwrap());
    assert_eq!(from_sqlite, from_memory);
    assert_eq!(from_sqlite.currency(points).unwrap().issued, value);
    assert!(from_sqlite.discrepancies().is_empty());
}
