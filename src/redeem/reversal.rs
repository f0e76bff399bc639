//! Reversing a purchase of gift cards: when the order that bought cards is refunded or
//! charged back, its cards are blocked and what is left on them clawed back (Square's
//! `CHARGEBACK_BLOCK` and `PURCHASE_WAS_REFUNDED`), so a refunded purchase cannot also be
//! spent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Decision, RedeemError};
use crate::card::{
    Attribution, CardError, CardId, CardStatus, CodeHint, GiftCard, Reference, ReversalReason,
};
use crate::money::Money;

/// Which of an order's cards a reversal blocks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", content = "cards", rename_all = "camelCase")]
#[non_exhaustive]
pub enum ReversalScope {
    /// Every card the order bought (the whole order was refunded or charged back).
    All,
    /// Only these cards (part of the order was refunded): each must be one the order bought.
    Cards(Vec<CardId>),
}

/// What a reversal did to one card of the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ReversedCard {
    /// The card.
    pub card: CardId,
    /// Its code, masked.
    pub code: CodeHint,
    /// What it was issued with.
    pub value: Money,
    /// What it had already paid for, net of refunds to it: the part of the purchase the buyer
    /// has had the use of, for the host to weigh against the refund it pays out.
    pub spent: Money,
    /// What this reversal took back from it (zero when it held nothing, was blocked already,
    /// or was replaced).
    pub clawed_back: Money,
    /// What open holds on it this reversal released (checkouts paying with it can no longer
    /// capture that money).
    pub released: Money,
    /// Its status afterwards: [`CardStatus::Blocked`], or [`CardStatus::Replaced`] for a card
    /// whose value lives on a replacement (which the order's cards include).
    pub status: CardStatus,
    /// Whether this reversal blocked it (`false`: it was blocked already, or replaced).
    pub blocked: bool,
}

/// The result of reversing a purchase ([`reverse_purchase`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Reversal {
    /// The order whose purchase was reversed.
    pub order: Reference,
    /// Why.
    pub reason: ReversalReason,
    /// The cards in scope: every card of the order by card id, or those named in the order
    /// named.
    pub cards: Vec<ReversedCard>,
}

/// Reverses the purchase of `order`, whose cards (as read at `now`) are `cards`: each card in
/// `scope` is blocked for `reason` ([`GiftCard::block`]): its open holds released, what is left
/// on it clawed back, every entry attributed to `by`. A card blocked already is reported and
/// left as it is, and so is a replaced card (its value lives on its replacement, which the
/// order's cards include), so reversing an order twice changes nothing the second time.
///
/// # Errors
///
/// [`RedeemError::NothingToReverse`] when the order bought no card (or the scope names none),
/// [`RedeemError::NotOnOrder`] for a named card the order did not buy, [`RedeemError::Card`]
/// only on overflow.
pub fn reverse_purchase(
    order: &Reference,
    cards: Vec<GiftCard>,
    scope: &ReversalScope,
    reason: ReversalReason,
    by: &Attribution,
    now: DateTime<Utc>,
) -> Result<Decision<Reversal>, RedeemError> {
    let mut chosen: Vec<GiftCard> = match scope {
        ReversalScope::All => {
            let mut cards = cards;
            cards.sort_by_key(GiftCard::id);
            cards
        }
        ReversalScope::Cards(named) => {
            let mut cards = cards;
            let mut chosen = Vec::with_capacity(named.len());
            for &id in named {
                if chosen.iter().any(|c: &GiftCard| c.id() == id) {
                    continue;
                }
                let at = cards.iter().position(|c| c.id() == id).ok_or_else(|| {
                    RedeemError::NotOnOrder {
                        order: order.clone(),
                        card: id,
                    }
                })?;
                chosen.push(cards.swap_remove(at));
            }
            chosen
        }
    };
    if chosen.is_empty() {
        return Err(RedeemError::NothingToReverse {
            order: order.clone(),
        });
    }
    let mut decision = Decision::new(Reversal {
        order: order.clone(),
        reason,
        cards: Vec::with_capacity(chosen.len()),
    });
    for mut card in chosen.drain(..) {
        let zero = Money::zero(card.currency());
        let spent = card
            .spent()
            .checked_sub(card.refunded())
            .map_err(CardError::from)?;
        // A block releases every hold and takes back the whole balance.
        let (held, left) = (card.held(), card.balance());
        let (released, clawed_back, blocked) = match card.block(reason, now) {
            Ok(entries) => {
                decision
                    .entries
                    .extend(entries.into_iter().map(|e| e.attributed(by.clone())));
                (held, left, true)
            }
            Err(CardError::Blocked { .. } | CardError::Replaced { .. }) => (zero, zero, false),
            Err(other) => return Err(other.into()),
        };
        decision.outcome.cards.push(ReversedCard {
            card: card.id(),
            code: card.shared_code_hint().clone(),
            value: card.initial_value(),
            spent: if spent.is_negative() { zero } else { spent },
            clawed_back,
            released,
            status: card.status(),
            blocked,
        });
        if blocked {
            decision.updated.push(card);
        }
    }
    Ok(decision)
}
