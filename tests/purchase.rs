//! The purchase flow: paid selection → finalised order → cards to issue → notification
//! (seeds 000, 001, 002), and payment-method filtering (seeds 002, 004).

mod support;
use support::usd;

use chrono::{DateTime, TimeZone, Utc};
use giftcert::{
    Catalogue, CertificateDefinition, Currency, EmailAddress, Money, Order, OrderId,
    PaymentDetails, PaymentKind, PaymentMethod, PaymentPolicy, PaymentResult, PriceBasis,
    Selection, SelectionPolicy, Store, TaxRate, TotalsSettings,
    shop::{
        CardToIssue, GiftMessage, NO_SHIPMENT, OrderStatus, PaymentError, PaymentOutcome,
        ProductLine, PurchaseError, ShipmentContents,
    },
};
use rust_decimal::Decimal;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

fn catalogue() -> Catalogue {
    Catalogue::new()
        .with(CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate").unwrap())
        .unwrap()
        .with(
            CertificateDefinition::predetermined(
                "gift-2",
                "Pre-defined gift certificate",
                [usd("10")],
            )
            .unwrap(),
        )
        .unwrap()
}

fn card() -> PaymentMethod {
    PaymentMethod::new("card", PaymentKind::Card).unwrap()
}

fn invoice() -> PaymentMethod {
    PaymentMethod::new("invoice", PaymentKind::Invoice).unwrap()
}

fn gift_card() -> PaymentMethod {
    PaymentMethod::new("giftcard", PaymentKind::GiftCredit).unwrap()
}

fn details(method: PaymentMethod) -> PaymentDetails {
    PaymentDetails::new(method, EmailAddress::new("buyer@example.com").unwrap())
}

/// Centra's mini-checkout: one any-amount certificate of 100.00 USD.
fn certificate_selection() -> Selection {
    let mut s = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::exclusive(),
    );
    s.add_certificate_from(&catalogue(), "gift-1", Some(Decimal::from(100)), 1)
        .unwrap();
    s
}

fn place(selection: Selection, payment: PaymentDetails) -> Result<Order, PurchaseError> {
    Order::place(
        OrderId::new("o-1001").unwrap(),
        selection,
        payment,
        &PaymentPolicy::default(),
        &TotalsSettings::default(),
    )
}

fn paid_cards(outcome: PaymentOutcome) -> Vec<CardToIssue> {
    match outcome {
        PaymentOutcome::Paid { cards, .. } => cards,
        other => panic!("expected a paid outcome, got {other:?}"),
    }
}

#[test]
fn a_paid_certificate_order_is_finalised_with_a_completed_noshipment_shipment() {
    let mut order = place(certificate_selection(), details(card())).unwrap();
    assert_eq!(order.status(), OrderStatus::AwaitingPayment);
    assert!(order.shipments().is_empty());
    let outcome = order.report_payment(PaymentResult::Paid, now());
    assert_eq!(paid_cards(outcome).len(), 1);
    assert_eq!(order.status(), OrderStatus::Finalised);
    assert_eq!(order.paid_at(), Some(now()));
    let [shipment] = order.shipments() else {
        panic!("expected one shipment");
    };
    assert_eq!(shipment.method(), NO_SHIPMENT);
    assert_eq!(NO_SHIPMENT, "noshipment");
    assert_eq!(shipment.contents(), ShipmentContents::GiftCertificates);
    assert_eq!(shipment.completed_at(), now());
}

#[test]
fn one_card_is_issued_per_certificate_unit_with_its_value() {
    let mut cart = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    cart.add_certificate_from(&catalogue(), "gift-2", None, 3)
        .unwrap();
    cart.add_certificate_from(&catalogue(), "gift-1", Some(Decimal::from(25)), 1)
        .unwrap();
    let mut order = place(cart, details(card())).unwrap();
    let cards = paid_cards(order.report_payment(PaymentResult::Paid, now()));
    let issued: Vec<(u32, &str, Money, String)> = cards
        .iter()
        .map(|c| (c.unit(), c.definition().as_str(), c.value(), c.issue_key()))
        .collect();
    assert_eq!(
        issued,
        [
            (1, "gift-2", usd("10"), "o-1001/1".to_owned()),
            (2, "gift-2", usd("10"), "o-1001/2".to_owned()),
            (3, "gift-2", usd("10"), "o-1001/3".to_owned()),
            (4, "gift-1", usd("25"), "o-1001/4".to_owned()),
        ]
    );
    assert!(cards.iter().all(|c| c.order_id().as_str() == "o-1001"));
}

#[test]
fn a_100_any_amount_certificate_bought_tax_included_gives_a_card_worth_exactly_100() {
    let mut order = place(certificate_selection(), details(card())).unwrap();
    assert_eq!(order.totals().grand_total(), usd("100"));
    assert_eq!(order.totals().tax_total(), usd("0"));
    let cards = paid_cards(order.report_payment(PaymentResult::Paid, now()));
    assert_eq!(cards[0].value().to_string(), "100.00 USD");
}

#[test]
fn the_notification_goes_to_the_recipient_with_the_gift_message_and_no_code() {
    let payment = details(card())
        .with_recipient(EmailAddress::new("friend@example.com").unwrap())
        .with_gift_message(GiftMessage::new("ABC").unwrap());
    let mut order = place(certificate_selection(), payment).unwrap();
    // Centra: the message is saved on the order.
    assert_eq!(order.gift_message().map(GiftMessage::as_str), Some("ABC"));
    let PaymentOutcome::Paid {
        cards,
        notification: Some(note),
    } = order.report_payment(PaymentResult::Paid, now())
    else {
        panic!("expected a notification");
    };
    assert_eq!(note.to().as_str(), "friend@example.com");
    assert_eq!(note.buyer().as_str(), "buyer@example.com");
    assert_eq!(note.order_id().as_str(), "o-1001");
    assert_eq!(note.gift_message().map(GiftMessage::as_str), Some("ABC"));
    assert_eq!(note.cards(), cards.as_slice());
    assert_eq!(cards[0].recipient().as_str(), "friend@example.com");
    assert_eq!(
        cards[0].gift_message().map(GiftMessage::as_str),
        Some("ABC")
    );
    let json = serde_json::to_value(&note).unwrap();
    assert!(json.get("code").is_none());
    assert!(json["cards"][0].get("code").is_none());
    assert_eq!(json["giftMessage"], "ABC");
}

#[test]
fn without_a_recipient_the_buyer_receives_the_cards() {
    let mut order = place(certificate_selection(), details(card())).unwrap();
    let PaymentOutcome::Paid {
        notification: Some(note),
        ..
    } = order.report_payment(PaymentResult::Paid, now())
    else {
        panic!("expected a notification");
    };
    assert_eq!(note.to().as_str(), "buyer@example.com");
    assert_eq!(note.gift_message(), None);
}

#[test]
fn a_failed_payment_issues_nothing() {
    let mut order = place(certificate_selection(), details(card())).unwrap();
    assert_eq!(
        order.report_payment(PaymentResult::Failed, now()),
        PaymentOutcome::Failed
    );
    assert_eq!(order.status(), OrderStatus::PaymentFailed);
    assert!(order.shipments().is_empty());
    assert!(order.cards_to_issue().is_empty());
    assert!(order.notification().is_none());
    // A late success on a failed order issues nothing either.
    assert_eq!(
        order.report_payment(PaymentResult::Paid, now()),
        PaymentOutcome::AlreadySettled {
            status: OrderStatus::PaymentFailed
        }
    );
    assert!(order.cards_to_issue().is_empty());
}

#[test]
fn a_payment_result_reported_twice_issues_nothing_twice() {
    let mut order = place(certificate_selection(), details(card())).unwrap();
    let first = paid_cards(order.report_payment(PaymentResult::Paid, now()));
    let after_first = order.clone();
    for result in [PaymentResult::Paid, PaymentResult::Failed] {
        assert_eq!(
            order.report_payment(result, now()),
            PaymentOutcome::AlreadySettled {
                status: OrderStatus::Finalised
            }
        );
    }
    assert_eq!(order, after_first);
    assert_eq!(order.shipments().len(), 1);
    // The cards can be asked for again, identical, to retry an interrupted issuing step.
    assert_eq!(order.cards_to_issue(), first);
}

#[test]
fn a_mixed_order_is_paid_then_finalised_when_its_products_ship() {
    let mut cart = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    cart.add_product(ProductLine::new("shirt", usd("20"), 1, TaxRate::ZERO).unwrap())
        .unwrap();
    cart.add_certificate_from(&catalogue(), "gift-2", None, 1)
        .unwrap();
    let mut order = place(cart, details(card())).unwrap();
    assert_eq!(
        order.complete_product_shipment("ups", now()).unwrap_err(),
        PurchaseError::WrongStatus {
            expected: OrderStatus::Paid,
            found: OrderStatus::AwaitingPayment
        }
    );
    assert_eq!(
        paid_cards(order.report_payment(PaymentResult::Paid, now())).len(),
        1
    );
    assert_eq!(order.status(), OrderStatus::Paid);
    assert_eq!(order.shipments()[0].method(), NO_SHIPMENT);
    order.complete_product_shipment("ups", now()).unwrap();
    assert_eq!(order.status(), OrderStatus::Finalised);
    assert_eq!(order.shipments()[1].contents(), ShipmentContents::Products);
    assert_eq!(order.shipments()[1].method(), "ups");
}

#[test]
fn a_products_only_order_issues_no_cards() {
    let mut cart = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    cart.add_product(ProductLine::new("shirt", usd("20"), 1, TaxRate::ZERO).unwrap())
        .unwrap();
    let mut order = place(cart, details(invoice())).unwrap();
    assert_eq!(
        order.report_payment(PaymentResult::Paid, now()),
        PaymentOutcome::Paid {
            cards: Vec::new(),
            notification: None
        }
    );
    assert_eq!(order.status(), OrderStatus::Paid);
    assert!(order.shipments().is_empty());
}

#[test]
fn invoice_methods_are_barred_for_certificates_by_default() {
    let err = place(certificate_selection(), details(invoice())).unwrap_err();
    assert_eq!(
        err,
        PurchaseError::Payment(PaymentError::NotAllowedForCertificates {
            method: "invoice".to_owned(),
            kind: PaymentKind::Invoice
        })
    );
    assert_eq!(
        err.to_string(),
        "payment method \"invoice\" (invoice) cannot pay for gift certificates"
    );
    // A host that trusts invoices may allow them.
    let trusting = PaymentPolicy::default().allowing_kind(PaymentKind::Invoice);
    assert!(
        Order::place(
            OrderId::new("o-2").unwrap(),
            certificate_selection(),
            details(invoice()),
            &trusting,
            &TotalsSettings::default(),
        )
        .is_ok()
    );
}

#[test]
fn a_gift_certificate_cannot_be_paid_for_with_a_gift_certificate() {
    assert!(matches!(
        place(certificate_selection(), details(gift_card())),
        Err(PurchaseError::Payment(
            PaymentError::NotAllowedForCertificates { .. }
        ))
    ));
    // Not even when the host allows gift credit in its policy.
    let policy = PaymentPolicy::default().allowing_kind(PaymentKind::GiftCredit);
    assert!(!policy.allows_for_certificates(&gift_card()));
    // Gift credit offered with the payment pays none of the certificate.
    let order = place(
        certificate_selection(),
        details(card()).with_gift_credit("GC1", usd("500")),
    )
    .unwrap();
    assert_eq!(order.totals().gift_certificates()[0].used(), usd("0"));
    assert_eq!(order.totals().outstanding_balance(), usd("100"));
}

#[test]
fn payment_methods_are_filtered_only_for_selections_holding_certificates() {
    let methods = [card(), invoice(), gift_card()];
    let policy = PaymentPolicy::default().barring_method("card");
    let ids = |s: &Selection| -> Vec<String> {
        policy
            .methods_for(s, &methods)
            .iter()
            .map(|m| m.id().to_owned())
            .collect()
    };
    assert!(ids(&certificate_selection()).is_empty());
    let mut products = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    products
        .add_product(ProductLine::new("shirt", usd("20"), 1, TaxRate::ZERO).unwrap())
        .unwrap();
    assert_eq!(ids(&products), ["card", "invoice", "giftcard"]);
    let wallet = PaymentMethod::new("paypal", PaymentKind::Wallet).unwrap();
    let strict = PaymentPolicy::default().barring_kind(PaymentKind::Wallet);
    assert!(!strict.allows_for_certificates(&wallet));
    assert!(PaymentPolicy::default().allows_for_certificates(&wallet));
}

#[test]
fn an_empty_selection_cannot_be_ordered() {
    let empty = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::exclusive(),
    );
    assert_eq!(
        place(empty, details(card())).unwrap_err().to_string(),
        "cannot place an order for an empty selection"
    );
}

#[test]
fn orders_round_trip_through_json_and_inconsistent_ones_are_refused() {
    let mut order = place(
        certificate_selection(),
        details(card()).with_gift_message(GiftMessage::new("Happy birthday").unwrap()),
    )
    .unwrap();
    assert_eq!(
        paid_cards(order.report_payment(PaymentResult::Paid, now())).len(),
        1
    );
    let json = serde_json::to_value(&order).unwrap();
    assert_eq!(json["status"], "finalised");
    assert_eq!(json["payment"]["giftMessage"], "Happy birthday");
    assert_eq!(json["shipments"][0]["method"], "noshipment");
    assert_eq!(
        serde_json::from_value::<Order>(json.clone()).unwrap(),
        order
    );

    let mut unshipped = json.clone();
    unshipped["shipments"] = serde_json::json!([]);
    assert!(serde_json::from_value::<Order>(unshipped).is_err());
    let mut unpaid = json;
    unpaid["status"] = "awaitingPayment".into();
    assert!(serde_json::from_value::<Order>(unpaid).is_err());
}

#[test]
fn identifiers_addresses_and_messages_are_checked() {
    assert!(OrderId::new("").is_err());
    assert!(OrderId::new("o 1").is_err());
    assert!(OrderId::new(&"x".repeat(65)).is_err());
    for bad in [
        "",
        "no-at-sign",
        "a@b",
        "@example.com",
        "a b@example.com",
        "a@@b.com",
        "a@b..com",
    ] {
        assert!(EmailAddress::new(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(
        EmailAddress::new("someone").unwrap_err().to_string(),
        "invalid e-mail address: it has no '@'"
    );
    assert!(GiftMessage::new("Happy\nbirthday").is_ok());
    assert!(GiftMessage::new("   ").is_err());
    assert!(GiftMessage::new("bell\u{7}").is_err());
    assert!(GiftMessage::new(&"x".repeat(1001)).is_err());
    assert!(serde_json::from_str::<GiftMessage>("\"\"").is_err());
    assert!(PaymentMethod::new("has space", PaymentKind::Card).is_err());
}

#[test]
fn policies_read_from_json_fall_back_to_the_defaults() {
    let payment: PaymentPolicy = serde_json::from_str("{}").unwrap();
    assert_eq!(payment, PaymentPolicy::default());
    assert!(!payment.allows_for_certificates(&invoice()));
    let selection: SelectionPolicy = serde_json::from_str("{}").unwrap();
    assert_eq!(selection, SelectionPolicy::exclusive());
}

#[test]
fn gift_credit_is_kept_with_the_payment_and_masked_in_debug_output() {
    let payment = details(card()).with_gift_credit("SECRET-7KQ2", usd("5"));
    assert_eq!(payment.gift_credit()[0].code(), "SECRET-7KQ2");
    assert_eq!(payment.gift_credit()[0].balance(), usd("5"));
    let debug = format!("{payment:?}");
    assert!(!debug.contains("SECRET"), "{debug}");
    assert!(debug.contains("****-****-****-****-*"), "{debug}");
    assert!(!debug.contains("7KQ2"), "{debug}");
}

/// The whole purchase: a paid order's cards are issued through the redemption service, with
/// the recipient and gift message on each card and in the e-mail, and a payment reported twice
/// still issues each card once.
#[test]
fn a_paid_order_issues_its_cards_once_however_often_payment_is_reported() {
    use giftcert::{MemoryStore, Notification, Redeemer};

    // Spryker's mixed policy lets one line carry two units.
    let mut selection = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    selection
        .add_certificate_from(&catalogue(), "gift-1", Some(Decimal::from(100)), 2)
        .unwrap();
    let mut order = Order::place(
        OrderId::new("o-77").unwrap(),
        selection,
        details(card())
            .with_recipient(EmailAddress::new("friend@example.com").unwrap())
            .with_gift_message(GiftMessage::new("Happy birthday!").unwrap()),
        &PaymentPolicy::default(),
        &TotalsSettings::default(),
    )
    .unwrap();
    let redeemer = Redeemer::new(MemoryStore::new());
    assert!(matches!(
        order.report_payment(PaymentResult::Paid, now()),
        PaymentOutcome::Paid { .. }
    ));
    let first = redeemer.issue_for_order(&order).unwrap();
    assert_eq!(first.outcome.cards.len(), 2);
    assert!(first.outcome.cards.iter().all(|c| c.value == usd("100")));
    let Notification::CardIssued {
        recipient,
        message,
        order: reference,
        code,
        ..
    } = &first.notifications[0]
    else {
        panic!("expected a card notification");
    };
    assert_eq!(
        recipient.as_ref().and_then(|r| r.email.as_deref()),
        Some("friend@example.com")
    );
    assert_eq!(message.as_deref(), Some("Happy birthday!"));
    assert_eq!(reference.as_ref().map(|r| r.as_str()), Some("o-77"));
    assert!(redeemer.store().card_by_code(code).unwrap().is_some());

    // The payment provider calls back again: the order issues nothing new, and neither does
    // the service, even if the host asks it to issue the order's cards again.
    assert!(matches!(
        order.report_payment(PaymentResult::Paid, now()),
        PaymentOutcome::AlreadySettled { .. }
    ));
    let again = redeemer.issue_for_order(&order).unwrap();
    assert!(again.replayed);
    assert!(again.notifications.is_empty());
    assert_eq!(again.outcome, first.outcome);
    assert_eq!(redeemer.store().card_count(), 2);
}

/// A failed payment issues no card at all.
#[test]
fn a_failed_payment_issues_no_card() {
    use giftcert::{MemoryStore, RedeemError, Redeemer};

    let mut order = Order::place(
        OrderId::new("o-78").unwrap(),
        certificate_selection(),
        details(card()),
        &PaymentPolicy::default(),
        &TotalsSettings::default(),
    )
    .unwrap();
    assert!(matches!(
        order.report_payment(PaymentResult::Failed, now()),
        PaymentOutcome::Failed
    ));
    let redeemer = Redeemer::new(MemoryStore::new());
    let refused = redeemer.issue_for_order(&order);
    assert!(
        matches!(&refused, Err(RedeemError::OrderNotPaid { status, .. }) if status == "payment failed"),
        "{refused:?}"
    );
    assert_eq!(redeemer.store().card_count(), 0);
}
