//! Properties of totals over random selections, discounts, shipping and cards.

use giftcert::{
    Catalogue, CertificateDefinition, Currency, Money, PriceBasis, Selection, SelectionPolicy,
    TaxRate, Totals, TotalsSettings,
    shop::{LineKind, ProductLine, Shipping, TaxGranularity},
};
use proptest::prelude::*;
use rust_decimal::Decimal;

const RATES: [i64; 4] = [0, 6, 12, 25];

fn cents(n: i64) -> Money {
    Money::from_minor(n, Currency::USD).unwrap()
}

fn rate(i: usize) -> TaxRate {
    TaxRate::new(Decimal::from(RATES[i % RATES.len()])).unwrap()
}

#[derive(Debug, Clone)]
struct Case {
    included: bool,
    per_line: bool,
    /// (unit price in cents, quantity, rate index)
    products: Vec<(i64, u64, usize)>,
    /// (value in whole dollars, quantity)
    certificates: Vec<(i64, u64)>,
    /// The order discount as thousandths of the discounted products.
    discount_permille: i64,
    /// (cost in cents, rate index)
    shipping: Option<(i64, usize)>,
    /// Card balances in cents.
    cards: Vec<i64>,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec((0_i64..=1_000_000, 0_u64..=5, 0_usize..4), 0..6),
        prop::collection::vec((1_i64..=500, 1_u64..=3), 0..3),
        0_i64..=1000,
        prop::option::of((0_i64..=5_000, 0_usize..4)),
        prop::collection::vec(0_i64..=200_000, 0..5),
    )
        .prop_map(
            |(included, per_line, products, certificates, discount_permille, shipping, cards)| {
                Case {
                    included,
                    per_line,
                    products,
                    certificates,
                    discount_permille,
                    shipping,
                    cards,
                }
            },
        )
}

fn build(case: &Case) -> Selection {
    let prices = if case.included {
        PriceBasis::TaxIncluded
    } else {
        PriceBasis::TaxExcluded
    };
    let mut selection = Selection::new(Currency::USD, prices, SelectionPolicy::mixed());
    for (i, (price, quantity, r)) in case.products.iter().enumerate() {
        let line = ProductLine::new(&format!("p{i}"), cents(*price), *quantity, rate(*r)).unwrap();
        selection.add_product(line).unwrap();
    }
    let mut catalogue = Catalogue::new();
    for i in 0..case.certificates.len() {
        catalogue
            .add(CertificateDefinition::any_amount(&format!("c{i}"), "any").unwrap())
            .unwrap();
    }
    for (i, (value, quantity)) in case.certificates.iter().enumerate() {
        selection
            .add_certificate_from(
                &catalogue,
                &format!("c{i}"),
                Some(Decimal::from(*value)),
                *quantity,
            )
            .unwrap();
    }
    let products: i64 = case
        .products
        .iter()
        .map(|(p, q, _)| p * i64::try_from(*q).unwrap())
        .sum();
    selection
        .set_order_discount(cents(products * case.discount_permille / 1000))
        .unwrap();
    if let Some((cost, r)) = case.shipping {
        selection
            .set_shipping(Shipping::new(cents(cost), rate(r)).unwrap())
            .unwrap();
    }
    selection
}

fn settings(case: &Case) -> TotalsSettings {
    let granularity = if case.per_line {
        TaxGranularity::PerLine
    } else {
        TaxGranularity::PerRate
    };
    TotalsSettings::default().with_granularity(granularity)
}

fn compute(case: &Case, with_cards: bool) -> Totals {
    let cards: Vec<(String, Money)> = if with_cards {
        case.cards
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("CARD{i}"), cents(*c)))
            .collect()
    } else {
        Vec::new()
    };
    Totals::compute(&build(case), cards, &settings(case)).unwrap()
}

proptest! {
    #![proptest_config(giftcert_props::config("proptest-regressions/totals_properties.txt"))]

    /// Gift credit is a payment, not a discount: applying cards changes no tax figure, no
    /// discount and not the grand total.
    #[test]
    fn credit_never_changes_tax_discount_or_grand_total(case in cases()) {
        let without = compute(&case, false);
        let with = compute(&case, true);
        prop_assert_eq!(with.taxes(), without.taxes());
        prop_assert_eq!(with.tax_total(), without.tax_total());
        prop_assert_eq!(with.discount_amount(), without.discount_amount());
        prop_assert_eq!(with.grand_total(), without.grand_total());
    }

    /// The grand total is subtotal - discount + shipping, plus tax when prices exclude it; the
    /// tax total is the sum of the rates; every figure is in whole cents.
    #[test]
    fn figures_add_up(case in cases()) {
        let t = compute(&case, true);
        let mut grand = t.subtotal()
            .checked_sub(t.discount_amount()).unwrap()
            .checked_add(t.shipping_cost_total()).unwrap();
        if !case.included {
            grand = grand.checked_add(t.tax_total()).unwrap();
        }
        prop_assert_eq!(grand, t.grand_total());
        let taxes = Money::sum(Currency::USD, t.taxes().iter().map(|x| x.amount())).unwrap();
        prop_assert_eq!(taxes, t.tax_total());
        prop_assert!(t.grand_total().amount().scale() <= 2);
    }

    /// The discount lands on product lines only, sums exactly, and leaves no line negative.
    #[test]
    fn discounts_go_to_products_only_and_sum_exactly(case in cases()) {
        let t = compute(&case, false);
        let spread = Money::sum(Currency::USD, t.lines().iter().map(|l| l.discount())).unwrap();
        prop_assert_eq!(spread, t.discount_amount());
        for line in t.lines() {
            prop_assert!(!line.net().is_negative());
            if line.kind() == LineKind::GiftCertificate {
                prop_assert!(line.discount().is_zero());
                // Multi-purpose: no tax at sale.
                prop_assert_eq!(line.tax_rate(), None);
            }
        }
    }

    /// Credit pays at most the product part: what is outstanding always covers the
    /// certificate lines; used + outstanding is the grand total; used + remaining is each
    /// card's balance; at most one card is used partly (lowest first, the last one partly).
    #[test]
    fn credit_pays_the_product_part_lowest_first(case in cases()) {
        let t = compute(&case, true);
        let used = Money::sum(Currency::USD, t.gift_certificates().iter().map(|g| g.used())).unwrap();
        prop_assert_eq!(used.checked_add(t.outstanding_balance()).unwrap(), t.grand_total());
        prop_assert!(!t.outstanding_balance().is_negative());
        let certificates = Money::sum(
            Currency::USD,
            t.lines().iter().filter(|l| l.kind() == LineKind::GiftCertificate).map(|l| l.net()),
        ).unwrap();
        prop_assert!(t.outstanding_balance().amount() >= certificates.amount());
        prop_assert!(used.amount() <= t.payable_with_gift_credit().amount());
        let mut partly = 0;
        for g in t.gift_certificates() {
            prop_assert_eq!(g.used().checked_add(g.remaining()).unwrap(), g.balance());
            if g.used().is_positive() && g.remaining().is_positive() {
                partly += 1;
            }
        }
        prop_assert!(partly <= 1);
    }

    /// Every computed totals value survives a trip through JSON, whose reader checks that the
    /// figures add up.
    #[test]
    fn totals_round_trip_through_json(case in cases()) {
        let t = compute(&case, true);
        let json = serde_json::to_string(&t).unwrap();
        let back: Totals = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, t);
    }
}
