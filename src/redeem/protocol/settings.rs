//! [`Protocol`]: the settings every operation follows.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::turn::Turn;
use crate::card::{BalanceStrategy, CardId, ExpiryPolicy, LeftoverStrategy};
use crate::code::{Code, CodeError, CodeGenerator, ImportRules, RandomCodeGenerator};
use crate::redeem::{AllocationOrder, GuardPolicy, PruneBefore, Retention};

/// How many times a request is tried against a store that keeps changing underneath.
const DEFAULT_ATTEMPTS: u32 = 64;
/// How long a hold lasts by default.
const DEFAULT_HOLD_MINUTES: i64 = 30;

/// The settings every operation follows; shared by the drivers.
///
/// The defaults: the balance strategy, random codes, cards that never expire, holds that last
/// 30 minutes, BigCommerce's guard of 20 unknown codes an hour, 64 attempts under contention,
/// and no imported codes.
#[derive(Debug, Clone)]
pub struct Protocol {
    pub(super) strategy: Arc<dyn LeftoverStrategy>,
    pub(super) codes: Arc<dyn CodeGenerator>,
    pub(super) expiry: ExpiryPolicy,
    pub(super) hold_ttl: Option<Duration>,
    pub(super) guard: GuardPolicy,
    pub(super) attempts: u32,
    pub(super) imported: Option<ImportRules>,
    pub(super) allocation: AllocationOrder,
    pub(super) retention: Retention,
    /// The turn its operations take one at a time on the pessimistic path.
    pub(super) turn: Arc<Turn>,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            strategy: Arc::new(BalanceStrategy),
            codes: Arc::new(RandomCodeGenerator::default()),
            expiry: ExpiryPolicy::Never,
            hold_ttl: Some(Duration::minutes(DEFAULT_HOLD_MINUTES)),
            guard: GuardPolicy::default(),
            attempts: DEFAULT_ATTEMPTS,
            imported: None,
            allocation: AllocationOrder::default(),
            retention: Retention::default(),
            turn: Arc::default(),
        }
    }
}

/// When holds placed at `now` release themselves under a time limit of `ttl`: never without a
/// limit, and at the last instant the crate keeps when the limit would run past it
/// ([`kept_instant`](crate::clock::kept_instant)).
pub(super) fn hold_expires_at(ttl: Option<Duration>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let ttl = ttl?;
    let at = now
        .checked_add_signed(ttl)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    Some(crate::clock::kept_instant(at))
}

impl Protocol {
    /// Uses `strategy` for leftover value.
    #[must_use]
    pub fn with_strategy(mut self, strategy: Arc<dyn LeftoverStrategy>) -> Protocol {
        self.strategy = strategy;
        self
    }

    /// Uses `codes` to make and check codes.
    #[must_use]
    pub fn with_code_generator(mut self, codes: Arc<dyn CodeGenerator>) -> Protocol {
        self.codes = codes;
        self
    }

    /// Sets the expiry of cards it issues whose spec has none.
    #[must_use]
    pub fn with_expiry(mut self, expiry: ExpiryPolicy) -> Protocol {
        self.expiry = expiry;
        self
    }

    /// Holds release themselves after `ttl` (`None`: never).
    #[must_use]
    pub fn with_hold_ttl(mut self, ttl: Option<Duration>) -> Protocol {
        self.hold_ttl = ttl;
        self
    }

    /// Limits unknown-code lookups per client, and with
    /// [`GuardPolicy::with_store_budget`] for all clients together.
    #[must_use]
    pub fn with_guard(mut self, guard: GuardPolicy) -> Protocol {
        self.guard = guard;
        self
    }

    /// The order in which a checkout's cards pay when it is authorised: lowest first (the
    /// default) or expiring soonest first.
    #[must_use]
    pub fn with_allocation_order(mut self, order: AllocationOrder) -> Protocol {
        self.allocation = order;
        self
    }

    /// Also accepts codes imported from another platform when they fit `rules`.
    #[must_use]
    pub fn with_imported_codes(mut self, rules: ImportRules) -> Protocol {
        self.imported = Some(rules);
        self
    }

    /// Keeps idempotency records as long as `retention` says before a prune may delete them
    /// (30 days by default; see [`Retention`] for why).
    #[must_use]
    pub fn with_retention(mut self, retention: Retention) -> Protocol {
        self.retention = retention;
        self
    }

    /// How long idempotency records are kept.
    #[must_use]
    pub const fn retention(&self) -> Retention {
        self.retention
    }

    /// What a prune at `now` may delete: idempotency records older than the [`Retention`],
    /// and guard windows that have ended under the [`GuardPolicy`]: started a whole window
    /// ago, taking the longer of the client window and the
    /// [store budget](GuardPolicy::with_store_budget)'s, since both kinds of window are
    /// pruned by one cut-off and the budget's must last its own length. A driver passes these
    /// to the store's prune methods.
    ///
    /// ```
    /// use chrono::{Duration, TimeZone, Utc};
    /// use giftcert::redeem::{GuardPolicy, Protocol};
    ///
    /// let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    /// let guard = GuardPolicy::new(20, Duration::hours(1)).with_store_budget(3, Duration::days(7));
    /// let protocol = Protocol::default().with_guard(guard);
    /// assert_eq!(protocol.prune_before(now).guards, Some(now - Duration::days(7)));
    /// ```
    #[must_use]
    pub fn prune_before(&self, now: DateTime<Utc>) -> PruneBefore {
        let window = self
            .guard
            .store_budget()
            .map_or(self.guard.window(), |budget| {
                budget.window().max(self.guard.window())
            });
        PruneBefore {
            records: self.retention.records_before(now),
            guards: now.checked_sub_signed(window),
        }
    }

    /// Tries a conflicting request at most `attempts` times (at least once).
    #[must_use]
    pub fn with_attempts(mut self, attempts: u32) -> Protocol {
        self.attempts = attempts.max(1);
        self
    }

    /// What a driver answers to [`Need::Fresh`](super::Need::Fresh): a random card id from the
    /// operating system's generator and a code from the configured generator. This is the
    /// only place randomness enters, and it is the driver that calls it.
    ///
    /// # Errors
    ///
    /// [`CodeError::RandomSource`] when the operating system cannot give random bytes, and
    /// whatever the code generator answers.
    pub fn draw(&self) -> Result<(CardId, Code), CodeError> {
        let id = CardId::try_random().map_err(|e| CodeError::RandomSource {
            reason: e.to_string(),
        })?;
        Ok((id, self.codes.generate()?))
    }
}
