//! Every amount the crate sells, issues or keeps on a card is at most one billion whole units of
//! its currency, and a product line at most a million units: beyond them a typed error names
//! the maximum, before anything is paid for and before any card changes.

mod support;
use support::{key, reference, usd};

use giftcert::card::{Attribution, CardError, Reason};
use giftcert::money::{MAX_WHOLE_UNITS, MoneyError};
use giftcert::redeem::CardCommand;
use giftcert::shop::{MAX_PRODUCT_UNITS, ProductLine, SelectionError, TotalsError};
use giftcert::{
    CardSpec, CertificateDefinition, Currency, MemoryStore, Money, Notification, PriceBasis,
    RedeemError, Redeemer, Selection, SelectionPolicy, TaxRate, Totals, TotalsSettings,
    catalogue::CatalogueError,
};
use rust_decimal::Decimal;

fn above_maximum(err: &MoneyError, currency: Currency) -> bool {
    matches!(err, MoneyError::AboveMaximum { max, .. } if *max == Money::maximum(currency))
}

#[test]
fn the_maximum_is_a_billion_whole_units_in_every_currency() {
    for currency in [Currency::JPY, Currency::USD, Currency::KWD] {
        let max = Money::maximum(currency);
        assert_eq!(max.amount(), Decimal::from(MAX_WHOLE_UNITS));
        assert_eq!(max.within_maximum(), Ok(max));
        let step = Money::from_minor(1, currency).unwrap();
        let over = max.checked_add(step).unwrap();
        assert!(above_maximum(&over.within_maximum().unwrap_err(), currency));
        assert!(above_maximum(
            &over.negated().within_maximum().unwrap_err(),
            currency
        ));
    }
    let err = usd("1000000000.01").within_maximum().unwrap_err();
    assert_eq!(
        err.to_string(),
        "amount 1000000000.01 USD is above the maximum of 1000000000.00 USD"
    );
}

#[test]
fn an_any_amount_certificate_above_the_maximum_is_refused_when_it_is_picked() {
    let any = CertificateDefinition::any_amount("gift-1", "Pick your amount").unwrap();
    let huge = Decimal::from_str_exact("99999999999999999999999").unwrap();
    let err = any.resolve(Currency::USD, Some(huge)).unwrap_err();
    assert!(
        matches!(&err, CatalogueError::Money(e) if above_maximum(e, Currency::USD)),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("maximum of 1000000000.00 USD"),
        "{err}"
    );
    let max = Decimal::from(MAX_WHOLE_UNITS);
    assert_eq!(
        any.resolve(Currency::USD, Some(max)).unwrap().value(),
        Money::maximum(Currency::USD)
    );
    let just_over = max + Decimal::new(1, 2);
    assert!(any.resolve(Currency::USD, Some(just_over)).is_err());
    assert!(
        any.resolve(Currency::JPY, Some(max + Decimal::ONE))
            .is_err()
    );
}

#[test]
fn a_definition_or_bound_above_the_maximum_is_refused() {
    let over = usd("1000000000.01");
    assert!(matches!(
        CertificateDefinition::predetermined("gift-big", "Big", [over]),
        Err(CatalogueError::Money(MoneyError::AboveMaximum { .. }))
    ));
    let any = CertificateDefinition::any_amount("gift-1", "Pick").unwrap();
    let bounds = giftcert::catalogue::AmountBounds::new(Currency::USD, None, Some(over)).unwrap();
    assert!(matches!(
        any.with_bounds(bounds),
        Err(CatalogueError::Money(MoneyError::AboveMaximum { .. }))
    ));
}

#[test]
fn a_product_line_holds_at_most_a_million_units_and_the_maximum_amount() {
    let err = ProductLine::new("shirt", usd("1"), u64::MAX, TaxRate::ZERO).unwrap_err();
    assert!(
        matches!(
            &err,
            SelectionError::TooManyUnits {
                quantity: u64::MAX,
                max: MAX_PRODUCT_UNITS,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "product \"shirt\" may have at most 1000000 units on one line, found {}",
            u64::MAX
        )
    );
    let full = ProductLine::new("shirt", usd("1000"), MAX_PRODUCT_UNITS, TaxRate::ZERO).unwrap();
    assert_eq!(full.amount(), Money::maximum(Currency::USD));
    assert!(ProductLine::new("shirt", usd("1"), MAX_PRODUCT_UNITS + 1, TaxRate::ZERO).is_err());
    let err = ProductLine::new("shirt", usd("1000.01"), MAX_PRODUCT_UNITS, TaxRate::ZERO);
    assert!(matches!(
        err,
        Err(SelectionError::Money(MoneyError::AboveMaximum { .. }))
    ));
    // A unit price above the maximum is refused even on a line of no units.
    assert!(matches!(
        ProductLine::new("shirt", usd("1000000000.01"), 0, TaxRate::ZERO),
        Err(SelectionError::Money(MoneyError::AboveMaximum { .. }))
    ));
}

#[test]
fn a_grand_total_above_the_maximum_is_refused_before_it_is_paid() {
    let mut selection = Selection::new(
        Currency::USD,
        PriceBasis::TaxExcluded,
        SelectionPolicy::mixed(),
    );
    let half = usd("500000000");
    selection
        .add_product(ProductLine::new("a", half, 1, TaxRate::ZERO).unwrap())
        .unwrap();
    selection
        .add_product(ProductLine::new("b", half, 1, TaxRate::ZERO).unwrap())
        .unwrap();
    let settings = TotalsSettings::default();
    let none: [(String, Money); 0] = [];
    let at_max = Totals::compute(&selection, none.clone(), &settings).unwrap();
    assert_eq!(at_max.grand_total(), Money::maximum(Currency::USD));

    // Tax on top takes the total over.
    let mut taxed = Selection::new(
        Currency::USD,
        PriceBasis::TaxExcluded,
        SelectionPolicy::mixed(),
    );
    taxed
        .add_product(ProductLine::new("a", half, 2, "1".parse::<TaxRate>().unwrap()).unwrap())
        .unwrap();
    let err = Totals::compute(&taxed, none, &settings).unwrap_err();
    assert!(
        matches!(&err, TotalsError::Money(e) if above_maximum(e, Currency::USD)),
        "{err:?}"
    );
    let cards = Redeemer::new(MemoryStore::new())
        .checkout_cards(&reference("c-1"))
        .unwrap();
    assert!(matches!(
        Totals::for_grand_total(usd("1000000000.01"), &cards),
        Err(TotalsError::Money(MoneyError::AboveMaximum { .. }))
    ));
    assert!(Totals::for_grand_total(Money::maximum(Currency::USD), &cards).is_ok());
}

#[test]
fn no_card_is_issued_or_reloaded_above_the_maximum_and_nothing_changes() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let err = redeemer
        .issue(&key("big"), vec![CardSpec::new(usd("1000000000.01"))])
        .unwrap_err();
    assert!(
        matches!(&err, RedeemError::Card(CardError::Money(e)) if above_maximum(e, Currency::USD)),
        "{err:?}"
    );

    let issued = redeemer
        .issue(&key("card"), vec![CardSpec::new(usd("999999999"))])
        .unwrap();
    let Notification::CardIssued { card, .. } = &issued.notifications[0] else {
        panic!("no card issued")
    };
    let by = Attribution::new(reference("staff:ana"), Reason::new("top-up").unwrap());
    let reload = |name: &str, amount: &str| {
        redeemer.amend(
            &key(name),
            *card,
            CardCommand::Reload {
                amount: usd(amount),
                bounds: None,
            },
            &by,
        )
    };
    let err = reload("over", "1.01").unwrap_err();
    assert!(
        matches!(&err, RedeemError::Card(CardError::Money(e)) if above_maximum(e, Currency::USD)),
        "{err:?}"
    );
    let adjust = redeemer.amend(
        &key("adjust"),
        *card,
        CardCommand::Adjust {
            change: usd("1.01"),
        },
        &by,
    );
    assert!(adjust.is_err());
    assert_eq!(redeemer.history(*card).unwrap().len(), 1);
    assert_eq!(
        redeemer.card(*card).unwrap().unwrap().balance(),
        usd("999999999")
    );
    reload("exact", "1").unwrap();
    assert_eq!(
        redeemer.card(*card).unwrap().unwrap().balance(),
        Money::maximum(Currency::USD)
    );
}
