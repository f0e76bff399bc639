//! [`CardError`]: the card transitions that cannot happen, each naming the card by its masked
//! code.

use chrono::{DateTime, Utc};

use super::*;
use crate::money::{Money, MoneyError};

/// A card transition that cannot happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The card is disabled.
    #[error("gift card {code} is disabled")]
    Disabled {
        /// The card.
        card: CardId,
        /// Its code, masked.
        code: CodeHint,
    },
    /// The card is blocked: its purchase was refunded or charged back.
    #[error("gift card {code} is blocked ({reason})")]
    Blocked {
        /// The card.
        card: CardId,
        /// Its code, masked.
        code: CodeHint,
        /// Why.
        reason: ReversalReason,
    },
    /// The card expired.
    #[error("gift card {code} expired on {}", at.format("%Y-%m-%d %H:%M:%S UTC"))]
    Expired {
        /// The card.
        card: CardId,
        /// Its code, masked.
        code: CodeHint,
        /// When it expired.
        at: DateTime<Utc>,
    },
    /// The card was replaced by another; its code no longer pays.
    #[error("gift card {code} was replaced by a card with a new code; use the new code")]
    Replaced {
        /// The card.
        card: CardId,
        /// Its code, masked.
        code: CodeHint,
        /// Its replacement.
        by: CardId,
    },
    /// The card cannot give that much.
    #[error("card {card} has {available} available, less than the {requested} asked for")]
    InsufficientFunds {
        /// The card.
        card: CardId,
        /// What it can give.
        available: Money,
        /// What was asked.
        requested: Money,
    },
    /// No open hold with this number.
    #[error("card {card} has no open hold {hold}")]
    UnknownHold {
        /// The card.
        card: CardId,
        /// The hold asked for.
        hold: u64,
    },
    /// The hold expired and can no longer be captured.
    #[error("hold {hold} on card {card} expired at {}", at.format("%Y-%m-%d %H:%M:%S UTC"))]
    HoldExpired {
        /// The card.
        card: CardId,
        /// The hold.
        hold: u64,
        /// When it expired.
        at: DateTime<Utc>,
    },
    /// A capture asked for more than was held.
    #[error("cannot capture {requested} from hold {hold} on card {card}: it holds {held}")]
    CaptureExceedsHold {
        /// The card.
        card: CardId,
        /// The hold.
        hold: u64,
        /// What it holds.
        held: Money,
        /// What was asked.
        requested: Money,
    },
    /// Amounts held, spent or refunded must be above zero.
    #[error("amount {0} must be above zero")]
    NotPositive(Money),
    /// The card still has open holds (replacing it would orphan them).
    #[error("card {card} has {count} open hold(s)")]
    OpenHolds {
        /// The card.
        card: CardId,
        /// How many.
        count: usize,
    },
    /// An adjustment would take the balance below what is held or below zero.
    #[error("adjusting card {card} by {change} would leave {balance}, below the {held} held")]
    AdjustmentTooLarge {
        /// The card.
        card: CardId,
        /// The change asked for.
        change: Money,
        /// The balance it would leave.
        balance: Money,
        /// What is held.
        held: Money,
    },
    /// An expiry date outside the years a card may expire in
    /// ([`EARLIEST_EXPIRY_YEAR`](crate::card::EARLIEST_EXPIRY_YEAR) to
    /// [`LATEST_EXPIRY_YEAR`](crate::card::LATEST_EXPIRY_YEAR)).
    #[error(
        "expiry date {at} is outside the years {} to {}",
        crate::card::EARLIEST_EXPIRY_YEAR,
        crate::card::LATEST_EXPIRY_YEAR
    )]
    ExpiryOutOfRange {
        /// The date asked for.
        at: DateTime<Utc>,
    },
    /// A text of the card (its message, a tag, the recipient...) holds U+0000, which no
    /// store's text column keeps.
    #[error("the card's {field} holds a NUL character (U+0000)")]
    NulInText {
        /// Which text.
        field: &'static str,
    },
    /// An amount in another currency, or an overflow.
    #[error(transparent)]
    Money(#[from] MoneyError),
}
