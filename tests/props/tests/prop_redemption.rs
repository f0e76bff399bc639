//! Property 4: any interleaving of authorise, capture, void, refund and waiting (holds and
//! cards expire) over a set of cards keeps every balance equal to the sum of its ledger and
//! never negative, and the total of all balances plus everything captured minus everything
//! refunded equal to the total ever issued. Repeating a request with its key changes nothing.
//!
//! Property 7: the replacement and balance strategies give the customer the same money.
//!
//! The running balance that reads use is always the sum of the ledger.

#[path = "../../support/mod.rs"]
mod support;
use giftcert::{CheckoutId, ClientId};
use support::key;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use giftcert::strategies::{CheckoutOp, card_with_history, checkout_ops, currency};
use giftcert::{
    CardId, CardSpec, Currency, MemoryStore, Money, Notification, Redeemer,
    card::{BalanceStrategy, LeftoverStrategy, ReplacementStrategy, verify_ledger},
    clock::FixedClock,
};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn strategy(replace: bool) -> Arc<dyn LeftoverStrategy> {
    if replace {
        Arc::new(ReplacementStrategy)
    } else {
        Arc::new(BalanceStrategy)
    }
}

/// Issues cards of these values (minor units), each expiring after its minutes, and returns
/// their ids and codes.
fn issue(
    redeemer: &Redeemer<MemoryStore>,
    c: Currency,
    cards: &[(i64, u16)],
) -> Vec<(CardId, String)> {
    let specs = cards
        .iter()
        .map(|&(value, minutes)| {
            let mut spec = CardSpec::new(Money::from_minor(value, c).unwrap());
            spec.expires_at = Some(t0() + Duration::minutes(i64::from(minutes)));
            spec
        })
        .collect();
    let issued = redeemer.issue(&key("issue"), specs).unwrap();
    issued
        .notifications
        .iter()
        .map(|n| match n {
            Notification::CardIssued { card, code, .. } => (*card, code.expose_secret().to_owned()),
            _ => unreachable!(),
        })
        .collect()
}

/// A currency, whether to replace, the cards (value in minor units, minutes to expiry), the
/// requests, and which of them the host sends twice.
type Machine = (Currency, bool, Vec<(i64, u16)>, Vec<CheckoutOp>, Vec<bool>);

fn machine() -> impl Strategy<Value = Machine> {
    (
        currency(),
        any::<bool>(),
        proptest::collection::vec((1_i64..=20_000, 30_u16..=600), 1..=5),
        checkout_ops(3, 30),
        proptest::collection::vec(any::<bool>(), 30),
    )
}

proptest! {
    #![proptest_config(giftcert_props::config("proptest-regressions/prop_redemption.txt"))]

    #[test]
    fn money_is_conserved_under_any_interleaving((c, replace, values, ops, repeat) in machine()) {
        let clock = Arc::new(FixedClock::new(t0()));
        let redeemer = Redeemer::new(MemoryStore::new())
            .with_clock(clock.clone())
            .with_strategy(strategy(replace));
        let cards = issue(&redeemer, c, &values);
        let issued = Money::sum(c, values.iter().map(|&(v, _)| Money::from_minor(v, c).unwrap())).unwrap();
        let mut known: BTreeSet<CardId> = cards.iter().map(|(id, _)| *id).collect();
        let mut captured = Money::zero(c);
        let mut refunded = Money::zero(c);
        let mut slots: Vec<Option<giftcert::CheckoutId>> = vec![None; 3];
        let client = ClientId::new("prop").unwrap();

        for (i, op) in ops.into_iter().enumerate() {
            let again = repeat.get(i).copied().unwrap_or(false);
            match op {
                CheckoutOp::Authorise { checkout, cards: bits, payable } => {
                    let id = giftcert::CheckoutId::new(&format!("co-{i}")).unwrap();
                    slots[usize::from(checkout)] = Some(id.clone());
                    for (n, (_, code)) in cards.iter().enumerate() {
                        if bits & (1 << (n % 8)) != 0 {
                            // Expired, empty or replaced cards are refused: that is fine here.
                            let _ = redeemer.apply_code(&client, &id, c, code);
                        }
                    }
                    let payable = Money::from_minor(payable, c).unwrap();
                    let k = key(&format!("a{i}"));
                    if let Ok(first) = redeemer.authorise(&k, &id, payable) {
                        prop_assert!(first.outcome.credit.amount() <= payable.amount());
                        if again {
                            let second = redeemer.authorise(&k, &id, payable).unwrap();
                            prop_assert!(second.replayed);
                            prop_assert_eq!(second.outcome, first.outcome);
                        }
                    }
                }
                CheckoutOp::Capture { checkout } => {
                    let Some(id) = slots[usize::from(checkout)].clone() else { continue };
                    let k = key(&format!("c{i}"));
                    if let Ok(done) = redeemer.capture(&k, &id) {
                        captured = captured.checked_add(done.outcome.total).unwrap();
                        known.extend(done.outcome.replacements.iter().map(|r| r.new_card));
                        if again {
                            let second = redeemer.capture(&k, &id).unwrap();
                            prop_assert!(second.replayed && second.outcome == done.outcome);
                        }
                    }
                }
                CheckoutOp::Void { checkout } => {
                    if let Some(id) = slots[usize::from(checkout)].clone() {
                        let _ = redeemer.void(&key(&format!("v{i}")), &id);
                    }
                }
                CheckoutOp::Refund { checkout, amount } => {
                    let Some(id) = slots[usize::from(checkout)].clone() else { continue };
                    let amount = Money::from_minor(amount, c).unwrap();
                    let k = key(&format!("r{i}"));
                    if let Ok(done) = redeemer.refund(&k, &id, amount) {
                        refunded = refunded.checked_add(done.outcome.total).unwrap();
                        known.extend(done.outcome.parts.iter().map(|p| p.to_card));
                        if again {
                            let second = redeemer.refund(&k, &id, amount).unwrap();
                            prop_assert!(second.replayed && second.outcome == done.outcome);
                        }
                    }
                }
                CheckoutOp::Wait { minutes } => {
                    clock.advance(Duration::minutes(i64::from(minutes))).unwrap();
                }
                _ => {}
            }

            let mut total = Money::zero(c);
            for id in &known {
                let card = redeemer.card(*id).unwrap().unwrap();
                prop_assert!(!card.balance().is_negative());
                prop_assert!(card.held().amount() <= card.balance().amount());
                verify_ledger(*id, card.balance(), &redeemer.history(*id).unwrap())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                total = total.checked_add(card.balance()).unwrap();
            }
            prop_assert_eq!(total.checked_add(captured).unwrap().checked_sub(refunded).unwrap(), issued);
            prop_assert!(refunded.amount() <= captured.amount(), "refunded {} of {} captured", refunded, captured);
            prop_assert_eq!(redeemer.store().card_count(), known.len());
        }
    }

    /// Over any sequence of uses of one card, the customer gets the same money under both
    /// strategies: each use pays the same, and what is left on the final code(s) is the same.
    #[test]
    fn replacement_and_balance_give_the_same_money(value in 1_i64..=100_000, uses in proptest::collection::vec(1_i64..=40_000, 1..8)) {
        let c = Currency::USD;
        let mut results = Vec::new();
        for replace in [false, true] {
            let redeemer = Redeemer::new(MemoryStore::new())
                .with_clock(Arc::new(FixedClock::new(t0())))
                .with_strategy(strategy(replace));
            let (mut card, mut code) = issue(&redeemer, c, &[(value, 600)]).remove(0);
            let client = ClientId::new("prop").unwrap();
            let mut paid = Vec::new();
            for (i, amount) in uses.iter().enumerate() {
                let checkout = CheckoutId::new(&format!("use-{i}")).unwrap();
                if redeemer.apply_code(&client, &checkout, c, &code).is_err() {
                    paid.push(Money::zero(c)); // nothing left on the card
                    continue;
                }
                redeemer.authorise(&key(&format!("a{i}")), &checkout, Money::from_minor(*amount, c).unwrap()).unwrap();
                let done = redeemer.capture(&key(&format!("c{i}")), &checkout).unwrap();
                paid.push(done.outcome.total);
                if let Some(Notification::CardReplaced { new_card, code: new_code, .. }) = done.notifications.first() {
                    card = *new_card;
                    code = new_code.expose_secret().to_owned();
                }
            }
            let left = redeemer.card(card).unwrap().unwrap().balance();
            results.push((paid, left));
        }
        prop_assert_eq!(&results[0], &results[1]);
        let spent = Money::sum(c, results[0].0.iter().copied()).unwrap();
        prop_assert_eq!(spent.checked_add(results[0].1).unwrap(), Money::from_minor(value, c).unwrap());
    }

    /// The running balance a card keeps (what every read uses) is always the sum of its
    /// ledger, and the available amount is the balance less its open holds.
    #[test]
    fn the_running_balance_is_the_sum_of_the_ledger((card, ledger) in currency().prop_flat_map(card_with_history)) {
        verify_ledger(card.id(), card.balance(), &ledger).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let summed = Money::sum(card.currency(), ledger.iter().map(|e| e.balance_change())).unwrap();
        prop_assert_eq!(summed, card.balance());
        let held = Money::sum(card.currency(), card.holds().iter().map(|h| h.amount())).unwrap();
        prop_assert_eq!(card.available(), card.balance().checked_sub(held).unwrap());
        prop_assert!(!card.available().is_negative());
    }
}
