//! Totals: taxes first, credit later (seeds 001, 002, 003, 004).

mod support;
use support::usd;

use giftcert::{
    Catalogue, CertificateDefinition, Currency, Money, PriceBasis, Selection, SelectionPolicy,
    TaxRate, Totals, TotalsSettings,
    catalogue::VoucherPurpose,
    money::{MoneyError, RoundingRule},
    redeem::AllocationError,
    shop::{LineKind, ProductLine, Shipping, TaxGranularity, TotalsError},
};
use rust_decimal::Decimal;

fn rate(s: &str) -> TaxRate {
    s.parse().unwrap()
}

fn cart(prices: PriceBasis) -> Selection {
    Selection::new(Currency::USD, prices, SelectionPolicy::mixed())
}

fn line(sku: &str, price: &str, quantity: u64, r: &str) -> ProductLine {
    ProductLine::new(sku, usd(price), quantity, rate(r)).unwrap()
}

fn totals(selection: &Selection) -> Totals {
    Totals::compute(
        selection,
        std::iter::empty::<(String, Money)>(),
        &TotalsSettings::default(),
    )
    .unwrap()
}

fn with_cards(selection: &Selection, cards: &[(&str, &str)]) -> Result<Totals, TotalsError> {
    Totals::compute(
        selection,
        cards.iter().map(|(code, balance)| (*code, usd(balance))),
        &TotalsSettings::default(),
    )
}

fn catalogue() -> Catalogue {
    Catalogue::new()
        .with(CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate").unwrap())
        .unwrap()
        .with(
            CertificateDefinition::any_amount("spv", "Single-purpose voucher")
                .unwrap()
                .with_purpose(VoucherPurpose::SinglePurpose {
                    tax_rate: rate("25"),
                }),
        )
        .unwrap()
}

fn add_certificate(selection: &mut Selection, id: &str, amount: i64, quantity: u64) {
    selection
        .add_certificate_from(&catalogue(), id, Some(Decimal::from(amount)), quantity)
        .unwrap();
}

#[test]
fn seed_001_taxes_first_credit_later() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "5500", 1, "25")).unwrap();
    let t = with_cards(&order, &[("GC1", "1000")]).unwrap();
    assert_eq!(t.grand_total(), usd("5500"));
    assert_eq!(t.tax_total(), usd("1100"));
    assert_eq!(t.taxes().len(), 1);
    assert_eq!(t.taxes()[0].name(), "25%");
    assert_eq!(t.taxes()[0].amount(), usd("1100"));
    assert_eq!(t.gift_certificates()[0].used(), usd("1000"));
    assert_eq!(t.gift_certificates()[0].remaining(), usd("0"));
    assert_eq!(t.outstanding_balance(), usd("4500"));
}

#[test]
fn credit_never_changes_a_tax_figure() {
    let mut order = cart(PriceBasis::TaxExcluded);
    order.add_product(line("a", "80", 1, "25")).unwrap();
    order.add_product(line("b", "20", 1, "12")).unwrap();
    let without = totals(&order);
    let with = with_cards(&order, &[("GC1", "50"), ("GC2", "500")]).unwrap();
    assert_eq!(with.tax_total(), without.tax_total());
    assert_eq!(with.taxes(), without.taxes());
    assert_eq!(with.grand_total(), without.grand_total());
    assert_eq!(with.discount_amount(), without.discount_amount());
    assert_eq!(with.outstanding_balance(), usd("0"));
    assert_eq!(with.credit_used(), with.grand_total());
}

#[test]
fn tax_included_prices_hold_the_tax_and_excluded_ones_add_it() {
    let mut incl = cart(PriceBasis::TaxIncluded);
    incl.add_product(line("a", "125", 1, "25")).unwrap();
    let t = totals(&incl);
    assert_eq!(t.tax_total(), usd("25"));
    assert_eq!(t.grand_total(), usd("125"));
    assert!(t.tax_included());

    let mut excl = cart(PriceBasis::TaxExcluded);
    excl.add_product(line("a", "100", 1, "25")).unwrap();
    let t = totals(&excl);
    assert_eq!(t.tax_total(), usd("25"));
    assert_eq!(t.grand_total(), usd("125"));
    assert_eq!(t.subtotal(), usd("100"));
}

#[test]
fn tax_is_rounded_once_per_rate_on_the_summed_amounts() {
    // 3 × 0.05 at 25 % excluded: 0.0375 → 0.04 once per rate, 3 × 0.0125 → 0.03 per line.
    let mut order = cart(PriceBasis::TaxExcluded);
    for sku in ["a", "b", "c"] {
        order.add_product(line(sku, "0.05", 1, "25")).unwrap();
    }
    assert_eq!(totals(&order).tax_total(), usd("0.04"));
    let per_line = Totals::compute(
        &order,
        std::iter::empty::<(String, Money)>(),
        &TotalsSettings::default().with_granularity(TaxGranularity::PerLine),
    )
    .unwrap();
    assert_eq!(per_line.tax_total(), usd("0.03"));
}

#[test]
fn rounding_is_half_away_from_zero_by_default_and_a_setting() {
    // 0.10 at 25 % excluded is 0.025 exactly.
    let mut order = cart(PriceBasis::TaxExcluded);
    order.add_product(line("a", "0.10", 1, "25")).unwrap();
    assert_eq!(totals(&order).tax_total(), usd("0.03"));
    let even = Totals::compute(
        &order,
        std::iter::empty::<(String, Money)>(),
        &TotalsSettings::default().with_rule(RoundingRule::HalfEven),
    )
    .unwrap();
    assert_eq!(even.tax_total(), usd("0.02"));
}

#[test]
fn the_rounding_step_is_a_setting_and_cannot_be_finer_than_the_currency() {
    let chf = |s: &str| Money::parse(s, Currency::CHF).unwrap();
    let mut order = Selection::new(
        Currency::CHF,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    order
        .add_product(ProductLine::new("a", chf("10"), 1, rate("8.1")).unwrap())
        .unwrap();
    // 10 × 8.1 / 108.1 = 0.7493...: 0.75 to the centime, and to the nearest 0.05 as well;
    // 0.70 with toward-zero rounding on 0.05 steps.
    let step = TotalsSettings::default()
        .with_step(Decimal::new(5, 2))
        .unwrap();
    let none = std::iter::empty::<(String, Money)>;
    assert_eq!(
        Totals::compute(&order, none(), &step).unwrap().tax_total(),
        chf("0.75")
    );
    let down = step.with_rule(RoundingRule::TowardZero);
    assert_eq!(
        Totals::compute(&order, none(), &down).unwrap().tax_total(),
        chf("0.70")
    );
    let mut yen = Selection::new(
        Currency::JPY,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    yen.add_product(
        ProductLine::new(
            "a",
            Money::parse("1000", Currency::JPY).unwrap(),
            1,
            rate("10"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        Totals::compute(&yen, none(), &step)
            .unwrap_err()
            .to_string(),
        "rounding step 0.05 is finer than JPY allows (0 decimals)"
    );
    // 1000 × 10 / 110 = 90.909... → 91 yen.
    assert_eq!(
        Totals::compute(&yen, none(), &TotalsSettings::default())
            .unwrap()
            .tax_total()
            .to_string(),
        "91 JPY"
    );
}

#[test]
fn shipping_is_taxed_at_its_own_rate_and_summed_with_products_at_the_same_rate() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "100", 1, "25")).unwrap();
    order
        .set_shipping(Shipping::new(usd("10"), rate("12")).unwrap())
        .unwrap();
    let t = totals(&order);
    let rates: Vec<(String, Money)> = t
        .taxes()
        .iter()
        .map(|x| (x.name().to_owned(), x.amount()))
        .collect();
    // 10 × 12 / 112 = 1.0714 → 1.07; 100 × 25 / 125 = 20.
    assert_eq!(
        rates,
        [
            ("12%".to_owned(), usd("1.07")),
            ("25%".to_owned(), usd("20"))
        ]
    );
    assert_eq!(t.shipping_cost_total(), usd("10"));
    assert_eq!(t.grand_total(), usd("110"));

    // At the same rate, shipping joins the products' base before rounding:
    // (0.05 + 0.05) × 25 % = 0.025 → 0.03, where two roundings would give 0.02.
    let mut same = cart(PriceBasis::TaxExcluded);
    same.add_product(line("a", "0.05", 1, "25")).unwrap();
    same.set_shipping(Shipping::new(usd("0.05"), rate("25")).unwrap())
        .unwrap();
    let t = totals(&same);
    assert_eq!(t.taxes().len(), 1);
    assert_eq!(t.taxes()[0].base(), usd("0.10"));
    assert_eq!(t.tax_total(), usd("0.03"));
    assert_eq!(t.grand_total(), usd("0.13"));
}

#[test]
fn taxes_list_each_taxed_rate_by_rate_ascending() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "10", 1, "25")).unwrap();
    order.add_product(line("b", "10", 1, "6")).unwrap();
    order.add_product(line("c", "10", 1, "12")).unwrap();
    let names: Vec<String> = totals(&order)
        .taxes()
        .iter()
        .map(|t| t.name().to_owned())
        .collect();
    assert_eq!(names, ["6%", "12%", "25%"]);
    // Zero shipping taxes nothing, so its rate is not listed.
    order
        .set_shipping(Shipping::new(usd("0"), rate("7")).unwrap())
        .unwrap();
    assert_eq!(totals(&order).taxes().len(), 3);
}

#[test]
fn multi_purpose_certificates_are_not_taxed_at_sale_even_when_recomputed() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "100", 1, "25")).unwrap();
    add_certificate(&mut order, "gift-1", 50, 2);
    let first = totals(&order);
    assert_eq!(first.tax_total(), usd("20"));
    assert_eq!(first.taxes().len(), 1);
    assert_eq!(first.taxes()[0].base(), usd("100"));
    let certificate = first
        .lines()
        .iter()
        .find(|l| l.kind() == LineKind::GiftCertificate)
        .unwrap();
    assert_eq!(certificate.tax_rate(), None);

    // Recomputing, after a trip through JSON, on another basis, or per line: still no tax.
    let stored: Selection = serde_json::from_str(&serde_json::to_string(&order).unwrap()).unwrap();
    assert_eq!(totals(&stored), first);
    let per_line = TotalsSettings::default().with_granularity(TaxGranularity::PerLine);
    let again = Totals::compute(&stored, std::iter::empty::<(String, Money)>(), &per_line).unwrap();
    assert_eq!(again.taxes(), first.taxes());
    let mut excluded = cart(PriceBasis::TaxExcluded);
    add_certificate(&mut excluded, "gift-1", 50, 1);
    let t = totals(&excluded);
    assert!(t.taxes().is_empty());
    assert_eq!(t.grand_total(), usd("50"));
}

#[test]
fn a_100_any_amount_certificate_in_a_tax_included_shop_costs_and_is_worth_100() {
    let mut order = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::exclusive(),
    );
    add_certificate(&mut order, "gift-1", 100, 1);
    let t = totals(&order);
    assert_eq!(order.certificates()[0].value(), usd("100.00"));
    assert_eq!(t.grand_total(), usd("100.00"));
    assert_eq!(t.tax_total(), usd("0"));
}

#[test]
fn single_purpose_certificates_are_taxed_at_sale() {
    let mut order = cart(PriceBasis::TaxIncluded);
    add_certificate(&mut order, "spv", 100, 1);
    let t = totals(&order);
    assert_eq!(t.tax_total(), usd("20"));
    assert_eq!(t.taxes()[0].name(), "25%");
    assert_eq!(t.grand_total(), usd("100"));
    // The card is still worth its value.
    assert_eq!(order.certificates()[0].value(), usd("100"));
}

#[test]
fn subtotal_is_before_discounts_and_the_discount_sums_line_and_order_discounts() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order
        .add_product(line("a", "50", 2, "25").with_discount(usd("10")).unwrap())
        .unwrap();
    order.set_order_discount(usd("5")).unwrap();
    let t = totals(&order);
    assert_eq!(t.subtotal(), usd("100"));
    assert_eq!(t.discount_amount(), usd("15"));
    assert_eq!(t.grand_total(), usd("85"));
    // Tax on the discounted amount: 85 × 25 / 125 = 17.
    assert_eq!(t.tax_total(), usd("17"));
}

#[test]
fn the_order_discount_is_spread_over_product_lines_only_and_exactly() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "10", 1, "25")).unwrap();
    order.add_product(line("b", "20", 1, "12")).unwrap();
    add_certificate(&mut order, "gift-1", 50, 1);
    order.set_order_discount(usd("10")).unwrap();
    let t = totals(&order);
    let discounts: Vec<(String, Money)> = t
        .lines()
        .iter()
        .map(|l| (l.id().to_owned(), l.discount()))
        .collect();
    // 10 × 10/30 = 3.333 and 10 × 20/30 = 6.666: the leftover cent goes to the larger line.
    assert_eq!(
        discounts,
        [
            ("a".to_owned(), usd("3.33")),
            ("b".to_owned(), usd("6.67")),
            ("gift-1".to_owned(), usd("0")),
        ]
    );
    assert_eq!(t.discount_amount(), usd("10"));
    assert_eq!(t.grand_total(), usd("70"));
    // Each rate is taxed on its discounted base.
    assert_eq!(t.taxes()[0].base(), usd("13.33"));
    assert_eq!(t.taxes()[1].base(), usd("6.67"));
}

#[test]
fn a_discount_larger_than_the_products_is_refused_even_when_certificates_could_absorb_it() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "30", 1, "25")).unwrap();
    add_certificate(&mut order, "gift-1", 50, 1);
    order.set_order_discount(usd("40")).unwrap();
    let err = with_cards(&order, &[]).unwrap_err();
    assert_eq!(
        err,
        TotalsError::DiscountExceedsProducts {
            discount: usd("40"),
            products: usd("30"),
        }
    );
    assert_eq!(
        err.to_string(),
        "order discount 40.00 USD is larger than the product subtotal 30.00 USD"
    );
    order.set_order_discount(usd("30")).unwrap();
    assert_eq!(totals(&order).grand_total(), usd("50"));
}

#[test]
fn gift_credit_pays_the_product_part_only() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "30", 1, "25")).unwrap();
    add_certificate(&mut order, "gift-1", 50, 1);
    let t = with_cards(&order, &[("GC1", "100")]).unwrap();
    assert_eq!(t.payable_with_gift_credit(), usd("30"));
    assert_eq!(t.gift_certificates()[0].used(), usd("30"));
    assert_eq!(t.gift_certificates()[0].remaining(), usd("70"));
    assert_eq!(t.outstanding_balance(), usd("50"));

    // A selection of certificates only: gift credit pays nothing.
    let mut only = cart(PriceBasis::TaxIncluded);
    add_certificate(&mut only, "gift-1", 50, 1);
    let t = with_cards(&only, &[("GC1", "100")]).unwrap();
    assert_eq!(t.gift_certificates()[0].used(), usd("0"));
    assert_eq!(t.outstanding_balance(), usd("50"));

    // Tax-excluded, with a single-purpose certificate sharing the products' rate: the
    // certificate and its tax stay out of what credit may pay.
    let mut excl = cart(PriceBasis::TaxExcluded);
    excl.add_product(line("a", "100", 1, "25")).unwrap();
    add_certificate(&mut excl, "spv", 100, 1);
    let t = with_cards(&excl, &[("GC1", "1000")]).unwrap();
    assert_eq!(t.grand_total(), usd("250"));
    assert_eq!(t.payable_with_gift_credit(), usd("125"));
    assert_eq!(t.outstanding_balance(), usd("125"));
}

#[test]
fn several_certificates_are_used_lowest_first_ties_in_order_the_last_partly() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "120", 1, "25")).unwrap();
    let t = with_cards(&order, &[("BIG", "100"), ("TIE1", "50"), ("TIE2", "50")]).unwrap();
    let used: Vec<(&str, Money)> = t
        .gift_certificates()
        .iter()
        .map(|g| (g.code(), g.used()))
        .collect();
    assert_eq!(
        used,
        [("BIG", usd("20")), ("TIE1", usd("50")), ("TIE2", usd("50"))]
    );
    assert_eq!(t.outstanding_balance(), usd("0"));
    // Seed 003: 95 over 50, 100, 100.
    let mut seed = cart(PriceBasis::TaxIncluded);
    seed.add_product(line("10001", "95", 1, "25")).unwrap();
    let t = with_cards(
        &seed,
        &[("10002", "50"), ("10003", "100"), ("10004", "100")],
    )
    .unwrap();
    let used: Vec<Money> = t.gift_certificates().iter().map(|g| g.used()).collect();
    assert_eq!(used, [usd("50"), usd("45"), usd("0")]);
}

#[test]
fn cards_short_of_the_order_leave_an_outstanding_balance() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "120", 1, "25")).unwrap();
    let t = with_cards(&order, &[("A", "50"), ("B", "25.50")]).unwrap();
    assert_eq!(t.outstanding_balance(), usd("44.50"));
    let t = with_cards(&order, &[]).unwrap();
    assert_eq!(t.outstanding_balance(), t.grand_total());
}

#[test]
fn the_same_code_twice_is_refused_without_printing_the_code() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "120", 1, "25")).unwrap();
    let err = with_cards(
        &order,
        &[("abcd-efgh-7kq2", "10"), (" ABCD EFGH 7KQ2 ", "10")],
    )
    .unwrap_err();
    assert_eq!(
        err,
        TotalsError::DuplicateCode {
            index: 1,
            masked: "****-****-****-****-*".to_owned()
        }
    );
    let message = err.to_string();
    assert_eq!(
        message,
        "gift certificate ****-****-****-****-* at position 1 is already applied"
    );
    assert!(!message.to_uppercase().contains("ABCD"));
    assert_eq!(
        with_cards(&order, &[("  ", "10")]).unwrap_err(),
        TotalsError::EmptyCode { index: 0 }
    );
}

#[test]
fn bad_balances_are_typed_errors() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "10", 1, "25")).unwrap();
    assert!(matches!(
        with_cards(&order, &[("A", "-1")]),
        Err(TotalsError::Allocation(
            AllocationError::NegativeCard { .. }
        ))
    ));
    let euros = [("A", Money::parse("5", Currency::EUR).unwrap())];
    assert!(matches!(
        Totals::compute(&order, euros, &TotalsSettings::default()),
        Err(TotalsError::Allocation(AllocationError::Money(
            MoneyError::CurrencyMismatch { .. }
        )))
    ));
}

#[test]
fn totals_serialise_with_bigcommerce_names_and_are_checked_on_the_way_in() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "5500", 1, "25")).unwrap();
    let t = with_cards(&order, &[("GC1", "1000")]).unwrap();
    let json = serde_json::to_value(&t).unwrap();
    for key in [
        "subtotal",
        "discountAmount",
        "shippingCostTotal",
        "taxTotal",
        "taxes",
        "grandTotal",
        "giftCertificates",
        "outstandingBalance",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert_eq!(json["taxTotal"]["amount"], "1100.00");
    assert_eq!(json["taxes"][0]["name"], "25%");
    let card = &json["giftCertificates"][0];
    assert_eq!(card["code"], "GC1");
    assert_eq!(card["balance"]["amount"], "1000.00");
    assert_eq!(card["used"]["amount"], "1000.00");
    assert_eq!(card["remaining"]["amount"], "0.00");
    assert_eq!(json["outstandingBalance"]["amount"], "4500.00");
    assert_eq!(serde_json::from_value::<Totals>(json.clone()).unwrap(), t);

    let mut tampered = json.clone();
    tampered["taxTotal"]["amount"] = "0".into();
    assert!(serde_json::from_value::<Totals>(tampered).is_err());
    let mut tampered = json;
    tampered["outstandingBalance"]["amount"] = "0".into();
    assert!(serde_json::from_value::<Totals>(tampered).is_err());
}

#[test]
fn debug_output_masks_certificate_codes() {
    let mut order = cart(PriceBasis::TaxIncluded);
    order.add_product(line("a", "10", 1, "25")).unwrap();
    let t = with_cards(&order, &[("SECRET-CODE-7KQ2", "5")]).unwrap();
    let debug = format!("{t:?}");
    assert!(!debug.contains("SECRET"));
    assert!(debug.contains("****-****-****-****-*"), "{debug}");
    assert!(!debug.contains("7KQ2"), "{debug}");
}

#[test]
fn settings_round_trip_and_refuse_a_step_that_is_not_positive() {
    let settings = TotalsSettings::default()
        .with_granularity(TaxGranularity::PerLine)
        .with_step(Decimal::new(5, 2))
        .unwrap();
    let json = serde_json::to_string(&settings).unwrap();
    assert_eq!(
        serde_json::from_str::<TotalsSettings>(&json).unwrap(),
        settings
    );
    assert!(serde_json::from_str::<TotalsSettings>(r#"{"step": "-1"}"#).is_err());
    assert_eq!(
        TotalsSettings::default()
            .with_step(Decimal::ZERO)
            .unwrap_err()
            .to_string(),
        "rounding step 0 must be above zero"
    );
}
