//! [`CardStatus`]: where a card stands.

use serde::{Deserialize, Serialize};

/// Where a card stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum CardStatus {
    /// It can be spent.
    Active,
    /// The shop disabled it; nothing can be held on it.
    Disabled,
    /// It passed its expiry date.
    Expired,
    /// Its remainder moved to a new card; its code no longer pays (replacement strategy).
    Replaced,
    /// It was spent down to zero (a refund can make it active again).
    Depleted,
    /// The purchase that paid for it was refunded or charged back: it pays nothing, what was
    /// left on it was clawed back, and only staff can unblock it
    /// ([`GiftCard::block`](crate::card::GiftCard::block)).
    Blocked,
}

/// Shown as a back office prints it: `active`, `disabled`, `expired`, `replaced`, `depleted`, `blocked`.
impl std::fmt::Display for CardStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CardStatus::Active => "active",
            CardStatus::Disabled => "disabled",
            CardStatus::Expired => "expired",
            CardStatus::Replaced => "replaced",
            CardStatus::Depleted => "depleted",
            CardStatus::Blocked => "blocked",
        })
    }
}
