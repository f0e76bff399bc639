//! Totals of carts of 1, 20 and 500 product lines spread over 1 to 3 tax rates, with no gift
//! certificate applied and with three, beside a floor that does only the unavoidable work on
//! the same line amounts: a sum per rate and one rounding per rate.
//!
//! Beside them, the "large carts" group builds carts of 1,000, 10,000 and 50,000 lines over
//! three rates and computes their totals, both inside the timed loop: the target is linear
//! work (1,000 to 50,000 lines within 60x the time) and 50,000 lines under 50 ms.
//!
//! ```text
//! cargo bench -p giftcert-benches --bench totals -- --warm-up-time 1 --measurement-time 3 "large carts"
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use giftcert::{
    Currency, Money, PriceBasis, Selection, SelectionPolicy, TaxRate, Totals, TotalsSettings,
    money::RoundingRule, shop::ProductLine,
};
use rust_decimal::Decimal;

/// Swedish VAT: standard, food, books.
const RATES: [&str; 3] = ["25", "12", "6"];

/// The sizes of the large carts: the default policy caps a selection at 1,000 lines, so these
/// are built under a policy that allows the largest.
const LARGE: [usize; 3] = [1_000, 10_000, 50_000];

/// A cart of `lines` product lines, line `i` taxed at rate `i % rates`, with prices from 1.00
/// to 99.99 and quantities 1 to 3, spread deterministically.
fn cart(lines: usize, rates: usize) -> Selection {
    let mut cart = Selection::new(
        Currency::USD,
        PriceBasis::TaxExcluded,
        SelectionPolicy::mixed().with_max_lines(LARGE[LARGE.len() - 1]),
    );
    // A shop knows its tax rates before the shopper arrives: parsed once, not once a line.
    let rates: Vec<TaxRate> = RATES[..rates].iter().map(|r| r.parse().unwrap()).collect();
    for i in 0..lines {
        let price = Money::from_minor(100 + (i as i64 * 7_919) % 9_900, Currency::USD).unwrap();
        let rate = rates[i % rates.len()];
        let line = ProductLine::new(&format!("sku-{i}"), price, 1 + (i as u64 % 3), rate).unwrap();
        cart.add_product(line).unwrap();
    }
    cart
}

/// Three gift certificates worth together about a third of the cart.
fn certificates(cart: &Selection) -> Vec<(String, Money)> {
    let total: i64 = cart
        .products()
        .iter()
        .map(|l| {
            (l.amount().amount() * Decimal::ONE_HUNDRED)
                .try_into()
                .unwrap_or(0_i64)
        })
        .sum();
    (0..3)
        .map(|i| {
            let minor = total / 9 + 100 * i;
            (
                format!("GC-000{i}-7KQ2"),
                Money::from_minor(minor, Currency::USD).unwrap(),
            )
        })
        .collect()
}

/// The floor: each line amount added to its rate's base, then one tax per rate, rounded once.
fn floor(amounts: &[(usize, Decimal)], rates: &[Decimal]) -> Decimal {
    let mut bases = [Decimal::ZERO; 3];
    for &(rate, amount) in amounts {
        bases[rate] += amount;
    }
    let mut tax = Decimal::ZERO;
    for (base, rate) in bases.iter().zip(rates) {
        tax += RoundingRule::HalfAwayFromZero.round(base * rate / Decimal::ONE_HUNDRED, 2);
    }
    tax
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("totals");
    let settings = TotalsSettings::default();
    for (lines, rates) in [
        (1, 1),
        (20, 1),
        (20, 2),
        (20, 3),
        (500, 1),
        (500, 2),
        (500, 3),
    ] {
        let cart = cart(lines, rates);
        let cards = certificates(&cart);
        let shape = format!("{lines} lines x {rates} rates");
        for applied in [0, 3] {
            group.bench_with_input(
                BenchmarkId::new(format!("compute, {applied} cards"), &shape),
                &cart,
                |b, cart| {
                    b.iter(|| {
                        Totals::compute(
                            black_box(cart),
                            cards[..applied]
                                .iter()
                                .map(|(code, balance)| (code.as_str(), *balance)),
                            &settings,
                        )
                        .unwrap()
                    })
                },
            );
        }
        let amounts: Vec<(usize, Decimal)> = cart
            .products()
            .iter()
            .enumerate()
            .map(|(i, l)| (i % rates, l.amount().amount()))
            .collect();
        let percents: Vec<Decimal> = RATES[..rates].iter().map(|r| r.parse().unwrap()).collect();
        group.bench_with_input(BenchmarkId::new("floor", &shape), &amounts, |b, amounts| {
            b.iter(|| floor(black_box(amounts), &percents))
        });
    }
    group.finish();
}

/// Building a large cart line by line and computing its totals, timed together.
fn large(c: &mut Criterion) {
    let mut group = c.benchmark_group("large carts");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let settings = TotalsSettings::default();
    for lines in LARGE {
        group.bench_with_input(
            BenchmarkId::new("build + compute, 3 rates", lines),
            &lines,
            |b, &lines| {
                b.iter(|| {
                    let cart = cart(black_box(lines), 3);
                    Totals::compute(&cart, std::iter::empty::<(&str, Money)>(), &settings).unwrap()
                })
            },
        );
        // The totals alone on the same cart, to tell the building's share from the totals'.
        let built = cart(lines, 3);
        group.bench_with_input(
            BenchmarkId::new("compute only, 3 rates", lines),
            &built,
            |b, cart| {
                b.iter(|| {
                    Totals::compute(
                        black_box(cart),
                        std::iter::empty::<(&str, Money)>(),
                        &settings,
                    )
                    .unwrap()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench, large);
criterion_main!(benches);
