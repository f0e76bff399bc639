//! What each redemption request returns: the cards used, the amounts, replacements and refunds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::card::Reference;
use crate::card::{CardId, CardStatus, CodeHint, GiftCard};
use crate::money::Money;

/// One card's part in an authorisation, in BigCommerce's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardUse {
    /// The card.
    pub card: CardId,
    /// Its code, masked.
    pub code: CodeHint,
    /// What it could give.
    pub balance: Money,
    /// What this checkout holds on it.
    pub used: Money,
    /// What it keeps.
    pub remaining: Money,
}

/// The result of authorising a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorisation {
    /// The checkout.
    pub checkout: CheckoutId,
    /// What the order costs.
    pub payable: Money,
    /// What the cards pay together.
    pub credit: Money,
    /// What is left to pay by another method (BigCommerce's `outstandingBalance`).
    pub outstanding: Money,
    /// Every applied card, in the order they pay: the cards used first, in the order used,
    /// then those that give nothing, in the order applied.
    pub cards: Vec<CardUse>,
}

/// A card closed and its remainder moved (replacement strategy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    /// The closed card.
    pub old_card: CardId,
    /// The card with the new code.
    pub new_card: CardId,
    /// What moved.
    pub value: Money,
}

/// The result of capturing a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Captured {
    /// The checkout.
    pub checkout: CheckoutId,
    /// What the cards paid together.
    pub total: Money,
    /// What each card paid, in the order they paid (that of the authorisation); a card whose
    /// hold a partial capture released whole is not listed.
    pub cards: Vec<CardAmount>,
    /// Cards replaced by the leftover strategy.
    pub replacements: Vec<Replacement>,
    /// What went back to each card after a partial capture
    /// ([`Redeemer::capture_part`](crate::store::Redeemer::capture_part)): the part of its
    /// hold not captured (empty after a whole capture).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<CardAmount>,
}

/// The result of voiding a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Voided {
    /// The checkout.
    pub checkout: CheckoutId,
    /// What went back to each card.
    pub released: Vec<CardAmount>,
}

/// One part of a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundPart {
    /// The card the money was spent from.
    pub from_card: CardId,
    /// The card it went to (the same card, or a new one).
    pub to_card: CardId,
    /// How much.
    pub amount: Money,
}

/// The result of a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundOutcome {
    /// The checkout.
    pub checkout: CheckoutId,
    /// What was refunded.
    pub total: Money,
    /// Where it went, one part per card it was spent from, the last card used first (see
    /// [`RefundTo`]).
    pub parts: Vec<RefundPart>,
}

/// A card issued, as the caller may see it (the code masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedCard {
    /// The card.
    pub card: CardId,
    /// Its code, masked.
    pub code: CodeHint,
    /// Its value.
    pub value: Money,
}

/// The result of issuing cards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issued {
    /// The cards, in the order asked.
    pub cards: Vec<IssuedCard>,
}

/// Any operation's result, as an idempotency record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operation", content = "result", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Outcome {
    /// [`authorise`].
    Authorised(Authorisation),
    /// [`capture`].
    Captured(Captured),
    /// [`void`].
    Voided(Voided),
    /// [`refund`].
    Refunded(RefundOutcome),
    /// [`issue`].
    Issued(Issued),
    /// [`amend`].
    Amended(Amended),
    /// [`replace_code`].
    CodeReplaced(CodeReplaced),
    /// [`reverse_purchase`].
    Reversed(Reversal),
}

/// What a "check your balance" page shows for a code
/// ([`Redeemer::check_balance`](crate::store::Redeemer::check_balance)): the card by its id
/// and masked code, never the whole code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceCheck {
    /// The card.
    pub card: CardId,
    /// Its code, masked.
    pub code: CodeHint,
    /// Its balance: what is on it, held money included.
    pub balance: Money,
    /// What it can pay now: the balance less what live holds keep back (holds past their time
    /// limit do not count), zero when the card cannot pay (disabled, expired, replaced).
    pub available: Money,
    /// When it expires, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Where it stands at the time of the check (an expired date shows as expired).
    pub status: CardStatus,
}

impl BalanceCheck {
    /// The check of `card` at `now`.
    #[must_use]
    pub fn of(card: &GiftCard, now: DateTime<Utc>) -> BalanceCheck {
        let status = card.status_at(now);
        let available = match status {
            CardStatus::Active | CardStatus::Depleted => card.available_at(now),
            _ => Money::zero(card.currency()),
        };
        BalanceCheck {
            card: card.id(),
            code: card.shared_code_hint().clone(),
            balance: card.balance(),
            available,
            expires_at: card.expires_at(),
            status,
        }
    }
}

/// What a checkout's payment has done on one of its applied cards, at the time
/// [`CheckoutCards`] were read: the figures a checkout page shows beside the card's credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CardPayment {
    /// The card.
    pub card: CardId,
    /// When it was issued (its purchase date).
    pub issued_at: DateTime<Utc>,
    /// What it can pay now apart from this checkout's holds: zero when it can no longer pay
    /// (disabled, expired, replaced).
    pub available: Money,
    /// What this checkout's live holds keep on it; a hold past its time limit counts for
    /// nothing.
    pub held: Money,
    /// What this checkout spent from it.
    pub captured: Money,
    /// What has been refunded to it of what this checkout spent.
    pub refunded: Money,
}

/// A checkout's applied cards as they stand, read in one go for the checkout page's totals
/// ([`Redeemer::checkout_cards`](crate::store::Redeemer::checkout_cards); the
/// [`Totals`](crate::shop::Totals) built from it come from
/// [`Redeemer::checkout_totals`](crate::store::Redeemer::checkout_totals)).
///
/// Each card is named by its id and masked code, never its whole code, with the credit it
/// gives this checkout: what it can pay now while the checkout is open (zero for a card that
/// can no longer pay), that plus what this checkout holds on it once authorised, and what it
/// paid once captured. The cards come in the order applied, each with its [`CardPayment`]:
/// what is held, captured and refunded on it (a checkout page's view of them is
/// [`CheckoutView`](crate::shop::CheckoutView)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CheckoutCards {
    /// The checkout.
    pub checkout: CheckoutId,
    /// Its currency, `None` while no code has been applied (the checkout is not stored yet).
    pub currency: Option<crate::money::Currency>,
    /// The customer recorded on it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Reference>,
    /// The applied cards in the order applied, `balance` being the credit each gives.
    pub cards: Vec<crate::redeem::AppliedCode>,
    /// The order in which the cards pay when the checkout is authorised.
    pub order: AllocationOrder,
    /// When the cards were read.
    pub at: DateTime<Utc>,
    /// Where the checkout's payment stands (open while no code has been applied).
    #[serde(default)]
    pub stage: PaymentStage,
    /// What the payment has done on each applied card, in the order applied (one entry per
    /// entry of `cards`).
    #[serde(default)]
    pub payments: Vec<CardPayment>,
}
