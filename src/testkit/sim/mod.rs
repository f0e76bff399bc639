//! A deterministic simulator that drives the redemption protocol under faults, with a
//! reference model as its oracle.
//!
//! A [`Simulator`] is a third driver of the sans-IO [`Protocol`](crate::redeem::Protocol): from
//! one seed it plans a small shop (a few cards, checkouts and clients, 10 to 30 requests), runs
//! several requests at once and interleaves their steps in an order the seed chooses,
//! answering every [`Need`](crate::redeem::Need) from a store the host's factory makes.
//!
//! # What it asks
//!
//! Every [`Request`](crate::redeem::Request): issues (with and without expiry), issues for an
//! order, imports (short codes from another platform), applying, removing and checking codes
//! (issued ones and guesses), authorising and changing an authorisation, whole and partial
//! captures, voids, refunds to the cards used and to a new card, the checkout's customer and
//! cards, every back-office command (disable, enable, adjust both ways, reload with and
//! without bounds, change or remove the expiry), lost-code replacement, sweeps, pruning, and
//! card and ledger reads. Amounts are in JPY, EUR and KWD (0, 2 and 3 decimals) from one
//! minor unit up, and near what a checkout holds or captured; half the requests follow a
//! checkout's next step as a shopper would. Half the seeds run under the replacement strategy
//! and a share ([`SimConfig::store_budget`]) with the store-wide guess budget on.
//!
//! # Faults
//!
//! At each step it may inject: a commit refused with
//! [`StoreError::Conflict`](crate::redeem::StoreError::Conflict) although it would apply; a
//! read refused with one ([`SimConfig::read_conflict`], off by default); a
//! commit applied whose reply is lost, or a crash before the reply (before or after the
//! write), the client retrying under its key; a backend error answered to a read or a commit;
//! requests duplicated and reordered; keys reused for other requests
//! ([`SimConfig::key_reuse`]); fresh codes that collide with a code already issued or just
//! handed to another request; and clock jumps past the holds' time limit, by days, or to a
//! millisecond before, on or after the next hold or card expiry instant.
//!
//! # What it checks
//!
//! Every answer against a reference model: a plain restatement of each request's rules,
//! written apart from the protocol and the decisions. A request takes effect in the model at
//! the commit that writes its change, at the time it read, with the ids and codes that commit
//! drew; its answer must then equal the model's field by field, or be an error of the same
//! kind. A request that changes nothing (a read, a refusal, a replay) must answer what the
//! model says at some version and time it could have read. After every commit the store must
//! hold the model's cards, codes and checkouts, replaced codes must find nothing, and the
//! liability report must equal the model's line by line.
//!
//! Beside the model, after every commit that writes more than a guard window and every clock
//! jump:
//!
//! - per currency, the liability report's identity over the ledgers, each term equal to what
//!   the stored idempotency records say the requests did; no balance or available amount below
//!   zero; every ledger proves its balance ([`verify_ledger`](crate::card::verify_ledger));
//! - each idempotency key has one outcome, and its record is what its client was told;
//! - no expired hold counts; every hold and entry is stamped no earlier than its request began,
//!   no hold outlives the hold time limit, and no hold lands on a card that is not active;
//! - a hold for a checkout is one the checkout holds while authorised, at the amount it says; a
//!   captured checkout stays captured; refunds stay within what each card paid;
//! - the guard never lets a client look up more unknown codes in a window than its limit;
//! - a refusal naming the checkout's state names one the store held while the request ran;
//! - no whole code in any outcome, error or notification's `Debug`.
//!
//! What the model leaves loose: it accepts
//! [`RedeemError::TooManyAttempts`](crate::redeem::RedeemError::TooManyAttempts) whenever the
//! guard could refuse (every code the client looked up in the window and those in flight
//! counted, or the store budget on); a checkout's cards read while another commit lands are not
//! compared; a code applied or taken off answers as its card was looked up, possibly before the
//! checkout was read; and a prune past its limit ends the model's view of the run.
//!
//! A run that makes no progress fails within [`SimConfig::max_steps`] steps, and a request
//! sent again more than [`SimConfig::max_retries`] times fails naming it. A failing run returns
//! a [`Failure`] naming its seed, the broken invariant and the requests it ran;
//! [`Simulator::shrink`] finds the fewest requests from the same seed that still fail
//! ([`Simulator::rerun`] runs a shrunk failure again), and [`Simulator::run`] with the same
//! seed reproduces a run exactly ([`replay`] for the in-memory store with the default
//! settings).
//!
//! # Running it against a host's store
//!
//! Give [`Simulator::new`] a factory that returns an empty store, and run as many seeds as the
//! test budget allows:
//!
//! ```
//! use giftcert::MemoryStore;
//! use giftcert::testkit::sim::{SimConfig, Simulator};
//!
//! let sim = Simulator::new(SimConfig::default(), MemoryStore::new);
//! for seed in 0..20 {
//!     if let Err(failure) = sim.run(seed) {
//!         // The seed, the invariant and the requests; shrink for the fewest requests.
//!         let shortest = sim.shrink(seed).unwrap_or(failure);
//!         panic!("{shortest}");
//!     }
//! }
//! // The same seed runs the same way every time.
//! assert_eq!(sim.run(7)?.trace, sim.run(7)?.trace);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The crate's own `tests/sim.rs` runs 10,000 seeds against
//! [`MemoryStore`](crate::store::MemoryStore), `stores/sqlite/tests/sim.rs` 200 against
//! SQLite, and the PostgreSQL store's tests 60 against PostgreSQL.
//!
//! # Planting bugs
//!
//! A simulator that never fails proves nothing, so the tests plant bugs and show each is found
//! within a stated number of seeds: stores from [`planted`] (versions ignored, the checkout's
//! version ignored, expiry dates a second late, removals refused, a hold kept after a partial
//! capture), and drivers bent through [`Simulator::with_commit_tamper`] (the idempotency record
//! forgotten, versions a livelock never matches), [`Simulator::with_clock_tamper`] (a stuck
//! clock, one a millisecond fast) and [`Simulator::with_reply_tamper`] (checkouts read as open,
//! lookups skipping disabled cards, disabled cards read as active).
//!
//! The guard check runs with no slack ([`SimConfig::guard_slack`] is 0 by default): the
//! protocol reserves a slot in a client's guard window before it looks a code up, so lookups
//! racing each other cannot all pass a window with one slot left.

mod invariants;
mod model;
mod oracle;
mod plan;
pub mod planted;
mod world;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::redeem::{Changes, Reply};
use crate::store::Store;

use self::world::World;

pub use self::plan::Planned;
pub use self::world::{Event, Fault};

/// The size of each simulated run and how often each fault strikes.
///
/// Fault rates are per mille, drawn at each step they can apply to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimConfig {
    /// Cards issued before the shoppers arrive.
    pub cards: usize,
    /// Requests per run, beside the issues (the seed picks between 10 and this).
    pub operations: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Checkouts the shoppers use.
    pub checkouts: usize,
    /// Unknown codes a client may look up per hour.
    pub guard_limit: u32,
    /// How many distinct unknown codes beyond the limit the guard check tolerates in a
    /// window: 0 by default, since the protocol reserves a slot before each lookup and racing
    /// lookups cannot pass a full window.
    pub guard_slack: u32,
    /// A commit refused with a conflict although it would apply.
    pub conflict: u32,
    /// A read (of a card, by id or code, a checkout, an idempotency record or a guard window)
    /// refused with a conflict, as serializable databases abort reads: 0 by default (so the
    /// default runs draw the same numbers), on in the crate's own read-conflict runs.
    pub read_conflict: u32,
    /// A commit applied whose reply is lost (the client retries under its key).
    pub lost_reply: u32,
    /// A crash before the reply, the request abandoned and retried later under its key.
    pub crash: u32,
    /// A read or a commit answered with a backend error (the client retries under its key).
    pub backend_error: u32,
    /// A request sent twice at once under the same key.
    pub duplicate: u32,
    /// The clock jumps: past the holds' time limit, by three days, or (half the time) to a
    /// millisecond before, on or after the next hold or card expiry instant.
    pub clock_jump: u32,
    /// A fresh code that collides with one already issued.
    pub code_collision: u32,
    /// Runs under the replacement strategy (a used card's rest moves to a new code) rather
    /// than the balance strategy, per mille of seeds.
    pub replacement: u32,
    /// A keyed request planned under a key an earlier request used, per mille: the system
    /// must answer it with a conflict once the first took effect.
    pub key_reuse: u32,
    /// Runs with the store-wide guard budget on (twice the client limit per two hours), per
    /// mille of seeds.
    pub store_budget: u32,
    /// The most steps a run may take (answers to needs, starts, clock jumps) before it fails
    /// as making no progress: about ten times what the longest clean run takes.
    pub max_steps: usize,
    /// The most times one request may be sent again (after a lost reply, a crash or a store
    /// error) before the run fails naming it.
    pub max_retries: u32,
}

/// The default step cap: the longest of 10,000 clean runs with the default settings takes
/// well under a tenth of it.
const MAX_STEPS: usize = 5_000;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            cards: 3,
            operations: 20,
            concurrency: 4,
            checkouts: 3,
            guard_limit: 3,
            guard_slack: 0,
            conflict: 60,
            read_conflict: 0,
            lost_reply: 40,
            crash: 15,
            backend_error: 15,
            duplicate: 60,
            clock_jump: 15,
            code_collision: 150,
            replacement: 500,
            key_reuse: 30,
            store_budget: 200,
            max_steps: MAX_STEPS,
            max_retries: 50,
        }
    }
}

/// What a run that kept every invariant did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Run {
    /// Its seed.
    pub seed: u64,
    /// The requests it sent, in order (retries included).
    pub requests: Vec<Planned>,
    /// Everything that happened.
    pub trace: Vec<Event>,
    /// How many faults it injected.
    pub faults: usize,
}

/// A run that broke an invariant: its seed, which invariant, and what led there.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// The seed that reproduces it.
    pub seed: u64,
    /// The request budget it ran with ([`SimConfig::operations`] or less, after shrinking).
    pub operations: usize,
    /// The planned requests it left out (by their number among the planned ones), after
    /// shrinking; [`Simulator::rerun`] leaves them out again.
    pub skipped: Vec<usize>,
    /// The invariant broken and how.
    pub invariant: String,
    /// The requests sent up to the failure.
    pub requests: Vec<Planned>,
    /// Everything that happened up to the failure.
    pub trace: Vec<Event>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulation seed {} (operations {}, skipped {:?}) broke an invariant: {}",
            self.seed, self.operations, self.skipped, self.invariant
        )?;
        writeln!(f, "requests:")?;
        for (n, request) in self.requests.iter().enumerate() {
            writeln!(f, "  {n}: {request:?}")?;
        }
        write!(f, "steps: {}", self.trace.len())
    }
}

impl std::error::Error for Failure {}

/// Changes a planted bug makes to a commit before the store sees it.
pub type CommitTamper = Arc<dyn Fn(&mut Changes) + Send + Sync>;
/// The time a planted bug answers instead of the simulator's clock (given the true time and
/// the time the run began).
pub type ClockTamper = Arc<dyn Fn(DateTime<Utc>, DateTime<Utc>) -> DateTime<Utc> + Send + Sync>;
/// Changes a planted bug makes to a reply before the protocol sees it, given the name of the
/// need it answers ([`Need::name`](crate::redeem::Need::name)).
pub type ReplyTamper = Arc<dyn Fn(&'static str, &mut Reply) + Send + Sync>;

/// A seeded simulator of the redemption protocol over stores `factory` makes.
pub struct Simulator<F> {
    pub(super) config: SimConfig,
    pub(super) factory: F,
    pub(super) commit_tamper: Option<CommitTamper>,
    pub(super) clock_tamper: Option<ClockTamper>,
    pub(super) reply_tamper: Option<ReplyTamper>,
}

impl<F> fmt::Debug for Simulator<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("config", &self.config)
            .field("commit_tamper", &self.commit_tamper.is_some())
            .field("clock_tamper", &self.clock_tamper.is_some())
            .field("reply_tamper", &self.reply_tamper.is_some())
            .finish_non_exhaustive()
    }
}

/// Runs `seed` with the default settings against a fresh [`MemoryStore`](crate::store::MemoryStore),
/// exactly as the crate's own tests ran it.
///
/// # Errors
///
/// The [`Failure`] when the run breaks an invariant.
pub fn replay(seed: u64) -> Result<Run, Failure> {
    Simulator::new(SimConfig::default(), crate::store::MemoryStore::new).run(seed)
}

impl<S: Store, F: Fn() -> S> Simulator<F> {
    /// A simulator following `config`, each run over a fresh store from `factory`.
    pub fn new(config: SimConfig, factory: F) -> Simulator<F> {
        Simulator {
            config,
            factory,
            commit_tamper: None,
            clock_tamper: None,
            reply_tamper: None,
        }
    }

    /// Plants a bug in the driver: `tamper` edits every commit before the store sees it (for
    /// instance, drops the idempotency record). For the simulator's own tests.
    #[must_use]
    pub fn with_commit_tamper(mut self, tamper: CommitTamper) -> Simulator<F> {
        self.commit_tamper = Some(tamper);
        self
    }

    /// Plants a bug in the driver's clock: `tamper` gives the time answered to
    /// [`Need::Now`](crate::redeem::Need::Now) from the true time and the time the run began.
    /// For the simulator's own tests.
    #[must_use]
    pub fn with_clock_tamper(mut self, tamper: ClockTamper) -> Simulator<F> {
        self.clock_tamper = Some(tamper);
        self
    }

    /// Plants a bug in the driver: `tamper` edits every reply to a need (a checkout, a card, a
    /// record read; all but a commit, a fresh code and an injected fault) before the protocol
    /// sees it, while the invariants read the store itself. For the simulator's own tests.
    #[must_use]
    pub fn with_reply_tamper(mut self, tamper: ReplyTamper) -> Simulator<F> {
        self.reply_tamper = Some(tamper);
        self
    }

    /// Its settings.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Runs one seed over a fresh store, checking the invariants after every step.
    ///
    /// # Errors
    ///
    /// The [`Failure`] naming the invariant broken.
    pub fn run(&self, seed: u64) -> Result<Run, Failure> {
        self.run_with(seed, self.config.operations, &[])
    }

    /// The failing run of `seed` with the fewest requests, or `None` when `seed` does not
    /// fail: first the smallest request budget that still fails, then, one by one, every
    /// planned request it can leave out and still fail within as many requests (any invariant
    /// counts).
    pub fn shrink(&self, seed: u64) -> Option<Failure> {
        let mut best =
            (1..=self.config.operations).find_map(|ops| self.run_with(seed, ops, &[]).err())?;
        for n in 0..best.operations {
            let mut skipped = best.skipped.clone();
            skipped.push(n);
            // Leaving a request out changes what the seed draws after it: keep the failure
            // only when it took no more requests to reach.
            if let Err(smaller) = self.run_with(seed, best.operations, &skipped) {
                if smaller.requests.len() <= best.requests.len() {
                    best = smaller;
                }
            }
        }
        Some(best)
    }

    /// Runs a failure again exactly as it ran: its seed, its budget, the requests it left out.
    ///
    /// # Errors
    ///
    /// The [`Failure`] again (equal to `failure` while the code under test has not changed).
    pub fn rerun(&self, failure: &Failure) -> Result<Run, Failure> {
        self.run_with(failure.seed, failure.operations, &failure.skipped)
    }

    fn run_with(&self, seed: u64, operations: usize, skipped: &[usize]) -> Result<Run, Failure> {
        let mut world = World::new(self, seed, operations, skipped);
        match world.run() {
            Ok(()) => Ok(Run {
                seed,
                requests: world.requests,
                trace: world.trace,
                faults: world.faults,
            }),
            Err(invariant) => Err(Failure {
                seed,
                operations,
                skipped: skipped.to_vec(),
                invariant,
                requests: world.requests,
                trace: world.trace,
            }),
        }
    }
}
