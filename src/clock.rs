//! Time, injected: the [`Clock`] trait and its two implementations.
//!
//! Nothing below the service reads the system clock (see the architecture notes): the service
//! asks its [`Clock`] for `now` and hands the instant to the pure core. Production hosts use
//! [`SystemClock`]; tests use a [`FixedClock`] they set and advance, so that expiry and holds
//! can be tested without waiting or sleeping.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use giftcert::clock::{Clock, FixedClock};
//!
//! let clock = FixedClock::new(Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap());
//! clock.advance(Duration::minutes(31))?;
//! assert_eq!(clock.now(), Utc.with_ymd_and_hms(2026, 12, 1, 12, 31, 0).unwrap());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

/// The first instant the crate keeps, in microseconds since 1970: 0001-01-01T00:00:00Z.
const EARLIEST_MICROS: i64 = -62_135_596_800_000_000;
/// The last instant the crate keeps, in microseconds since 1970: 9999-12-31T23:59:59.999999Z.
const LATEST_MICROS: i64 = 253_402_300_799_999_999;

/// `at` as every store keeps an instant: to the microsecond (finer digits dropped), within the
/// years 1 to 9999 (an instant outside them moved to the nearest end). The protocol keeps every
/// instant it writes or compares this way, the clock's `now` included, so that stores that keep
/// microseconds (SQLite and PostgreSQL) and the in-memory store answer alike.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use giftcert::clock::kept_instant;
///
/// let at = Utc.timestamp_opt(1_800_000_000, 123_456_789).unwrap();
/// assert_eq!(kept_instant(at).timestamp_subsec_nanos(), 123_456_000);
/// let far = Utc.with_ymd_and_hms(20_000, 1, 1, 0, 0, 0).unwrap();
/// assert_eq!(kept_instant(far).to_rfc3339(), "9999-12-31T23:59:59.999999+00:00");
/// ```
#[must_use]
pub fn kept_instant(at: DateTime<Utc>) -> DateTime<Utc> {
    let micros = at.timestamp_micros().clamp(EARLIEST_MICROS, LATEST_MICROS);
    DateTime::from_timestamp_micros(micros).unwrap_or(at)
}

/// A source of the current instant.
///
/// # Contract
///
/// `now` is cheap, never fails and never panics. Successive calls need not be monotonic (a
/// system clock can be set back); code that needs an order uses the instants it was given, not
/// repeated calls.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// The operating system's clock ([`Utc::now`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move: for tests.
///
/// It can be shared (`Arc<FixedClock>` is a [`Clock`] too), so a test can hand it to the code
/// under test and keep a handle to move time.
///
/// ```
/// use std::sync::Arc;
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use giftcert::{clock::{Clock, FixedClock}};
///
/// let start = Utc.with_ymd_and_hms(2024, 12, 24, 18, 0, 0).single().ok_or("no such instant")?;
/// let clock = Arc::new(FixedClock::new(start));
/// let seen_by_service: Arc<dyn Clock> = clock.clone();
///
/// clock.advance(TimeDelta::days(365))?;
/// assert_eq!(seen_by_service.now().to_rfc3339(), "2025-12-24T18:00:00+00:00");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FixedClock {
    now: Mutex<DateTime<Utc>>,
}

/// A [`FixedClock`] asked to move beyond the instants `chrono` can represent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClockError {
    /// Advancing would leave the representable range.
    #[error("cannot advance the clock from {from} by {by}: the result is out of range")]
    OutOfRange {
        /// The clock's instant before the call (unchanged).
        from: DateTime<Utc>,
        /// The step asked for.
        by: TimeDelta,
    },
}

impl FixedClock {
    /// A clock showing `now` until it is [set](FixedClock::set) or
    /// [advanced](FixedClock::advance).
    #[must_use]
    pub fn new(now: DateTime<Utc>) -> FixedClock {
        FixedClock {
            now: Mutex::new(now),
        }
    }

    /// Moves the clock to `now` (backwards too: tests of clock skew need it).
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }

    /// Moves the clock by `by` (a negative step moves it back) and returns the new instant.
    ///
    /// # Errors
    ///
    /// [`ClockError::OutOfRange`] when the new instant cannot be represented; the clock is left
    /// where it was.
    pub fn advance(&self, by: TimeDelta) -> Result<DateTime<Utc>, ClockError> {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        let next = now
            .checked_add_signed(by)
            .ok_or(ClockError::OutOfRange { from: *now, by })?;
        *now = next;
        Ok(next)
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        // A test that panicked while holding the lock cannot have left a half-written instant:
        // the guarded value is replaced whole, so the poison flag can be ignored.
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for FixedClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FixedClock").field(&self.now()).finish()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn christmas_eve() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 12, 24, 18, 0, 0).unwrap()
    }

    #[test]
    fn fixed_clock_stands_still_until_moved() {
        let clock = FixedClock::new(christmas_eve());
        assert_eq!(clock.now(), christmas_eve());
        assert_eq!(clock.now(), christmas_eve());
    }

    #[test]
    fn fixed_clock_advances_by_the_step_and_back() {
        let clock = FixedClock::new(christmas_eve());
        let later = clock.advance(TimeDelta::hours(7)).unwrap();
        assert_eq!(later.to_rfc3339(), "2024-12-25T01:00:00+00:00");
        assert_eq!(clock.now(), later);
        clock.advance(TimeDelta::hours(-7)).unwrap();
        assert_eq!(clock.now(), christmas_eve());
    }

    #[test]
    fn fixed_clock_set_moves_to_the_instant() {
        let clock = FixedClock::new(christmas_eve());
        let new_year = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        clock.set(new_year);
        assert_eq!(clock.now(), new_year);
    }

    #[test]
    fn advancing_out_of_range_is_an_error_and_leaves_the_clock() {
        let clock = FixedClock::new(DateTime::<Utc>::MAX_UTC);
        let err = clock.advance(TimeDelta::seconds(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot advance the clock from +262142-12-31 23:59:59.999999999 UTC by PT1S: \
             the result is out of range"
        );
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn a_shared_clock_shows_the_tests_moves() {
        let clock = Arc::new(FixedClock::new(christmas_eve()));
        let held: Arc<dyn Clock> = clock.clone();
        clock.advance(TimeDelta::days(1)).unwrap();
        assert_eq!(held.now().to_rfc3339(), "2024-12-25T18:00:00+00:00");
        assert_eq!(format!("{clock:?}"), "FixedClock(2024-12-25T18:00:00Z)");
    }
}

/// How the async driver pauses between lost commits
/// ([`Need::Wait`](crate::redeem::Need::Wait)): a runtime's timer. The crate brings no
/// runtime, so a host gives the [`AsyncRedeemer`](crate::store::AsyncRedeemer) its own
/// (`tokio::time::sleep`, for example); without one, [`YieldTimer`] yields instead of sleeping.
pub trait Timer: Send + Sync + fmt::Debug {
    /// A future that is ready once `duration` has passed.
    fn sleep(
        &self,
        duration: std::time::Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

/// A [`Timer`] for no runtime at all: each pause is one yield to the executor (a future that is
/// pending once, waking its task at once), whatever its length.
#[derive(Debug, Clone, Copy, Default)]
pub struct YieldTimer;

impl Timer for YieldTimer {
    fn sleep(
        &self,
        _duration: std::time::Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(YieldOnce(false))
    }
}

/// Pending once (waking its task at once), then ready.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}
