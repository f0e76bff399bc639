//! Upkeep a host runs from its scheduler: sweeps that release holds past their time limit and
//! record cards past their expiry date, and the retention of idempotency records and guard
//! windows, pruned once their time is up.
//!
//! Without sweeps a hold past its time limit keeps its money out of the "held" figures, and an
//! expired card keeps counting as active, until the card is next touched; without pruning,
//! every key ever sent and every client ever seen stays in the store. Both are bounded
//! batches, idempotent (a second run finds nothing to do), and both drivers offer them as
//! `sweep(limit)` and `prune(limit)`.
//!
//! ```
//! use chrono::Duration;
//! use giftcert::redeem::Retention;
//!
//! // Keys are kept 30 days by default: long enough for any retry a host makes of a money move.
//! assert_eq!(Retention::default().idempotency(), Duration::days(30));
//! ```

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::card::{CardId, CardStatus, EntryKind, GiftCard, Notification};
use crate::money::Money;

/// How long idempotency records are kept before [`Redeemer::prune`](crate::store::Redeemer::prune)
/// may delete them.
///
/// A record is what makes a repeated request harmless: once it is gone, the same key and
/// request run again (a second capture, a second refund). Stripe keeps keys 24 hours, for API
/// clients that retry within seconds or minutes. A gift card host's retries come later and
/// move money: a job queue retried after an outage or a weekend, a platform's webhook
/// redelivered for days (Stripe's for three, others' longer), a finance batch run again at
/// month end. So the default is **30 days**: longer than any such retry, far longer than the
/// longest hold (a hold's time limit is minutes to days), and cheap (a record is a few hundred
/// bytes). It can be lengthened, never made shorter than 24 hours.
///
/// Guard windows need no setting: a window is pruned once it has ended under the
/// [`GuardPolicy`] (after that it counts nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    idempotency: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            idempotency: Duration::days(30),
        }
    }
}

impl Retention {
    /// The shortest retention accepted: Stripe's 24 hours.
    pub const MINIMUM: Duration = Duration::hours(24);

    /// Keeps idempotency records for `period`, at least [`Retention::MINIMUM`].
    #[must_use]
    pub fn new(period: Duration) -> Retention {
        Retention {
            idempotency: period.max(Retention::MINIMUM),
        }
    }

    /// How long an idempotency record is kept.
    #[must_use]
    pub const fn idempotency(&self) -> Duration {
        self.idempotency
    }

    /// The instant before which records may be pruned at `now` (`None` when that instant is
    /// before anything chrono can represent: nothing is old enough).
    #[must_use]
    pub fn records_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        now.checked_sub_signed(self.idempotency)
    }
}

/// The instants a prune at some `now` deletes before
/// ([`Protocol::prune_before`](crate::redeem::Protocol::prune_before)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneBefore {
    /// Idempotency records recorded before this instant, if any.
    pub records: Option<DateTime<Utc>>,
    /// Guard windows started before this instant (they have ended), if any.
    pub guards: Option<DateTime<Utc>>,
}

/// What one prune deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Pruned {
    /// Idempotency records deleted.
    pub records: usize,
    /// Guard windows deleted.
    pub guards: usize,
}

/// What a sweep did to one card ([`sweep`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Swept {
    /// The card.
    pub card: CardId,
    /// The holds released because their time limit had passed (their numbers).
    pub released: Vec<u64>,
    /// What those holds had kept back.
    pub released_amount: Money,
    /// Whether the sweep recorded the card's expiry.
    pub expired: bool,
    /// The card's status afterwards.
    pub status: CardStatus,
}

/// One batch of a sweep ([`Redeemer::sweep`](crate::store::Redeemer::sweep)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sweep {
    /// The cards changed, in the order they fell due.
    pub cards: Vec<Swept>,
    /// What to tell people ([`Notification::CardExpired`] for a card that expired with money
    /// on it).
    pub notifications: Vec<Notification>,
    /// Whether the batch was full: more cards may be due, so run it again.
    pub more: bool,
}

impl Sweep {
    /// One card swept, with its notifications; a card the sweep left as it was (nothing was
    /// due after all) is not listed.
    pub(crate) fn add(&mut self, swept: Redeemed<Swept>) {
        let changed = swept.outcome.expired || !swept.outcome.released.is_empty();
        if changed {
            self.cards.push(swept.outcome);
            self.notifications.extend(swept.notifications);
        }
    }
}

/// Sweeps one card at `now`: releases its holds past their time limit and records its expiry
/// when its date has passed, with a [`Notification::CardExpired`] when money was left on it.
/// A card with nothing due comes back unchanged, with no entries (so sweeping twice changes
/// nothing the second time).
///
/// # Errors
///
/// [`RedeemError::Card`] only on an amount overflow.
pub fn sweep(card: GiftCard, now: DateTime<Utc>) -> Result<Decision<Swept>, RedeemError> {
    let mut card = card;
    let mut entries = card.release_expired_holds(now);
    let released: Vec<u64> = entries
        .iter()
        .filter_map(|e| match e.kind() {
            EntryKind::Released { hold, .. } => Some(hold),
            _ => None,
        })
        .collect();
    let released_amount = Money::sum(card.currency(), entries.iter().map(|e| e.amount()))?;
    let expired = card.mark_expired(now)?;
    let mut notifications = Vec::new();
    if expired.is_some() && card.balance().is_positive() {
        notifications.push(Notification::CardExpired {
            card: card.id(),
            balance: card.balance(),
            recipient: card.recipient().cloned(),
        });
    }
    let outcome = Swept {
        card: card.id(),
        released,
        released_amount,
        expired: expired.is_some(),
        status: card.status(),
    };
    entries.extend(expired);
    let mut decision = Decision::new(outcome);
    if !entries.is_empty() {
        decision.entries = entries;
        decision.updated = vec![card];
        decision.notifications = notifications;
    }
    Ok(decision)
}
