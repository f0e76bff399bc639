//! A brake on guessing codes: each client may look up only so many distinct unknown codes in a
//! window (BigCommerce: 20 unique gift-certificate codes an hour).
//!
//! Pure: a [`GuardWindow`] value, a [`GuardPolicy`] and `now` decide; the store keeps the
//! window between requests.
//!
//! # What a client id should be
//!
//! The guard counts per client, so a client id must be something a guesser cannot change at
//! will: an authenticated principal (a customer or API-key id, `"user:42"`), or, for anonymous
//! shoppers, the peer's IP address as the host's trusted proxy reports it (never a header any
//! caller can set). IPv6 addresses are folded to their /64, the block one subscriber usually
//! gets; [`client_ip`] builds that id.
//!
//! # How a lookup is counted
//!
//! [`Protocol`](crate::redeem::Protocol) reserves the slot before it looks a code up: it reads
//! the client's window, [`reserve`](GuardWindow::reserve)s a slot for the code and commits the
//! window with its version (a lost race reads again), and only then asks the store for the
//! card. A known code gives its slot back ([`give_back`](GuardWindow::give_back)): when a
//! code is applied, in the same commit as the checkout it goes on, so a known code costs one
//! commit beside the request's own. So N parallel requests from one client get at most
//! `limit` unknown answers, never more.
//!
//! # A store-wide budget
//!
//! [`GuardPolicy::with_store_budget`] adds a budget of unknown-code lookups for all clients
//! together, kept as one more window under the reserved client id [`STORE_BUDGET_CLIENT`]
//! through the same store methods (no store needs to know about it). A lookup reserves its
//! client's slot, then the budget's; a known code gives both back. Off by default: the
//! budget's window is one hot row every lookup writes (see the method for the trade-off).
//!
//! # The digests kept
//!
//! A window keeps a 64-bit digest of each distinct unknown code, never the code: SipHash
//! (std's [`RandomState`]) under a key drawn once per process and kept in memory only. Without
//! the key nobody can find two codes with the same digest (so colliding guesses are not free)
//! nor test candidate codes against a stored window. The digests are stable within a
//! process, not across processes or restarts: a repeated unknown code seen by another process
//! counts once more there, which only ever makes the guard stricter.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::code::Code;

/// How many distinct unknown codes a client may try, and over what window; optionally, how
/// many all clients together may try (see [`GuardPolicy::with_store_budget`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardPolicy {
    limit: u32,
    window_seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store_budget: Option<Budget>,
}

/// The store-wide budget's limit and window, kept flat so that it needs no recursive type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Budget {
    limit: u32,
    window_seconds: u32,
}

impl Default for GuardPolicy {
    /// BigCommerce's rule: 20 distinct unknown codes per hour, and no store-wide budget.
    fn default() -> Self {
        GuardPolicy {
            limit: 20,
            window_seconds: 3600,
            store_budget: None,
        }
    }
}

crate::ident::reference_role! {
    /// Who the unknown-code guard counts guesses against: a signed-in shopper (`user:42`) or,
    /// for guests, their address ([`client_ip`]: `ip:203.0.113.7`, an IPv6 /64). Not a
    /// [`CheckoutId`](crate::redeem::CheckoutId): a checkout named after a shopper's address
    /// does not compile.
    ///
    /// ```compile_fail
    /// use giftcert::redeem::{CheckoutId, ClientId};
    /// use giftcert::{MemoryStore, Redeemer};
    ///
    /// let redeemer = Redeemer::new(MemoryStore::new());
    /// let checkout = CheckoutId::new("checkout-7").unwrap();
    /// // A balance check counts against a client, not a checkout.
    /// let _ = redeemer.check_balance(&checkout, "ABCD-EFGH-JKMN-PQR7");
    /// ```
    pub struct ClientId;
}

/// The client id the store-wide budget's window is kept under: `giftcert:store-budget`.
///
/// Reserved: [`Protocol`](crate::redeem::Protocol) refuses this id as a host's client (every
/// lookup it makes for it is refused with a [`GuardError`]), so no host can spend, read or
/// reset the budget through its own window. Hosts build their ids as the module docs say
/// (`user:42`, `ip:203.0.113.7`), which never collide with it.
pub const STORE_BUDGET_CLIENT: &str = "giftcert:store-budget";

/// The reserved client id of the store-wide budget's window.
pub(crate) fn store_budget_client() -> ClientId {
    ClientId::new(STORE_BUDGET_CLIENT)
        .unwrap_or_else(|_| unreachable!("the store budget's id is a valid reference"))
}

impl GuardPolicy {
    /// `limit` distinct unknown codes per `window`; a window under one second counts as one
    /// second and a limit of zero refuses every lookup.
    #[must_use]
    pub fn new(limit: u32, window: Duration) -> GuardPolicy {
        GuardPolicy {
            limit,
            window_seconds: seconds(window),
            store_budget: None,
        }
    }

    /// Also limits the distinct unknown codes all clients together may look up to `limit`
    /// per `window` (a window under one second counts as one second), so that many client
    /// ids (a botnet, or a guesser who can change the id) are throttled too. Off by default.
    ///
    /// The budget is kept as one more guard window, under the reserved client id
    /// [`STORE_BUDGET_CLIENT`], through the same store methods as every client's window: a
    /// lookup reserves a slot in its client's window first and then in the budget's (each a
    /// versioned commit, a lost race reads again), and a known code gives both back. So N
    /// parallel lookups from any number of clients get at most `limit` unknown answers in a
    /// budget window.
    ///
    /// The trade-off: the budget is one hot row. Every lookup of a code (known or not) writes
    /// it, and a known code writes it twice (the reservation and its return), so lookups from
    /// all clients queue on that row and retry on conflicts; and the row keeps one 64-bit
    /// digest per distinct unknown code, so a budget of thousands makes every write carry
    /// that many. Keep the budget to what the shop's real traffic of mistyped codes needs
    /// (hundreds an hour, say), and the per-client limit as the first brake.
    ///
    /// While the budget is spent every lookup is refused, a shopper's known code included,
    /// and the refused lookup stays counted in its client's window: a store under a guessing
    /// attack answers nobody until the budget's window ends.
    ///
    /// ```
    /// use chrono::Duration;
    /// use giftcert::redeem::GuardPolicy;
    ///
    /// let policy = GuardPolicy::default().with_store_budget(500, Duration::hours(1));
    /// let budget = policy.store_budget().unwrap();
    /// assert_eq!((budget.limit(), budget.window()), (500, Duration::hours(1)));
    /// assert_eq!(GuardPolicy::default().store_budget(), None);
    /// ```
    #[must_use]
    pub fn with_store_budget(mut self, limit: u32, window: Duration) -> GuardPolicy {
        self.store_budget = Some(Budget {
            limit,
            window_seconds: seconds(window),
        });
        self
    }

    /// The store-wide budget as a policy of its own (its limit and window, no budget of its
    /// own), or `None` when there is none (the default).
    #[must_use]
    pub fn store_budget(&self) -> Option<GuardPolicy> {
        self.store_budget.map(|b| GuardPolicy {
            limit: b.limit,
            window_seconds: b.window_seconds,
            store_budget: None,
        })
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

/// A window's length in whole seconds, at least one.
fn seconds(window: Duration) -> u32 {
    u32::try_from(window.num_seconds().clamp(1, i64::from(u32::MAX))).unwrap_or(u32::MAX)
}

/// The guard's client id for a peer's IP address.
///
/// The guard counts per client, so a client id must be something a guesser cannot change at
/// will: an authenticated principal (a customer or API-key id, `"user:42"`), or, for anonymous
/// shoppers, the peer's IP address as the host's trusted proxy reports it (never a header any
/// caller can set). IPv6 addresses are folded to their /64, the block one subscriber usually
/// gets.
///
/// This id is `ip:203.0.113.7` for IPv4 (an IPv4-mapped IPv6 address counts as its
/// IPv4 address), `ip:2001:db8:1:2::/64` for IPv6, every address of a /64 sharing one id.
#[must_use]
pub fn client_ip(ip: IpAddr) -> ClientId {
    let text = match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let prefix = u128::from(v6) & !u128::from(u64::MAX);
                format!("ip:{}/64", std::net::Ipv6Addr::from(prefix))
            }
        },
    };
    // At most 46 printable characters: always a valid reference.
    ClientId::new(&text).unwrap_or_else(|_| unreachable!("an IP address is a valid reference"))
}

/// The keyed digest a window keeps for a code (see [`GuardWindow`]).
fn digest(code: &Code) -> u64 {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    KEY.get_or_init(RandomState::new)
        .hash_one(code.expose_secret())
}

/// A client that tried too many unknown codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many unknown gift card codes from client {client}; try again after {retry_after}")]
pub struct GuardError {
    /// The client refused.
    pub client: ClientId,
    /// When it may try again.
    pub retry_after: DateTime<Utc>,
}

/// One client's unknown-code lookups in the current window.
///
/// Codes are kept as 64-bit digests, never as text: SipHash (std's `RandomState`) under a key
/// drawn once per process and kept in memory only. Without the key nobody can find two codes
/// with the same digest (so colliding guesses are not free) nor test candidate codes against a
/// stored window. The digests are stable within a process, not across processes or restarts:
/// a repeated unknown code seen by another process counts once more there, which only ever
/// makes the guard stricter.
///
/// [`Protocol`](crate::redeem::Protocol) [`reserve`](GuardWindow::reserve)s a slot before it
/// looks a code up (a versioned commit of the window) and gives it back for a known code, so N
/// parallel requests from one client get at most `limit` unknown answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardWindow {
    client: ClientId,
    started_at: DateTime<Utc>,
    digests: Vec<u64>,
}

impl GuardWindow {
    /// An empty window for `client` starting at `now`.
    #[must_use]
    pub fn new(client: ClientId, now: DateTime<Utc>) -> GuardWindow {
        GuardWindow {
            client,
            started_at: now,
            digests: Vec::new(),
        }
    }

    /// The client.
    #[must_use]
    pub fn client(&self) -> &ClientId {
        &self.client
    }

    /// When the window started (it ends a [`GuardPolicy::window`] later).
    #[must_use]
    pub const fn started_at(&self) -> DateTime<Utc> {
        self.started_at
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

    /// Starts a new window when the old one has passed under `policy`.
    fn roll(&mut self, policy: &GuardPolicy, now: DateTime<Utc>) {
        if !self.is_current(policy, now) {
            self.started_at = now;
            self.digests.clear();
        }
    }

    /// Reserves a slot for looking `code` up, before the lookup: refused while the window is
    /// full (a limit of zero refuses every lookup), otherwise the code is counted now, starting
    /// a new window when the old one has passed. Returns whether anything changed: `false`
    /// when the code is counted already (a repeated code takes no second slot). A code that
    /// turns out to be known gives its slot back with [`give_back`](GuardWindow::give_back).
    ///
    /// # Errors
    ///
    /// [`GuardError`] as [`check`](GuardWindow::check).
    pub fn reserve(
        &mut self,
        policy: &GuardPolicy,
        code: &Code,
        now: DateTime<Utc>,
    ) -> Result<bool, GuardError> {
        self.roll(policy, now);
        self.check(policy, now)?;
        let digest = digest(code);
        if self.digests.contains(&digest) {
            return Ok(false);
        }
        self.digests.push(digest);
        Ok(true)
    }

    /// Gives back the slot [`reserve`](GuardWindow::reserve) took for a code that turned out
    /// to be known. Returns whether anything changed.
    pub fn give_back(&mut self, code: &Code) -> bool {
        let digest = digest(code);
        let before = self.digests.len();
        self.digests.retain(|d| *d != digest);
        self.digests.len() != before
    }

    /// Counts an unknown `code` (once per distinct code), starting a new window when the old
    /// one has passed, without checking the limit. Returns whether anything changed.
    pub fn record_unknown(
        &mut self,
        policy: &GuardPolicy,
        code: &Code,
        now: DateTime<Utc>,
    ) -> bool {
        self.roll(policy, now);
        let digest = digest(code);
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
        let mut window = GuardWindow::new(ClientId::new("ip-1").unwrap(), now);
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

    #[test]
    fn a_limit_of_zero_refuses_a_new_clients_first_lookup() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let policy = GuardPolicy::new(0, Duration::hours(1));
        let mut window = GuardWindow::new(ClientId::new("ip-1").unwrap(), now);
        let err = window
            .reserve(&policy, &Code::parse("WRONG0001").unwrap(), now)
            .unwrap_err();
        assert_eq!(err.retry_after, now + Duration::hours(1));
        assert_eq!(window.count(), 0);
    }

    #[test]
    fn a_reserved_slot_is_given_back_and_a_repeat_takes_none() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let policy = GuardPolicy::new(1, Duration::hours(1));
        let mut window = GuardWindow::new(ClientId::new("ip-1").unwrap(), now);
        let known = Code::parse("KNOWN0001").unwrap();
        assert_eq!(window.reserve(&policy, &known, now), Ok(true));
        // Full while the lookup is under way: a parallel guess is refused.
        assert!(
            window
                .reserve(&policy, &Code::parse("WRONG0001").unwrap(), now)
                .is_err()
        );
        assert!(window.give_back(&known));
        assert!(!window.give_back(&known));
        assert_eq!(window.count(), 0);
        let wrong = Code::parse("WRONG0001").unwrap();
        assert_eq!(window.reserve(&policy, &wrong, now), Ok(true));
        assert!(window.reserve(&policy, &wrong, now).is_err());
    }

    /// Today a window kept the unkeyed FNV-1a of each code: anyone could find colliding
    /// guesses, or test candidate codes against a stored window.
    #[test]
    fn windows_keep_keyed_digests_not_the_unkeyed_fnv() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let mut window = GuardWindow::new(ClientId::new("ip-1").unwrap(), now);
        let code = Code::parse("WRONG0001").unwrap();
        window.record_unknown(&GuardPolicy::default(), &code, now);
        let stored = serde_json::to_value(&window).unwrap();
        let fnv = crate::redeem::fingerprint(code.expose_secret());
        assert_ne!(stored["digests"][0], serde_json::json!(fnv));
        assert_eq!(stored["digests"][0], serde_json::json!(digest(&code)));
    }

    #[test]
    fn a_store_budget_is_off_by_default_and_kept_through_serde() {
        // A policy stored before the budget existed reads as one without it.
        let old: GuardPolicy =
            serde_json::from_value(serde_json::json!({"limit": 20, "windowSeconds": 3600}))
                .unwrap();
        assert_eq!(old, GuardPolicy::default());
        assert_eq!(
            serde_json::to_value(old).unwrap(),
            serde_json::json!({"limit": 20, "windowSeconds": 3600})
        );
        let budgeted = GuardPolicy::default().with_store_budget(0, Duration::milliseconds(1));
        let budget = budgeted.store_budget().unwrap();
        assert_eq!((budget.limit(), budget.window()), (0, Duration::seconds(1)));
        assert_eq!(budget.store_budget(), None);
        let json = serde_json::to_value(budgeted).unwrap();
        assert_eq!(
            json["storeBudget"],
            serde_json::json!({"limit": 0, "windowSeconds": 1})
        );
        assert_eq!(
            serde_json::from_value::<GuardPolicy>(json).unwrap(),
            budgeted
        );
        assert_eq!(store_budget_client().as_str(), STORE_BUDGET_CLIENT);
    }

    #[test]
    fn client_ids_for_ips_fold_ipv6_to_its_64() {
        let id = |text: &str| client_ip(text.parse().unwrap()).to_string();
        assert_eq!(id("203.0.113.7"), "ip:203.0.113.7");
        assert_eq!(id("::ffff:203.0.113.7"), "ip:203.0.113.7");
        assert_eq!(id("2001:db8:1:2:aaaa::1"), "ip:2001:db8:1:2::/64");
        assert_eq!(
            id("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "ip:2001:db8:1:2::/64"
        );
        assert_ne!(id("2001:db8:1:3::1"), id("2001:db8:1:2::1"));
    }
}
