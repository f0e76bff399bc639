//! Totals with the checkout's own cards in one call, through both drivers: Centra's table
//! stays exact, cards are named by id and masked code, and authorising the amount the totals
//! give holds exactly the credit they show.

mod support;
use giftcert::testkit::block_on;
use support::{key, reference, usd};

use std::sync::Arc;

use giftcert::{
    CardSpec, Currency, MemoryStore, Money, Notification, PriceBasis, Redeemer, Selection,
    SelectionPolicy, TaxRate, Totals, TotalsSettings,
    redeem::AllocationOrder,
    shop::{CheckoutTotalsError, ProductLine, TotalsError},
    store::AsyncRedeemer,
};

fn centra_cart() -> Selection {
    let mut cart = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    cart.add_product(
        ProductLine::new("a", usd("5500"), 1, "25".parse::<TaxRate>().unwrap()).unwrap(),
    )
    .unwrap();
    cart
}

fn issue(redeemer: &Redeemer<MemoryStore>, k: &str, value: &str) -> String {
    let issued = redeemer
        .issue(&key(k), vec![CardSpec::new(usd(value))])
        .unwrap();
    match &issued.notifications[0] {
        Notification::CardIssued { code, .. } => code.expose_secret().to_owned(),
        other => panic!("expected a card issued, got {other:?}"),
    }
}

#[test]
fn centras_table_comes_out_of_the_checkout_and_authorise_holds_what_it_shows() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let (client, checkout) = (reference("client-1"), reference("c-1"));
    let big = issue(&redeemer, "i-1", "700");
    let small = issue(&redeemer, "i-2", "300");
    let big_applied = redeemer
        .apply_code(&client, &checkout, Currency::USD, &big)
        .unwrap();
    redeemer
        .apply_code(&client, &checkout, Currency::USD, &small)
        .unwrap();

    let cart = centra_cart();
    let totals = redeemer
        .checkout_totals(&checkout, &cart, &TotalsSettings::default())
        .unwrap();
    assert_eq!(totals.grand_total(), usd("5500"));
    assert_eq!(totals.tax_total(), usd("1100"));
    assert_eq!(totals.credit_used(), usd("1000"));
    assert_eq!(totals.outstanding_balance(), usd("4500"));
    assert_eq!(totals.amount_to_authorise(), usd("5500"));
    // In the order applied, by id and masked code.
    let first = &totals.gift_certificates()[0];
    assert_eq!(first.card(), Some(big_applied.card));
    assert_eq!(first.code(), big_applied.code.as_str());
    assert!(!first.code().contains(&big[..big.len() - 4]));
    let json = serde_json::to_string(&totals).unwrap();
    assert!(!json.contains(&big) && !json.contains(&small), "{json}");
    assert!(!format!("{totals:?}").contains(&big));

    let auth = redeemer
        .authorise(&key("a-1"), &checkout, totals.amount_to_authorise())
        .unwrap();
    assert_eq!(auth.outcome.credit, totals.credit_used());
    assert_eq!(auth.outcome.outstanding, usd("4500"));
    for shown in totals.gift_certificates() {
        let held = auth
            .outcome
            .cards
            .iter()
            .find(|c| Some(c.card) == shown.card())
            .unwrap();
        assert_eq!(held.used, shown.used());
    }

    // Once authorised, the totals still show the credit the checkout holds.
    let again = redeemer
        .checkout_totals(&checkout, &cart, &TotalsSettings::default())
        .unwrap();
    assert_eq!(again, totals);
    let captured = redeemer.capture(&key("cap-1"), &checkout).unwrap();
    assert_eq!(captured.outcome.total, totals.credit_used());
    // And once captured, what the cards paid.
    let paid = redeemer
        .checkout_totals(&checkout, &cart, &TotalsSettings::default())
        .unwrap();
    assert_eq!(paid.credit_used(), usd("1000"));
    assert_eq!(paid.outstanding_balance(), usd("4500"));
}

#[test]
fn a_checkout_without_codes_has_totals_without_credit() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let totals = redeemer
        .checkout_totals(
            &reference("new"),
            &centra_cart(),
            &TotalsSettings::default(),
        )
        .unwrap();
    assert_eq!(
        totals,
        Totals::compute(
            &centra_cart(),
            Vec::<(String, Money)>::new(),
            &TotalsSettings::default()
        )
        .unwrap()
    );
    assert!(totals.gift_certificates().is_empty());
}

#[test]
fn a_checkout_in_another_currency_is_refused() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let code = issue(&redeemer, "i-1", "10");
    let checkout = reference("c-1");
    redeemer
        .apply_code(&reference("client"), &checkout, Currency::USD, &code)
        .unwrap();
    let cart = Selection::new(
        Currency::EUR,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    let err = redeemer
        .checkout_totals(&checkout, &cart, &TotalsSettings::default())
        .unwrap_err();
    assert!(matches!(
        err,
        CheckoutTotalsError::Totals(TotalsError::Money(_))
    ));
    assert_eq!(
        err.to_string(),
        "cannot combine USD with EUR: amounts are in different currencies"
    );
}

#[test]
fn totals_follow_the_protocols_allocation_order_through_both_drivers() {
    use chrono::{Duration, TimeZone, Utc};
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    let protocol =
        giftcert::redeem::Protocol::default().with_allocation_order(AllocationOrder::ExpiringFirst);
    let sync = Redeemer::new(MemoryStore::new())
        .with_protocol(protocol.clone())
        .with_clock(Arc::new(giftcert::clock::FixedClock::new(at)));
    let mut soon = CardSpec::new(usd("5000"));
    soon.expires_at = Some(at + Duration::days(3));
    let issued = sync
        .issue(&key("i-1"), vec![soon, CardSpec::new(usd("1000"))])
        .unwrap();
    let codes: Vec<String> = issued
        .notifications
        .iter()
        .map(|n| match n {
            Notification::CardIssued { code, .. } => code.expose_secret().to_owned(),
            other => panic!("{other:?}"),
        })
        .collect();
    let checkout = reference("c-1");
    for code in &codes {
        sync.apply_code(&reference("client"), &checkout, Currency::USD, code)
            .unwrap();
    }
    let cart = centra_cart();
    let totals = sync
        .checkout_totals(&checkout, &cart, &TotalsSettings::default())
        .unwrap();
    // The card expiring soonest pays everything it can, the other the rest.
    let used: Vec<Money> = totals
        .gift_certificates()
        .iter()
        .map(|g| g.used())
        .collect();
    assert_eq!(used, [usd("5000"), usd("500")]);

    let asynchronous = AsyncRedeemer::new(MemoryStore::new())
        .with_protocol(protocol)
        .with_clock(Arc::new(giftcert::clock::FixedClock::new(at)));
    let mut soon = CardSpec::new(usd("5000"));
    soon.expires_at = Some(at + Duration::days(3));
    let issued =
        block_on(asynchronous.issue(&key("i-1"), vec![soon, CardSpec::new(usd("1000"))])).unwrap();
    for n in &issued.notifications {
        let Notification::CardIssued { code, .. } = n else {
            panic!("{n:?}")
        };
        block_on(asynchronous.apply_code(
            &reference("client"),
            &checkout,
            Currency::USD,
            code.expose_secret(),
        ))
        .unwrap();
    }
    let from_async =
        block_on(asynchronous.checkout_totals(&checkout, &cart, &TotalsSettings::default()))
            .unwrap();
    let used: Vec<Money> = from_async
        .gift_certificates()
        .iter()
        .map(|g| g.used())
        .collect();
    assert_eq!(used, [usd("5000"), usd("500")]);
    assert_eq!(
        from_async.outstanding_balance(),
        totals.outstanding_balance()
    );
    let cards = block_on(asynchronous.checkout_cards(&checkout)).unwrap();
    assert_eq!(cards.order, AllocationOrder::ExpiringFirst);
    assert_eq!(cards.cards.len(), 2);
}
