//! [`ReversalReason`]: why a card's purchase was reversed and the card blocked.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why the purchase that paid for a card was reversed: the shop refunded the order, or the
/// buyer's bank charged the payment back (Square's `PURCHASE_WAS_REFUNDED` and
/// `CHARGEBACK_BLOCK`). A card whose purchase is reversed is
/// [`Blocked`](crate::card::CardStatus::Blocked) and what is left on it clawed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ReversalReason {
    /// The shop refunded the order that bought the card.
    Refunded,
    /// The buyer's bank charged the payment for the order back.
    ChargedBack,
}

/// Shown as `purchase refunded` or `purchase charged back`.
impl fmt::Display for ReversalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReversalReason::Refunded => "purchase refunded",
            ReversalReason::ChargedBack => "purchase charged back",
        })
    }
}
