//! Allocation of one payable amount over 1, 10 and 1,000 cards, beside a floor that does only
//! the unavoidable work: sort the amounts and take min/subtract over them with `Decimal`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use giftcert::{Currency, Money, redeem::allocate};
use rust_decimal::Decimal;

/// Card amounts from 1.00 to 999.99, spread deterministically.
fn amounts(n: usize) -> Vec<Money> {
    (0..n)
        .map(|i| Money::from_minor(100 + (i as i64 * 7_919) % 99_900, Currency::USD).unwrap())
        .collect()
}

/// Sorts the amounts and gives each min(amount, unpaid): the work no allocation can skip.
fn floor(payable: Decimal, amounts: &[Decimal]) -> Decimal {
    let mut sorted = amounts.to_vec();
    sorted.sort();
    let mut unpaid = payable;
    let mut used = Decimal::ZERO;
    for a in sorted {
        let take = a.min(unpaid);
        unpaid -= take;
        used += take;
    }
    used
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("allocation");
    for n in [1usize, 10, 1_000] {
        let cards = amounts(n);
        let total = Money::sum(Currency::USD, cards.iter().copied()).unwrap();
        // Pay about two thirds of what the cards hold, so some are used fully, one partly.
        let payable = Money::rounded(
            total.amount() * Decimal::new(2, 0) / Decimal::new(3, 0),
            Currency::USD,
            Default::default(),
        );
        let raw: Vec<Decimal> = cards.iter().map(Money::amount).collect();
        group.bench_with_input(BenchmarkId::new("allocate", n), &n, |b, _| {
            b.iter(|| allocate(black_box(payable), cards.iter().copied().enumerate()).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("floor", n), &n, |b, _| {
            b.iter(|| floor(black_box(payable.amount()), black_box(&raw)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
