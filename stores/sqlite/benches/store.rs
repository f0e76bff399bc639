//! One order paid by gift card (apply the code, authorise, capture) on `SqliteStore`, beside
//! the same order on `MemoryStore`, and beside the anchor: three bare
//! `BEGIN IMMEDIATE; UPDATE <one row>; COMMIT` transactions through rusqlite on a file opened as
//! the store opens its own (WAL, `synchronous = FULL`). The target is one order within 3x of
//! those three transactions.
//!
//! ```text
//! cargo bench -p giftcert-sqlite
//! ```

use giftcert::{CheckoutId, ClientId};
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use giftcert::{
    CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Store,
};
use giftcert_sqlite::SqliteStore;
use giftcert_store_support::CodeKey;
use rusqlite::Connection;

/// Issues a card large enough for every iteration (each spends 0.01) and returns its code.
fn card<S: Store>(redeemer: &Redeemer<S>) -> String {
    let value = Money::parse("1000000", Currency::USD).expect("an amount");
    let issued = redeemer
        .issue(
            &IdempotencyKey::new("bench-issue").expect("a key"),
            vec![CardSpec::new(value)],
        )
        .expect("issue");
    match issued.notifications.first() {
        Some(Notification::CardIssued { code, .. }) => code.expose_secret().to_owned(),
        _ => panic!("no card issued"),
    }
}

/// Order `n`: apply the card's code, authorise 0.01, capture.
fn order<S: Store>(redeemer: &Redeemer<S>, code: &str, n: u64) {
    let checkout = CheckoutId::new(&format!("order-{n}")).expect("a reference");
    let client = ClientId::new("bench").expect("a reference");
    let cent = Money::parse("0.01", Currency::USD).expect("an amount");
    let key = |step: &str| IdempotencyKey::new(&format!("order-{n}-{step}")).expect("a key");
    redeemer
        .apply_code(&client, &checkout, Currency::USD, code)
        .expect("apply");
    redeemer
        .authorise(&key("authorise"), &checkout, cent)
        .expect("authorise");
    let captured = redeemer
        .capture(&key("capture"), &checkout)
        .expect("capture");
    black_box(captured);
}

fn apply_authorise_capture(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply + authorise + capture");

    let memory = Redeemer::new(MemoryStore::new());
    let code = card(&memory);
    let mut n = 0;
    group.bench_function("MemoryStore", |b| {
        b.iter(|| {
            n += 1;
            order(&memory, &code, n);
        });
    });

    let dir = tempfile::tempdir().expect("a temporary folder");
    let key = CodeKey::new(b"giftcert-sqlite benchmark key!!!").expect("a key");
    let sqlite =
        Redeemer::new(SqliteStore::open(dir.path().join("bench.db"), key).expect("a store"));
    let code = card(&sqlite);
    let mut n = 0;
    group.bench_function("SqliteStore", |b| {
        b.iter(|| {
            n += 1;
            order(&sqlite, &code, n);
        });
    });
    group.finish();
}

/// The anchor: three bare write transactions, each updating one row, with the store's
/// journal mode and synchronous setting, so each commit waits for the disk as the store's do.
fn bare_transactions(c: &mut Criterion) {
    let mut group = c.benchmark_group("three bare transactions");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let conn = Connection::open(dir.path().join("bare.db")).expect("a file");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .expect("WAL");
    assert_eq!(mode, "wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous");
    conn.execute_batch(
        "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); \
         INSERT INTO counter (id, n) VALUES (1, 0);",
    )
    .expect("a table");
    group.bench_function("BEGIN IMMEDIATE; UPDATE; COMMIT x3", |b| {
        b.iter(|| {
            for _ in 0..3 {
                conn.execute_batch(
                    "BEGIN IMMEDIATE; UPDATE counter SET n = n + 1 WHERE id = 1; COMMIT;",
                )
                .expect("a transaction");
            }
        });
    });
    group.finish();
}

criterion_group!(benches, apply_authorise_capture, bare_transactions);
criterion_main!(benches);
