//! The scheduler: it starts planned requests, interleaves their steps in the order the seed
//! picks, answers every need from the store (injecting faults), and lets commits through.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::card::{CardId, ReplacementStrategy};
use crate::code::{Code, ImportRules, RandomCodeGenerator};
use crate::redeem::CardWrite;
use crate::redeem::CheckoutId;
use crate::redeem::{
    Answer as Answered, Changes, GuardPolicy, IdempotencyKey, Need, Operation, Outcome, Protocol,
    Record, RedeemError, Reply, Step, StoreError,
};
use crate::store::Store;

use super::Simulator;
use super::invariants::{CheckoutStates, Finished, finished};
use super::model::{Model, Settings};
use super::oracle::{Landed, Watch};
use super::plan::{CodeRef, ORDER_KEYS, Planned};

/// A fault the simulator injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A commit refused with a conflict although it would apply.
    Conflict,
    /// A read refused with a conflict, as a serializable database aborts one.
    ReadConflict,
    /// A commit applied, its reply lost.
    LostReply,
    /// The request crashed before its reply; `written` says whether its commit landed.
    Crash {
        /// Whether the commit was applied before the crash.
        written: bool,
    },
    /// A backend error answered instead of a read or a commit.
    BackendError,
    /// A fresh code that collides with one already issued.
    CodeCollision,
}

/// One thing that happened in a run, in order: the trace a seed reproduces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Request number `task` started.
    Started {
        /// Its number.
        task: usize,
        /// What it asks (boxed: a request is large beside the other events).
        request: Box<Planned>,
    },
    /// A need of request `task` was answered, perhaps with a fault.
    Answered {
        /// The request's number.
        task: usize,
        /// The need's name.
        need: &'static str,
        /// The fault injected, if any.
        fault: Option<Fault>,
    },
    /// Request `task` finished; `ok` says whether it succeeded.
    Finished {
        /// Its number.
        task: usize,
        /// Whether it succeeded.
        ok: bool,
    },
    /// The clock jumped to this time.
    Clock(DateTime<Utc>),
}

/// The hold time limit the simulated protocol follows.
pub(super) const HOLD_MINUTES: i64 = 30;

/// How a need was answered: the reply (`None` when the client never hears back), the fault
/// injected, and whether the store changed; or the invariant broken.
pub(super) type Answering =
    Result<(Option<Result<Reply, StoreError>>, Option<Fault>, bool), String>;

/// One request in flight.
pub(super) struct Task {
    pub(super) number: usize,
    pub(super) request: Planned,
    pub(super) op: Operation<Answered>,
    pub(super) pending: Option<Need>,
    pub(super) started_at: DateTime<Utc>,
    /// The time last answered to its `Need::Now`: a guard slot is reserved at it.
    pub(super) last_now: Option<DateTime<Utc>>,
    /// Every state each checkout had in the store while it was in flight.
    pub(super) checkout_states: CheckoutStates,
    /// What the oracle keeps of it.
    pub(super) watch: Watch,
    /// The codes its lookups found.
    pub(super) found_codes: Vec<Code>,
    /// The time its client's guard window was last read, to reserve a slot.
    pub(super) reserved_at: Option<DateTime<Utc>>,
}

pub(super) struct World<'s, S, F> {
    pub(super) sim: &'s Simulator<F>,
    pub(super) store: S,
    pub(super) protocol: Protocol,
    pub(super) codes: RandomCodeGenerator,
    pub(super) rng: StdRng,
    pub(super) start: DateTime<Utc>,
    pub(super) now: DateTime<Utc>,
    pub(super) operations: usize,
    /// Planned requests left out (a shrunk failure's).
    pub(super) skipped: &'s [usize],
    pub(super) sent: usize,
    pub(super) next_key: u32,
    pub(super) in_flight: Vec<Task>,
    /// Requests to send again (after a crash, a lost reply or an error), with their keys.
    pub(super) retries: Vec<Planned>,
    /// Codes handed out, in order, and the card each belongs to.
    pub(super) issued: Vec<(Code, CardId)>,
    /// The numbers of the orders whose cards were asked for (`order-n`).
    pub(super) orders: Vec<u32>,
    pub(super) guesses: Vec<Code>,
    /// Fresh codes handed to requests, committed or not.
    pub(super) drawn: Vec<Code>,
    pub(super) cards: BTreeSet<CardId>,
    pub(super) keys: BTreeSet<u32>,
    pub(super) answers: HashMap<u32, Outcome>,
    /// Per client, every lookup past the guard: when its slot was reserved, the code, and
    /// whether no card had it.
    pub(super) unknown_lookups: HashMap<u32, Vec<(DateTime<Utc>, Code, bool)>>,
    pub(super) guard: GuardPolicy,
    pub(super) requests: Vec<Planned>,
    pub(super) trace: Vec<Event>,
    pub(super) faults: usize,
    /// The reference model, and how many changes it took.
    pub(super) model: Model,
    /// The model after each change it took, oldest first (the last is `model`).
    pub(super) history: Vec<Model>,
    /// Set when the model can no longer tell what the store holds (a prune past its limit).
    pub(super) model_lost: bool,
    /// The commit that just landed, for the oracle.
    pub(super) landed: Option<Landed>,
    /// The checkouts seen captured: they stay so.
    pub(super) captured: BTreeSet<CheckoutId>,
    /// Steps taken so far, against [`SimConfig::max_steps`](super::SimConfig::max_steps).
    pub(super) steps: usize,
    /// How often each keyed request was sent again, by key.
    pub(super) resent: HashMap<u32, u32>,
}

/// Mixed into a seed for the stream that turns the store-wide guard budget on.
const BUDGET_STREAM: u64 = 0x4255_4447_4554_2121;

/// Mixed into a seed for the stream that picks the run's leftover strategy.
const STRATEGY_STREAM: u64 = 0x5354_5241_5445_4759;

/// The rules imported codes follow in a run: 8 to 20 letters and digits (`SIMIMPORT0`).
pub(super) fn import_rules() -> Result<ImportRules, crate::code::CodeError> {
    ImportRules::new(8, 20)
}

pub(super) fn per_mille(rng: &mut StdRng, rate: u32) -> bool {
    rate > 0 && rng.random_range(0..1000) < rate
}

/// The idempotency key a planned key number names: `key-n`, or from [`ORDER_KEYS`] up the key
/// an order's cards are issued under.
pub(super) fn key_of(n: u32) -> IdempotencyKey {
    let text = match n.checked_sub(ORDER_KEYS) {
        Some(order) => format!("order-issue:order-{order}"),
        None => format!("key-{n}"),
    };
    IdempotencyKey::new(&text).unwrap_or_else(|_| unreachable!("a valid key"))
}

pub(super) fn reference<T>(text: String) -> T
where
    T: std::str::FromStr<Err = crate::card::ReferenceError>,
{
    text.parse()
        .unwrap_or_else(|_| unreachable!("a valid reference"))
}

/// Whether a task can be stepped: it is not waiting on a turn that has not changed.
fn ready(task: &Task) -> bool {
    !matches!(&task.pending, Some(Need::Turn(wait)) if !wait.is_over())
}

impl<'s, S: Store, F: Fn() -> S> World<'s, S, F> {
    pub(super) fn new(
        sim: &'s Simulator<F>,
        seed: u64,
        operations: usize,
        skipped: &'s [usize],
    ) -> Self {
        let start = Utc
            .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        let mut guard = GuardPolicy::new(sim.config.guard_limit, Duration::hours(1));
        // The store-wide budget, on in a share of seeds, from a stream of its own.
        let mut budget = StdRng::seed_from_u64(seed ^ BUDGET_STREAM);
        if per_mille(&mut budget, sim.config.store_budget) {
            guard = guard.with_store_budget(2 * sim.config.guard_limit, Duration::hours(2));
        }
        let mut protocol = Protocol::default()
            .with_guard(guard)
            .with_hold_ttl(Some(Duration::minutes(HOLD_MINUTES)));
        if let Ok(rules) = import_rules() {
            protocol = protocol.with_imported_codes(rules);
        }
        // The strategy from a stream of its own, so that the seed's plan is the same under
        // both.
        let mut strategy = StdRng::seed_from_u64(seed ^ STRATEGY_STREAM);
        let replacement = per_mille(&mut strategy, sim.config.replacement);
        if replacement {
            protocol = protocol.with_strategy(Arc::new(ReplacementStrategy));
        }
        World {
            sim,
            store: (sim.factory)(),
            protocol,
            codes: RandomCodeGenerator::default(),
            rng: StdRng::seed_from_u64(seed),
            start,
            now: start,
            operations,
            skipped,
            sent: 0,
            next_key: 0,
            in_flight: Vec::new(),
            retries: Vec::new(),
            issued: Vec::new(),
            orders: Vec::new(),
            guesses: Vec::new(),
            drawn: Vec::new(),
            cards: BTreeSet::new(),
            keys: BTreeSet::new(),
            answers: HashMap::new(),
            unknown_lookups: HashMap::new(),
            guard,
            requests: Vec::new(),
            trace: Vec::new(),
            faults: 0,
            model: Model::new(Settings {
                replacement,
                hold_ttl: Duration::minutes(HOLD_MINUTES),
            }),
            history: vec![Model::new(Settings {
                replacement,
                hold_ttl: Duration::minutes(HOLD_MINUTES),
            })],
            model_lost: false,
            landed: None,
            captured: BTreeSet::new(),
            steps: 0,
            resent: HashMap::new(),
        }
    }

    /// The code a request names: an issued card's, or a guess (also for a card not issued).
    pub(super) fn code_of(&mut self, code: CodeRef) -> Code {
        let guess = match code {
            CodeRef::Issued(n) => match self.issued.get(n) {
                Some((code, _)) => return code.clone(),
                None => n,
            },
            CodeRef::Guess(n) => n,
        };
        while self.guesses.len() <= guess {
            let drawn = self.draw_code();
            self.guesses.push(drawn);
        }
        match self.guesses.get(guess) {
            Some(code) => code.clone(),
            None => unreachable!("guesses were drawn up to {guess}"),
        }
    }

    fn draw_code(&mut self) -> Code {
        match self.codes.generate_with(&mut self.rng) {
            Ok(code) => code,
            Err(_) => unreachable!("a seeded generator does not fail"),
        }
    }

    fn start(&mut self, request: Planned) -> Result<(), String> {
        let op = self.protocol.start(request.request.clone());
        if let Some(key) = request.key {
            self.keys.insert(key);
        }
        let number = self.requests.len();
        self.requests.push(request.clone());
        self.trace.push(Event::Started {
            task: number,
            request: Box::new(request.clone()),
        });
        let mut task = Task {
            number,
            request,
            op,
            pending: None,
            started_at: self.now,
            last_now: None,
            checkout_states: CheckoutStates::default(),
            watch: Watch::default(),
            found_codes: Vec::new(),
            reserved_at: None,
        };
        self.watch(&mut task);
        self.observe_checkouts(&mut task)?;
        self.in_flight.push(task);
        Ok(())
    }

    pub(super) fn run(&mut self) -> Result<(), String> {
        // The shop's cards, issued one by one before the shoppers arrive.
        for _ in 0..self.sim.config.cards {
            let currency = self.currency();
            let values = vec![self.money(currency, 100)];
            let issue = self.issue(values, None);
            self.start(issue)?;
            while !self.in_flight.is_empty() {
                self.step(0)?;
            }
        }
        let budget = self.operations;
        loop {
            let can_start = self.sent < budget || !self.retries.is_empty();
            let concurrency = self.sim.config.concurrency.max(1);
            if can_start
                && (self.in_flight.is_empty()
                    || (self.in_flight.len() < concurrency && self.rng.random_bool(0.4)))
            {
                self.send()?;
                continue;
            }
            if self.in_flight.is_empty() {
                break;
            }
            if per_mille(&mut self.rng, self.sim.config.clock_jump) {
                self.now = self.jump();
                self.trace.push(Event::Clock(self.now));
                self.check()?;
            }
            let ready: Vec<usize> = (0..self.in_flight.len())
                .filter(|&i| ready(&self.in_flight[i]))
                .collect();
            if ready.is_empty() {
                return Err("every request in flight waits on the turn".to_owned());
            }
            let index = ready[self.rng.random_range(0..ready.len())];
            self.step(index)?;
        }
        self.check()
    }

    /// Where the clock jumps: past the holds' time limit, three days on, or (half the time) a
    /// millisecond before, on, or a millisecond after the next instant a hold or a card
    /// expires.
    fn jump(&mut self) -> DateTime<Utc> {
        let ahead: Vec<DateTime<Utc>> = self
            .model
            .instants()
            .into_iter()
            // Within days: a run stays inside the records' retention.
            .filter(|at| *at > self.now + Duration::milliseconds(1))
            .filter(|at| *at <= self.now + Duration::days(4))
            .collect();
        let to = match self.rng.random_range(0..8) {
            0 | 1 => self.now + Duration::days(3),
            2 | 3 => self.now + Duration::minutes(HOLD_MINUTES + 1),
            _ if ahead.is_empty() => self.now + Duration::minutes(HOLD_MINUTES + 1),
            _ => {
                // The nearest instant most often: later ones would skip it.
                let pick = if self.rng.random_bool(0.7) {
                    0
                } else {
                    self.rng.random_range(0..ahead.len())
                };
                let at = ahead[pick];
                at + Duration::milliseconds(self.rng.random_range(-1..=1))
            }
        };
        to.max(self.now + Duration::milliseconds(1))
    }

    /// Sends a retry (most often) or the next planned request, sometimes twice.
    fn send(&mut self) -> Result<(), String> {
        let request = if !self.retries.is_empty()
            && (self.sent >= self.operations || self.rng.random_bool(0.5))
        {
            let i = self.rng.random_range(0..self.retries.len());
            self.retries.swap_remove(i)
        } else {
            let number = self.sent;
            self.sent += 1;
            let planned = self.plan();
            if self.skipped.contains(&number) {
                return Ok(());
            }
            planned
        };
        if request.key.is_some() && per_mille(&mut self.rng, self.sim.config.duplicate) {
            self.start(request.clone())?;
        }
        self.start(request)
    }

    fn step(&mut self, index: usize) -> Result<(), String> {
        self.count_step()?;
        let Some(mut task) =
            (index < self.in_flight.len()).then(|| self.in_flight.swap_remove(index))
        else {
            return Ok(());
        };
        if let Some(need) = task.pending.take() {
            let name = need.name();
            let (reply, fault, committed) = self.answer(&mut task, need)?;
            let landed = self.landed.take();
            // A commit of a guard window alone changes nothing the store-wide checks read.
            let effect = landed.as_ref().is_some_and(Landed::changes_anything);
            self.after_answer(&mut task, name, landed, fault.is_some())?;
            self.trace.push(Event::Answered {
                task: task.number,
                need: name,
                fault,
            });
            if committed && effect {
                self.observe_checkouts(&mut task)?;
                self.check()?;
            }
            match reply {
                Some(reply) => task.op.reply(reply),
                None => {
                    // A crash or a lost reply: the client sends the same request again later.
                    self.faults += 1;
                    return self.retry(&task);
                }
            }
            if fault.is_some() {
                self.faults += 1;
            }
        }
        match task.op.poll() {
            Step::Need(need) => {
                task.pending = Some(need);
                let len = self.in_flight.len();
                self.in_flight.push(task);
                // Keep the order the seed chose: put the task back where it was.
                if index < len {
                    self.in_flight.swap(index, len);
                }
                Ok(())
            }
            Step::Done(result) => {
                self.judge(&task, &result)?;
                let finished = finished(result);
                self.trace.push(Event::Finished {
                    task: task.number,
                    ok: finished.result.is_ok(),
                });
                self.finish(&task, finished)
            }
        }
    }

    /// Answers a need, perhaps with a fault: the reply (`None` when the client never hears
    /// back), the fault, and whether the store changed.
    fn answer(&mut self, task: &mut Task, need: Need) -> Answering {
        let config = &self.sim.config;
        let (crash, backend) = (config.crash, config.backend_error);
        let keyed = task.request.key.is_some();
        if keyed && per_mille(&mut self.rng, crash) && !matches!(need, Need::Commit(_)) {
            return Ok((None, Some(Fault::Crash { written: false }), false));
        }
        if keyed
            && per_mille(&mut self.rng, backend)
            && matches!(
                need,
                Need::Idempotency(_) | Need::Checkout(_) | Need::Card(_)
            )
        {
            return Ok((
                Some(Err(StoreError::Backend {
                    reason: "simulated failure".into(),
                    source: None,
                })),
                Some(Fault::BackendError),
                false,
            ));
        }
        let read_conflict = config.read_conflict;
        if read_conflict > 0
            && matches!(
                need,
                Need::Idempotency(_)
                    | Need::Checkout(_)
                    | Need::Card(_)
                    | Need::CardByCode(_)
                    | Need::Guard(_)
            )
            && per_mille(&mut self.rng, read_conflict)
        {
            return Ok((
                Some(Err(StoreError::conflict(
                    Record::Transaction,
                    "simulated serialisation failure on a read",
                ))),
                Some(Fault::ReadConflict),
                false,
            ));
        }
        let store = &self.store;
        let name = need.name();
        let mut reply = match need {
            Need::Now => {
                let now = match &self.sim.clock_tamper {
                    Some(tamper) => tamper(self.now, self.start),
                    None => self.now,
                };
                task.last_now = Some(now);
                Ok(Reply::Now(now))
            }
            Need::Idempotency(key) => store.idempotency(&key).map(Reply::Idempotency),
            Need::Checkout(id) => store.checkout(&id).map(Reply::Checkout),
            Need::Card(id) => store.card(id).map(Reply::Card),
            Need::CardByCode(code) => {
                let found = store.card_by_code(&code);
                if let (Ok(found), Some(client)) = (&found, &task.request.client) {
                    let at = task.reserved_at.or(task.last_now).unwrap_or(self.now);
                    // A code the request found before is looked up again on a retry, past
                    // the guard: its slot went back when it was found.
                    if !task.found_codes.contains(&code) {
                        if found.is_some() {
                            task.found_codes.push(code.clone());
                        }
                        let lookup = (at, code.clone(), found.is_none());
                        self.unknown_lookups
                            .entry(*client)
                            .or_default()
                            .push(lookup);
                        self.check_guard(*client)?;
                    }
                }
                found.map(Reply::Card)
            }
            Need::Guard(client) => {
                // The client's own window (not the store budget's): its slot is reserved at
                // the time last read.
                if task
                    .request
                    .client
                    .map(|c| reference(format!("client-{c}")))
                    == Some(client.clone())
                {
                    task.reserved_at = task.last_now;
                }
                store.guard(&client).map(Reply::Guard)
            }
            Need::Fresh => {
                let id = CardId::from_u128(self.rng.random());
                // A collision picks a code already issued or one just handed to a request.
                let taken = self.issued.len() + self.drawn.len();
                let collide = taken > 0 && per_mille(&mut self.rng, self.sim.config.code_collision);
                let code = if collide {
                    let i = self.rng.random_range(0..taken);
                    match self.issued.get(i) {
                        Some((c, _)) => Some(c.clone()),
                        None => self.drawn.get(i - self.issued.len()).cloned(),
                    }
                } else {
                    None
                };
                let fault = code.is_some().then_some(Fault::CodeCollision);
                let code = code.unwrap_or_else(|| self.draw_code());
                self.drawn.push(code.clone());
                return Ok((Some(Ok(Reply::Fresh(Ok((id, code))))), fault, false));
            }
            Need::NewCardId => Ok(Reply::CardId(CardId::from_u128(self.rng.random()))),
            Need::Wait(_) | Need::Turn(_) => Ok(Reply::Resumed),
            Need::Seed => Ok(Reply::Seed(self.rng.random())),
            Need::DueCards { at, limit } => store.due_cards(at, limit).map(Reply::DueCards),
            Need::PruneRecords { before, limit } => {
                store.prune_idempotency(before, limit).map(Reply::Pruned)
            }
            Need::PruneGuards { before, limit } => {
                store.prune_guards(before, limit).map(Reply::Pruned)
            }
            Need::Ledger {
                card,
                from_seq,
                limit,
            } => store.ledger(card, from_seq, limit).map(Reply::Ledger),
            Need::OrderCards(order) => store
                .search(&crate::store::CardQuery::bought_by(order))
                .map(|page| Reply::OrderCards(page.items.iter().map(|c| c.value.id()).collect())),
            Need::Commit(changes) => return self.commit(task, *changes),
        };
        if let (Some(tamper), Ok(reply)) = (&self.sim.reply_tamper, &mut reply) {
            tamper(name, reply);
        }
        Ok((Some(reply), None, false))
    }

    fn commit(&mut self, task: &Task, mut changes: Changes) -> Answering {
        let config = self.sim.config.clone();
        if per_mille(&mut self.rng, config.conflict) {
            let reply = Err(StoreError::conflict(
                Record::Transaction,
                "simulated conflict",
            ));
            return Ok((Some(reply), Some(Fault::Conflict), false));
        }
        let keyed = task.request.key.is_some();
        if keyed && per_mille(&mut self.rng, config.crash) {
            return Ok((None, Some(Fault::Crash { written: false }), false));
        }
        if let Some(tamper) = &self.sim.commit_tamper {
            tamper(&mut changes);
        }
        self.check_stamps(task, &changes)?;
        let inserted: Vec<(CardId, Code)> = changes
            .cards
            .iter()
            .filter_map(|w| match w {
                CardWrite::Insert { card, code } => Some((card.id(), code.clone())),
                _ => None,
            })
            .collect();
        let landed = Landed::of(&changes);
        let result = self.store.commit(changes);
        let written = result.is_ok();
        if written {
            self.landed = Some(landed);
        }
        if written {
            for (id, code) in inserted {
                self.cards.insert(id);
                self.issued.push((code, id));
            }
        }
        if keyed && written && per_mille(&mut self.rng, config.lost_reply) {
            return Ok((None, Some(Fault::LostReply), true));
        }
        if keyed && written && per_mille(&mut self.rng, config.crash) {
            return Ok((None, Some(Fault::Crash { written: true }), true));
        }
        if keyed && written && per_mille(&mut self.rng, config.backend_error) {
            let reply = Err(StoreError::Backend {
                reason: "simulated failure after the write".into(),
                source: None,
            });
            return Ok((Some(reply), Some(Fault::BackendError), true));
        }
        Ok((Some(result.map(|()| Reply::Committed)), None, written))
    }

    fn finish(&mut self, task: &Task, finished: Finished) -> Result<(), String> {
        self.check_answer(task, &finished)?;
        match finished.result {
            // A duplicate code is an answer (an import of a code some card has), not a failure.
            Err(RedeemError::Store(StoreError::DuplicateCode { .. })) => {}
            Err(RedeemError::Store(_)) if task.request.key.is_some() => {
                // The client does not know whether it landed: it asks again under its key.
                self.retry(task)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Counts one step against the cap: a run past it made no progress (a livelock, a
    /// request retried for ever) and fails instead of running on.
    fn count_step(&mut self) -> Result<(), String> {
        self.steps += 1;
        let cap = self.sim.config.max_steps;
        if self.steps > cap {
            return Err(format!(
                "made no progress: {cap} steps, {} requests sent, {} in flight, {} waiting to be sent again",
                self.requests.len(),
                self.in_flight.len(),
                self.retries.len()
            ));
        }
        Ok(())
    }

    /// Queues `task`'s request to be sent again under its key, failing once it has been sent
    /// again more often than the cap allows.
    fn retry(&mut self, task: &Task) -> Result<(), String> {
        if let Some(key) = task.request.key {
            let resent = self.resent.entry(key).or_default();
            *resent += 1;
            let cap = self.sim.config.max_retries;
            if *resent > cap {
                return Err(format!(
                    "made no progress: request {} ({:?}) was sent again {cap} times and never answered",
                    task.number, task.request
                ));
            }
        }
        self.retries.push(task.request.clone());
        Ok(())
    }
}
