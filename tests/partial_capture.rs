//! Partial capture (capture less than authorised; the rest goes back) and changing an open
//! authorisation's amount without a void, through both drivers.

mod support;
use giftcert::testkit::block_on;
use support::{card_on_checkout_async, cards_on_checkout, key, reference, usd};

use giftcert::{
    CardId, Currency, MemoryStore, Money, RedeemError, Redeemer,
    card::{EntryKind, ReleaseReason, verify_ledger},
    redeem::{CheckoutState, RecordedRequest},
    store::{AsyncRedeemer, Store},
};

/// Issues cards of `values` and applies them all to checkout `c-1`.
fn checkout_with(redeemer: &Redeemer<MemoryStore>, values: &[&str]) -> Vec<CardId> {
    cards_on_checkout(redeemer, "c-1", values)
}

fn available(redeemer: &Redeemer<MemoryStore>, id: CardId) -> Money {
    redeemer.card(id).unwrap().unwrap().available()
}

fn balance(redeemer: &Redeemer<MemoryStore>, id: CardId) -> Money {
    redeemer.card(id).unwrap().unwrap().balance()
}

#[test]
fn a_partial_capture_takes_the_cards_in_the_order_they_paid_and_releases_the_rest() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let ids = checkout_with(&redeemer, &["100", "30"]);
    let checkout = reference("c-1");
    // Lowest first: the 30.00 card pays 30.00, the 100.00 card 50.00.
    redeemer.authorise(&key("a"), &checkout, usd("80")).unwrap();
    let captured = redeemer
        .capture_part(&key("cap"), &checkout, usd("50"))
        .unwrap();
    assert_eq!(captured.outcome.total, usd("50"));
    let paid: Vec<_> = captured
        .outcome
        .cards
        .iter()
        .map(|c| (c.card, c.amount))
        .collect();
    assert_eq!(paid, [(ids[1], usd("30")), (ids[0], usd("20"))]);
    let released: Vec<_> = captured
        .outcome
        .released
        .iter()
        .map(|c| (c.card, c.amount))
        .collect();
    assert_eq!(released, [(ids[0], usd("30"))]);
    assert_eq!(balance(&redeemer, ids[0]), usd("80"));
    assert_eq!(available(&redeemer, ids[0]), usd("80"));
    assert_eq!(balance(&redeemer, ids[1]), usd("0"));
    let history = redeemer.history(ids[0]).unwrap();
    assert!(history.iter().any(|e| matches!(
        e.kind(),
        EntryKind::Released {
            reason: ReleaseReason::Remainder,
            ..
        }
    )));
    for id in &ids {
        verify_ledger(
            *id,
            balance(&redeemer, *id),
            &redeemer.history(*id).unwrap(),
        )
        .unwrap();
    }
    // Refunds never exceed what was captured, not what was authorised.
    let err = redeemer
        .refund(&key("r"), &checkout, usd("50.01"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "this checkout can refund at most 50.00 USD, not 50.01 USD"
    );
}

#[test]
fn a_hold_the_capture_does_not_reach_goes_back_whole() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let ids = checkout_with(&redeemer, &["100", "30"]);
    let checkout = reference("c-1");
    redeemer.authorise(&key("a"), &checkout, usd("80")).unwrap();
    let captured = redeemer
        .capture_part(&key("cap"), &checkout, usd("10"))
        .unwrap();
    assert_eq!(captured.outcome.cards.len(), 1);
    assert_eq!(captured.outcome.cards[0].card, ids[1]);
    let released: Vec<_> = captured
        .outcome
        .released
        .iter()
        .map(|c| (c.card, c.amount))
        .collect();
    assert_eq!(released, [(ids[1], usd("20")), (ids[0], usd("50"))]);
    assert_eq!(available(&redeemer, ids[0]), usd("100"));
    assert_eq!(available(&redeemer, ids[1]), usd("20"));
    assert!(redeemer.card(ids[0]).unwrap().unwrap().holds().is_empty());
}

#[test]
fn a_partial_capture_above_the_authorisation_or_of_nothing_is_refused_and_changes_nothing() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let ids = checkout_with(&redeemer, &["100"]);
    let checkout = reference("c-1");
    redeemer.authorise(&key("a"), &checkout, usd("60")).unwrap();
    let err = redeemer
        .capture_part(&key("cap"), &checkout, usd("60.01"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "this checkout holds 60.00 USD; cannot capture 60.01 USD"
    );
    assert!(matches!(
        err,
        RedeemError::CaptureExceedsAuthorisation { .. }
    ));
    let err = redeemer
        .capture_part(&key("cap"), &checkout, usd("0"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot capture 0.00 USD: the amount must be above zero"
    );
    assert!(
        matches!(err, RedeemError::NotPositive { operation: "capture", amount } if amount == usd("0")),
        "{err:?}"
    );
    let err = redeemer
        .capture_part(
            &key("cap"),
            &checkout,
            Money::parse("1", Currency::EUR).unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, RedeemError::Money(_)), "{err}");
    assert_eq!(available(&redeemer, ids[0]), usd("40"));
    let stored = redeemer.store().checkout(&checkout).unwrap().unwrap().value;
    assert!(matches!(stored.state(), CheckoutState::Authorised { .. }));
    // The whole amount is still capturable.
    let captured = redeemer
        .capture_part(&key("cap"), &checkout, usd("60"))
        .unwrap();
    assert!(captured.outcome.released.is_empty());
}

#[test]
fn a_partial_capture_replays_under_its_key_and_refuses_another_amount() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let ids = checkout_with(&redeemer, &["100"]);
    let checkout = reference("c-1");
    redeemer.authorise(&key("a"), &checkout, usd("60")).unwrap();
    let first = redeemer
        .capture_part(&key("cap"), &checkout, usd("25"))
        .unwrap();
    let again = redeemer
        .capture_part(&key("cap"), &checkout, usd("25"))
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.outcome, first.outcome);
    assert_eq!(balance(&redeemer, ids[0]), usd("75"));
    let err = redeemer
        .capture_part(&key("cap"), &checkout, usd("26"))
        .unwrap_err();
    let RedeemError::IdempotencyConflict { first, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        **first,
        RecordedRequest::CapturePart {
            checkout: checkout.clone(),
            amount: usd("25"),
        }
    );
    assert_eq!(
        err.to_string(),
        "idempotency key cap was used for another request"
    );
    // A whole capture under the same key is another request too.
    assert!(matches!(
        redeemer.capture(&key("cap"), &checkout),
        Err(RedeemError::IdempotencyConflict { .. })
    ));
}

#[test]
fn changing_an_authorisation_moves_the_holds_without_a_void() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let ids = checkout_with(&redeemer, &["100", "30"]);
    let checkout = reference("c-1");
    redeemer.authorise(&key("a"), &checkout, usd("50")).unwrap();
    // Up: the cart grew after validation.
    let up = redeemer
        .change_authorisation(&key("up"), &checkout, usd("110"))
        .unwrap();
    assert_eq!(up.outcome.payable, usd("110"));
    assert_eq!(up.outcome.credit, usd("110"));
    assert_eq!(available(&redeemer, ids[0]), usd("20"));
    assert_eq!(available(&redeemer, ids[1]), usd("0"));
    // Down: an item was taken out.
    let down = redeemer
        .change_authorisation(&key("down"), &checkout, usd("20"))
        .unwrap();
    assert_eq!(down.outcome.credit, usd("20"));
    assert_eq!(down.outcome.outstanding, usd("0"));
    assert_eq!(available(&redeemer, ids[0]), usd("100"));
    assert_eq!(available(&redeemer, ids[1]), usd("10"));
    let stored = redeemer.store().checkout(&checkout).unwrap().unwrap().value;
    let CheckoutState::Authorised { payable, holds } = stored.state() else {
        panic!("{:?}", stored.state())
    };
    assert_eq!(*payable, usd("20"));
    assert_eq!(holds.len(), 1);
    let changed = redeemer
        .history(ids[1])
        .unwrap()
        .iter()
        .filter(|e| {
            matches!(
                e.kind(),
                EntryKind::Released {
                    reason: ReleaseReason::Changed,
                    ..
                }
            )
        })
        .count();
    assert_eq!(changed, 2);
    assert!(!redeemer.history(ids[1]).unwrap().iter().any(|e| matches!(
        e.kind(),
        EntryKind::Released {
            reason: ReleaseReason::Voided,
            ..
        }
    )));
    // Replays, then capture takes what the changed authorisation holds.
    assert!(
        redeemer
            .change_authorisation(&key("down"), &checkout, usd("20"))
            .unwrap()
            .replayed
    );
    let captured = redeemer.capture(&key("cap"), &checkout).unwrap();
    assert_eq!(captured.outcome.total, usd("20"));
    for id in &ids {
        verify_ledger(
            *id,
            balance(&redeemer, *id),
            &redeemer.history(*id).unwrap(),
        )
        .unwrap();
    }
}

#[test]
fn an_authorisation_of_zero_or_less_is_refused_and_holds_nothing() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let ids = checkout_with(&redeemer, &["100"]);
    let checkout = reference("c-1");
    for (amount, text) in [
        (
            "0",
            "cannot authorise 0.00 USD: the amount must be above zero",
        ),
        (
            "-1",
            "cannot authorise -1.00 USD: the amount must be above zero",
        ),
    ] {
        let err = redeemer
            .authorise(&key(&format!("a{amount}")), &checkout, usd(amount))
            .unwrap_err();
        assert_eq!(err.to_string(), text);
        assert!(
            matches!(&err, RedeemError::NotPositive { operation: "authorise", amount: a } if *a == usd(amount)),
            "{err:?}"
        );
    }
    let stored = redeemer.store().checkout(&checkout).unwrap().unwrap().value;
    assert!(matches!(stored.state(), CheckoutState::Open), "{stored:?}");
    assert_eq!(available(&redeemer, ids[0]), usd("100"));
    // Nothing to capture: the checkout stays open rather than closing on 0.00.
    assert!(matches!(
        redeemer.capture(&key("cap"), &checkout),
        Err(RedeemError::InvalidState { .. })
    ));
}

#[test]
fn changing_an_authorisation_to_zero_is_refused_and_keeps_the_holds() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let ids = checkout_with(&redeemer, &["100"]);
    let checkout = reference("c-1");
    redeemer.authorise(&key("a"), &checkout, usd("10")).unwrap();
    let err = redeemer
        .change_authorisation(&key("ch"), &checkout, usd("0"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot change the authorisation to 0.00 USD: the amount must be above zero"
    );
    assert!(matches!(err, RedeemError::NotPositive { .. }), "{err:?}");
    assert_eq!(available(&redeemer, ids[0]), usd("90"));
    let stored = redeemer.store().checkout(&checkout).unwrap().unwrap().value;
    assert!(matches!(stored.state(), CheckoutState::Authorised { .. }));
}

#[test]
fn only_an_authorised_checkout_changes_its_authorisation() {
    let redeemer = Redeemer::new(MemoryStore::new());
    checkout_with(&redeemer, &["100"]);
    let checkout = reference("c-1");
    let err = redeemer
        .change_authorisation(&key("up"), &checkout, usd("10"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "this checkout is open; cannot change the authorisation"
    );
}

#[test]
fn the_async_driver_captures_in_part_and_changes_authorisations_too() {
    let redeemer = AsyncRedeemer::new(MemoryStore::new());
    let card = card_on_checkout_async(&redeemer, "c-1", "100");
    let checkout = reference("c-1");
    block_on(redeemer.authorise(&key("a"), &checkout, usd("40"))).unwrap();
    let changed = block_on(redeemer.change_authorisation(&key("c"), &checkout, usd("70"))).unwrap();
    assert_eq!(changed.outcome.credit, usd("70"));
    let captured = block_on(redeemer.capture_part(&key("p"), &checkout, usd("65"))).unwrap();
    assert_eq!(captured.outcome.total, usd("65"));
    assert_eq!(captured.outcome.released[0].amount, usd("5"));
    let card = block_on(redeemer.card(card)).unwrap().unwrap();
    assert_eq!(card.balance(), usd("35"));
    assert_eq!(card.available(), usd("35"));
}

#[test]
fn the_new_requests_show_and_round_trip_with_every_field() {
    let checkout = support::checkout("c1");
    let requests = [
        RecordedRequest::CapturePart {
            checkout: checkout.clone(),
            amount: usd("20"),
        },
        RecordedRequest::ChangeAuthorisation {
            checkout: checkout.clone(),
            payable: usd("30"),
        },
        RecordedRequest::RefundToNewCard {
            checkout,
            amount: usd("5"),
        },
    ];
    let shown: Vec<String> = requests.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "capture c1 20.00 USD of the authorisation",
            "change the authorisation of c1 to 30.00 USD",
            "refund c1 5.00 USD onto a new card",
        ]
    );
    for request in requests {
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(
            serde_json::from_str::<RecordedRequest>(&json).unwrap(),
            request
        );
    }
}

#[test]
fn changing_an_authorisation_under_a_used_key_for_another_amount_is_refused() {
    let redeemer = Redeemer::new(MemoryStore::new());
    checkout_with(&redeemer, &["100"]);
    let checkout = reference("c-1");
    redeemer.authorise(&key("a"), &checkout, usd("10")).unwrap();
    redeemer
        .change_authorisation(&key("ch"), &checkout, usd("20"))
        .unwrap();
    let err = redeemer
        .change_authorisation(&key("ch"), &checkout, usd("30"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "idempotency key ch was used for another request"
    );
}

/// The kit's checks of partial capture, changed authorisations, refund targets and balance
/// checks, which database stores run too, through both drivers.
#[test]
fn memory_store_passes_the_checkout_flow_checks() {
    giftcert::testkit::check_checkout_flow(MemoryStore::new).unwrap();
    giftcert::testkit::block_on(giftcert::testkit::check_async_checkout_flow(|| async {
        MemoryStore::new()
    }))
    .unwrap();
}
