//! The append-only history of a gift card (Spryker and BigCommerce).
//!
//! Every change to a card is a [`LedgerEntry`]: issued, held, captured, released, refunded,
//! replaced, expired, disabled, adjusted. Entries are never edited or deleted; a mistake is
//! corrected by a new entry. Each entry records the balance after it, and a card's running
//! balance is always the sum of its ledger ([`verify_ledger`] proves it), which is what lets a
//! card answer "what is my balance" without summing its history on every read.

use crate::ident::text_newtype;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::card::{Attribution, CardId, ReversalReason};
use crate::money::{Money, MoneyError};

/// The longest reference accepted.
const MAX_REFERENCE_LEN: usize = 128;

text_newtype! {
    /// An order, checkout or customer reference, as the host names it (`"order-1001"`).
    ///
    /// 1 to 128 characters, no control characters. Cheap to clone: entries of one order share it.
    pub struct Reference;
    error: ReferenceError;
    /// Checks and wraps a reference.
    ///
    /// # Errors
    ///
    /// [`ReferenceError`] when `text` is empty, longer than 128 characters, or holds a control
    /// character.
    fn new(text) {
        check_reference(text)?;
    }
}

/// Why `text` is not a reference: empty, longer than 128 characters, or holding a control
/// character. The id types that follow a reference's rules
/// ([`CheckoutId`](crate::redeem::CheckoutId), [`ClientId`](crate::redeem::ClientId)) check
/// with it.
pub(crate) fn check_reference(text: &str) -> Result<(), ReferenceError> {
    let invalid = |reason| ReferenceError {
        shown: text.chars().filter(|c| !c.is_control()).take(40).collect(),
        reason,
    };
    if text.is_empty() {
        return Err(invalid("it is empty"));
    }
    if text.chars().count() > MAX_REFERENCE_LEN {
        return Err(invalid("it is longer than 128 characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid("it holds a control character"));
    }
    Ok(())
}

impl Reference {
    /// The reference that shares `text`, already checked by one of the id types.
    pub(crate) fn from_checked(text: std::sync::Arc<str>) -> Reference {
        Reference(text)
    }
}

/// A reference that is empty, too long or holds control characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference \"{shown}\": {reason}")]
pub struct ReferenceError {
    shown: String,
    reason: &'static str,
}

/// Why a hold was released without being captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ReleaseReason {
    /// The payment failed or the checkout was abandoned (the Nordic checkout provider's revert).
    Voided,
    /// The hold outlived its time and released itself.
    Expired,
    /// A capture took less than was held; the rest went back.
    Remainder,
    /// The authorisation's amount changed: a new hold replaces this one.
    Changed,
    /// The card was blocked: its purchase was reversed.
    Blocked,
}

/// What happened to a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum EntryKind {
    /// The card was issued with its value (the entry's amount).
    Issued,
    /// The card was issued to carry the remainder of another (replacement strategy).
    ReplacementOf {
        /// The card it replaces.
        card: CardId,
    },
    /// Money was held for a checkout; the balance is unchanged, the available amount falls.
    Held {
        /// The hold's number on this card (the sequence number of this entry).
        hold: u64,
    },
    /// Held money was spent.
    Captured {
        /// The hold it came from.
        hold: u64,
    },
    /// Held money went back to the available amount.
    Released {
        /// The hold released.
        hold: u64,
        /// Why.
        reason: ReleaseReason,
    },
    /// Captured money came back to this card.
    Refunded,
    /// The card was closed and its remainder moved to a new card (replacement strategy).
    ReplacedBy {
        /// The new card.
        card: CardId,
    },
    /// The card passed its expiry date; the balance stays recorded but cannot be spent.
    Expired,
    /// The shop disabled the card.
    Disabled,
    /// The shop enabled the card again.
    Enabled,
    /// A manual correction, positive or negative (the entry's amount is signed).
    Adjusted,
    /// Money was loaded onto the card (a top-up); the entry's amount is added.
    Reloaded,
    /// The shop moved or removed the expiry date; the balance is unchanged.
    ExpiryChanged {
        /// The date before (none: the card did not expire).
        from: Option<DateTime<Utc>>,
        /// The date after (none: the card no longer expires).
        to: Option<DateTime<Utc>>,
    },
    /// The shop gave the card a new code (the old one was lost or leaked): the old code no
    /// longer finds the card; the balance and the holds are unchanged.
    CodeReplaced,
    /// The card was blocked because its purchase was reversed; the balance is unchanged by
    /// this entry (a [`EntryKind::ClawedBack`] entry follows when value was left).
    Blocked {
        /// Why the purchase was reversed.
        reason: ReversalReason,
    },
    /// What was left on a blocked card was taken back (the entry's amount comes off the
    /// balance).
    ClawedBack,
    /// Staff unblocked the card; the balance is unchanged.
    Unblocked,
}

/// Shown as a back office prints a history line: `issued`, `held (hold 3)`, `captured (hold
/// 3)`, `released (hold 3, voided)`, `refunded`, `replaced by card 0123...`, `adjusted`, `code replaced`, `blocked (purchase charged back)`, `clawed back`,
/// `expiry changed from 2027-01-01 00:00:00 UTC to never`... (times to the second).
impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let when = |at: &Option<DateTime<Utc>>| {
            at.map_or_else(
                || "never".to_owned(),
                |at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            )
        };
        match self {
            EntryKind::Issued => f.write_str("issued"),
            EntryKind::ReplacementOf { card } => write!(f, "issued to replace card {card}"),
            EntryKind::Held { hold } => write!(f, "held (hold {hold})"),
            EntryKind::Captured { hold } => write!(f, "captured (hold {hold})"),
            EntryKind::Released { hold, reason } => write!(f, "released (hold {hold}, {reason})"),
            EntryKind::Refunded => f.write_str("refunded"),
            EntryKind::ReplacedBy { card } => write!(f, "replaced by card {card}"),
            EntryKind::Expired => f.write_str("expired"),
            EntryKind::Disabled => f.write_str("disabled"),
            EntryKind::Enabled => f.write_str("enabled"),
            EntryKind::Adjusted => f.write_str("adjusted"),
            EntryKind::Reloaded => f.write_str("reloaded"),
            EntryKind::ExpiryChanged { from, to } => {
                write!(f, "expiry changed from {} to {}", when(from), when(to))
            }
            EntryKind::CodeReplaced => f.write_str("code replaced"),
            EntryKind::Blocked { reason } => write!(f, "blocked ({reason})"),
            EntryKind::ClawedBack => f.write_str("clawed back"),
            EntryKind::Unblocked => f.write_str("unblocked"),
        }
    }
}

/// Shown as `voided`, `expired`, `remainder of a partial capture`, `authorisation changed`, `card blocked`.
impl std::fmt::Display for ReleaseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReleaseReason::Voided => "voided",
            ReleaseReason::Expired => "expired",
            ReleaseReason::Remainder => "remainder of a partial capture",
            ReleaseReason::Changed => "authorisation changed",
            ReleaseReason::Blocked => "card blocked",
        })
    }
}

impl EntryKind {
    /// How this kind of entry moves the balance, given the entry's amount.
    pub(crate) fn balance_change(self, amount: Money) -> Money {
        match self {
            EntryKind::Issued
            | EntryKind::ReplacementOf { .. }
            | EntryKind::Refunded
            | EntryKind::Reloaded
            | EntryKind::Adjusted => amount,
            EntryKind::Captured { .. } | EntryKind::ReplacedBy { .. } | EntryKind::ClawedBack => {
                amount.negated()
            }
            EntryKind::Held { .. }
            | EntryKind::Released { .. }
            | EntryKind::Expired
            | EntryKind::Disabled
            | EntryKind::Enabled
            | EntryKind::ExpiryChanged { .. }
            | EntryKind::CodeReplaced
            | EntryKind::Blocked { .. }
            | EntryKind::Unblocked => Money::zero(amount.currency()),
        }
    }
}

/// One line of a card's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub(crate) card: CardId,
    pub(crate) seq: u64,
    pub(crate) at: DateTime<Utc>,
    pub(crate) kind: EntryKind,
    pub(crate) amount: Money,
    pub(crate) balance_after: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reference: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) customer: Option<Reference>,
    /// Boxed: only back-office entries have one, and inline it made every entry 176 bytes
    /// (a store keeps every entry of every card).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) attribution: Option<Box<Attribution>>,
}

impl LedgerEntry {
    /// The card this entry belongs to.
    #[must_use]
    pub const fn card(&self) -> CardId {
        self.card
    }

    /// Its position in the card's history, from 1.
    #[must_use]
    pub const fn seq(&self) -> u64 {
        self.seq
    }

    /// When it happened.
    #[must_use]
    pub const fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// What happened.
    #[must_use]
    pub const fn kind(&self) -> EntryKind {
        self.kind
    }

    /// The money it is about (the value issued, held, spent, refunded...); signed only for
    /// [`EntryKind::Adjusted`].
    #[must_use]
    pub const fn amount(&self) -> Money {
        self.amount
    }

    /// How it moved the balance (negative for spending).
    #[must_use]
    pub fn balance_change(&self) -> Money {
        self.kind.balance_change(self.amount)
    }

    /// The card's balance after it.
    #[must_use]
    pub const fn balance_after(&self) -> Money {
        self.balance_after
    }

    /// The order or checkout it belongs to, if any.
    #[must_use]
    pub fn reference(&self) -> Option<&Reference> {
        self.reference.as_ref()
    }

    /// The customer who used the card, if known (the balance strategy's history shows it).
    #[must_use]
    pub fn customer(&self) -> Option<&Reference> {
        self.customer.as_ref()
    }

    /// Who made this change by hand and why, for the entries back-office commands write
    /// (disable, enable, adjust, a new expiry).
    #[must_use]
    pub fn attribution(&self) -> Option<&Attribution> {
        self.attribution.as_deref()
    }

    /// The same entry, for `customer` when one is known (the checkout's customer on a refund,
    /// rather than the card's purchaser).
    pub(crate) fn for_customer(mut self, customer: Option<&Reference>) -> LedgerEntry {
        if let Some(customer) = customer {
            self.customer = Some(customer.clone());
        }
        self
    }

    /// The same entry, attributed to `by`.
    pub(crate) fn attributed(mut self, by: Attribution) -> LedgerEntry {
        self.attribution = Some(Box::new(by));
        self
    }
}

/// A ledger that does not prove its card's balance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// An entry belongs to another card.
    #[error("entry {seq} belongs to card {found}, not {expected}")]
    ForeignEntry {
        /// The entry's number.
        seq: u64,
        /// The card being verified.
        expected: CardId,
        /// The card the entry names.
        found: CardId,
    },
    /// Entries are missing, repeated or out of order.
    #[error("entry {found} follows entry {previous}: entries must be numbered 1, 2, 3...")]
    BrokenSequence {
        /// The number before.
        previous: u64,
        /// The number found.
        found: u64,
    },
    /// An entry's recorded balance is not the previous balance plus its change.
    #[error("entry {seq} records balance {recorded}, but the entries sum to {summed}")]
    BalanceMismatch {
        /// The entry's number.
        seq: u64,
        /// What it records.
        recorded: Money,
        /// What the ledger sums to there.
        summed: Money,
    },
    /// The balance went below zero.
    #[error("entry {seq} takes the balance below zero ({balance})")]
    NegativeBalance {
        /// The entry's number.
        seq: u64,
        /// The balance after it.
        balance: Money,
    },
    /// The ledger ends on another balance than the card holds.
    #[error("the ledger sums to {summed}, but the card holds {card}")]
    CardMismatch {
        /// What the ledger sums to.
        summed: Money,
        /// The card's running balance.
        card: Money,
    },
    /// Amounts could not be added.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Checks that `entries` (the whole history of the card `card`, in order) sum to `balance`,
/// with every intermediate balance recorded correctly and never below zero.
///
/// # Errors
///
/// The first [`LedgerError`] found.
pub fn verify_ledger(
    card: CardId,
    balance: Money,
    entries: &[LedgerEntry],
) -> Result<(), LedgerError> {
    let mut summed = Money::zero(balance.currency());
    let mut previous = 0;
    for entry in entries {
        if entry.card != card {
            return Err(LedgerError::ForeignEntry {
                seq: entry.seq,
                expected: card,
                found: entry.card,
            });
        }
        if entry.seq != previous + 1 {
            return Err(LedgerError::BrokenSequence {
                previous,
                found: entry.seq,
            });
        }
        previous = entry.seq;
        summed = summed.checked_add(entry.balance_change())?;
        if summed != entry.balance_after {
            return Err(LedgerError::BalanceMismatch {
                seq: entry.seq,
                recorded: entry.balance_after,
                summed,
            });
        }
        if summed.is_negative() {
            return Err(LedgerError::NegativeBalance {
                seq: entry.seq,
                balance: summed,
            });
        }
    }
    if summed != balance {
        return Err(LedgerError::CardMismatch {
            summed,
            card: balance,
        });
    }
    Ok(())
}
