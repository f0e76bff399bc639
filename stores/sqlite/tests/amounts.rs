//! Every store accepts the amounts the core does: a card of 28 integer digits is issued and
//! read back from SQLite as from the in-memory store.

use giftcert::{CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Redeemer, Store};
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

/// Before, SQLite refused an amount of 28 integer digits that MemoryStore takes.
#[test]
fn sqlite_takes_the_largest_amounts_memory_takes() {
    let dir = tempfile::tempdir().unwrap();
    let key = CodeKey::new(b"giftcert-sqlite amounts test key").unwrap();
    for text in [
        "9999999999999999999999999999",
        "1234567890123456789012345678",
    ] {
        let value = Money::parse(text, Currency::USD).unwrap();
        assert_eq!(issue_and_read(MemoryStore::new(), value), value);
        let sqlite = SqliteStore::open(dir.path().join(format!("{text}.db")), key.clone()).unwrap();
        assert_eq!(issue_and_read(sqlite, value), value);
    }
}

/// The liability report sums amounts too long for a 64-bit count of minor units exactly, as
/// the in-memory store does: SQLite's grouped sums take the short ones, the long ones are
/// added from their own rows.
#[test]
fn the_liability_report_is_exact_beyond_64_bit_sums() {
    let dir = tempfile::tempdir().unwrap();
    let key = CodeKey::new(b"giftcert-sqlite amounts test key").unwrap();
    let sqlite = Redeemer::new(SqliteStore::open(dir.path().join("report.db"), key).unwrap());
    let memory = Redeemer::new(MemoryStore::new());
    let specs: Vec<CardSpec> = [
        "12345678901234567890123456",
        "92233720368547758.07",
        "92233720368547758.07",
        "9223372036854775.80",
        "9223372036854775.80",
        "0.01",
    ]
    .iter()
    .map(|t| CardSpec::new(Money::parse(t, Currency::USD).unwrap()))
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
    let line = from_sqlite.currency(Currency::USD).unwrap();
    assert_eq!(
        line.issued,
        Money::parse("12345679104148752700928523.75", Currency::USD).unwrap()
    );
    assert_eq!(line.outstanding_cards, 6);
    assert!(from_sqlite.discrepancies().is_empty());
}
