//! Apply + authorise + capture of one order on `MemoryStore`: one thread; two threads on
//! different cards; two threads on the same card. Beside them, the floor: a map lookup under a
//! lock that moves a `Decimal` twice.
//!
//! Each measured batch runs on a fresh store so that memory does not grow without bound; ids
//! and keys are made before the clock starts (a host has them already).

use giftcert::{CheckoutId, ClientId};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use giftcert::{
    CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer,
    clock::FixedClock,
};
use rust_decimal::Decimal;

/// Orders per fresh store.
const BATCH: u64 = 20_000;

struct Order {
    checkout: CheckoutId,
    authorise: IdempotencyKey,
    capture: IdempotencyKey,
}

fn orders(prefix: &str, n: u64) -> Vec<Order> {
    (0..n)
        .map(|i| Order {
            checkout: CheckoutId::new(&format!("{prefix}-c{i}")).unwrap(),
            authorise: IdempotencyKey::new(&format!("{prefix}-a{i}")).unwrap(),
            capture: IdempotencyKey::new(&format!("{prefix}-k{i}")).unwrap(),
        })
        .collect()
}

/// A fresh service with `cards` cards of a billion dollars each; returns their codes.
fn shop(cards: usize) -> (Redeemer<MemoryStore>, Vec<String>) {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
    ));
    let redeemer = Redeemer::new(MemoryStore::new()).with_clock(clock);
    let value = Money::parse("1000000000", Currency::USD).unwrap();
    let issued = redeemer
        .issue(
            &IdempotencyKey::new("bench-issue").unwrap(),
            vec![CardSpec::new(value); cards],
        )
        .unwrap();
    let codes = issued
        .notifications
        .iter()
        .map(|n| match n {
            Notification::CardIssued { code, .. } => code.expose_secret().to_owned(),
            _ => unreachable!(),
        })
        .collect();
    (redeemer, codes)
}

fn redeem(
    redeemer: &Redeemer<MemoryStore>,
    client: &ClientId,
    code: &str,
    order: &Order,
    amount: Money,
) {
    redeemer
        .apply_code(client, &order.checkout, Currency::USD, code)
        .unwrap();
    redeemer
        .authorise(&order.authorise, &order.checkout, amount)
        .unwrap();
    redeemer.capture(&order.capture, &order.checkout).unwrap();
}

/// Runs `iters` orders split over `threads` threads, each on card `card_of(thread)`; returns
/// the wall time of the measured parts.
fn run(iters: u64, threads: usize, same_card: bool) -> Duration {
    let amount = Money::parse("1", Currency::USD).unwrap();
    let client = ClientId::new("bench").unwrap();
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let batch = left.min(BATCH);
        left -= batch;
        let (redeemer, codes) = shop(threads);
        let per_thread = batch.div_ceil(threads as u64);
        let work: Vec<Vec<Order>> = (0..threads)
            .map(|t| orders(&format!("t{t}"), per_thread))
            .collect();
        let start = Instant::now();
        std::thread::scope(|scope| {
            for (t, orders) in work.iter().enumerate() {
                let (redeemer, client) = (&redeemer, &client);
                let code = if same_card { &codes[0] } else { &codes[t] };
                scope.spawn(move || {
                    for order in orders {
                        redeem(redeemer, client, code, order, amount);
                    }
                });
            }
        });
        total += start.elapsed();
    }
    total
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("redemption");
    group.sample_size(20);
    group.bench_function("apply+authorise+capture/1 thread", |b| {
        b.iter_custom(|iters| run(iters, 1, false))
    });
    group.bench_function("apply+authorise+capture/2 threads, different cards", |b| {
        b.iter_custom(|iters| run(iters, 2, false))
    });
    group.bench_function("apply+authorise+capture/2 threads, same card", |b| {
        b.iter_custom(|iters| run(iters, 2, true))
    });
    let floor: Mutex<HashMap<u64, (Decimal, Decimal)>> = Mutex::new(
        (0..16)
            .map(|k| (k, (Decimal::new(1_000_000_000, 0), Decimal::ZERO)))
            .collect(),
    );
    let one = Decimal::ONE;
    group.bench_function("floor: locked lookup moving a Decimal twice", |b| {
        b.iter(|| {
            let mut map = floor.lock().unwrap();
            let slot = map.get_mut(black_box(&7)).unwrap();
            slot.0 -= black_box(one);
            slot.1 += one;
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
