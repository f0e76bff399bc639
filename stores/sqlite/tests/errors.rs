//! What a `SqliteStore` refuses, and how it says so: conflicts name their record.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use giftcert::{
    CardSpec, Code, Currency, IdempotencyKey, Money, Notification, Redeemer, Reference, Store,
    StoreError,
    clock::FixedClock,
    redeem::RecordWrite,
    redeem::{CardWrite, Changes, Record},
};
use giftcert_sqlite::SqliteStore;
use giftcert_store_support::CodeKey;

fn key() -> CodeKey {
    CodeKey::new(b"giftcert-sqlite errors test key!").unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn usd(s: &str) -> Money {
    Money::parse(s, Currency::USD).unwrap()
}

/// Every refused commit names the record it is about: the stale card, the card inserted twice,
/// the entry that does not continue its card's ledger, the checkout inserted twice and the
/// idempotency key recorded already.
fn check_conflicts_name_their_record(store: impl Store) {
    let redeemer = Redeemer::new(store).with_clock(Arc::new(FixedClock::new(t0())));
    let issue = IdempotencyKey::new("issue").unwrap();
    let issued = redeemer
        .issue(&issue, vec![CardSpec::new(usd("100"))])
        .unwrap();
    let Some(Notification::CardIssued { card: id, code, .. }) = issued.notifications.first() else {
        panic!("no card issued");
    };
    let checkout = Reference::new("checkout-1").unwrap();
    redeemer
        .apply_code(
            &Reference::new("client").unwrap(),
            &checkout,
            Currency::USD,
            code.expose_secret(),
        )
        .unwrap();
    let store = redeemer.store();
    let card = store.card(*id).unwrap().unwrap();
    let conflict = |changes: Changes| match store.commit(changes) {
        Err(StoreError::Conflict { record, reason }) => (record, reason),
        other => panic!("expected a conflict, got {other:?}"),
    };
    let update = |expected_version| CardWrite::Update {
        card: card.value.clone(),
        expected_version,
    };

    let stale = conflict(Changes {
        cards: vec![update(card.version + 1)],
        ..Changes::default()
    });
    assert_eq!(
        stale,
        (
            Record::Card(*id),
            format!("it does not exist at version {}", card.version + 1)
        )
    );

    let twice = conflict(Changes {
        cards: vec![CardWrite::Insert {
            card: card.value.clone(),
            code: Code::parse("ABCD-EFGH-JKMN-PQR7").unwrap(),
        }],
        ..Changes::default()
    });
    assert_eq!(twice, (Record::Card(*id), "it already exists".to_owned()));

    let first = store.ledger(*id, 1, 1).unwrap();
    let again = conflict(Changes {
        cards: vec![update(card.version)],
        entries: first,
        ..Changes::default()
    });
    assert_eq!(
        again,
        (
            Record::Entry { card: *id, seq: 1 },
            "it does not follow entry 1".to_owned()
        )
    );

    let stored = store.checkout(&checkout).unwrap().unwrap();
    let inserted_twice = conflict(Changes {
        checkout: Some(RecordWrite {
            value: stored.value,
            expected_version: None,
        }),
        ..Changes::default()
    });
    assert_eq!(
        inserted_twice,
        (Record::Checkout(checkout), "it already exists".to_owned())
    );

    let record = store.idempotency(&issue).unwrap().unwrap();
    let recorded = conflict(Changes {
        idempotency: Some(record),
        ..Changes::default()
    });
    assert_eq!(
        recorded,
        (Record::Idempotency(issue), "it is recorded".to_owned())
    );

    // Nothing refused was written.
    assert_eq!(store.card(*id).unwrap().unwrap(), card);
}

#[test]
fn sqlite_conflicts_name_their_record() {
    let dir = tempfile::tempdir().unwrap();
    check_conflicts_name_their_record(
        SqliteStore::open(dir.path().join("cards.db"), key()).unwrap(),
    );
}
