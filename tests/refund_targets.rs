//! Refund targets per refund: back to the cards used, last used first (the default), or onto
//! one new card; both never exceed what was captured.

mod support;
use giftcert::testkit::block_on;
use support::{card_on_checkout_async, cards_on_checkout, key, reference, usd};

use std::sync::Arc;

use giftcert::{
    CardId, MemoryStore, Money, Notification, RedeemError, Redeemer,
    card::{EntryKind, ReplacementStrategy},
    redeem::{RecordedRequest, RefundTo},
    store::AsyncRedeemer,
};

/// Cards of 30.00 and 100.00 pay 80.00 on checkout `c-1` (30.00 first, then 50.00).
fn captured(redeemer: &Redeemer<MemoryStore>) -> (CardId, CardId) {
    let ids = cards_on_checkout(redeemer, "c-1", &["30", "100"]);
    let checkout = reference("c-1");
    redeemer.authorise(&key("a"), &checkout, usd("80")).unwrap();
    let done = redeemer.capture(&key("cap"), &checkout).unwrap();
    let order: Vec<_> = done.outcome.cards.iter().map(|c| c.card).collect();
    assert_eq!(order, [ids[0], ids[1]], "the lower card pays first");
    (ids[0], ids[1])
}

fn balance(redeemer: &Redeemer<MemoryStore>, id: CardId) -> Money {
    redeemer.card(id).unwrap().unwrap().balance()
}

#[test]
fn refunds_go_back_to_the_last_card_used_first() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let (first, last) = captured(&redeemer);
    let checkout = reference("c-1");
    // The last card used paid 50.00: it gets 40.00 back, the first card nothing.
    let r1 = redeemer.refund(&key("r1"), &checkout, usd("40")).unwrap();
    let parts: Vec<_> = r1
        .outcome
        .parts
        .iter()
        .map(|p| (p.from_card, p.to_card, p.amount))
        .collect();
    assert_eq!(parts, [(last, last, usd("40"))]);
    // Then its last 10.00, and only then the first card.
    let r2 = redeemer.refund(&key("r2"), &checkout, usd("25")).unwrap();
    let parts: Vec<_> = r2
        .outcome
        .parts
        .iter()
        .map(|p| (p.from_card, p.to_card, p.amount))
        .collect();
    assert_eq!(parts, [(last, last, usd("10")), (first, first, usd("15"))]);
    assert_eq!(balance(&redeemer, last), usd("100"));
    assert_eq!(balance(&redeemer, first), usd("15"));
    let err = redeemer
        .refund(&key("r3"), &checkout, usd("15.01"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "this checkout can refund at most 15.00 USD, not 15.01 USD"
    );
}

#[test]
fn under_the_replacement_strategy_each_card_refunded_gets_its_own_new_card() {
    let redeemer = Redeemer::new(MemoryStore::new()).with_strategy(Arc::new(ReplacementStrategy));
    let (first, last) = captured(&redeemer);
    let done = redeemer
        .refund(&key("r1"), &reference("c-1"), usd("60"))
        .unwrap();
    assert_eq!(done.outcome.parts.len(), 2);
    assert_eq!(done.outcome.parts[0].from_card, last);
    assert_eq!(done.outcome.parts[1].from_card, first);
    assert_ne!(done.outcome.parts[0].to_card, done.outcome.parts[1].to_card);
    assert_eq!(done.notifications.len(), 2);
}

#[test]
fn a_refund_onto_a_new_card_puts_it_all_on_one_card_and_counts_against_the_cards_used() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let (first, last) = captured(&redeemer);
    let checkout = reference("c-1");
    let done = redeemer
        .refund_to(&key("r1"), &checkout, usd("60"), RefundTo::NewCard)
        .unwrap();
    let new = done.outcome.parts[0].to_card;
    let parts: Vec<_> = done
        .outcome
        .parts
        .iter()
        .map(|p| (p.from_card, p.to_card, p.amount))
        .collect();
    assert_eq!(parts, [(last, new, usd("50")), (first, new, usd("10"))]);
    assert_eq!(done.outcome.total, usd("60"));
    // The cards used keep what they had after the capture; the new card carries it all.
    assert_eq!(balance(&redeemer, first), usd("0"));
    assert_eq!(balance(&redeemer, last), usd("50"));
    assert_eq!(balance(&redeemer, new), usd("60"));
    let history = redeemer.history(new).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].kind(), EntryKind::Refunded);
    let [
        Notification::RefundCardIssued {
            new_card, value, ..
        },
    ] = done.notifications.as_slice()
    else {
        panic!("{:?}", done.notifications)
    };
    assert_eq!((*new_card, *value), (new, usd("60")));
    // What is left to refund is 20.00, from the first card.
    let rest = redeemer.refund(&key("r2"), &checkout, usd("20")).unwrap();
    assert_eq!(rest.outcome.parts[0].from_card, first);
    assert!(matches!(
        redeemer.refund_to(&key("r3"), &checkout, usd("0.01"), RefundTo::NewCard),
        Err(RedeemError::RefundExceedsCapture { .. })
    ));
}

#[test]
fn the_target_is_part_of_the_request_its_key_records() {
    let redeemer = Redeemer::new(MemoryStore::new());
    captured(&redeemer);
    let checkout = reference("c-1");
    let first = redeemer.refund(&key("r1"), &checkout, usd("5")).unwrap();
    let again = redeemer
        .refund_to(&key("r1"), &checkout, usd("5"), RefundTo::CardsUsed)
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.outcome, first.outcome);
    let err = redeemer
        .refund_to(&key("r1"), &checkout, usd("5"), RefundTo::NewCard)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "idempotency key r1 was used for another request"
    );
    redeemer
        .refund_to(&key("r2"), &checkout, usd("5"), RefundTo::NewCard)
        .unwrap();
    let err = redeemer
        .refund(&key("r2"), &checkout, usd("5"))
        .unwrap_err();
    let RedeemError::IdempotencyConflict { first, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(
        *first,
        RecordedRequest::RefundToNewCard {
            checkout,
            amount: usd("5")
        }
    );
    assert_eq!(first.to_string(), "refund c-1 5.00 USD onto a new card");
}

#[test]
fn the_async_driver_refunds_onto_a_new_card_too() {
    let redeemer = AsyncRedeemer::new(MemoryStore::new());
    let card = card_on_checkout_async(&redeemer, "c-1", "100");
    let checkout = reference("c-1");
    block_on(redeemer.authorise(&key("a"), &checkout, usd("40"))).unwrap();
    block_on(redeemer.capture(&key("c"), &checkout)).unwrap();
    let done =
        block_on(redeemer.refund_to(&key("r"), &checkout, usd("15"), RefundTo::NewCard)).unwrap();
    let new = done.outcome.parts[0].to_card;
    assert_ne!(new, card);
    let new = block_on(redeemer.card(new)).unwrap().unwrap();
    assert_eq!(new.balance(), usd("15"));
}
