//! Reading a card's balance and available amount with 10, 1,000 and 100,000 ledger entries:
//! a running balance makes the read independent of history.

use giftcert::{CheckoutId, ClientId};
use std::hint::black_box;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use giftcert::{
    CardId, CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer,
    clock::FixedClock,
};

/// A service holding one card whose ledger has at least `entries` entries.
fn card_with_history(entries: usize) -> (Redeemer<MemoryStore>, CardId) {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
    ));
    let redeemer = Redeemer::new(MemoryStore::new()).with_clock(clock);
    let value = Money::parse("1000000000", Currency::USD).unwrap();
    let issued = redeemer
        .issue(
            &IdempotencyKey::new("issue").unwrap(),
            vec![CardSpec::new(value)],
        )
        .unwrap();
    let Notification::CardIssued { card, code, .. } = &issued.notifications[0] else {
        unreachable!()
    };
    let client = ClientId::new("bench").unwrap();
    let one = Money::parse("1", Currency::USD).unwrap();
    // Each order writes two entries: held, then captured.
    for i in 0..entries.div_ceil(2) {
        let checkout = CheckoutId::new(&format!("c{i}")).unwrap();
        redeemer
            .apply_code(&client, &checkout, Currency::USD, code.expose_secret())
            .unwrap();
        redeemer
            .authorise(
                &IdempotencyKey::new(&format!("a{i}")).unwrap(),
                &checkout,
                one,
            )
            .unwrap();
        redeemer
            .capture(&IdempotencyKey::new(&format!("k{i}")).unwrap(), &checkout)
            .unwrap();
    }
    (redeemer, *card)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("balance");
    for entries in [10usize, 1_000, 100_000] {
        let (redeemer, id) = card_with_history(entries);
        group.bench_with_input(
            BenchmarkId::new("balance+available", entries),
            &entries,
            |b, _| {
                b.iter(|| {
                    let card = redeemer.card(black_box(id)).unwrap().unwrap();
                    (card.balance(), card.available())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
