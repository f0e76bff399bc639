//! Selections under Centra's exclusive rules (seeds 000, 001) and Spryker's mixed ones (seed 002).

mod support;
use support::usd;

use giftcert::{
    Catalogue, CertificateDefinition, Currency, Money, PriceBasis, Selection, SelectionPolicy,
    TaxRate,
    catalogue::CatalogueError,
    money::MoneyError,
    shop::{
        MAX_CERTIFICATE_UNITS, ProductLine, ProductWithCertificate, RemovalReason, SelectionError,
        SelectionLine, Shipping,
    },
};
use rust_decimal::Decimal;

fn rate(s: &str) -> TaxRate {
    s.parse().unwrap()
}

/// Seed 000's two certificates, plus Spryker's New Year family (seed 002).
fn catalogue() -> Catalogue {
    Catalogue::new()
        .with(
            CertificateDefinition::predetermined(
                "gift-2",
                "Pre-defined gift certificate",
                [
                    usd("10"),
                    Money::parse("100", Currency::SEK).unwrap(),
                    Money::parse("1000", Currency::JPY).unwrap(),
                ],
            )
            .unwrap(),
        )
        .unwrap()
        .with(CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate").unwrap())
        .unwrap()
        .with(
            CertificateDefinition::predetermined(
                "ny-50",
                "New Year 50",
                [Money::parse("50", Currency::EUR).unwrap()],
            )
            .unwrap()
            .with_family("new-year"),
        )
        .unwrap()
        .with(
            CertificateDefinition::predetermined(
                "ny-100",
                "New Year 100",
                [Money::parse("100", Currency::EUR).unwrap()],
            )
            .unwrap()
            .with_family("new-year"),
        )
        .unwrap()
}

fn product(sku: &str, price: &str) -> ProductLine {
    ProductLine::new(sku, usd(price), 1, rate("25")).unwrap()
}

fn exclusive() -> Selection {
    Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::exclusive(),
    )
}

fn mixed() -> Selection {
    Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    )
}

fn removed_skus(change: &giftcert::shop::SelectionChange) -> Vec<(String, RemovalReason)> {
    change
        .removed()
        .iter()
        .map(|r| match &r.line {
            SelectionLine::Product(p) => (p.sku().to_string(), r.reason),
            SelectionLine::Certificate(c) => (c.definition().to_string(), r.reason),
            _ => unreachable!("only two kinds of line"),
        })
        .collect()
}

#[test]
fn exclusive_is_the_default_policy() {
    assert_eq!(SelectionPolicy::default(), SelectionPolicy::exclusive());
    assert!(SelectionPolicy::default().is_exclusive());
    assert!(SelectionPolicy::default().one_certificate_at_a_time());
}

#[test]
fn adding_a_certificate_removes_every_product_and_says_which() {
    let mut cart = exclusive();
    cart.add_product(product("shirt", "20")).unwrap();
    cart.add_product(product("hat", "15")).unwrap();
    let change = cart
        .add_certificate_from(&catalogue(), "gift-2", None, 1)
        .unwrap();
    assert_eq!(
        removed_skus(&change),
        [
            ("shirt".to_owned(), RemovalReason::CertificateAdded),
            ("hat".to_owned(), RemovalReason::CertificateAdded),
        ]
    );
    assert!(cart.products().is_empty());
    assert_eq!(cart.certificates().len(), 1);
}

#[test]
fn adding_a_certificate_drops_the_discount_and_shipping_of_the_removed_products() {
    let mut cart = exclusive();
    cart.add_product(product("shirt", "20")).unwrap();
    cart.set_order_discount(usd("5")).unwrap();
    let shipping = Shipping::new(usd("4.95"), rate("25")).unwrap();
    cart.set_shipping(shipping).unwrap();
    let change = cart
        .add_certificate_from(&catalogue(), "gift-2", None, 1)
        .unwrap();
    assert_eq!(change.cleared_order_discount(), Some(usd("5")));
    assert_eq!(change.cleared_shipping(), Some(shipping));
    assert_eq!(cart.order_discount(), None);
    assert_eq!(cart.shipping(), None);
}

#[test]
fn adding_a_product_to_a_certificate_selection_is_refused_and_changes_nothing() {
    let mut cart = exclusive();
    cart.add_certificate_from(&catalogue(), "gift-2", None, 1)
        .unwrap();
    let before = cart.clone();
    let err = cart.add_product(product("shirt", "20")).unwrap_err();
    assert!(matches!(err, SelectionError::ProductWithCertificate { .. }));
    assert_eq!(
        err.to_string(),
        "cannot add product \"shirt\": the selection holds gift certificate \"gift-2\", \
         and gift certificates are sold on their own"
    );
    assert_eq!(cart, before);
}

#[test]
fn a_host_may_choose_to_remove_the_certificate_instead() {
    let policy = SelectionPolicy::exclusive()
        .with_product_with_certificate(ProductWithCertificate::RemoveCertificates);
    let mut cart = Selection::new(Currency::USD, PriceBasis::TaxIncluded, policy);
    cart.add_certificate_from(&catalogue(), "gift-2", None, 1)
        .unwrap();
    let change = cart.add_product(product("shirt", "20")).unwrap();
    assert_eq!(
        removed_skus(&change),
        [("gift-2".to_owned(), RemovalReason::ProductAdded)]
    );
    assert!(!cart.holds_certificates());
    assert_eq!(cart.products().len(), 1);
}

#[test]
fn one_certificate_at_a_time_a_new_one_replaces_the_previous_one() {
    let mut cart = exclusive();
    cart.add_certificate_from(&catalogue(), "gift-2", None, 1)
        .unwrap();
    let change = cart
        .add_certificate_from(&catalogue(), "gift-1", Some(Decimal::from(100)), 1)
        .unwrap();
    assert_eq!(
        removed_skus(&change),
        [("gift-2".to_owned(), RemovalReason::OneCertificateAtATime)]
    );
    assert_eq!(cart.certificates().len(), 1);
    assert_eq!(cart.certificates()[0].definition().as_str(), "gift-1");
    assert_eq!(cart.certificates()[0].value(), usd("100"));
}

#[test]
fn one_certificate_at_a_time_refuses_a_quantity_above_one() {
    let mut cart = exclusive();
    let err = cart
        .add_certificate_from(&catalogue(), "gift-2", None, 2)
        .unwrap_err();
    assert_eq!(err, SelectionError::OneCertificateAtATime { quantity: 2 });
    assert_eq!(
        err.to_string(),
        "one gift certificate at a time: expected quantity 1, found 2"
    );
    assert!(cart.is_empty());
    cart.add_certificate_from(&catalogue(), "gift-2", None, 1)
        .unwrap();
    assert!(matches!(
        cart.set_certificate_quantity("gift-2", 3),
        Err(SelectionError::OneCertificateAtATime { quantity: 3 })
    ));
}

#[test]
fn mixed_selections_hold_products_and_certificates_with_quantities() {
    let mut cart = mixed();
    cart.add_product(product("shirt", "20")).unwrap();
    let change = cart
        .add_certificate_from(&catalogue(), "gift-2", None, 3)
        .unwrap();
    assert!(change.is_empty());
    let change = cart.add_product(product("hat", "15")).unwrap();
    assert!(change.is_empty());
    assert_eq!(cart.products().len(), 2);
    assert_eq!(cart.certificates()[0].quantity(), 3);
    assert_eq!(cart.certificates()[0].amount(), usd("30"));
    assert_eq!(cart.certificate_units(), 3);
    cart.set_certificate_quantity("gift-2", 5).unwrap();
    assert_eq!(cart.certificate_units(), 5);
    // Two different certificates side by side.
    cart.add_certificate_from(&catalogue(), "gift-1", Some(Decimal::from(25)), 1)
        .unwrap();
    assert_eq!(cart.certificates().len(), 2);
}

#[test]
fn a_certificate_variant_can_be_changed_like_a_product_variant() {
    let eur = Money::parse("100", Currency::EUR).unwrap();
    let mut cart = Selection::new(
        Currency::EUR,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    cart.add_certificate_from(&catalogue(), "ny-50", None, 2)
        .unwrap();
    let change = cart
        .change_certificate_variant(&catalogue(), "ny-50", "ny-100", None)
        .unwrap();
    assert_eq!(
        removed_skus(&change),
        [("ny-50".to_owned(), RemovalReason::VariantChanged)]
    );
    let line = &cart.certificates()[0];
    assert_eq!(line.definition().as_str(), "ny-100");
    assert_eq!(line.value(), eur);
    assert_eq!(line.quantity(), 2);
}

#[test]
fn changing_to_a_variant_already_held_adds_the_quantities_up() {
    let mut cart = Selection::new(
        Currency::EUR,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    cart.add_certificate_from(&catalogue(), "ny-50", None, 2)
        .unwrap();
    cart.add_certificate_from(&catalogue(), "ny-100", None, 1)
        .unwrap();
    let change = cart
        .change_certificate_variant(&catalogue(), "ny-50", "ny-100", None)
        .unwrap();
    assert_eq!(change.removed().len(), 2);
    assert_eq!(cart.certificates().len(), 1);
    assert_eq!(cart.certificates()[0].quantity(), 3);
}

#[test]
fn a_certificate_of_another_family_is_not_a_variant() {
    let mut cart = Selection::new(
        Currency::EUR,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    cart.add_certificate_from(&catalogue(), "ny-50", None, 1)
        .unwrap();
    let err = cart
        .change_certificate_variant(&catalogue(), "ny-50", "gift-1", Some(Decimal::from(5)))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "gift certificate \"gift-1\" is not a variant of \"ny-50\": they are not in one family"
    );
    assert_eq!(cart.certificates()[0].definition().as_str(), "ny-50");
}

#[test]
fn any_amount_certificates_take_the_amount_in_the_selections_currency() {
    let mut cart = Selection::new(
        Currency::SEK,
        PriceBasis::TaxIncluded,
        SelectionPolicy::exclusive(),
    );
    cart.add_certificate_from(&catalogue(), "gift-1", Some(Decimal::from(100)), 1)
        .unwrap();
    assert_eq!(
        cart.certificates()[0].value(),
        Money::parse("100", Currency::SEK).unwrap()
    );
    // The amount is required, and must fit the currency.
    assert!(matches!(
        cart.add_certificate_from(&catalogue(), "gift-1", None, 1),
        Err(SelectionError::Catalogue(
            CatalogueError::AmountRequired { .. }
        ))
    ));
    let mut yen = Selection::new(
        Currency::JPY,
        PriceBasis::TaxIncluded,
        SelectionPolicy::exclusive(),
    );
    assert!(matches!(
        yen.add_certificate_from(&catalogue(), "gift-1", Some(Decimal::new(105, 1)), 1),
        Err(SelectionError::Catalogue(CatalogueError::Money(
            MoneyError::TooManyDecimals { .. }
        )))
    ));
}

#[test]
fn predetermined_certificates_take_their_value_for_the_selections_currency() {
    let mut cart = Selection::new(
        Currency::JPY,
        PriceBasis::TaxIncluded,
        SelectionPolicy::exclusive(),
    );
    cart.add_certificate_from(&catalogue(), "gift-2", None, 1)
        .unwrap();
    assert_eq!(cart.certificates()[0].value().to_string(), "1000 JPY");
    let mut euros = Selection::new(
        Currency::EUR,
        PriceBasis::TaxIncluded,
        SelectionPolicy::exclusive(),
    );
    assert!(matches!(
        euros.add_certificate_from(&catalogue(), "gift-2", None, 1),
        Err(SelectionError::Catalogue(
            CatalogueError::CurrencyNotOffered { .. }
        ))
    ));
}

#[test]
fn a_certificate_resolved_in_another_currency_is_refused() {
    let sek = catalogue().resolve("gift-2", Currency::SEK, None).unwrap();
    let mut cart = exclusive();
    assert!(matches!(
        cart.add_certificate(&sek, 1),
        Err(SelectionError::Money(MoneyError::CurrencyMismatch { .. }))
    ));
    assert!(matches!(
        cart.add_product(
            ProductLine::new("x", Money::zero(Currency::EUR), 1, TaxRate::ZERO).unwrap()
        ),
        Err(SelectionError::Money(MoneyError::CurrencyMismatch { .. }))
    ));
}

#[test]
fn every_mutation_reports_what_it_removed_or_replaced() {
    let mut cart = mixed();
    cart.add_product(product("shirt", "20")).unwrap();
    let change = cart.add_product(product("shirt", "18")).unwrap();
    assert_eq!(
        removed_skus(&change),
        [("shirt".to_owned(), RemovalReason::Replaced)]
    );
    assert_eq!(cart.products()[0].unit_price(), usd("18"));

    cart.add_certificate_from(&catalogue(), "gift-1", Some(Decimal::from(10)), 1)
        .unwrap();
    let change = cart
        .add_certificate_from(&catalogue(), "gift-1", Some(Decimal::from(20)), 2)
        .unwrap();
    assert_eq!(
        removed_skus(&change),
        [("gift-1".to_owned(), RemovalReason::Replaced)]
    );

    let change = cart.set_product_quantity("shirt", 0).unwrap();
    assert_eq!(
        removed_skus(&change),
        [("shirt".to_owned(), RemovalReason::Requested)]
    );
    let change = cart.remove_certificate("gift-1").unwrap();
    assert_eq!(
        removed_skus(&change),
        [("gift-1".to_owned(), RemovalReason::Requested)]
    );
    assert!(cart.is_empty());
    assert_eq!(
        cart.remove_product("shirt").unwrap_err().to_string(),
        "no product \"shirt\" in the selection"
    );
}

/// Before, the cap on certificate units was a constant the host could not lower.
#[test]
fn the_cap_on_certificate_units_is_the_policys() {
    let mut cart = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed().with_max_certificate_units(5),
    );
    cart.add_certificate_from(&catalogue(), "gift-2", None, 3)
        .unwrap();
    let err = cart
        .add_certificate_from(&catalogue(), "gift-1", Some(Decimal::ONE), 3)
        .unwrap_err();
    assert_eq!(
        err,
        SelectionError::TooManyCertificates { units: 6, max: 5 }
    );
    assert_eq!(
        err.to_string(),
        "a selection may hold at most 5 gift certificate units, found 6"
    );
    cart.add_certificate_from(&catalogue(), "gift-1", Some(Decimal::ONE), 2)
        .unwrap();
    assert_eq!(cart.certificate_units(), 5);
    // A stored selection over its policy's cap is refused when read.
    let mut stored = serde_json::to_value(&cart).unwrap();
    stored["policy"]["maxCertificateUnits"] = serde_json::json!(4);
    assert!(serde_json::from_value::<Selection>(stored).is_err());
    // The default keeps the seed rules: one certificate at a time under the exclusive rule,
    // and a thousand units under the mixed one.
    assert_eq!(
        SelectionPolicy::default().max_certificate_units(),
        MAX_CERTIFICATE_UNITS
    );
    assert!(SelectionPolicy::default().one_certificate_at_a_time());
}

#[test]
fn certificate_units_are_bounded_because_each_becomes_a_card() {
    let mut cart = mixed();
    let err = cart
        .add_certificate_from(&catalogue(), "gift-2", None, MAX_CERTIFICATE_UNITS + 1)
        .unwrap_err();
    assert_eq!(
        err,
        SelectionError::TooManyCertificates {
            units: MAX_CERTIFICATE_UNITS + 1,
            max: MAX_CERTIFICATE_UNITS
        }
    );
    cart.add_certificate_from(&catalogue(), "gift-2", None, MAX_CERTIFICATE_UNITS)
        .unwrap();
    assert!(matches!(
        cart.add_certificate_from(&catalogue(), "gift-1", Some(Decimal::ONE), 1),
        Err(SelectionError::TooManyCertificates { .. })
    ));
    assert!(matches!(
        cart.add_certificate_from(&catalogue(), "gift-2", None, 0),
        Err(SelectionError::ZeroQuantity(_))
    ));
}

#[test]
fn product_lines_refuse_negative_prices_and_discounts_larger_than_the_line() {
    assert_eq!(
        ProductLine::new("a", usd("-1"), 1, TaxRate::ZERO)
            .unwrap_err()
            .to_string(),
        "unit price must not be negative, found -1.00 USD"
    );
    let line = ProductLine::new("a", usd("10"), 2, TaxRate::ZERO).unwrap();
    assert_eq!(
        line.clone()
            .with_discount(usd("21"))
            .unwrap_err()
            .to_string(),
        "discount 21.00 USD on product \"a\" is larger than the line amount 20.00 USD"
    );
    assert!(line.clone().with_discount(usd("-1")).is_err());
    let discounted = line.with_discount(usd("20")).unwrap();
    assert!(discounted.net().is_zero());
    // Lowering the quantity below the discount is refused too.
    let mut cart = mixed();
    cart.add_product(discounted).unwrap();
    assert!(matches!(
        cart.set_product_quantity("a", 1),
        Err(SelectionError::DiscountExceedsLine { .. })
    ));
    assert!(ProductLine::new(" a", usd("1"), 1, TaxRate::ZERO).is_err());
    assert!(ProductLine::new("", usd("1"), 1, TaxRate::ZERO).is_err());
    let big = Money::new(Decimal::MAX, Currency::JPY).unwrap();
    assert!(matches!(
        ProductLine::new("a", big, 2, TaxRate::ZERO),
        Err(SelectionError::Money(MoneyError::AboveMaximum { .. }))
    ));
}

#[test]
fn order_discount_and_shipping_must_be_non_negative_and_in_currency() {
    let mut cart = mixed();
    assert_eq!(
        cart.set_order_discount(usd("-1")).unwrap_err().to_string(),
        "order discount must not be negative, found -1.00 USD"
    );
    assert!(cart.set_order_discount(Money::zero(Currency::EUR)).is_err());
    assert!(Shipping::new(usd("-1"), TaxRate::ZERO).is_err());
    assert_eq!(cart.set_order_discount(usd("1")).unwrap(), None);
    assert_eq!(cart.set_order_discount(usd("2")).unwrap(), Some(usd("1")));
}

#[test]
fn selections_round_trip_through_json_and_invalid_ones_are_refused() {
    let mut cart = mixed();
    cart.add_product(product("shirt", "20").with_discount(usd("2")).unwrap())
        .unwrap();
    cart.add_certificate_from(&catalogue(), "gift-2", None, 2)
        .unwrap();
    cart.set_order_discount(usd("1")).unwrap();
    let json = serde_json::to_value(&cart).unwrap();
    assert_eq!(json["prices"], "taxIncluded");
    assert_eq!(json["certificates"][0]["definition"], "gift-2");
    let back: Selection = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, cart);

    // The same lines under the exclusive policy break it.
    let mut broken = json.clone();
    broken["policy"] = serde_json::to_value(SelectionPolicy::exclusive()).unwrap();
    assert!(serde_json::from_value::<Selection>(broken).is_err());
    // A line in another currency.
    let mut broken = json.clone();
    broken["products"][0]["unitPrice"]["currency"] = "EUR".into();
    broken["products"][0]["discount"] = serde_json::Value::Null;
    assert!(serde_json::from_value::<Selection>(broken).is_err());
    // A negative unit price.
    let mut broken = json;
    broken["products"][0]["unitPrice"]["amount"] = "-5".into();
    assert!(serde_json::from_value::<Selection>(broken).is_err());
}
