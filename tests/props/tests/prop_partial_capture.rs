//! Money is conserved through authorisations changed, captures in part and refunds.

#[path = "../../support/mod.rs"]
mod support;
use giftcert::{CheckoutId, ClientId};
use support::key;

use std::collections::BTreeSet;
use std::sync::Arc;

use giftcert::{
    CardId, CardSpec, Currency, MemoryStore, Money, Notification, RedeemError, Redeemer,
    card::{BalanceStrategy, LeftoverStrategy, ReplacementStrategy, verify_ledger},
    redeem::RefundTo,
};
use proptest::prelude::*;

fn cents(n: i64) -> Money {
    Money::from_minor(n, Currency::USD).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever is authorised, changed, captured in part and refunded (to the cards used or
    /// onto a new card), under either leftover strategy: the balances of every card (new ones included) plus what was captured minus
    /// what was refunded is what was issued; a capture never takes more than was held, a
    /// refund never more than was captured and not yet refunded, and every card's ledger sums
    /// to its balance.
    #[test]
    fn partial_captures_and_refunds_keep_balances_plus_captured_minus_refunded_equal_to_issued(
        values in prop::collection::vec(1_i64..=20_000, 1..4),
        authorise in 0_i64..=50_000,
        change in prop::option::of(0_i64..=50_000),
        capture_permille in 1_i64..=1000,
        refunds in prop::collection::vec((1_i64..=20_000, any::<bool>()), 0..4),
        replacement in any::<bool>(),
    ) {
        let strategy: Arc<dyn LeftoverStrategy> = if replacement {
            Arc::new(ReplacementStrategy)
        } else {
            Arc::new(BalanceStrategy)
        };
        let redeemer = Redeemer::new(MemoryStore::new()).with_strategy(strategy);
        let checkout = CheckoutId::new("c-1").unwrap();
        let mut cards: BTreeSet<CardId> = BTreeSet::new();
        let mut issued = cents(0);
        for (i, value) in values.iter().enumerate() {
            let done = redeemer.issue(&key(&format!("i-{i}")), vec![CardSpec::new(cents(*value))]).unwrap();
            let Notification::CardIssued { card, code, .. } = &done.notifications[0] else {
                panic!("no card issued");
            };
            cards.insert(*card);
            issued = issued.checked_add(cents(*value)).unwrap();
            redeemer.apply_code(&ClientId::new("client").unwrap(), &checkout, Currency::USD, code.expose_secret()).unwrap();
        }
        let mut held = redeemer.authorise(&key("a"), &checkout, cents(authorise)).unwrap().outcome.credit;
        if let Some(change) = change {
            held = redeemer.change_authorisation(&key("change"), &checkout, cents(change)).unwrap().outcome.credit;
        }
        let mut captured = cents(0);
        let amount = Money::from_minor(held.to_minor().unwrap() * capture_permille / 1000, Currency::USD).unwrap();
        if amount.is_positive() {
            let done = redeemer.capture_part(&key("cap"), &checkout, amount).unwrap();
            prop_assert_eq!(done.outcome.total, amount);
            let released = Money::sum(Currency::USD, done.outcome.released.iter().map(|r| r.amount)).unwrap();
            prop_assert_eq!(amount.checked_add(released).unwrap(), held);
            cards.extend(done.outcome.replacements.iter().map(|r| r.new_card));
            captured = amount;
        } else {
            redeemer.void(&key("void"), &checkout).unwrap();
        }
        let mut refunded = cents(0);
        for (i, (r, new_card)) in refunds.iter().enumerate() {
            let to = if *new_card { RefundTo::NewCard } else { RefundTo::CardsUsed };
            match redeemer.refund_to(&key(&format!("r-{i}")), &checkout, cents(*r), to) {
                Ok(done) => {
                    cards.extend(done.outcome.parts.iter().map(|p| p.to_card));
                    refunded = refunded.checked_add(done.outcome.total).unwrap();
                }
                Err(RedeemError::RefundExceedsCapture { refundable, .. }) => {
                    prop_assert_eq!(refundable, captured.checked_sub(refunded).unwrap());
                    prop_assert!(cents(*r).amount() > refundable.amount());
                }
                Err(RedeemError::InvalidState { .. }) => prop_assert!(captured.is_zero()),
                Err(other) => return Err(TestCaseError::fail(other.to_string())),
            }
        }
        prop_assert!(refunded.amount() <= captured.amount());
        let mut balances = cents(0);
        for id in &cards {
            let card = redeemer.card(*id).unwrap().unwrap();
            verify_ledger(*id, card.balance(), &redeemer.history(*id).unwrap()).unwrap();
            prop_assert!(card.holds().is_empty());
            balances = balances.checked_add(card.balance()).unwrap();
        }
        prop_assert_eq!(balances.checked_add(captured).unwrap().checked_sub(refunded).unwrap(), issued);
    }
}
