//! The checkout page's view of its gift certificates ([`CheckoutView`]) at each stage of the
//! payment: what the totals allocate while open (in the protocol's allocation order), what
//! live holds keep once authorised, what was captured less refunds once captured, and the
//! totals of an order known only by its grand total.

mod support;
use support::{key, reference, usd};

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use giftcert::clock::{Clock, FixedClock};
use giftcert::redeem::{AllocationOrder, PaymentStage, Protocol};
use giftcert::shop::{CheckoutView, TotalsError};
use giftcert::{CardSpec, Currency, MemoryStore, Money, Notification, Redeemer, Totals};

/// A redeemer at a fixed instant with `order`, and its clock.
fn redeemer(order: AllocationOrder) -> (Redeemer<MemoryStore>, Arc<FixedClock>) {
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    let clock = Arc::new(FixedClock::new(at));
    let redeemer = Redeemer::new(MemoryStore::new())
        .with_protocol(Protocol::default().with_allocation_order(order))
        .with_clock(clock.clone());
    (redeemer, clock)
}

/// Issues `specs` under one key and applies every card to checkout `c-1`, in that order.
fn apply(redeemer: &Redeemer<MemoryStore>, specs: Vec<CardSpec>) {
    let issued = redeemer.issue(&key("issue"), specs).unwrap();
    for n in &issued.notifications {
        let Notification::CardIssued { code, .. } = n else {
            panic!("{n:?}")
        };
        redeemer
            .apply_code(
                &reference("client"),
                &reference("c-1"),
                Currency::USD,
                code.expose_secret(),
            )
            .unwrap();
    }
}

/// The view of checkout `c-1` for an order of `grand_total`.
fn view(redeemer: &Redeemer<MemoryStore>, grand_total: &str) -> CheckoutView {
    let cards = redeemer.checkout_cards(&reference("c-1")).unwrap();
    let totals = Totals::for_grand_total(usd(grand_total), &cards).unwrap();
    CheckoutView::new(&cards, &totals).unwrap()
}

fn used(view: &CheckoutView) -> Vec<Money> {
    view.gift_certificates.iter().map(|c| c.used).collect()
}

#[test]
fn the_view_shows_balance_used_remaining_and_purchase_date_in_bigcommerces_names() {
    let (redeemer, clock) = redeemer(AllocationOrder::LowestFirst);
    apply(&redeemer, vec![CardSpec::new(usd("100"))]);
    let json = serde_json::to_value(view(&redeemer, "45")).unwrap();
    let card = &json["giftCertificates"][0];
    assert_eq!(card["balance"]["amount"], "100.00");
    assert_eq!(card["used"]["amount"], "45.00");
    assert_eq!(card["remaining"]["amount"], "55.00");
    assert_eq!(card["held"]["amount"], "0.00");
    assert_eq!(card["purchaseDate"], clock.now().date_naive().to_string());
    assert!(card["code"].as_str().unwrap().contains('*'), "{card}");
    assert_eq!(json["stage"], "open");
    assert_eq!(json["outstandingBalance"]["amount"], "0.00");
}

#[test]
fn an_open_checkout_follows_the_protocols_allocation_order() {
    let (lowest, _) = redeemer(AllocationOrder::LowestFirst);
    let (expiring, clock) = redeemer(AllocationOrder::ExpiringFirst);
    for redeemer in [&lowest, &expiring] {
        let mut soon = CardSpec::new(usd("80"));
        soon.expires_at = Some(clock.now() + Duration::days(3));
        apply(redeemer, vec![CardSpec::new(usd("50")), soon]);
    }
    // Lowest first: the 50.00 card pays all it has, the 80.00 card the rest.
    assert_eq!(used(&view(&lowest, "100")), [usd("50"), usd("50")]);
    // Expiring first: the card expiring in three days pays first.
    let shown = view(&expiring, "100");
    assert_eq!(used(&shown), [usd("20"), usd("80")]);
    assert_eq!(shown.outstanding_balance, usd("0"));
}

#[test]
fn an_authorised_checkout_shows_its_live_holds_and_an_expired_hold_as_nothing() {
    let (redeemer, clock) = redeemer(AllocationOrder::LowestFirst);
    apply(&redeemer, vec![CardSpec::new(usd("100"))]);
    // Half the order on the card; the rest goes to another method.
    redeemer
        .authorise(&key("auth"), &reference("c-1"), usd("30"))
        .unwrap();
    let held = view(&redeemer, "60");
    assert_eq!(held.stage, PaymentStage::Authorised);
    let card = &held.gift_certificates[0];
    assert_eq!(
        (card.balance, card.held, card.used, card.remaining),
        (usd("100"), usd("30"), usd("30"), usd("70"))
    );
    assert_eq!(held.outstanding_balance, usd("30"));

    // Past the hold's time limit its money is the card's again, and the checkout has none.
    clock.advance(chrono::TimeDelta::hours(1)).unwrap();
    let expired = view(&redeemer, "60");
    let card = &expired.gift_certificates[0];
    assert_eq!(
        (card.balance, card.held, card.used, card.remaining),
        (usd("100"), usd("0"), usd("0"), usd("100"))
    );
    assert_eq!(expired.outstanding_balance, usd("60"));
}

#[test]
fn a_captured_checkout_shows_what_was_spent_less_refunds() {
    let (redeemer, _) = redeemer(AllocationOrder::LowestFirst);
    apply(&redeemer, vec![CardSpec::new(usd("100"))]);
    let checkout = reference("c-1");
    redeemer
        .authorise(&key("auth"), &checkout, usd("60"))
        .unwrap();
    redeemer.capture(&key("capture"), &checkout).unwrap();
    redeemer
        .refund(&key("refund"), &checkout, usd("10"))
        .unwrap();
    let shown = view(&redeemer, "60");
    assert_eq!(shown.stage, PaymentStage::Captured);
    let card = &shown.gift_certificates[0];
    assert_eq!(
        (
            card.captured,
            card.refunded,
            card.used,
            card.remaining,
            card.balance
        ),
        (usd("60"), usd("10"), usd("50"), usd("50"), usd("100"))
    );
    assert_eq!(shown.outstanding_balance, usd("10"));
}

#[test]
fn totals_for_a_grand_total_leave_tax_alone_and_refuse_a_negative_total() {
    let (redeemer, _) = redeemer(AllocationOrder::LowestFirst);
    apply(&redeemer, vec![CardSpec::new(usd("40"))]);
    let cards = redeemer.checkout_cards(&reference("c-1")).unwrap();
    let totals = Totals::for_grand_total(usd("150"), &cards).unwrap();
    assert_eq!(totals.subtotal(), usd("150"));
    assert_eq!(totals.tax_total(), usd("0"));
    assert_eq!(totals.amount_to_authorise(), usd("150"));
    assert_eq!(totals.credit_used(), usd("40"));
    assert_eq!(totals.outstanding_balance(), usd("110"));

    let err = Totals::for_grand_total(usd("-1"), &cards).unwrap_err();
    assert_eq!(err, TotalsError::NegativeGrandTotal(usd("-1")));
    assert_eq!(err.to_string(), "grand total -1.00 USD is negative");
    let sek = Money::parse("10", Currency::SEK).unwrap();
    assert!(matches!(
        Totals::for_grand_total(sek, &cards),
        Err(TotalsError::Money(_))
    ));
}
