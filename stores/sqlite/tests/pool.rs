//! A store's connection pool is bounded: when every connection is busy a request waits the
//! checkout timeout, then fails with `StoreError::Unavailable`, and is served again once a
//! connection is back.

use std::error::Error as _;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use giftcert::{
    CardSpec, Currency, IdempotencyKey, Money, Notification, Redeemer, Store, StoreError,
    redeem::{CardWrite, Changes},
};
use giftcert_sqlite::{PoolOptions, SqliteStore};
use giftcert_store_support::CodeKey;
use rusqlite::Connection;

fn key() -> CodeKey {
    CodeKey::new(b"giftcert-sqlite pool test key!!!").unwrap()
}

#[test]
fn a_pool_of_one_refuses_a_second_request_until_its_connection_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let issued = Redeemer::new(SqliteStore::open(&path, key()).unwrap())
        .issue(
            &IdempotencyKey::new("issue").unwrap(),
            vec![CardSpec::new(Money::parse("100", Currency::USD).unwrap())],
        )
        .unwrap();
    let Some(Notification::CardIssued { card: id, .. }) = issued.notifications.first() else {
        panic!("no card issued");
    };

    let timeout = Duration::from_millis(200);
    let options = PoolOptions::new()
        .with_max_size(NonZeroU32::MIN)
        .with_checkout_timeout(timeout);
    let store = SqliteStore::open_with(&path, key(), options).unwrap();
    let card = store.card(*id).unwrap().unwrap();

    // Another process holds the file's write lock, so the store's commit waits for it (within
    // SQLite's busy timeout of 5 s) on the pool's only connection.
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            store.commit(Changes {
                cards: vec![CardWrite::Update {
                    card: card.value.clone(),
                    expected_version: card.version,
                }],
                ..Changes::default()
            })
        });
        // Reads are served until the writer has taken the connection, then refused.
        let deadline = Instant::now() + Duration::from_secs(3);
        let refused = loop {
            match store.card(*id) {
                Err(error @ StoreError::Unavailable { .. }) => break error,
                Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                other => panic!("expected the pool to be exhausted, got {other:?}"),
            }
        };
        let StoreError::Unavailable { waited, .. } = &refused else {
            unreachable!()
        };
        assert!(*waited >= timeout, "waited only {waited:?}");
        assert!(*waited < Duration::from_secs(3), "waited {waited:?}");
        assert_eq!(
            refused.to_string(),
            format!(
                "no database connection was free within {} ms",
                waited.as_millis()
            )
        );
        assert!(refused.source().is_some(), "the pool's error is kept");

        other.execute_batch("COMMIT").unwrap();
        writer.join().unwrap().unwrap();
    });

    // The connection is back: the next request is served, and sees the commit.
    assert_eq!(store.card(*id).unwrap().unwrap().version, card.version + 1);
}
