//! Every check the simulator makes: over the whole store after each commit and clock jump,
//! over each commit before the store sees it, over each lookup past the guard, and over each
//! answer a client gets.

use crate::redeem::CheckoutId;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use crate::card::{CardId, verify_ledger};
use crate::card::{GiftCard, Liability, LiabilityTally, Notification, Reference};
use crate::code::Code;
use crate::money::{Currency, Money};
use crate::redeem::CardWrite;
use crate::redeem::{
    Answer as Answered, CardCommand, Changes, CheckoutState, Outcome, RedeemError, StoreError,
};
use crate::store::Store;

use super::plan::CURRENCIES;
use super::world::{HOLD_MINUTES, Task, World, key_of, reference};

/// What a request's client was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Answer {
    Outcome(Outcome),
    Other,
}

/// A finished request as the simulator checks it.
pub(super) struct Finished {
    pub(super) result: Result<Answer, RedeemError>,
    pub(super) notifications: Vec<Notification>,
    /// Text of the result the client sees, to search for whole codes.
    pub(super) shown: String,
}

/// What the simulator checks of an answer: the outcome a key records, and the notifications.
pub(super) fn finished(result: Result<Answered, RedeemError>) -> Finished {
    let shown = match &result {
        Ok(value) => format!("{value:?}"),
        Err(e) => format!("{e} {e:?}"),
    };
    let keyed = |outcome, redeemed_notes| (Answer::Outcome(outcome), redeemed_notes);
    let (result, notifications) = match result {
        Ok(answer) => {
            let (answer, notes) = match answer {
                Answered::Issue(r) | Answered::Import(r) | Answered::IssueForOrder(r) => {
                    keyed(Outcome::Issued(r.outcome), r.notifications)
                }
                Answered::Authorise(r) | Answered::ChangeAuthorisation(r) => {
                    keyed(Outcome::Authorised(r.outcome), r.notifications)
                }
                Answered::Capture(r) | Answered::CapturePart(r) => {
                    keyed(Outcome::Captured(r.outcome), r.notifications)
                }
                Answered::Void(r) => keyed(Outcome::Voided(r.outcome), r.notifications),
                Answered::Refund(r) => keyed(Outcome::Refunded(r.outcome), r.notifications),
                Answered::Amend(r) => keyed(Outcome::Amended(r.outcome), r.notifications),
                Answered::ReplaceCode(r) => {
                    keyed(Outcome::CodeReplaced(r.outcome), r.notifications)
                }
                Answered::ReversePurchase(r) => {
                    keyed(Outcome::Reversed(r.outcome), r.notifications)
                }
                _ => (Answer::Other, Vec::new()),
            };
            (Ok(answer), notes)
        }
        Err(e) => (Err(e), Vec::new()),
    };
    Finished {
        result,
        notifications,
        shown,
    }
}

/// Every state each checkout had in the store over a request's flight, by name
/// (`"open"`, `"authorised"`, ...): a checkout the store does not hold counts as open, as the
/// protocol makes it.
#[derive(Debug, Default)]
pub(super) struct CheckoutStates(Vec<(CheckoutId, &'static str)>);

impl CheckoutStates {
    /// Adds the states the checkouts have now.
    fn add(&mut self, now: &[(CheckoutId, &'static str)]) {
        for seen in now {
            if !self.0.contains(seen) {
                self.0.push(seen.clone());
            }
        }
    }

    /// The states `checkout` had, in the order first seen.
    fn of(&self, checkout: &CheckoutId) -> Vec<&'static str> {
        self.0
            .iter()
            .filter(|(id, _)| id == checkout)
            .map(|(_, state)| *state)
            .collect()
    }
}

impl<S: Store, F: Fn() -> S> World<'_, S, F> {
    /// Records the state each checkout has now in `task` and in every request in flight: at
    /// the start of a request, and after every commit that lands.
    pub(super) fn observe_checkouts(&mut self, task: &mut Task) -> Result<(), String> {
        let mut now = Vec::new();
        for n in 0..self.sim.config.checkouts.max(1) {
            let id = reference(format!("checkout-{n}"));
            let stored = self
                .store
                .checkout(&id)
                .map_err(|e| format!("the store failed a read: {e}"))?;
            let state = stored.map_or("open", |c| c.value.state().name());
            now.push((id, state));
        }
        task.checkout_states.add(&now);
        for other in &mut self.in_flight {
            other.checkout_states.add(&now);
        }
        Ok(())
    }

    /// What a client was told: no whole code in it; for a key, the outcome it was first told;
    /// for a refusal of the checkout's state, a state the checkout had while it ran.
    pub(super) fn check_answer(&mut self, task: &Task, finished: &Finished) -> Result<(), String> {
        self.check_secrets(task, finished)?;
        match &finished.result {
            Ok(Answer::Outcome(outcome)) => {
                if let Some(key) = task.request.key {
                    match self.answers.get(&key) {
                        Some(first) if first != outcome => {
                            return Err(format!(
                                "key-{key} answered twice differently: first {first:?}, then {outcome:?}"
                            ));
                        }
                        Some(_) => {}
                        None => {
                            self.answers.insert(key, outcome.clone());
                        }
                    }
                }
            }
            Err(RedeemError::InvalidState {
                checkout,
                state,
                operation,
            }) => {
                let had = task.checkout_states.of(checkout);
                if !had.contains(state) {
                    return Err(format!(
                        "request {} ({:?}) was refused to {operation}: {checkout} is {state}, a state it never had while the request ran (it was {had:?})",
                        task.number, task.request
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Every hold and entry a commit writes is stamped no earlier than its request began, and
    /// no hold lasts longer than the hold time limit.
    pub(super) fn check_stamps(&self, task: &Task, changes: &Changes) -> Result<(), String> {
        for entry in &changes.entries {
            if entry.at() < task.started_at {
                return Err(format!(
                    "request {} wrote entry {} of card {} stamped {}, before it began at {}",
                    task.number,
                    entry.seq(),
                    entry.card(),
                    entry.at(),
                    task.started_at
                ));
            }
        }
        for write in &changes.cards {
            let card = match write {
                CardWrite::Insert { card, .. } | CardWrite::Update { card, .. } => card,
            };
            for hold in card.holds() {
                let limit = hold.placed_at() + Duration::minutes(HOLD_MINUTES);
                if hold.expires_at().is_none_or(|at| at > limit) {
                    return Err(format!(
                        "hold {} on card {} placed at {} lasts until {:?}, beyond the {HOLD_MINUTES} minute limit",
                        hold.id(),
                        card.id(),
                        hold.placed_at(),
                        hold.expires_at()
                    ));
                }
            }
            let known = self.store.card(card.id()).ok().flatten();
            if let (
                CardWrite::Update {
                    expected_version, ..
                },
                Some(known),
            ) = (write, &known)
            {
                // A write over another version than the store's is refused: its holds are
                // not placed.
                if known.version != *expected_version {
                    continue;
                }
            }
            let old: BTreeSet<u64> = known
                .as_ref()
                .map(|k| k.value.holds().iter().map(|h| h.id()).collect())
                .unwrap_or_default();
            for hold in card.holds().iter().filter(|h| !old.contains(&h.id())) {
                let status = known.as_ref().map(|k| k.value.status_at(hold.placed_at()));
                if let Some(status) = status.filter(|s| {
                    !matches!(
                        s,
                        crate::card::CardStatus::Active | crate::card::CardStatus::Depleted
                    )
                }) {
                    return Err(format!(
                        "request {} placed hold {} on card {}, which is {status:?}",
                        task.number,
                        hold.id(),
                        card.id()
                    ));
                }
                if hold.placed_at() < task.started_at {
                    return Err(format!(
                        "request {} placed hold {} on card {} at {}, before it began at {}",
                        task.number,
                        hold.id(),
                        card.id(),
                        hold.placed_at(),
                        task.started_at
                    ));
                }
            }
        }
        Ok(())
    }

    /// The guard's windows are fixed: one starts at the first lookup (of any code: each takes
    /// a slot before it knows) reserved after the last one ended, and holds at most the limit
    /// of distinct unknown codes.
    pub(super) fn check_guard(&self, client: u32) -> Result<(), String> {
        let Some(lookups) = self.unknown_lookups.get(&client) else {
            return Ok(());
        };
        let limit = self.sim.config.guard_limit as usize;
        let slack = self.sim.config.guard_slack as usize;
        let mut by_time: Vec<&(DateTime<Utc>, Code, bool)> = lookups.iter().collect();
        by_time.sort_by_key(|(at, _, _)| *at);
        let mut window: Option<DateTime<Utc>> = None;
        let mut distinct: Vec<&Code> = Vec::new();
        for (at, code, unknown) in by_time {
            if window.is_none_or(|start| *at >= start + self.guard.window()) {
                window = Some(*at);
                distinct.clear();
            }
            if !*unknown {
                continue;
            }
            if !distinct.contains(&code) {
                distinct.push(code);
            }
            if distinct.len() > limit + slack {
                return Err(format!(
                    "client-{client} looked up {} distinct unknown codes in the window from {}; the guard allows {limit} (and {slack} racing)",
                    distinct.len(),
                    window.unwrap_or(*at)
                ));
            }
        }
        Ok(())
    }

    fn check_secrets(&self, task: &Task, finished: &Finished) -> Result<(), String> {
        let notes = format!("{:?}", finished.notifications);
        let codes = self.issued.iter().map(|(c, _)| c);
        for code in codes.chain(&self.guesses).chain(&self.drawn) {
            let secret = code.expose_secret();
            if finished.shown.contains(secret) || notes.contains(secret) {
                return Err(format!(
                    "request {} ({:?}) showed a whole code ({})",
                    task.number,
                    task.request,
                    code.masked()
                ));
            }
        }
        Ok(())
    }

    /// The invariants over the whole store.
    pub(super) fn check(&mut self) -> Result<(), String> {
        self.check_checkouts()?;
        self.check_model()?;
        let err = |e: StoreError| format!("the store failed a read: {e}");
        // The ledgers summed as the liability report sums them: its identity is the one
        // conservation rule (issued + reloaded + refunded ± adjusted + moved in = outstanding +
        // redeemed + expired + moved out + clawed back).
        let mut tally = LiabilityTally::new(self.now);
        let mut balances: BTreeMap<Currency, Money> = BTreeMap::new();
        for id in &self.cards {
            let card = self
                .store
                .card(*id)
                .map_err(err)?
                .ok_or_else(|| format!("card {id} was committed but is missing"))?
                .value;
            self.check_card(&card)?;
            let entries = self.store.ledger(*id, 1, usize::MAX).map_err(err)?;
            verify_ledger(*id, card.balance(), &entries)
                .map_err(|e| format!("card {id}'s ledger does not prove its balance: {e}"))?;
            tally
                .add_history(&entries)
                .map_err(|e| format!("sum overflowed: {e}"))?;
            let sum = balances
                .entry(card.currency())
                .or_insert(Money::zero(card.currency()));
            *sum = sum
                .checked_add(card.balance())
                .map_err(|e| format!("sum overflowed: {e}"))?;
        }
        let report = tally.finish();
        if let Some(discrepancy) = report.discrepancies().first() {
            return Err(format!("the ledgers do not conserve money: {discrepancy}"));
        }
        // What the stored idempotency records say the requests did.
        let mut recorded: BTreeMap<(Currency, &'static str), Money> = BTreeMap::new();
        let mut record = |currency: Currency, term: &'static str, amount: Money| {
            let sum = recorded
                .entry((currency, term))
                .or_insert(Money::zero(currency));
            *sum = sum.checked_add(amount).unwrap_or(*sum);
        };
        for key in &self.keys {
            let Some(stored) = self.store.idempotency(&key_of(*key)).map_err(err)? else {
                continue;
            };
            if let Some(first) = self.answers.get(key) {
                if *first != stored.outcome {
                    return Err(format!(
                        "key-{key}'s record {:?} is not what its client was told: {first:?}",
                        stored.outcome
                    ));
                }
            }
            match &stored.outcome {
                Outcome::Issued(issued) => {
                    for card in &issued.cards {
                        record(card.value.currency(), "issued", card.value);
                    }
                }
                Outcome::Captured(captured) => {
                    record(captured.total.currency(), "captured", captured.total);
                }
                Outcome::Refunded(refunded) => {
                    record(refunded.total.currency(), "refunded", refunded.total);
                }
                Outcome::Reversed(reversed) => {
                    for card in &reversed.cards {
                        record(card.clawed_back.currency(), "clawed back", card.clawed_back);
                    }
                }
                Outcome::Amended(amended) if amended.entry.is_some() => match amended.command {
                    CardCommand::Adjust { change } => {
                        record(change.currency(), "adjusted", change);
                    }
                    CardCommand::Reload { amount, .. } => {
                        record(amount.currency(), "reloaded", amount);
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        for currency in CURRENCIES {
            let zero = Liability::zero(currency);
            let line = report.currency(currency).unwrap_or(&zero);
            let on_cards = balances.get(&currency).copied().unwrap_or(zero.outstanding);
            let in_ledgers = line
                .outstanding
                .checked_add(line.expired)
                .map_err(|e| format!("sum overflowed: {e}"))?;
            if on_cards != in_ledgers {
                return Err(format!(
                    "{currency}: the cards hold {on_cards}, their ledgers say {in_ledgers}"
                ));
            }
            for (name, in_ledgers) in [
                ("issued", line.issued),
                ("reloaded", line.reloaded),
                ("captured", line.redeemed),
                ("refunded", line.refunded),
                ("adjusted", line.adjusted),
                ("clawed back", line.clawed_back),
            ] {
                let said = recorded
                    .get(&(currency, name))
                    .copied()
                    .unwrap_or(Money::zero(currency));
                if said != in_ledgers {
                    return Err(format!(
                        "{currency}: the ledgers show {in_ledgers} {name}, the idempotency records {said}"
                    ));
                }
            }
        }
        for (_, id) in &self.issued {
            if !self.cards.contains(id) {
                return Err(format!("card {id} handed out but never committed"));
            }
        }
        Ok(())
    }

    /// Each checkout against its cards, whatever the model says: a hold on a card for a
    /// checkout is one the checkout holds while authorised (a leftover hold is money nobody
    /// can spend), at the amount it says; a captured checkout stays captured and refunds at
    /// most what it captured, card by card.
    fn check_checkouts(&mut self) -> Result<(), String> {
        let err = |e: StoreError| format!("the store failed a read: {e}");
        let mut listed: BTreeMap<(CardId, u64), (Reference, Money)> = BTreeMap::new();
        let mut stored: Vec<Reference> = Vec::new();
        for n in 0..self.sim.config.checkouts.max(1) {
            let id: CheckoutId = reference(format!("checkout-{n}"));
            let Some(checkout) = self.store.checkout(&id).map_err(err)? else {
                continue;
            };
            let state = checkout.value.state();
            if self.captured.contains(&id) && state.name() != "captured" {
                return Err(format!(
                    "checkout {id} was captured and is now {}",
                    state.name()
                ));
            }
            match state {
                CheckoutState::Authorised { holds, .. } => {
                    for hold in holds {
                        listed.insert((hold.card, hold.hold), (id.reference(), hold.amount));
                    }
                }
                CheckoutState::Captured {
                    captures, refunds, ..
                } => {
                    self.captured.insert(id.clone());
                    for card in captures.iter().chain(refunds).map(|c| c.card) {
                        let sum = |parts: &[crate::redeem::CardAmount]| {
                            Money::sum(
                                checkout.value.currency(),
                                parts.iter().filter(|p| p.card == card).map(|p| p.amount),
                            )
                        };
                        let (paid, back) = (sum(captures), sum(refunds));
                        if let (Ok(paid), Ok(back)) = (paid, back) {
                            if back.amount() > paid.amount() {
                                return Err(format!(
                                    "checkout {id} refunded {back} to card {card}, which paid {paid}"
                                ));
                            }
                        }
                    }
                }
                _ => {}
            }
            stored.push(id.reference());
        }
        for id in &self.cards {
            let Some(card) = self.store.card(*id).map_err(err)? else {
                continue;
            };
            for hold in card.value.holds() {
                if !stored.contains(hold.reference()) {
                    continue;
                }
                match listed.get(&(*id, hold.id())) {
                    Some((checkout, amount)) if checkout == hold.reference() => {
                        if *amount != hold.amount() {
                            return Err(format!(
                                "checkout {checkout} holds {amount} as hold {} on card {id}, which holds {}",
                                hold.id(),
                                hold.amount()
                            ));
                        }
                    }
                    _ => {
                        return Err(format!(
                            "card {id} keeps hold {} of {} for checkout {}, which does not hold it",
                            hold.id(),
                            hold.amount(),
                            hold.reference()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_card(&self, card: &GiftCard) -> Result<(), String> {
        let id = card.id();
        let available = card.available_at(self.now);
        if card.balance().is_negative() || available.is_negative() {
            return Err(format!(
                "card {id} has balance {} and available {available}",
                card.balance()
            ));
        }
        let live = Money::sum(
            card.currency(),
            card.holds()
                .iter()
                .filter(|h| !h.is_expired(self.now))
                .map(|h| h.amount()),
        )
        .map_err(|e| format!("sum overflowed: {e}"))?;
        let expected = card
            .balance()
            .checked_sub(live)
            .map_err(|e| e.to_string())?;
        if expected != available || expected.is_negative() {
            return Err(format!(
                "card {id} can give {available} at {}, but its balance {} less its live holds {live} is {expected}",
                self.now,
                card.balance()
            ));
        }
        Ok(())
    }
}
