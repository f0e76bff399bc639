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
