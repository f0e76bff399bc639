//! One order paid by gift card (apply the code, authorise, capture) on `SqliteStore`, beside
//! the same order on `MemoryStore`.
//!
//! ```text
//! cargo bench -p giftcert-sqlite
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use giftcert::{
    CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Reference,
    Store,
};
use giftcert_sqlite::SqliteStore;
use giftcert_store_support::CodeKey;

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
    let checkout = Reference::new(&format!("order-{n}")).expect("a reference");
    let client = Reference::new("bench").expect("a reference");
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

criterion_group!(benches, apply_authorise_capture);
criterion_main!(benches);
