//! Bytes per card and per ledger entry in `MemoryStore`, and allocations per order (apply,
//! authorise, capture), counted by a global allocator wrapper (not guessed from `size_of`).
//! Run with `cargo bench -p giftcert-benches --bench memory`.

use giftcert::CheckoutId;
use giftcert::ClientId;
use std::alloc::System;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use giftcert::{
    CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer,
    clock::FixedClock,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes still allocated that `f` allocated.
fn net_bytes<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let region = Region::new(GLOBAL);
    let value = f();
    let change = region.change();
    let net = change.bytes_allocated as isize - change.bytes_deallocated as isize
        + change.bytes_reallocated;
    (value, net)
}

fn main() {
    // Only measure when run as a benchmark (`cargo bench` passes --bench; `cargo test` does not).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
    ));
    let redeemer = Redeemer::new(MemoryStore::new()).with_clock(clock);
    let usd = |s: &str| Money::parse(s, Currency::USD).unwrap();

    const CARDS: usize = 10_000;
    let specs = vec![CardSpec::new(usd("100")); CARDS];
    let ((), card_bytes) = net_bytes(|| {
        // The result (with its notifications) is dropped inside: only the store's bytes stay.
        redeemer
            .issue(&IdempotencyKey::new("memory-issue").unwrap(), specs)
            .unwrap();
    });
    // The issue call also records one idempotency record for the whole batch: negligible.
    println!(
        "bytes per card (with its code index and its Issued entry): {}",
        card_bytes / CARDS as isize
    );

    // One card, many entries: apply + authorise + capture writes two entries an order.
    let issued = redeemer
        .issue(
            &IdempotencyKey::new("one").unwrap(),
            vec![CardSpec::new(usd("1000000000"))],
        )
        .unwrap();
    let Notification::CardIssued { code, .. } = &issued.notifications[0] else {
        unreachable!()
    };
    let client = ClientId::new("bench").unwrap();
    const ORDERS: usize = 50_000;
    let requests: Vec<(CheckoutId, IdempotencyKey, IdempotencyKey)> = (0..ORDERS)
        .map(|i| {
            (
                CheckoutId::new(&format!("c{i}")).unwrap(),
                IdempotencyKey::new(&format!("a{i}")).unwrap(),
                IdempotencyKey::new(&format!("k{i}")).unwrap(),
            )
        })
        .collect();
    let region = Region::new(GLOBAL);
    let ((), order_bytes) = net_bytes(|| {
        for (checkout, a, k) in &requests {
            redeemer
                .apply_code(&client, checkout, Currency::USD, code.expose_secret())
                .unwrap();
            redeemer.authorise(a, checkout, usd("1")).unwrap();
            redeemer.capture(k, checkout).unwrap();
        }
    });
    let all = region.change();
    println!(
        "allocations per order (apply + authorise + capture, kept or freed): {:.1} ({:.0} bytes allocated, {:.1} reallocations)",
        all.allocations as f64 / ORDERS as f64,
        all.bytes_allocated as f64 / ORDERS as f64,
        all.reallocations as f64 / ORDERS as f64,
    );
    let entries = 2 * ORDERS;
    println!(
        "bytes per order (2 ledger entries, a checkout, 2 idempotency records): {}",
        order_bytes / ORDERS as isize
    );
    // Ledger entries alone: append them to a second store directly through the card's history.
    let history = redeemer
        .history(match &issued.notifications[0] {
            Notification::CardIssued { card, .. } => *card,
            _ => unreachable!(),
        })
        .unwrap();
    let (kept, ledger_bytes) = net_bytes(|| history.iter().skip(1).cloned().collect::<Vec<_>>());
    println!(
        "bytes per ledger entry (a Vec of {} entries): {}",
        kept.len(),
        ledger_bytes / entries as isize
    );
}
