//! The oracle: the reference model run beside the store, and every answer compared with it.
//!
//! A request takes effect at the commit that writes its change (not a guard slot alone): the
//! model applies it there, at the time the request read, with the ids and codes that commit
//! drew, and the request's answer must then equal the model's, success or error. A request
//! that never takes effect (a read, a refusal, a replay) may have read the store at any moment
//! of its flight, so the model answers it at each of them (its start, every commit that lands
//! meanwhile, every time it reads the clock), and its answer must equal one of those. After
//! every commit, the store must hold what the model holds: each card, each code, each
//! checkout, and the liability report line by line.

use std::mem::discriminant;

use chrono::{DateTime, Utc};

use crate::card::{CardId, GiftCard};
use crate::code::Code;
use crate::redeem::{Answer, CardWrite, Changes, Need, RedeemError, Request, StoreError, Swept};
use crate::store::Store;

use super::model::{CardView, CheckoutView, Drawn, Expected, Said};
use super::world::{Task, World};

/// What the oracle keeps of a request in flight.
#[derive(Debug, Default)]
pub(super) struct Watch {
    /// The model's answer at the request's effect commit.
    expected: Option<Expected>,
    /// The model's version when the request began (what it read is of that version or a
    /// later one).
    from: Option<usize>,
    /// Every time the request read, and the time it began.
    nows: Vec<DateTime<Utc>>,
    /// The true time of its last read of the clock.
    read_at: Option<DateTime<Utc>>,
    /// The first time the request read.
    first_now: Option<DateTime<Utc>>,
    /// Commits of other requests landed during the flight.
    others: usize,
    /// Whether a fault struck the request.
    faulted: bool,
    /// What the model's sweep did, card by card.
    swept: Vec<Swept>,
    /// Whether the request took effect on what it read earlier, so that its answer is one of
    /// the model's during the flight rather than the one at its commit.
    stale: bool,
}

/// A commit that landed, as the oracle needs it.
#[derive(Debug)]
pub(super) struct Landed {
    /// Whether it writes a change (not a guard slot alone).
    effect: bool,
    drawn: Drawn,
    /// The first card it writes.
    card: Option<CardId>,
    /// The outcome of a commit that writes only its idempotency record (a command that
    /// changed nothing): it checks no version, so it took effect at its read.
    record_only: Option<crate::redeem::Outcome>,
}

impl Landed {
    /// Whether the commit wrote more than a guard window.
    pub(super) fn changes_anything(&self) -> bool {
        self.effect
    }

    /// What the oracle needs of `changes`, read before the store takes them.
    pub(super) fn of(changes: &Changes) -> Landed {
        let mut drawn = Drawn::default();
        let mut card = None;
        for write in &changes.cards {
            match write {
                CardWrite::Insert { card: c, code } => {
                    drawn.inserted.push((c.id(), code.clone()));
                    card.get_or_insert(c.id());
                }
                CardWrite::Update { card: c, .. } => {
                    card.get_or_insert(c.id());
                }
            }
        }
        for write in &changes.codes {
            drawn.recoded.push((write.card, write.code.clone()));
        }
        let effect = !changes.cards.is_empty()
            || !changes.codes.is_empty()
            || !changes.entries.is_empty()
            || changes.checkout.is_some()
            || changes.idempotency.is_some();
        let record_only = changes
            .idempotency
            .as_ref()
            .filter(|_| {
                changes.cards.is_empty()
                    && changes.codes.is_empty()
                    && changes.entries.is_empty()
                    && changes.checkout.is_none()
            })
            .map(|record| record.outcome.clone());
        Landed {
            effect,
            drawn,
            card,
            record_only,
        }
    }
}

/// The same answer, or an error of the same kind.
fn agrees(expected: &Expected, got: &Expected) -> bool {
    match (expected, got) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => same_kind(a, b),
        _ => false,
    }
}

fn same_kind(a: &RedeemError, b: &RedeemError) -> bool {
    match (a, b) {
        (
            RedeemError::InvalidState {
                state: s1,
                operation: o1,
                ..
            },
            RedeemError::InvalidState {
                state: s2,
                operation: o2,
                ..
            },
        ) => s1 == s2 && o1 == o2,
        (RedeemError::Card(x), RedeemError::Card(y)) => discriminant(x) == discriminant(y),
        (RedeemError::Money(x), RedeemError::Money(y)) => discriminant(x) == discriminant(y),
        (RedeemError::Store(x), RedeemError::Store(y)) => discriminant(x) == discriminant(y),
        _ => discriminant(a) == discriminant(b),
    }
}

fn view(card: &GiftCard) -> CardView {
    CardView {
        id: card.id(),
        balance: card.balance(),
        status: card.status(),
        expires_at: card.expires_at(),
        holds: card.holds().iter().map(|h| (h.id(), h.amount())).collect(),
        entries: card.ledger_len(),
    }
}

/// The real answer in the model's terms.
fn said(result: &Result<Answer, RedeemError>) -> Expected {
    let answer = match result {
        Ok(answer) => answer,
        Err(e) => return Err(e.clone()),
    };
    Ok(match answer {
        Answer::Issue(r) | Answer::Import(r) | Answer::IssueForOrder(r) => Said::Outcome(
            crate::redeem::Outcome::Issued(r.outcome.clone()),
            r.notifications.len(),
        ),
        Answer::Authorise(r) | Answer::ChangeAuthorisation(r) => Said::Outcome(
            crate::redeem::Outcome::Authorised(r.outcome.clone()),
            r.notifications.len(),
        ),
        Answer::Capture(r) | Answer::CapturePart(r) => Said::Outcome(
            crate::redeem::Outcome::Captured(r.outcome.clone()),
            r.notifications.len(),
        ),
        Answer::Void(r) => Said::Outcome(
            crate::redeem::Outcome::Voided(r.outcome.clone()),
            r.notifications.len(),
        ),
        Answer::Refund(r) => Said::Outcome(
            crate::redeem::Outcome::Refunded(r.outcome.clone()),
            r.notifications.len(),
        ),
        Answer::Amend(r) => Said::Outcome(
            crate::redeem::Outcome::Amended(r.outcome.clone()),
            r.notifications.len(),
        ),
        Answer::ReplaceCode(r) => Said::Outcome(
            crate::redeem::Outcome::CodeReplaced(r.outcome.clone()),
            r.notifications.len(),
        ),
        Answer::ReversePurchase(r) => Said::Outcome(
            crate::redeem::Outcome::Reversed(r.outcome.clone()),
            r.notifications.len(),
        ),
        Answer::ApplyCode(applied) => Said::Applied(applied.clone()),
        Answer::RemoveCode(()) => Said::Removed,
        Answer::CheckBalance(check) => Said::Balance(check.clone()),
        Answer::SetCustomer(()) => Said::CustomerSet,
        Answer::CheckoutCards(cards) => Said::CheckoutCards(cards.clone()),
        Answer::Card(card) => Said::Card(card.as_ref().map(view)),
        Answer::History(entries) => Said::History(
            entries.len(),
            entries.last().map(crate::card::LedgerEntry::balance_after),
        ),
        Answer::Sweep(sweep) => Said::Sweep(sweep.cards.clone()),
        Answer::Prune(_) => Said::Pruned,
    })
}

/// Whether a request can take effect in more than one commit, each its own.
fn per_card(request: &Request) -> bool {
    matches!(request, Request::Sweep { .. })
}

impl<S: Store, F: Fn() -> S> World<'_, S, F> {
    /// The true time of the request's last read of the clock: the model acts at it, whatever
    /// a planted clock answered.
    fn now_of(&self, task: &Task) -> DateTime<Utc> {
        task.watch.read_at.unwrap_or(self.now)
    }

    /// Notes the version the model had when `task` began and every time it read.
    pub(super) fn watch(&self, task: &mut Task) {
        task.watch
            .from
            .get_or_insert(self.history.len().saturating_sub(1));
        let now = self.now_of(task);
        if task.watch.read_at.is_some() && task.watch.first_now.is_none() {
            task.watch.first_now = task.watch.read_at;
        }
        if !task.watch.nows.contains(&now) {
            task.watch.nows.push(now);
        }
    }

    /// What the model answers `task` at each version it may have read, at each time it read:
    /// a request reads records one by one and the time apart from them.
    fn said_during(&self, task: &Task) -> Vec<Expected> {
        let mut said: Vec<Expected> = Vec::new();
        self.each_said(task, &mut |answer| {
            if !said.iter().any(|c| agrees(c, &answer)) {
                said.push(answer);
            }
            false
        });
        said
    }

    /// The first answer of [`said_during`](Self::said_during) that `wanted` takes, computed
    /// only as far as it.
    fn find_said(&self, task: &Task, wanted: impl Fn(&Expected) -> bool) -> Option<Expected> {
        let mut found = None;
        self.each_said(task, &mut |answer| {
            let take = wanted(&answer);
            if take {
                found = Some(answer);
            }
            take
        });
        found
    }

    /// Hands each answer the model gives `task` during its flight to `f`, newest version
    /// first, until `f` says stop.
    fn each_said(&self, task: &Task, f: &mut dyn FnMut(Expected) -> bool) {
        let from = task.watch.from.unwrap_or(0);
        let versions = self.history.get(from..).unwrap_or_default();
        for model in versions.iter().rev() {
            for now in task.watch.nows.iter().rev() {
                if f(model.peek(&task.request.request, *now)) {
                    return;
                }
            }
        }
        // A code is looked up, then its checkout read: the card's side of the answer may be
        // of another version than the checkout's.
        if let Request::ApplyCode {
            checkout,
            currency,
            code,
            ..
        } = &task.request.request
        {
            for (i, model) in versions.iter().enumerate() {
                for now in &task.watch.nows {
                    if f(model.card_side(*currency, checkout, code, *now)) {
                        return;
                    }
                    for later in versions.get(i + 1..).unwrap_or_default() {
                        let mixed = later.with_card_of(model, code);
                        if f(mixed.peek(&task.request.request, *now)) {
                            return;
                        }
                    }
                }
            }
        }
        // The same for taking a code off: the card the code found, then the checkout as a
        // later commit left it (a retry after a lost commit reads the checkout again, not the
        // code).
        if let Request::RemoveCode { checkout, code, .. } = &task.request.request {
            for (i, model) in versions.iter().enumerate() {
                let Some(card) = model.card_by_code(code) else {
                    continue;
                };
                for later in versions.get(i + 1..).unwrap_or_default() {
                    if f(later.clone().remove_read_code(checkout, card, code)) {
                        return;
                    }
                }
            }
        }
    }

    /// After a need of `task` was answered: a fault is noted, a landed commit takes effect in
    /// the model, and every request in flight takes the model's answer again.
    pub(super) fn after_answer(
        &mut self,
        task: &mut Task,
        need: &'static str,
        landed: Option<Landed>,
        faulted: bool,
    ) -> Result<(), String> {
        task.watch.faulted |= faulted;
        if need == Need::Now.name() && !faulted {
            task.watch.read_at = Some(self.now);
        }
        if let Some(landed) = landed.filter(|l| l.effect) {
            self.take_effect(task, landed)?;
            let mut others = std::mem::take(&mut self.in_flight);
            for other in &mut others {
                other.watch.others += 1;
                self.watch(other);
            }
            self.in_flight = others;
        }
        self.watch(task);
        Ok(())
    }

    fn take_effect(&mut self, task: &mut Task, landed: Landed) -> Result<(), String> {
        if self.model_lost {
            return Ok(());
        }
        let result = self.take_effect_on_model(task, landed);
        self.history.push(self.model.clone());
        result
    }

    fn take_effect_on_model(&mut self, task: &mut Task, mut landed: Landed) -> Result<(), String> {
        let now = self.now_of(task);
        if per_card(&task.request.request) {
            let Some(card) = landed.card else {
                return Err(format!(
                    "request {} ({:?}) committed a sweep of no card",
                    task.number, task.request
                ));
            };
            if let Some(swept) = self.model.sweep_card(card, now) {
                task.watch.swept.push(swept);
            } else {
                return Err(format!(
                    "request {} ({:?}) swept card {card} at {now}, where the model has nothing to sweep",
                    task.number, task.request
                ));
            }
            return Ok(());
        }
        if task.watch.expected.is_some() || task.watch.stale {
            return Err(format!(
                "request {} ({:?}) took effect twice",
                task.number, task.request
            ));
        }
        if let Some(outcome) = landed.record_only.take() {
            let read = self.find_said(
                task,
                |c| matches!(c, Ok(Said::Outcome(o, _)) if *o == outcome),
            );
            let Some(read) = read else {
                return Err(format!(
                    "request {} ({:?}) recorded {outcome:?}, which the model never said while it ran: {:?}",
                    task.number,
                    task.request,
                    self.said_during(task)
                ));
            };
            self.model.record(&task.request.request, outcome, now);
            task.watch.expected = Some(read);
            return Ok(());
        }
        let expected = self
            .model
            .apply(&task.request.request, now, &mut landed.drawn);
        // A code is applied to the checkout as its card was read: the card is not written,
        // so it may have changed (or had its code replaced) before the checkout's commit. The answer then shows the card
        // at its read, and the model applies the code as the store did.
        if let (
            Err(RedeemError::Card(_) | RedeemError::EmptyCard(_) | RedeemError::UnknownCode(_)),
            Request::ApplyCode {
                checkout, currency, ..
            },
        ) = (&expected, &task.request.request)
        {
            let read = self
                .find_said(task, |c| matches!(c, Ok(Said::Applied(_))))
                .and_then(|c| match c {
                    Ok(Said::Applied(applied)) => Some(applied.card),
                    _ => None,
                });
            if let Some(card) = read {
                self.model.apply_read_code(checkout, *currency, card);
                task.watch.stale = true;
                return Ok(());
            }
        }
        // A code is taken off by the card it found: replaced since, the card still goes.
        if let (Err(RedeemError::UnknownCode(_)), Request::RemoveCode { checkout, code, .. }) =
            (&expected, &task.request.request)
        {
            let from = task.watch.from.unwrap_or(0);
            let found = self
                .history
                .get(from..)
                .into_iter()
                .flatten()
                .find_map(|m| m.card_by_code(code));
            if let Some(card) = found {
                let removed = self.model.remove_read_code(checkout, card, code);
                if removed.is_ok() {
                    task.watch.expected = Some(removed);
                    return Ok(());
                }
            }
        }
        if let Err(refused) = &expected {
            return Err(format!(
                "request {} ({:?}) was committed at {now}, where the model refuses it: {refused} ({refused:?})",
                task.number, task.request
            ));
        }
        task.watch.expected = Some(expected);
        Ok(())
    }

    /// Whether the guard may refuse `client` at `now`: it looked up as many codes within a
    /// window as the limit, counting the lookups in flight, or the store-wide budget is on.
    fn guard_may_refuse(&self, client: u32, now: DateTime<Utc>) -> bool {
        if self.guard.store_budget().is_some() {
            return true;
        }
        let since = now - self.guard.window();
        let mut unknown: Vec<&Code> = Vec::new();
        // A known code may keep its slot too (one taken off a checkout it is not on), so
        // every code looked up counts.
        for (at, code, _) in self.unknown_lookups.get(&client).into_iter().flatten() {
            if *at > since && !unknown.contains(&code) {
                unknown.push(code);
            }
        }
        let in_flight = self
            .in_flight
            .iter()
            .filter(|t| t.request.client == Some(client))
            .count();
        unknown.len() + in_flight + 1 > self.guard.limit() as usize
    }

    /// The answer `task` got, against the model's.
    pub(super) fn judge(
        &mut self,
        task: &Task,
        result: &Result<Answer, RedeemError>,
    ) -> Result<(), String> {
        if self.model_lost {
            return Ok(());
        }
        let got = said(result);
        let now = self.now_of(task);
        match &got {
            Err(RedeemError::Store(StoreError::DuplicateCode { .. })) => {}
            Err(RedeemError::Store(_)) if task.watch.faulted => return Ok(()),
            Err(RedeemError::TooManyAttempts(_)) => {
                if let Some(client) = task.request.client {
                    if self.guard_may_refuse(client, now) {
                        return Ok(());
                    }
                }
            }
            _ => {}
        }
        let fail = |expected: &dyn std::fmt::Debug| {
            Err(format!(
                "request {} ({:?}) answered {got:?}; the model says {expected:?}",
                task.number, task.request
            ))
        };
        match (&task.request.request, &got) {
            (Request::Sweep { .. }, Ok(Said::Sweep(cards))) => {
                if *cards != task.watch.swept {
                    return fail(&task.watch.swept);
                }
                let more = matches!(result, Ok(Answer::Sweep(s)) if s.more);
                let first = task.watch.first_now.unwrap_or(now);
                let due = self.model.due(first);
                if task.watch.others == 0 && !more && !due.is_empty() {
                    return Err(format!(
                        "request {} ({:?}) swept at {first} and said it was done, but cards {due:?} were due",
                        task.number, task.request
                    ));
                }
                return Ok(());
            }
            (Request::Prune { limit }, Ok(Said::Pruned)) => {
                let prunable = self.model.prunable(now);
                if prunable > *limit {
                    self.model_lost = true;
                    return Ok(());
                }
                let records = match result {
                    Ok(Answer::Prune(pruned)) => pruned.records,
                    _ => 0,
                };
                if task.watch.others == 0 && records != prunable {
                    return Err(format!(
                        "request {} ({:?}) pruned {records} idempotency records; the model has {prunable} past retention",
                        task.number, task.request
                    ));
                }
                self.model.prune(now);
                self.history.push(self.model.clone());
                return Ok(());
            }
            _ => {}
        }
        if let Some(expected) = &task.watch.expected {
            if agrees(expected, &got) {
                return Ok(());
            }
            // An applied code's answer may show its card as first read.
            let read_earlier = matches!(task.request.request, Request::ApplyCode { .. })
                && self.find_said(task, |c| agrees(c, &got)).is_some();
            if read_earlier {
                return Ok(());
            }
            return fail(expected);
        }
        // A read of several records may mix moments when other commits land in between.
        if matches!(task.request.request, Request::CheckoutCards { .. }) && task.watch.others > 0 {
            return Ok(());
        }
        if self.find_said(task, |c| agrees(c, &got)).is_some() {
            return Ok(());
        }
        fail(&self.said_during(task))
    }

    /// The store holds what the model holds: every card, code and checkout, and the
    /// liability report line by line.
    pub(super) fn check_model(&self) -> Result<(), String> {
        if self.model_lost {
            return Ok(());
        }
        let err = |e: StoreError| format!("the store failed a read: {e}");
        for expected in self.model.card_views() {
            let stored = self.store.card(expected.id).map_err(err)?;
            let stored = stored.map(|s| view(&s.value));
            if stored.as_ref() != Some(&expected) {
                return Err(format!(
                    "card {} is {stored:?} in the store; the model says {expected:?}",
                    expected.id
                ));
            }
        }
        for (code, id) in self.model.live_codes() {
            let found = self.store.card_by_code(code).map_err(err)?;
            if found.as_ref().map(|c| c.value.id()) != Some(id) {
                return Err(format!(
                    "code {} finds {:?}; the model says card {id}",
                    code.masked(),
                    found.map(|c| c.value.id())
                ));
            }
        }
        for code in self.model.retired() {
            if let Some(found) = self.store.card_by_code(code).map_err(err)? {
                return Err(format!(
                    "code {} was replaced, yet it still finds card {}",
                    code.masked(),
                    found.value.id()
                ));
            }
        }
        for (id, expected) in self.model.checkout_views() {
            let stored = self.store.checkout(id).map_err(err)?;
            let stored = stored.map(|s| CheckoutView::of(&s.value));
            if stored.as_ref() != Some(&expected) {
                return Err(format!(
                    "checkout {id} is {stored:?} in the store; the model says {expected:?}"
                ));
            }
        }
        let report = self.store.liability(self.now).map_err(err)?;
        let expected = self.model.report();
        let currencies: Vec<_> = report.lines().iter().map(|l| l.currency).collect();
        let said: Vec<_> = expected.keys().copied().collect();
        if currencies != said {
            return Err(format!(
                "the liability report has lines for {currencies:?}; the model for {said:?}"
            ));
        }
        for line in report.lines() {
            let Some(model) = expected.get(&line.currency) else {
                continue;
            };
            let figures = [
                ("issued", line.issued, model.issued),
                ("reloaded", line.reloaded, model.reloaded),
                ("redeemed", line.redeemed, model.redeemed),
                ("refunded", line.refunded, model.refunded),
                ("adjusted", line.adjusted, model.adjusted),
                ("moved in", line.moved_in, model.moved),
                ("moved out", line.moved_out, model.moved),
                ("clawed back", line.clawed_back, model.clawed_back),
                ("held", line.held, model.held),
                ("outstanding", line.outstanding, model.outstanding),
                ("expired", line.expired, model.expired),
            ];
            for (name, real, said) in figures {
                if real != said {
                    return Err(format!(
                        "{}: the liability report says {real} {name}; the model {said}",
                        line.currency
                    ));
                }
            }
            let counts = [
                (
                    "outstanding",
                    line.outstanding_cards,
                    model.outstanding_cards,
                ),
                ("expired", line.expired_cards, model.expired_cards),
            ];
            for (name, real, said) in counts {
                if real != said {
                    return Err(format!(
                        "{}: the liability report counts {real} {name} cards; the model {said}",
                        line.currency
                    ));
                }
            }
        }
        Ok(())
    }
}
