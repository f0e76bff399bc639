//! A brake on guessing codes: each client may look up only so many distinct unknown codes in a
//! window (BigCommerce: 20 unique gift-certificate codes an hour).
//!
//! Pure: a [`GuardWindow`] value, a [`GuardPolicy`] and `now` decide; the store keeps the
//! window between requests.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::card::Reference;
use crate::code::Code;

/// How many distinct unknown codes a client may try, and over what window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardPolicy {
    limit: u32,
    window_seconds: u32,
}

impl Default for GuardPolicy {
    /// BigCommerce's rule: 20 distinct unknown codes per hour.
    fn default() -> Self {
        GuardPolicy {
            limit: 20,
            window_seconds: 3600,
        }
    }
}

impl GuardPolicy {
    /// `limit` distinct unknown codes per `window`; a window under one second counts as one
    /// second and a limit of zero refuses every lookup.
    #[must_use]
    pub fn new(limit: u32, window: Duration) -> GuardPolicy {
        let seconds = window.num_seconds().clamp(1, i64::from(u32::MAX));
        GuardPolicy {
            limit,
            window_seconds: u32::try_from(seconds).unwrap_or(u32::MAX),
        }
    }

    /// How many distinct unknown codes a window allows.
    #[must_use]
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The window's length.
    #[must_use]
    pub fn window(&self) -> Duration {
        Duration::seconds(i64::from(self.window_seconds))
    }
}

/// A client that tried too many unknown codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many unknown gift card codes from client {client}; try again after {retry_after}")]
pub struct GuardError {
    /// The client refused.
    pub client: Reference,
    /// When it may try again.
    pub retry_after: DateTime<Utc>,
}

/// One client's unknown-code lookups in the current window.
///
/// Codes are kept as 64-bit digests, never as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardWindow {
    client: Reference,
    started_at: DateTime<Utc>,
    digests: Vec<u64>,
}

impl GuardWindow {
    /// An empty window for `client` starting at `now`.
    #[must_use]
    pub fn new(client: Reference, now: DateTime<Utc>) -> GuardWindow {
        GuardWindow {
            client,
            started_at: now,
            digests: Vec::new(),
        }
    }

    /// The client.
    #[must_use]
    pub fn client(&self) -> &Reference {
        &self.client
    }

    /// How many distinct unknown codes this window has seen.
    #[must_use]
    pub fn count(&self) -> usize {
        self.digests.len()
    }

    /// When the window ends under `policy`: `None` when that would be past the last instant
    /// chrono can represent (a window started near the end of time, as stored data may say),
    /// and then the window never ends.
    #[must_use]
    pub fn ends_at(&self, policy: &GuardPolicy) -> Option<DateTime<Utc>> {
        self.started_at.checked_add_signed(policy.window())
    }

    fn is_current(&self, policy: &GuardPolicy, now: DateTime<Utc>) -> bool {
        self.ends_at(policy).is_none_or(|end| now < end)
    }

    /// Refuses the client while its window is full.
    ///
    /// # Errors
    ///
    /// [`GuardError`] with the time the window ends; for a window that never ends
    /// ([`ends_at`](GuardWindow::ends_at) is `None`), the last instant chrono represents.
    pub fn check(&self, policy: &GuardPolicy, now: DateTime<Utc>) -> Result<(), GuardError> {
        let full = self.digests.len() >= policy.limit as usize;
        if full && self.is_current(policy, now) {
            return Err(GuardError {
                client: self.client.clone(),
                retry_after: self.ends_at(policy).unwrap_or(DateTime::<Utc>::MAX_UTC),
            });
        }
        Ok(())
    }

    /// Counts an unknown `code` (once per distinct code), starting a new window when the old
    /// one has passed. Returns whether anything changed.
    pub fn record_unknown(
        &mut self,
        policy: &GuardPolicy,
        code: &Code,
        now: DateTime<Utc>,
    ) -> bool {
        if !self.is_current(policy, now) {
            self.started_at = now;
            self.digests.clear();
        }
        let digest = crate::redeem::fingerprint(code.expose_secret());
        if self.digests.contains(&digest) {
            return false;
        }
        self.digests.push(digest);
        true
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_twenty_first_distinct_unknown_code_in_an_hour_is_refused() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let policy = GuardPolicy::default();
        let mut window = GuardWindow::new(Reference::new("ip-1").unwrap(), now);
        for i in 0..20 {
            window.check(&policy, now).unwrap();
            assert!(window.record_unknown(
                &policy,
                &Code::parse(&format!("WRONG{i:04}")).unwrap(),
                now
            ));
        }
        // Repeating a counted code does not count again.
        assert!(!window.record_unknown(&policy, &Code::parse("WRONG0000").unwrap(), now));
        let err = window
            .check(&policy, now + Duration::minutes(59))
            .unwrap_err();
        assert_eq!(err.retry_after, now + Duration::hours(1));
        assert_eq!(
            err.to_string(),
            "too many unknown gift card codes from client ip-1; try again after 2026-11-23 13:00:00 UTC"
        );
        // After the hour the client may try again, in a fresh window.
        let later = now + Duration::hours(1);
        window.check(&policy, later).unwrap();
        window.record_unknown(&policy, &Code::parse("WRONG9999").unwrap(), later);
        assert_eq!(window.count(), 1);
    }

    /// Today `started_at + window` panicked on a window stored near the end of time.
    #[test]
    fn a_window_started_near_the_end_of_time_never_ends_and_does_not_panic() {
        let policy = GuardPolicy::new(1, Duration::hours(1));
        let near_end = DateTime::<Utc>::MAX_UTC - Duration::minutes(1);
        let stored = serde_json::json!({
            "client": "ip-1",
            "startedAt": near_end,
            "digests": [1_u64],
        });
        let mut window: GuardWindow = serde_json::from_value(stored).unwrap();
        assert_eq!(window.ends_at(&policy), None);
        let err = window.check(&policy, near_end).unwrap_err();
        assert_eq!(err.retry_after, DateTime::<Utc>::MAX_UTC);
        // Still the same window: a new code is counted in it, not in a fresh one.
        assert!(window.record_unknown(&policy, &Code::parse("WRONG0001").unwrap(), near_end));
        assert_eq!(window.count(), 2);
        assert!(window.check(&policy, DateTime::<Utc>::MAX_UTC).is_err());
    }
}
