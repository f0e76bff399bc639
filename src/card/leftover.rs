//! What happens to the value a card keeps after it is used (Spryker).
//!
//! - [`BalanceStrategy`]: the same code keeps the rest; the card's ledger is its history
//!   (date, customer, code and spent value for each use). Remaining = value − spending + refunds.
//! - [`ReplacementStrategy`]: the used card is closed and a new card with a new code carries the
//!   remainder; the owner is told the new code and the old one no longer pays. With the pattern
//!   generator the new code follows the previous one's sequence (`X-GC-1`, then `X-GC-2`).
//!
//! A host plugs in its own rule by implementing [`LeftoverStrategy`]. The strategy only
//! decides; [`settle_leftover`] and [`refund_to_card`] carry the decision out, in one place.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::card::Notification;
use crate::card::{CardError, CardId, CardStatus, GiftCard};
use crate::card::{LedgerEntry, Reference};
use crate::code::Code;
use crate::money::Money;

/// What to do with the value left on a card after a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum LeftoverDecision {
    /// The same code keeps it.
    KeepOnCard,
    /// Close the card and move it to a new card with a new code.
    MoveToNewCard,
}

/// Where refunded money goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum RefundTarget {
    /// Back onto the card it was spent from.
    SameCard,
    /// Onto a new card with a new code.
    NewCard,
}

/// A rule for leftover value, chosen by the host.
///
/// Implementations are pure decisions over the card's state after the capture: no I/O.
pub trait LeftoverStrategy: Send + Sync + fmt::Debug {
    /// Decides what happens to what `card` keeps after a capture. Called only when the card
    /// still holds money; replacing a card that has other open holds is not possible (they
    /// would be orphaned), so [`settle_leftover`] keeps the value on such a card.
    fn after_capture(&self, card: &GiftCard) -> LeftoverDecision;

    /// Decides where money refunded for a purchase paid with `card` goes.
    fn refund_target(&self, card: &GiftCard) -> RefundTarget;
}

/// Spryker's balance strategy: one code for the card's whole life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BalanceStrategy;

impl LeftoverStrategy for BalanceStrategy {
    fn after_capture(&self, _card: &GiftCard) -> LeftoverDecision {
        LeftoverDecision::KeepOnCard
    }

    fn refund_target(&self, card: &GiftCard) -> RefundTarget {
        // A card closed under another strategy cannot take money back.
        if card.status() == CardStatus::Replaced {
            RefundTarget::NewCard
        } else {
            RefundTarget::SameCard
        }
    }
}

/// Spryker's replacement strategy (Spryker's default): a new code for every remainder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplacementStrategy;

impl LeftoverStrategy for ReplacementStrategy {
    fn after_capture(&self, _card: &GiftCard) -> LeftoverDecision {
        LeftoverDecision::MoveToNewCard
    }

    fn refund_target(&self, _card: &GiftCard) -> RefundTarget {
        RefundTarget::NewCard
    }
}

/// A card created by a strategy, with the entries that created it and the owner's notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCard {
    /// The new card.
    pub card: GiftCard,
    /// Its code, for the store's lookup index (the card itself keeps only a hint).
    pub code: Code,
    /// Its first ledger entry.
    pub entry: LedgerEntry,
    /// What to tell its owner (it carries the new code).
    pub notification: Notification,
}

/// Carries out `strategy` on `card` after a capture.
///
/// When the strategy moves the value and the card holds money and no other open holds, the
/// card is closed (its `ReplacedBy` entry is returned) and a new card is made with the id and
/// code `fresh` gives; `fresh` is called only then, so a pattern generator's sequence has no
/// gaps. Otherwise nothing changes.
///
/// # Errors
///
/// Whatever `fresh` returns, and [`CardError`]s converted into `E`.
pub fn settle_leftover<E, F>(
    strategy: &dyn LeftoverStrategy,
    card: &mut GiftCard,
    now: DateTime<Utc>,
    fresh: F,
) -> Result<Option<(LedgerEntry, NewCard)>, E>
where
    E: From<CardError>,
    F: FnOnce() -> Result<(CardId, Code), E>,
{
    let movable = card.balance().is_positive()
        && card.holds().is_empty()
        && card.ensure_spendable(now).is_ok();
    if !movable || strategy.after_capture(card) != LeftoverDecision::MoveToNewCard {
        return Ok(None);
    }
    let (id, code) = fresh()?;
    let (new, [closed, carried]) = card.replace(id, &code, now)?;
    let notification = Notification::CardReplaced {
        old_card: card.id(),
        new_card: new.id(),
        code: code.clone(),
        value: new.balance(),
        recipient: new.recipient().cloned(),
    };
    Ok(Some((
        closed,
        NewCard {
            card: new,
            code,
            entry: carried,
            notification,
        },
    )))
}

/// Where a refund went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refunded {
    /// Back onto the original card.
    SameCard(LedgerEntry),
    /// Onto a new card.
    NewCard(Box<NewCard>),
}

/// Returns `amount` for order `reference`, spent from `card`, where `strategy` says.
///
/// Checking that no more comes back than the order spent from the card is the caller's job.
///
/// # Errors
///
/// Whatever `fresh` returns, and [`CardError`]s converted into `E`.
pub fn refund_to_card<E, F>(
    strategy: &dyn LeftoverStrategy,
    card: &mut GiftCard,
    amount: Money,
    reference: Reference,
    now: DateTime<Utc>,
    fresh: F,
) -> Result<Refunded, E>
where
    E: From<CardError>,
    F: FnOnce() -> Result<(CardId, Code), E>,
{
    match strategy.refund_target(card) {
        RefundTarget::SameCard if card.status() != CardStatus::Replaced => {
            let customer = card.purchaser().cloned();
            Ok(Refunded::SameCard(
                card.refund(amount, reference, customer, now)?,
            ))
        }
        _ => {
            let (id, code) = fresh()?;
            let (new, entry) =
                card.refund_to_new_card(id, &code, amount, reference.clone(), now)?;
            let notification = Notification::RefundCardIssued {
                original_card: card.id(),
                new_card: new.id(),
                code: code.clone(),
                value: amount,
                order: reference,
            };
            Ok(Refunded::NewCard(Box::new(NewCard {
                card: new,
                code,
                entry,
                notification,
            })))
        }
    }
}
