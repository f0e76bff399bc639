//! The reference model: a plain statement of what each request must answer, given the
//! requests that took effect before it.
//!
//! It is written apart from the protocol and the decisions: its own cards, holds and
//! checkouts, kept in plain maps and lists, and every rule spelt out once here, in the order
//! the documentation states them. It shares only the crate's value types (money, ids, codes)
//! and the shapes of the answers, so that an answer can be compared with the real one field by
//! field. What the model cannot know (the ids and codes the system draws) it takes from the
//! commit that made them.

use crate::redeem::CheckoutId;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::card::{
    CardId, CardSpec, CardStatus, CodeHint, EARLIEST_EXPIRY_YEAR, LATEST_EXPIRY_YEAR, Reference,
    ReversalReason,
};
use crate::code::Code;
use crate::money::{Currency, Money, MoneyError};
use crate::redeem::{AllocationOrder, Captured};
use crate::redeem::{
    Amended, AppliedCode, Authorisation, BalanceCheck, CardAmount, CardCommand, CardPayment,
    CardUse, CheckoutCards, CodeReplaced, CommandError, IdempotencyKey, Issued, IssuedCard,
    Outcome, PaymentStage, RedeemError, RefundOutcome, RefundPart, RefundTo, Replacement, Request,
    Reversal, ReversalScope, ReversedCard, Swept, Voided,
};
use crate::{card::CardError, redeem::CardUnavailable};

/// The ids and codes the system drew for a request, as its commit wrote them: new cards in
/// order, and new codes for existing cards.
#[derive(Debug, Default)]
pub(super) struct Drawn {
    pub(super) inserted: Vec<(CardId, Code)>,
    pub(super) recoded: Vec<(CardId, Code)>,
}

/// What a request answers, in the shape the model can state it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Said {
    /// A keyed request's outcome, with how many notifications it hands over.
    Outcome(Outcome, usize),
    Applied(AppliedCode),
    Removed,
    Balance(BalanceCheck),
    CustomerSet,
    CheckoutCards(CheckoutCards),
    /// A card read: id, balance, stored status, expiry, open holds (id, amount), ledger length.
    Card(Option<CardView>),
    /// A ledger read: how many entries, and the last balance.
    History(usize, Option<Money>),
    /// The cards a sweep changed.
    Sweep(Vec<Swept>),
    /// A prune, not stated (the model keeps its records by its own rule).
    Pruned,
}

/// A card as the model states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CardView {
    pub(super) id: CardId,
    pub(super) balance: Money,
    pub(super) status: CardStatus,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) holds: Vec<(u64, Money)>,
    pub(super) entries: u64,
}

pub(super) type Expected = Result<Said, RedeemError>;

#[derive(Debug, Clone)]
struct Hold {
    id: u64,
    amount: Money,
    expires_at: Option<DateTime<Utc>>,
}

impl Hold {
    fn live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

#[derive(Debug, Clone)]
struct Card {
    id: CardId,
    code: Code,
    currency: Currency,
    balance: Money,
    /// The stored status: active, depleted, disabled, replaced, or expired once marked.
    status: CardStatus,
    replaced_by: Option<CardId>,
    expires_at: Option<DateTime<Utc>>,
    issued_at: DateTime<Utc>,
    holds: Vec<Hold>,
    entries: u64,
    /// Marked expired by a sweep, and not since moved past: the report counts its balance as
    /// expired, whatever its status became.
    expired_mark: bool,
    /// The order that bought it (a replacement or refund card: the order of the card it came
    /// from).
    order: Option<Reference>,
    /// What it was issued with.
    initial: Money,
    /// Everything captured from it.
    spent: Money,
    /// Everything refunded onto it (a refund card: its value).
    refunded: Money,
    /// Why it is blocked, while it is.
    blocked: Option<ReversalReason>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Open,
    Authorised {
        holds: Vec<(CardId, u64, Money)>,
    },
    Captured {
        captures: Vec<(CardId, Money)>,
        refunds: Vec<(CardId, Money)>,
    },
    Voided,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Open => "open",
            State::Authorised { .. } => "authorised",
            State::Captured { .. } => "captured",
            State::Voided => "voided",
        }
    }
}

#[derive(Debug, Clone)]
struct Checkout {
    currency: Currency,
    customer: Option<Reference>,
    applied: Vec<CardId>,
    state: State,
}

/// The flows of one currency, summed as requests take effect.
#[derive(Debug, Clone, Default)]
pub(super) struct Flows {
    pub(super) issued: Option<Money>,
    pub(super) reloaded: Option<Money>,
    pub(super) redeemed: Option<Money>,
    pub(super) refunded: Option<Money>,
    pub(super) adjusted: Option<Money>,
    pub(super) moved: Option<Money>,
    pub(super) clawed_back: Option<Money>,
}

/// The report lines the model expects, per currency: the flows, what is held, and what is
/// outstanding and expired (value and cards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    pub(super) issued: Money,
    pub(super) reloaded: Money,
    pub(super) redeemed: Money,
    pub(super) refunded: Money,
    pub(super) adjusted: Money,
    pub(super) moved: Money,
    pub(super) clawed_back: Money,
    pub(super) held: Money,
    pub(super) outstanding: Money,
    pub(super) outstanding_cards: u64,
    pub(super) expired: Money,
    pub(super) expired_cards: u64,
}

/// The model's settings, as the simulated protocol's.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) replacement: bool,
    pub(super) hold_ttl: Duration,
}

/// A key's record: the request that took effect under it, its outcome, and when.
type Recorded = (Request, Outcome, DateTime<Utc>);

/// The reference model's whole state.
#[derive(Debug, Clone)]
pub(super) struct Model {
    settings: Settings,
    cards: BTreeMap<CardId, Card>,
    /// Every live code, by its text, and the card it finds (a replaced card's code still
    /// finds it, to say it was replaced).
    codes: BTreeMap<String, CardId>,
    /// Codes a lost-code replacement retired: they find nothing.
    retired: Vec<Code>,
    checkouts: BTreeMap<CheckoutId, Checkout>,
    /// Per key: the request that took effect under it, its outcome, and when.
    records: Arc<BTreeMap<String, Recorded>>,
    flows: BTreeMap<Currency, Flows>,
}

fn add(sum: &mut Option<Money>, amount: Money) {
    *sum = Some(match sum {
        Some(s) => s.checked_add(amount).unwrap_or(*s),
        None => amount,
    });
}

fn plus(a: Money, b: Money) -> Money {
    a.checked_add(b).unwrap_or(a)
}

fn minus(a: Money, b: Money) -> Money {
    a.checked_sub(b).unwrap_or(a)
}

fn smaller(a: Money, b: Money) -> Money {
    if a.amount() <= b.amount() { a } else { b }
}

/// A card may expire in a four-digit year, from year 1.
fn expiry_year(at: DateTime<Utc>) -> bool {
    (EARLIEST_EXPIRY_YEAR..=LATEST_EXPIRY_YEAR).contains(&at.year())
}

fn mismatch(expected: Currency, found: Currency) -> RedeemError {
    RedeemError::Money(MoneyError::CurrencyMismatch { expected, found })
}

fn refuse(checkout: &CheckoutId, state: &State, operation: &'static str) -> RedeemError {
    RedeemError::InvalidState {
        checkout: checkout.clone(),
        state: state.name(),
        operation,
    }
}

/// The key a request carries, and the order key of an issue for an order.
fn key_text(request: &Request) -> Option<String> {
    match request {
        Request::Issue { key, .. }
        | Request::Import { key, .. }
        | Request::Authorise { key, .. }
        | Request::ChangeAuthorisation { key, .. }
        | Request::Capture { key, .. }
        | Request::CapturePart { key, .. }
        | Request::Void { key, .. }
        | Request::Refund { key, .. }
        | Request::Amend { key, .. }
        | Request::ReplaceCode { key, .. }
        | Request::ReversePurchase { key, .. } => Some(key.as_str().to_owned()),
        Request::IssueForOrder { order, .. } => Some(format!("order-issue:{order}")),
        _ => None,
    }
}

impl Card {
    fn hint(&self) -> CodeHint {
        CodeHint::from(&self.code)
    }

    /// The status at `now`: an active or depleted card past its expiry instant is expired.
    fn status_at(&self, now: DateTime<Utc>) -> CardStatus {
        match self.status {
            CardStatus::Active | CardStatus::Depleted
                if self.expires_at.is_some_and(|at| at <= now) =>
            {
                CardStatus::Expired
            }
            other => other,
        }
    }

    fn spendable(&self, now: DateTime<Utc>) -> Result<(), CardError> {
        self.refuse_blocked()?;
        match self.status_at(now) {
            CardStatus::Disabled => Err(CardError::Disabled {
                card: self.id,
                code: self.hint(),
            }),
            CardStatus::Expired => Err(CardError::Expired {
                card: self.id,
                code: self.hint(),
                at: self.expires_at.unwrap_or(now),
            }),
            CardStatus::Replaced => Err(CardError::Replaced {
                card: self.id,
                code: self.hint(),
                by: self.replaced_by.unwrap_or(self.id),
            }),
            _ => Ok(()),
        }
    }

    fn held(&self) -> Money {
        let zero = Money::zero(self.currency);
        self.holds.iter().fold(zero, |sum, h| plus(sum, h.amount))
    }

    /// The balance less the holds still live at `now`.
    fn available_at(&self, now: DateTime<Utc>) -> Money {
        let zero = Money::zero(self.currency);
        let live = self
            .holds
            .iter()
            .filter(|h| h.live(now))
            .fold(zero, |sum, h| plus(sum, h.amount));
        minus(self.balance, live)
    }

    fn refuse_replaced(&self) -> Result<(), CardError> {
        match (self.status, self.replaced_by) {
            (CardStatus::Replaced, Some(by)) => Err(CardError::Replaced {
                card: self.id,
                code: self.hint(),
                by,
            }),
            _ => Ok(()),
        }
    }

    fn refuse_blocked(&self) -> Result<(), CardError> {
        match self.blocked {
            Some(reason) => Err(CardError::Blocked {
                card: self.id,
                code: self.hint(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Drops the holds that ran out by `now`, one entry each; their ids.
    fn release_expired(&mut self, now: DateTime<Utc>) -> Vec<u64> {
        let gone: Vec<u64> = self
            .holds
            .iter()
            .filter(|h| !h.live(now))
            .map(|h| h.id)
            .collect();
        self.holds.retain(|h| h.live(now));
        self.entries += gone.len() as u64;
        gone
    }

    fn release(&mut self, hold: u64) -> bool {
        let before = self.holds.len();
        self.holds.retain(|h| h.id != hold);
        let released = self.holds.len() != before;
        if released {
            self.entries += 1;
        }
        released
    }

    fn depleted_or_active(&self) -> CardStatus {
        if self.balance.is_zero() {
            CardStatus::Depleted
        } else {
            CardStatus::Active
        }
    }

    fn view(&self) -> CardView {
        CardView {
            id: self.id,
            balance: self.balance,
            status: self.status,
            expires_at: self.expires_at,
            holds: self.holds.iter().map(|h| (h.id, h.amount)).collect(),
            entries: self.entries,
        }
    }

    /// When a sweep has work on the card.
    fn due_at(&self) -> Option<DateTime<Utc>> {
        let expiry = match self.status {
            CardStatus::Active | CardStatus::Depleted => self.expires_at,
            _ => None,
        };
        self.holds
            .iter()
            .filter_map(|h| h.expires_at)
            .chain(expiry)
            .min()
    }
}

impl Model {
    pub(super) fn new(settings: Settings) -> Model {
        Model {
            settings,
            cards: BTreeMap::new(),
            codes: BTreeMap::new(),
            retired: Vec::new(),
            checkouts: BTreeMap::new(),
            records: Arc::default(),
            flows: BTreeMap::new(),
        }
    }

    fn flows(&mut self, currency: Currency) -> &mut Flows {
        self.flows.entry(currency).or_default()
    }

    /// The card a code finds now.
    pub(super) fn card_by_code(&self, code: &Code) -> Option<CardId> {
        self.codes.get(code.expose_secret()).copied()
    }

    /// The cards a sweep at `now` has work on.
    pub(super) fn due(&self, now: DateTime<Utc>) -> Vec<CardId> {
        self.cards
            .values()
            .filter(|c| c.due_at().is_some_and(|at| at <= now))
            .map(|c| c.id)
            .collect()
    }

    /// What `request` answers at `now` without taking effect (a read, a refusal, a replay).
    pub(super) fn peek(&self, request: &Request, now: DateTime<Utc>) -> Expected {
        self.clone().apply(request, now, &mut Drawn::default())
    }

    /// `request` takes effect at `now`, with the ids and codes its commit drew: what it must
    /// answer.
    pub(super) fn apply(
        &mut self,
        request: &Request,
        now: DateTime<Utc>,
        drawn: &mut Drawn,
    ) -> Expected {
        if let Some(key) = key_text(request) {
            if let Some((first, outcome, _)) = self.records.get(&key) {
                if first == request {
                    return Ok(Said::Outcome(outcome.clone(), 0));
                }
                return Err(conflict(request));
            }
        }
        let said = self.carry_out(request, now, drawn)?;
        if let (Some(key), Said::Outcome(outcome, _)) = (key_text(request), &said) {
            Arc::make_mut(&mut self.records).insert(key, (request.clone(), outcome.clone(), now));
        }
        Ok(said)
    }

    /// Records `outcome` under `request`'s key without changing anything else: a request that
    /// changed nothing, decided on an earlier read.
    pub(super) fn record(&mut self, request: &Request, outcome: Outcome, now: DateTime<Utc>) {
        if let Some(key) = key_text(request) {
            Arc::make_mut(&mut self.records).insert(key, (request.clone(), outcome, now));
        }
    }

    /// Forgets the records a prune at `now` deletes (older than the 30-day retention).
    pub(super) fn prune(&mut self, now: DateTime<Utc>) -> usize {
        let before = now - Duration::days(30);
        let old: Vec<String> = self
            .records
            .iter()
            .filter(|(_, (_, _, at))| *at < before)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &old {
            Arc::make_mut(&mut self.records).remove(key);
        }
        old.len()
    }

    /// The records a prune at `now` would delete.
    pub(super) fn prunable(&self, now: DateTime<Utc>) -> usize {
        let before = now - Duration::days(30);
        self.records
            .values()
            .filter(|(_, _, at)| *at < before)
            .count()
    }

    fn carry_out(&mut self, request: &Request, now: DateTime<Utc>, drawn: &mut Drawn) -> Expected {
        match request {
            Request::Issue { specs, .. } | Request::IssueForOrder { specs, .. } => {
                self.issue(specs, None, now, drawn)
            }
            Request::Import { code, spec, .. } => {
                self.issue(std::slice::from_ref(spec), Some(code.code()), now, drawn)
            }
            Request::ApplyCode {
                checkout,
                currency,
                code,
                ..
            } => self.apply_code(checkout, *currency, code, now),
            Request::RemoveCode { checkout, code, .. } => self.remove_code(checkout, code),
            Request::CheckBalance { code, .. } => {
                let card = self.found(code)?;
                let status = card.status_at(now);
                let available = match status {
                    CardStatus::Active | CardStatus::Depleted => card.available_at(now),
                    _ => Money::zero(card.currency),
                };
                Ok(Said::Balance(BalanceCheck {
                    card: card.id,
                    code: card.hint(),
                    balance: card.balance,
                    available,
                    expires_at: card.expires_at,
                    status,
                }))
            }
            Request::Authorise {
                checkout, payable, ..
            } => self.authorise(checkout, *payable, now, false),
            Request::ChangeAuthorisation {
                checkout, payable, ..
            } => self.authorise(checkout, *payable, now, true),
            Request::Capture { checkout, .. } => self.capture(checkout, None, now, drawn),
            Request::CapturePart {
                checkout, amount, ..
            } => self.capture(checkout, Some(*amount), now, drawn),
            Request::Void { checkout, .. } => self.void(checkout, now),
            Request::Refund {
                checkout,
                amount,
                to,
                ..
            } => self.refund(checkout, *amount, *to, now, drawn),
            Request::SetCustomer {
                checkout,
                currency,
                customer,
            } => {
                let entry = self.checkouts.get(checkout).cloned();
                let mut co = entry.unwrap_or(Checkout {
                    currency: *currency,
                    customer: None,
                    applied: Vec::new(),
                    state: State::Open,
                });
                if !matches!(co.state, State::Open | State::Voided) {
                    return Err(refuse(checkout, &co.state, "set the customer"));
                }
                if co.currency != *currency {
                    return Err(mismatch(co.currency, *currency));
                }
                co.customer = Some(customer.clone());
                self.checkouts.insert(checkout.clone(), co);
                Ok(Said::CustomerSet)
            }
            Request::CheckoutCards { checkout } => {
                Ok(Said::CheckoutCards(self.checkout_cards(checkout, now)))
            }
            Request::Amend { card, command, .. } => self.amend(*card, *command, now),
            Request::ReplaceCode { card, .. } => self.replace_code(*card, drawn),
            Request::ReversePurchase {
                order,
                scope,
                reason,
                ..
            } => self.reverse_purchase(order, scope, *reason),
            Request::Sweep { .. } => Ok(Said::Sweep(Vec::new())),
            Request::Prune { .. } => Ok(Said::Pruned),
            Request::Card { card } => Ok(Said::Card(self.cards.get(card).map(Card::view))),
            Request::History { card } => Ok(Said::History(
                self.cards.get(card).map_or(0, |c| c.entries as usize),
                self.cards.get(card).map(|c| c.balance),
            )),
        }
    }

    fn found(&self, code: &Code) -> Result<&Card, RedeemError> {
        self.card_by_code(code)
            .and_then(|id| self.cards.get(&id))
            .ok_or_else(|| RedeemError::UnknownCode(code.masked()))
    }

    fn new_card(
        &mut self,
        id: CardId,
        code: Code,
        value: Money,
        like: Option<CardId>,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) {
        let expires_at = like
            .and_then(|l| self.cards.get(&l))
            .map_or(expires_at, |l| l.expires_at);
        let order = like
            .and_then(|l| self.cards.get(&l))
            .and_then(|l| l.order.clone());
        let zero = Money::zero(value.currency());
        self.take_code(&code, id);
        self.cards.insert(
            id,
            Card {
                id,
                code,
                currency: value.currency(),
                balance: value,
                status: CardStatus::Active,
                replaced_by: None,
                expires_at,
                issued_at: now,
                holds: Vec::new(),
                entries: 1,
                expired_mark: false,
                order,
                initial: value,
                spent: zero,
                refunded: zero,
                blocked: None,
            },
        );
    }

    /// Gives `code` to card `id`. Codes are unique among cards, not among every code ever
    /// given: a code a replacement retired may be drawn again, and then finds its new card.
    fn take_code(&mut self, code: &Code, id: CardId) {
        self.codes.insert(code.expose_secret().to_owned(), id);
        self.retired.retain(|old| old != code);
    }

    fn issue(
        &mut self,
        specs: &[CardSpec],
        imported: Option<&Code>,
        now: DateTime<Utc>,
        drawn: &mut Drawn,
    ) -> Expected {
        for spec in specs {
            if !spec.value.is_positive() {
                return Err(CardError::NotPositive(spec.value).into());
            }
            if let Some(at) = spec.expires_at.filter(|at| !expiry_year(*at)) {
                return Err(CardError::ExpiryOutOfRange { at }.into());
            }
        }
        if let Some(code) = imported {
            if self.codes.contains_key(code.expose_secret()) {
                return Err(RedeemError::Store(
                    crate::redeem::StoreError::DuplicateCode {
                        code: code.masked(),
                    },
                ));
            }
        }
        let mut cards = Vec::with_capacity(specs.len());
        let mut fresh = std::mem::take(&mut drawn.inserted).into_iter();
        for spec in specs {
            let Some((id, drawn_code)) = fresh.next() else {
                // A peek: the ids are not known before the commit.
                return Err(RedeemError::Driver {
                    need: "fresh ids",
                    reply: "none drawn yet",
                });
            };
            let code = imported.cloned().unwrap_or(drawn_code);
            cards.push(IssuedCard {
                card: id,
                code: CodeHint::from(&code),
                value: spec.value,
            });
            self.new_card(id, code, spec.value, None, now, spec.expires_at);
            if let Some(card) = self.cards.get_mut(&id) {
                card.order.clone_from(&spec.order);
            }
            add(&mut self.flows(spec.value.currency()).issued, spec.value);
        }
        let count = cards.len();
        Ok(Said::Outcome(Outcome::Issued(Issued { cards }), count))
    }

    /// The card's side of applying `code` to a checkout in `currency` at `now`: the card
    /// found, able to pay, in the currency, with something to give, and what it shows.
    pub(super) fn card_side(
        &self,
        currency: Currency,
        checkout: &CheckoutId,
        code: &Code,
        now: DateTime<Utc>,
    ) -> Expected {
        let card = self.found(code)?;
        card.spendable(now)?;
        if card.currency != currency {
            return Err(RedeemError::CardCurrency {
                card: card.id,
                code: card.hint(),
                card_currency: card.currency,
                checkout: checkout.clone(),
                checkout_currency: currency,
            });
        }
        let available = card.available_at(now);
        if !available.is_positive() {
            return Err(RedeemError::EmptyCard(CardUnavailable {
                card: card.id,
                code: card.hint(),
                held: minus(card.balance, available),
                held_until: None,
                at: now,
            }));
        }
        Ok(Said::Applied(AppliedCode {
            card: card.id,
            code: card.hint(),
            balance: available,
            expires_at: card.expires_at,
        }))
    }

    fn apply_code(
        &mut self,
        checkout: &CheckoutId,
        currency: Currency,
        code: &Code,
        now: DateTime<Utc>,
    ) -> Expected {
        let card = self.found(code)?.clone();
        let mut co = self.checkouts.get(checkout).cloned().unwrap_or(Checkout {
            currency,
            customer: None,
            applied: Vec::new(),
            state: State::Open,
        });
        if !matches!(co.state, State::Open | State::Voided) {
            return Err(refuse(checkout, &co.state, "apply a code"));
        }
        if co.currency != currency {
            return Err(mismatch(co.currency, currency));
        }
        card.spendable(now)?;
        if card.currency != co.currency {
            return Err(RedeemError::CardCurrency {
                card: card.id,
                code: card.hint(),
                card_currency: card.currency,
                checkout: checkout.clone(),
                checkout_currency: co.currency,
            });
        }
        let available = card.available_at(now);
        if !available.is_positive() {
            let live: Vec<&Hold> = card.holds.iter().filter(|h| h.live(now)).collect();
            let zero = Money::zero(card.currency);
            let held_until = if live.iter().all(|h| h.expires_at.is_some()) {
                live.iter().filter_map(|h| h.expires_at).max()
            } else {
                None
            };
            return Err(RedeemError::EmptyCard(CardUnavailable {
                card: card.id,
                code: card.hint(),
                held: live.iter().fold(zero, |s, h| plus(s, h.amount)),
                held_until,
                at: now,
            }));
        }
        if !co.applied.contains(&card.id) {
            co.applied.push(card.id);
        }
        self.checkouts.insert(checkout.clone(), co);
        Ok(Said::Applied(AppliedCode {
            card: card.id,
            code: card.hint(),
            balance: available,
            expires_at: card.expires_at,
        }))
    }

    /// Applies card `card` to a checkout as it was read before: the checkout's rules only.
    pub(super) fn apply_read_code(
        &mut self,
        checkout: &CheckoutId,
        currency: Currency,
        card: CardId,
    ) {
        let co = self.checkouts.entry(checkout.clone()).or_insert(Checkout {
            currency,
            customer: None,
            applied: Vec::new(),
            state: State::Open,
        });
        if !co.applied.contains(&card) {
            co.applied.push(card);
        }
    }

    fn remove_code(&mut self, checkout: &CheckoutId, code: &Code) -> Expected {
        if !self.checkouts.contains_key(checkout) {
            return Err(RedeemError::UnknownCheckout(checkout.clone()));
        }
        let card = self.found(code)?.id;
        self.remove_read_code(checkout, card, code)
    }

    /// Takes card `card` off a checkout as `code` found it before: the checkout's rules only.
    pub(super) fn remove_read_code(
        &mut self,
        checkout: &CheckoutId,
        card: CardId,
        code: &Code,
    ) -> Expected {
        let Some(co) = self.checkouts.get(checkout).cloned() else {
            return Err(RedeemError::UnknownCheckout(checkout.clone()));
        };
        if !co.applied.contains(&card) {
            return Err(RedeemError::UnknownCode(code.masked()));
        }
        if !matches!(co.state, State::Open | State::Voided) {
            return Err(refuse(checkout, &co.state, "remove a code"));
        }
        let mut co = co;
        co.applied.retain(|id| *id != card);
        self.checkouts.insert(checkout.clone(), co);
        Ok(Said::Removed)
    }

    fn existing(&self, checkout: &CheckoutId) -> Result<Checkout, RedeemError> {
        self.checkouts
            .get(checkout)
            .cloned()
            .ok_or_else(|| RedeemError::UnknownCheckout(checkout.clone()))
    }

    fn card(&self, id: CardId) -> Result<Card, RedeemError> {
        self.cards
            .get(&id)
            .cloned()
            .ok_or(RedeemError::UnknownCard(id))
    }

    /// Authorises `payable` (or changes an authorisation to it): lowest available first, each
    /// card used held until the time limit.
    fn authorise(
        &mut self,
        id: &CheckoutId,
        payable: Money,
        now: DateTime<Utc>,
        change: bool,
    ) -> Expected {
        let mut co = self.existing(id)?;
        let mut cards: Vec<Card> = co
            .applied
            .iter()
            .map(|c| self.card(*c))
            .collect::<Result<_, _>>()?;
        let find =
            |cards: &mut Vec<Card>, card: CardId| cards.iter_mut().position(|c| c.id == card);
        if change {
            let State::Authorised { holds } = &co.state else {
                return Err(refuse(id, &co.state, "change the authorisation"));
            };
            if !payable.is_positive() {
                return Err(RedeemError::NotPositive {
                    operation: "change the authorisation to",
                    amount: payable,
                });
            }
            for (card, hold, _) in holds.clone() {
                let Some(i) = find(&mut cards, card) else {
                    return Err(RedeemError::MissingCard(card));
                };
                if cards[i].holds.iter().any(|h| h.id == hold && h.live(now)) {
                    cards[i].release(hold);
                }
            }
            co.state = State::Open;
        } else {
            let ran_out = match &co.state {
                State::Authorised { holds } => holds.iter().any(|(card, hold, _)| {
                    cards
                        .iter()
                        .find(|c| c.id == *card)
                        .and_then(|c| c.holds.iter().find(|h| h.id == *hold))
                        .is_none_or(|h| !h.live(now))
                }),
                _ => false,
            };
            if ran_out {
                if let State::Authorised { holds } = co.state.clone() {
                    for (card, hold, _) in holds {
                        if let Some(i) = find(&mut cards, card) {
                            if cards[i].holds.iter().any(|h| h.id == hold && h.live(now)) {
                                cards[i].release(hold);
                            }
                        }
                    }
                }
            } else if !matches!(co.state, State::Open | State::Voided) {
                return Err(refuse(id, &co.state, "authorise"));
            }
            if payable.currency() != co.currency {
                return Err(mismatch(co.currency, payable.currency()));
            }
            if !payable.is_positive() {
                return Err(RedeemError::NotPositive {
                    operation: "authorise",
                    amount: payable,
                });
            }
        }
        if payable.currency() != co.currency {
            return Err(mismatch(co.currency, payable.currency()));
        }
        for card in &mut cards {
            card.release_expired(now);
            card.spendable(now)?;
        }
        // Lowest available first; equal amounts in the order applied.
        let available: Vec<Money> = cards.iter().map(|c| minus(c.balance, c.held())).collect();
        let mut order: Vec<usize> = (0..cards.len()).collect();
        order.sort_by_key(|&i| available[i].amount());
        let mut left = payable;
        let mut used = vec![Money::zero(co.currency); cards.len()];
        for &i in &order {
            let part = smaller(available[i], left);
            used[i] = part;
            left = minus(left, part);
        }
        let mut paying: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| used[i].is_positive())
            .collect();
        paying.extend((0..cards.len()).filter(|&i| !used[i].is_positive()));
        let ttl = self.settings.hold_ttl;
        let mut holds = Vec::new();
        let mut uses = Vec::new();
        for &i in &paying {
            let card = &mut cards[i];
            if used[i].is_positive() {
                card.entries += 1;
                let hold = card.entries;
                card.holds.push(Hold {
                    id: hold,
                    amount: used[i],
                    expires_at: Some(now + ttl),
                });
                holds.push((card.id, hold, used[i]));
            }
            uses.push(CardUse {
                card: card.id,
                code: card.hint(),
                balance: available[i],
                used: used[i],
                remaining: minus(available[i], used[i]),
            });
        }
        let credit = minus(payable, left);
        co.state = State::Authorised { holds };
        self.checkouts.insert(id.clone(), co);
        for card in cards {
            self.cards.insert(card.id, card);
        }
        Ok(Said::Outcome(
            Outcome::Authorised(Authorisation {
                checkout: id.clone(),
                payable,
                credit,
                outstanding: left,
                cards: uses,
            }),
            0,
        ))
    }

    fn capture(
        &mut self,
        id: &CheckoutId,
        amount: Option<Money>,
        now: DateTime<Utc>,
        drawn: &mut Drawn,
    ) -> Expected {
        let mut co = self.existing(id)?;
        let State::Authorised { holds } = co.state.clone() else {
            return Err(refuse(id, &co.state, "capture"));
        };
        let zero = Money::zero(co.currency);
        let authorised = holds.iter().fold(zero, |s, (_, _, m)| plus(s, *m));
        let mut left = match amount {
            None => authorised,
            Some(amount) => {
                if amount.currency() != co.currency {
                    return Err(mismatch(co.currency, amount.currency()));
                }
                if !amount.is_positive() {
                    return Err(RedeemError::NotPositive {
                        operation: "capture",
                        amount,
                    });
                }
                if amount.amount() > authorised.amount() {
                    return Err(RedeemError::CaptureExceedsAuthorisation {
                        checkout: id.clone(),
                        authorised,
                        requested: amount,
                    });
                }
                amount
            }
        };
        let mut cards: Vec<Card> = Vec::new();
        let mut captures = Vec::new();
        let mut released = Vec::new();
        for (card_id, hold, held) in &holds {
            let mut card = self
                .card(*card_id)
                .map_err(|_| RedeemError::MissingCard(*card_id))?;
            // A card blocked since the authorisation pays nothing (its hold went with the
            // block).
            card.refuse_blocked()?;
            let part = smaller(*held, left);
            left = minus(left, part);
            let live = card.holds.iter().any(|h| h.id == *hold && h.live(now));
            if !live {
                return Err(RedeemError::AuthorisationExpired(id.clone()));
            }
            card.holds.retain(|h| h.id != *hold);
            if part.is_positive() {
                card.entries += 1;
                card.balance = minus(card.balance, part);
                card.spent = plus(card.spent, part);
                if card.balance.is_zero() && card.status == CardStatus::Active {
                    card.status = CardStatus::Depleted;
                }
                captures.push(CardAmount {
                    card: card.id,
                    amount: part,
                });
            }
            let rest = minus(*held, part);
            if rest.is_positive() {
                card.entries += 1;
                released.push(CardAmount {
                    card: card.id,
                    amount: rest,
                });
            }
            cards.push(card);
        }
        let total = captures.iter().fold(zero, |s, c| plus(s, c.amount));
        add(&mut self.flows(co.currency).redeemed, total);
        let mut replacements = Vec::new();
        let mut fresh = std::mem::take(&mut drawn.inserted).into_iter();
        for card in &mut cards {
            let paid = captures.iter().any(|c| c.card == card.id);
            let movable =
                card.balance.is_positive() && card.holds.is_empty() && card.spendable(now).is_ok();
            if paid && movable && self.settings.replacement {
                let Some((new_id, code)) = fresh.next() else {
                    return Err(RedeemError::Driver {
                        need: "fresh ids",
                        reply: "none drawn yet",
                    });
                };
                let value = card.balance;
                replacements.push(Replacement {
                    old_card: card.id,
                    new_card: new_id,
                    value,
                });
                card.entries += 1;
                card.balance = zero;
                card.status = CardStatus::Replaced;
                card.replaced_by = Some(new_id);
                add(&mut self.flows(co.currency).moved, value);
                let like = card.id;
                self.cards.insert(card.id, card.clone());
                self.new_card(new_id, code, value, Some(like), now, None);
            }
        }
        for card in cards {
            self.cards.insert(card.id, card);
        }
        let notes = replacements.len();
        co.state = State::Captured {
            captures: captures.iter().map(|c| (c.card, c.amount)).collect(),
            refunds: Vec::new(),
        };
        self.checkouts.insert(id.clone(), co);
        Ok(Said::Outcome(
            Outcome::Captured(Captured {
                checkout: id.clone(),
                total,
                cards: captures,
                replacements,
                released,
            }),
            notes,
        ))
    }

    fn void(&mut self, id: &CheckoutId, now: DateTime<Utc>) -> Expected {
        let mut co = self.existing(id)?;
        let State::Authorised { holds } = co.state.clone() else {
            return Err(refuse(id, &co.state, "void"));
        };
        let mut released = Vec::new();
        let mut cards = Vec::new();
        for (card_id, hold, amount) in holds {
            let mut card = match cards.iter().position(|c: &Card| c.id == card_id) {
                Some(i) => cards.swap_remove(i),
                None => self
                    .card(card_id)
                    .map_err(|_| RedeemError::MissingCard(card_id))?,
            };
            if card.release(hold) {
                released.push(CardAmount {
                    card: card_id,
                    amount,
                });
            }
            card.release_expired(now);
            cards.push(card);
        }
        for card in cards {
            self.cards.insert(card.id, card);
        }
        co.state = State::Voided;
        self.checkouts.insert(id.clone(), co);
        Ok(Said::Outcome(
            Outcome::Voided(Voided {
                checkout: id.clone(),
                released,
            }),
            0,
        ))
    }

    fn refund(
        &mut self,
        id: &CheckoutId,
        amount: Money,
        to: RefundTo,
        now: DateTime<Utc>,
        drawn: &mut Drawn,
    ) -> Expected {
        let mut co = self.existing(id)?;
        let State::Captured {
            captures,
            mut refunds,
        } = co.state.clone()
        else {
            return Err(refuse(id, &co.state, "refund"));
        };
        if amount.currency() != co.currency {
            return Err(mismatch(co.currency, amount.currency()));
        }
        if !amount.is_positive() {
            return Err(CardError::NotPositive(amount).into());
        }
        let zero = Money::zero(co.currency);
        let captured = captures.iter().fold(zero, |s, (_, m)| plus(s, *m));
        let refunded = refunds.iter().fold(zero, |s, (_, m)| plus(s, *m));
        let refundable = minus(captured, refunded);
        if amount.amount() > refundable.amount() {
            return Err(RedeemError::RefundExceedsCapture {
                checkout: id.clone(),
                refundable,
                requested: amount,
            });
        }
        // Last used first, each card back to what it paid.
        let mut split = Vec::new();
        let mut left = amount;
        for (card, spent) in captures.iter().rev() {
            if left.is_zero() {
                break;
            }
            let back = refunds
                .iter()
                .filter(|(c, _)| c == card)
                .fold(zero, |s, (_, m)| plus(s, *m));
            let part = smaller(minus(*spent, back), left);
            if !part.is_positive() {
                continue;
            }
            split.push((*card, part));
            refunds.push((*card, part));
            left = minus(left, part);
        }
        let mut fresh = std::mem::take(&mut drawn.inserted).into_iter();
        let mut next = || {
            fresh.next().ok_or(RedeemError::Driver {
                need: "fresh ids",
                reply: "none drawn yet",
            })
        };
        let mut parts = Vec::new();
        let mut notes = 0;
        // Money never goes back to a blocked card, nor onto a new one from it.
        let receiving: &[(CardId, Money)] = match to {
            RefundTo::NewCard => &split[..split.len().min(1)],
            _ => &split,
        };
        for (card, _) in receiving {
            self.card(*card)
                .map_err(|_| RedeemError::MissingCard(*card))?
                .refuse_blocked()?;
        }
        match to {
            RefundTo::NewCard => {
                let Some(&(last, _)) = split.first() else {
                    return Err(CardError::NotPositive(amount).into());
                };
                let (new_id, code) = next()?;
                self.new_card(new_id, code, amount, Some(last), now, None);
                if let Some(new) = self.cards.get_mut(&new_id) {
                    new.refunded = amount;
                }
                notes += 1;
                for (card, part) in &split {
                    parts.push(RefundPart {
                        from_card: *card,
                        to_card: new_id,
                        amount: *part,
                    });
                }
            }
            _ => {
                for (card_id, part) in &split {
                    let mut card = self
                        .card(*card_id)
                        .map_err(|_| RedeemError::MissingCard(*card_id))?;
                    let to_card =
                        if self.settings.replacement || card.status == CardStatus::Replaced {
                            let (new_id, code) = next()?;
                            self.new_card(new_id, code, *part, Some(card.id), now, None);
                            if let Some(new) = self.cards.get_mut(&new_id) {
                                new.refunded = *part;
                            }
                            notes += 1;
                            new_id
                        } else {
                            card.balance = plus(card.balance, *part);
                            card.refunded = plus(card.refunded, *part);
                            card.entries += 1;
                            if card.status == CardStatus::Depleted {
                                card.status = CardStatus::Active;
                            }
                            self.cards.insert(card.id, card);
                            *card_id
                        };
                    parts.push(RefundPart {
                        from_card: *card_id,
                        to_card,
                        amount: *part,
                    });
                }
            }
        }
        add(&mut self.flows(co.currency).refunded, amount);
        co.state = State::Captured { captures, refunds };
        self.checkouts.insert(id.clone(), co);
        Ok(Said::Outcome(
            Outcome::Refunded(RefundOutcome {
                checkout: id.clone(),
                total: amount,
                parts,
            }),
            notes,
        ))
    }

    fn checkout_cards(&self, id: &CheckoutId, now: DateTime<Utc>) -> CheckoutCards {
        let co = self.checkouts.get(id);
        let mut out = CheckoutCards {
            checkout: id.clone(),
            currency: co.map(|c| c.currency),
            customer: co.and_then(|c| c.customer.clone()),
            cards: Vec::new(),
            order: AllocationOrder::LowestFirst,
            at: now,
            stage: co.map_or(PaymentStage::Open, |c| match c.state {
                State::Open => PaymentStage::Open,
                State::Authorised { .. } => PaymentStage::Authorised,
                State::Captured { .. } => PaymentStage::Captured,
                State::Voided => PaymentStage::Voided,
            }),
            payments: Vec::new(),
        };
        let Some(co) = co else {
            return out;
        };
        for card_id in &co.applied {
            let Some(card) = self.cards.get(card_id) else {
                continue;
            };
            let zero = Money::zero(card.currency);
            let free = if card.spendable(now).is_ok() {
                card.available_at(now)
            } else {
                zero
            };
            let on_card = |amounts: &[(CardId, Money)]| {
                amounts
                    .iter()
                    .filter(|(c, _)| c == card_id)
                    .fold(zero, |s, (_, m)| plus(s, *m))
            };
            let (mut held, mut captured, mut refunded) = (zero, zero, zero);
            let credit = match &co.state {
                State::Open | State::Voided => free,
                State::Authorised { holds } => {
                    let live: Vec<(CardId, Money)> = holds
                        .iter()
                        .filter(|(c, h, _)| {
                            c == card_id && card.holds.iter().any(|x| x.id == *h && x.live(now))
                        })
                        .map(|(c, _, m)| (*c, *m))
                        .collect();
                    held = on_card(&live);
                    plus(free, held)
                }
                State::Captured { captures, refunds } => {
                    captured = on_card(captures);
                    refunded = on_card(refunds);
                    captured
                }
            };
            out.payments.push(CardPayment {
                card: *card_id,
                issued_at: card.issued_at,
                available: free,
                held,
                captured,
                refunded,
            });
            out.cards.push(AppliedCode {
                card: *card_id,
                code: card.hint(),
                balance: credit,
                expires_at: card.expires_at,
            });
        }
        out
    }

    fn amend(&mut self, id: CardId, command: CardCommand, now: DateTime<Utc>) -> Expected {
        let mut card = self.card(id)?;
        let released = card.release_expired(now);
        let before = card.entries;
        match command {
            CardCommand::Disable => {
                card.refuse_blocked()?;
                card.refuse_replaced()?;
                if card.status == CardStatus::Disabled {
                    return Err(CardError::Disabled {
                        card: id,
                        code: card.hint(),
                    }
                    .into());
                }
                card.status = CardStatus::Disabled;
                card.entries += 1;
            }
            CardCommand::Enable => {
                card.refuse_blocked()?;
                card.refuse_replaced()?;
                if card.status == CardStatus::Disabled {
                    card.status = card.depleted_or_active();
                    card.entries += 1;
                }
            }
            CardCommand::Unblock => {
                if card.blocked.take().is_some() {
                    card.status = card.depleted_or_active();
                    card.entries += 1;
                }
            }
            CardCommand::Adjust { change } => {
                card.refuse_replaced()?;
                card.refuse_blocked()?;
                if change.currency() != card.currency {
                    return Err(CardError::Money(MoneyError::CurrencyMismatch {
                        expected: card.currency,
                        found: change.currency(),
                    })
                    .into());
                }
                let balance = plus(card.balance, change);
                let held = card.held();
                if balance.amount() < held.amount() {
                    return Err(CardError::AdjustmentTooLarge {
                        card: id,
                        change,
                        balance,
                        held,
                    }
                    .into());
                }
                card.balance = balance;
                card.entries += 1;
                match card.status {
                    CardStatus::Active if balance.is_zero() => card.status = CardStatus::Depleted,
                    CardStatus::Depleted if balance.is_positive() => {
                        card.status = CardStatus::Active
                    }
                    _ => {}
                }
                add(&mut self.flows(card.currency).adjusted, change);
            }
            CardCommand::Reload { amount, bounds } => {
                if let Some(bounds) = bounds.filter(|b| !b.contains(&amount)) {
                    return Err(CommandError::OutsideBounds { amount, bounds }.into());
                }
                card.spendable(now)?;
                if amount.currency() != card.currency {
                    return Err(CardError::Money(MoneyError::CurrencyMismatch {
                        expected: card.currency,
                        found: amount.currency(),
                    })
                    .into());
                }
                if !amount.is_positive() {
                    return Err(CardError::NotPositive(amount).into());
                }
                card.balance = plus(card.balance, amount);
                card.entries += 1;
                if card.status == CardStatus::Depleted {
                    card.status = CardStatus::Active;
                }
                add(&mut self.flows(card.currency).reloaded, amount);
            }
            CardCommand::ChangeExpiry { expires_at } => {
                card.refuse_replaced()?;
                if let Some(at) = expires_at.filter(|at| !expiry_year(*at)) {
                    return Err(CardError::ExpiryOutOfRange { at }.into());
                }
                if expires_at != card.expires_at {
                    card.entries += 1;
                    card.expires_at = expires_at;
                    if expires_at.is_none_or(|at| at > now) {
                        card.expired_mark = false;
                    }
                    if card.status == CardStatus::Expired && expires_at.is_none_or(|at| at > now) {
                        card.status = card.depleted_or_active();
                    }
                }
            }
        }
        let entry = (card.entries > before).then_some(before + 1);
        let outcome = Amended {
            card: id,
            command,
            status: card.status_at(now),
            balance: card.balance,
            expires_at: card.expires_at,
            entry,
        };
        if entry.is_some() || !released.is_empty() {
            self.cards.insert(id, card);
        }
        Ok(Said::Outcome(Outcome::Amended(outcome), 0))
    }

    /// Blocks the cards of `order` in `scope`: each card's holds go, one entry each, then the
    /// block, then the clawback of what is left; a card blocked already or replaced is left as
    /// it is. The order's cards are taken by id.
    fn reverse_purchase(
        &mut self,
        order: &Reference,
        scope: &ReversalScope,
        reason: ReversalReason,
    ) -> Expected {
        let bought: Vec<CardId> = self
            .cards
            .values()
            .filter(|c| c.order.as_ref() == Some(order))
            .map(|c| c.id)
            .collect();
        let chosen: Vec<CardId> = match scope {
            ReversalScope::All => bought,
            ReversalScope::Cards(named) => {
                let mut chosen: Vec<CardId> = Vec::new();
                for id in named {
                    if !bought.contains(id) {
                        return Err(RedeemError::NotOnOrder {
                            order: order.clone(),
                            card: *id,
                        });
                    }
                    if !chosen.contains(id) {
                        chosen.push(*id);
                    }
                }
                chosen
            }
        };
        if chosen.is_empty() {
            return Err(RedeemError::NothingToReverse {
                order: order.clone(),
            });
        }
        let mut cards = Vec::with_capacity(chosen.len());
        for id in chosen {
            let mut card = self.card(id)?;
            let zero = Money::zero(card.currency);
            let spent = minus(card.spent, card.refunded);
            let spent = if spent.is_negative() { zero } else { spent };
            let blocks = card.blocked.is_none() && card.status != CardStatus::Replaced;
            let (mut released, mut clawed_back) = (zero, zero);
            if blocks {
                released = card.held();
                card.entries += card.holds.len() as u64 + 1;
                card.holds.clear();
                clawed_back = card.balance;
                if clawed_back.is_positive() {
                    card.entries += 1;
                    add(&mut self.flows(card.currency).clawed_back, clawed_back);
                }
                card.balance = zero;
                card.status = CardStatus::Blocked;
                card.blocked = Some(reason);
            }
            cards.push(ReversedCard {
                card: id,
                code: card.hint(),
                value: card.initial,
                spent,
                clawed_back,
                released,
                status: card.status,
                blocked: blocks,
            });
            self.cards.insert(id, card);
        }
        Ok(Said::Outcome(
            Outcome::Reversed(Reversal {
                order: order.clone(),
                reason,
                cards,
            }),
            0,
        ))
    }

    fn replace_code(&mut self, id: CardId, drawn: &mut Drawn) -> Expected {
        let mut card = self.card(id)?;
        card.refuse_replaced()?;
        let Some((_, code)) = drawn.recoded.pop() else {
            return Err(RedeemError::Driver {
                need: "a fresh code",
                reply: "none drawn yet",
            });
        };
        card.entries += 1;
        self.codes.remove(card.code.expose_secret());
        self.retired.push(card.code.clone());
        self.take_code(&code, id);
        card.code = code;
        let outcome = CodeReplaced {
            card: id,
            code: card.hint(),
            entry: card.entries,
        };
        self.cards.insert(id, card);
        Ok(Said::Outcome(Outcome::CodeReplaced(outcome), 1))
    }

    /// A sweep's work on card `id` at `now`: the holds that ran out go, and a card past its
    /// expiry instant is marked expired.
    pub(super) fn sweep_card(&mut self, id: CardId, now: DateTime<Utc>) -> Option<Swept> {
        let mut card = self.cards.get(&id)?.clone();
        let zero = Money::zero(card.currency);
        let amount = card
            .holds
            .iter()
            .filter(|h| !h.live(now))
            .fold(zero, |s, h| plus(s, h.amount));
        let released = card.release_expired(now);
        let expired =
            card.status_at(now) == CardStatus::Expired && card.status != CardStatus::Expired;
        if expired {
            card.expired_mark = true;
            card.status = CardStatus::Expired;
            card.entries += 1;
        }
        let swept = Swept {
            card: id,
            released,
            released_amount: amount,
            expired,
            status: card.status,
        };
        self.cards.insert(id, card);
        (expired || !swept.released.is_empty()).then_some(swept)
    }

    /// The report lines the model expects at `now`, per currency with any card.
    pub(super) fn report(&self) -> BTreeMap<Currency, Line> {
        let mut lines = BTreeMap::new();
        for card in self.cards.values() {
            let zero = Money::zero(card.currency);
            let flows = self.flows.get(&card.currency).cloned().unwrap_or_default();
            let get = |m: Option<Money>| m.unwrap_or(zero);
            let line = lines.entry(card.currency).or_insert(Line {
                issued: get(flows.issued),
                reloaded: get(flows.reloaded),
                redeemed: get(flows.redeemed),
                refunded: get(flows.refunded),
                adjusted: get(flows.adjusted),
                moved: get(flows.moved),
                clawed_back: get(flows.clawed_back),
                held: zero,
                outstanding: zero,
                outstanding_cards: 0,
                expired: zero,
                expired_cards: 0,
            });
            line.held = plus(line.held, card.held());
            let positive = u64::from(card.balance.is_positive());
            if card.expired_mark {
                line.expired = plus(line.expired, card.balance);
                line.expired_cards += positive;
            } else {
                line.outstanding = plus(line.outstanding, card.balance);
                line.outstanding_cards += positive;
            }
        }
        lines
    }

    /// The codes that must find nothing.
    pub(super) fn retired(&self) -> &[Code] {
        &self.retired
    }

    /// Every live code and the card it must find.
    pub(super) fn live_codes(&self) -> impl Iterator<Item = (&Code, CardId)> + '_ {
        self.cards.values().map(|c| (&c.code, c.id))
    }

    /// Every card the model knows, as it states them.
    pub(super) fn card_views(&self) -> impl Iterator<Item = CardView> + '_ {
        self.cards.values().map(Card::view)
    }
}

/// The refusal a key reused for another request gets.
fn conflict(request: &Request) -> RedeemError {
    let key = match key_text(request).and_then(|k| IdempotencyKey::new(&k).ok()) {
        Some(key) => key,
        None => return RedeemError::Contention { attempts: 0 },
    };
    RedeemError::IdempotencyConflict {
        key,
        first: Box::new(crate::redeem::RecordedRequest::Capture {
            checkout: CheckoutId::new("unknown")
                .unwrap_or_else(|_| unreachable!("a valid reference")),
        }),
    }
}

/// A checkout as the model states it: currency, customer, applied cards, state name, holds
/// (card, hold, amount), captures and refunds (card, amount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CheckoutView {
    pub(super) currency: Currency,
    pub(super) customer: Option<Reference>,
    pub(super) applied: Vec<CardId>,
    pub(super) state: &'static str,
    pub(super) holds: Vec<(CardId, u64, Money)>,
    pub(super) captures: Vec<(CardId, Money)>,
    pub(super) refunds: Vec<(CardId, Money)>,
}

impl CheckoutView {
    /// The view of a stored checkout, to compare with the model's.
    pub(super) fn of(stored: &crate::redeem::Checkout) -> CheckoutView {
        use crate::redeem::CheckoutState as S;
        let (state, holds, captures, refunds) = match stored.state() {
            S::Open => ("open", Vec::new(), Vec::new(), Vec::new()),
            S::Voided => ("voided", Vec::new(), Vec::new(), Vec::new()),
            S::Authorised { holds, .. } => (
                "authorised",
                holds.iter().map(|h| (h.card, h.hold, h.amount)).collect(),
                Vec::new(),
                Vec::new(),
            ),
            S::Captured {
                captures, refunds, ..
            } => (
                "captured",
                Vec::new(),
                captures.iter().map(|c| (c.card, c.amount)).collect(),
                refunds.iter().map(|c| (c.card, c.amount)).collect(),
            ),
        };
        CheckoutView {
            currency: stored.currency(),
            customer: stored.customer().cloned(),
            applied: stored.applied().to_vec(),
            state,
            holds,
            captures,
            refunds,
        }
    }
}

impl Model {
    /// Every checkout the model knows, as it states them.
    pub(super) fn checkout_views(&self) -> impl Iterator<Item = (&CheckoutId, CheckoutView)> + '_ {
        self.checkouts.iter().map(|(id, co)| {
            let (holds, captures, refunds) = match &co.state {
                State::Authorised { holds } => (holds.clone(), Vec::new(), Vec::new()),
                State::Captured { captures, refunds } => {
                    (Vec::new(), captures.clone(), refunds.clone())
                }
                _ => (Vec::new(), Vec::new(), Vec::new()),
            };
            (
                id,
                CheckoutView {
                    currency: co.currency,
                    customer: co.customer.clone(),
                    applied: co.applied.clone(),
                    state: co.state.name(),
                    holds,
                    captures,
                    refunds,
                },
            )
        })
    }
}

/// What the planner reads of the model, to pick arguments near the bounds that matter.
impl Model {
    /// What checkout `id` holds while authorised, and what it captured less what it refunded
    /// once captured.
    pub(super) fn amounts_of(&self, id: &CheckoutId) -> (Option<Money>, Option<Money>) {
        match self.checkouts.get(id).map(|co| &co.state) {
            Some(State::Authorised { holds }) => {
                let mut held = None;
                for (_, _, amount) in holds {
                    add(&mut held, *amount);
                }
                (held, None)
            }
            Some(State::Captured { captures, refunds }) => {
                let (mut captured, mut refunded) = (None, None);
                for (_, amount) in captures {
                    add(&mut captured, *amount);
                }
                for (_, amount) in refunds {
                    add(&mut refunded, *amount);
                }
                let left = match (captured, refunded) {
                    (Some(c), Some(r)) => Some(minus(c, r)),
                    (c, _) => c,
                };
                (None, left)
            }
            _ => (None, None),
        }
    }

    /// Checkout `id`'s state by name and how many cards it has applied, if it exists.
    pub(super) fn stage(&self, id: &CheckoutId) -> Option<(&'static str, usize)> {
        self.checkouts
            .get(id)
            .map(|co| (co.state.name(), co.applied.len()))
    }

    /// Every instant at which something the model holds expires: holds and cards.
    pub(super) fn instants(&self) -> Vec<DateTime<Utc>> {
        let mut out: Vec<DateTime<Utc>> = Vec::new();
        for card in self.cards.values() {
            out.extend(card.expires_at);
            out.extend(card.holds.iter().filter_map(|h| h.expires_at));
        }
        out.sort();
        out.dedup();
        out
    }
}

impl Model {
    /// This model with the card `code` found in `earlier`, as it was there: a code looked up
    /// before its checkout was read.
    pub(super) fn with_card_of(&self, earlier: &Model, code: &Code) -> Model {
        let mut model = self.clone();
        let text = code.expose_secret();
        match earlier.codes.get(text) {
            Some(id) => {
                if let Some(card) = earlier.cards.get(id) {
                    model.cards.insert(*id, card.clone());
                }
                model.codes.insert(text.to_owned(), *id);
            }
            None => {
                model.codes.remove(text);
            }
        }
        model
    }
}
