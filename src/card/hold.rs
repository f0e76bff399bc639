//! Holds: an authorised amount a checkout has reserved on a card until it is captured, voided or expires.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::card::Reference;
use crate::money::Money;

/// Money held on a card for one checkout, until it is captured, voided or expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    pub(super) id: u64,
    pub(super) amount: Money,
    pub(super) reference: Reference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) customer: Option<Reference>,
    pub(super) placed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) expires_at: Option<DateTime<Utc>>,
}

impl Hold {
    /// The hold's number on its card (the sequence number of its `Held` entry).
    #[must_use]
    pub const fn id(&self) -> u64 {
        self.id
    }

    /// The money held.
    #[must_use]
    pub const fn amount(&self) -> Money {
        self.amount
    }

    /// The checkout it is for.
    #[must_use]
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// When it was placed.
    #[must_use]
    pub const fn placed_at(&self) -> DateTime<Utc> {
        self.placed_at
    }

    /// When it releases itself, if ever.
    #[must_use]
    pub const fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// Whether it has expired at `now`.
    #[must_use]
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}
