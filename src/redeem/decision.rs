//! Redeeming gift cards at checkout, as pure decisions (seeds 003 and 004).
//!
//! A [`Checkout`] records which cards a shopper applied (BigCommerce's
//! `POST`/`DELETE .../gift-certificates`) and where its payment stands. Each function here takes
//! the checkout, the cards it needs, the request and `now`, and returns a [`Decision`]: the
//! outcome for the caller, the cards and ledger entries to write, the notifications to deliver.
//! Nothing here reads a clock, draws a random number or touches storage, so the same decisions
//! serve the crate's own [`Redeemer`](crate::Redeemer) and a host's async handlers alike.
//!
//! The flow is seed 003's: *authorise* at validation places holds for the amounts allocated
//! lowest-first; *capture* on completion turns them into spending and runs the leftover
//! strategy; *void* on payment failure releases them. *Refund* returns captured money, never
//! more than the checkout captured.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::card::ExpiryError;
use crate::card::Notification;
use crate::card::{CardError, CardId, CardSpec, CodeHint, GiftCard};
use crate::card::{LedgerEntry, Reference, ReleaseReason};
use crate::card::{LeftoverStrategy, Refunded, refund_to_card, settle_leftover};
use crate::code::{Code, CodeError};
use crate::money::Currency;
use crate::money::{Money, MoneyError};
use crate::redeem::GuardError;
use crate::redeem::{AllocationError, allocate};
use crate::redeem::{CardWrite, Changes, RecordWrite, StoreError};
use crate::redeem::{IdempotencyKey, RecordedRequest};

/// Everything that can refuse a redemption request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedeemError {
    /// The text is not a code, or its check character is wrong (a typo): no store was asked.
    #[error("invalid gift card code: {0}")]
    InvalidCode(#[source] CodeError),
    /// No card has this code.
    #[error("no gift card has code {0}")]
    UnknownCode(String),
    /// The client tried too many unknown codes.
    #[error(transparent)]
    TooManyAttempts(#[from] GuardError),
    /// The card refuses (disabled, expired, replaced, short of funds...).
    #[error(transparent)]
    Card(#[from] CardError),
    /// A card is used only in its own currency.
    #[error("card {card} is in {card_currency}; checkout {checkout} is in {checkout_currency}")]
    CardCurrency {
        /// The card.
        card: CardId,
        /// Its currency.
        card_currency: Currency,
        /// The checkout.
        checkout: Reference,
        /// The checkout's currency.
        checkout_currency: Currency,
    },
    /// The card has nothing left to give.
    #[error("card {0} has no balance left")]
    EmptyCard(CardId),
    /// No checkout with this reference.
    #[error("no checkout {0}")]
    UnknownCheckout(Reference),
    /// The code is not applied to the checkout.
    #[error("code {code} is not applied to checkout {checkout}")]
    NotApplied {
        /// The masked code.
        code: String,
        /// The checkout.
        checkout: Reference,
    },
    /// The checkout is not in a state that allows the operation.
    #[error("checkout {checkout} is {state}; cannot {operation}")]
    InvalidState {
        /// The checkout.
        checkout: Reference,
        /// Where it stands.
        state: &'static str,
        /// What was asked.
        operation: &'static str,
    },
    /// The holds ran out before the capture; authorise again.
    #[error("the authorisation of checkout {0} expired; authorise again")]
    AuthorisationExpired(Reference),
    /// A refund asked for more than the checkout captured and has not yet refunded.
    #[error("checkout {checkout} can refund at most {refundable}, not {requested}")]
    RefundExceedsCapture {
        /// The checkout.
        checkout: Reference,
        /// What it can still refund.
        refundable: Money,
        /// What was asked.
        requested: Money,
    },
    /// The key was used before for a different request.
    #[error("idempotency key {key} was used for another request ({first})")]
    IdempotencyConflict {
        /// The key.
        key: IdempotencyKey,
        /// The request it was first used for.
        first: RecordedRequest,
    },
    /// Other writers kept winning; the request changed nothing.
    #[error("gave up after {attempts} attempts: the cards kept changing underneath")]
    Contention {
        /// How many times it tried.
        attempts: u32,
    },
    /// No fresh code could be made.
    #[error("could not generate a gift card code: {0}")]
    CodeGeneration(#[source] CodeError),
    /// An amount could not be allocated.
    #[error(transparent)]
    Allocation(#[from] AllocationError),
    /// A card's expiry date could not be set.
    #[error(transparent)]
    Expiry(#[from] ExpiryError),
    /// Amounts in different currencies, or an overflow.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The cards given to a decision lack one that the checkout uses (the caller read too
    /// few).
    #[error("card {0}, which the checkout uses, was not given")]
    MissingCard(CardId),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Codes that could not be generated (the generator failed, or every attempt collided).
impl From<CodeError> for RedeemError {
    fn from(e: CodeError) -> Self {
        RedeemError::CodeGeneration(e)
    }
}

/// A hold placed for a checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldRef {
    /// The card.
    pub card: CardId,
    /// The hold's number on the card.
    pub hold: u64,
    /// The amount held.
    pub amount: Money,
}

/// An amount on one card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardAmount {
    /// The card.
    pub card: CardId,
    /// The amount.
    pub amount: Money,
}

/// Where a checkout's gift card payment stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum CheckoutState {
    /// Codes can be applied and removed.
    Open,
    /// Holds are placed.
    Authorised {
        /// What the order cost.
        payable: Money,
        /// The holds, one per card used.
        holds: Vec<HoldRef>,
    },
    /// The money was spent.
    Captured {
        /// What the order cost.
        payable: Money,
        /// What each card paid, in the order used.
        captures: Vec<CardAmount>,
        /// What has been refunded, per card it was spent from.
        refunds: Vec<CardAmount>,
    },
    /// The holds were released (the payment failed); the checkout may authorise again.
    Voided,
}

impl CheckoutState {
    fn name(&self) -> &'static str {
        match self {
            CheckoutState::Open => "open",
            CheckoutState::Authorised { .. } => "authorised",
            CheckoutState::Captured { .. } => "captured",
            CheckoutState::Voided => "voided",
        }
    }
}

/// A checkout's gift cards and the state of their payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkout {
    id: Reference,
    currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer: Option<Reference>,
    applied: Vec<CardId>,
    state: CheckoutState,
}

impl Checkout {
    /// A new open checkout.
    #[must_use]
    pub fn new(id: Reference, currency: Currency, customer: Option<Reference>) -> Checkout {
        Checkout {
            id,
            currency,
            customer,
            applied: Vec::new(),
            state: CheckoutState::Open,
        }
    }

    /// Its reference.
    #[must_use]
    pub fn id(&self) -> &Reference {
        &self.id
    }

    /// Its currency.
    #[must_use]
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// The customer, if known.
    #[must_use]
    pub fn customer(&self) -> Option<&Reference> {
        self.customer.as_ref()
    }

    /// The cards applied, in the order applied.
    #[must_use]
    pub fn applied(&self) -> &[CardId] {
        &self.applied
    }

    /// Where its payment stands.
    #[must_use]
    pub fn state(&self) -> &CheckoutState {
        &self.state
    }

    /// The cards a request on this checkout needs, in order: the applied ones while open, the
    /// held ones once authorised, the spent ones once captured.
    #[must_use]
    pub fn cards_needed(&self) -> Vec<CardId> {
        self.needed().collect()
    }

    /// [`Checkout::cards_needed`] without collecting them.
    pub(crate) fn needed(&self) -> NeededCards<'_> {
        match &self.state {
            CheckoutState::Open | CheckoutState::Voided => {
                NeededCards::Applied(self.applied.iter())
            }
            CheckoutState::Authorised { holds, .. } => NeededCards::Held(holds.iter()),
            CheckoutState::Captured { captures, .. } => NeededCards::Spent(captures.iter()),
        }
    }

    /// Takes the state out (leaving it open) for a decision that sets the next one; puts it
    /// back and refuses `operation` unless `accept` takes it.
    fn take_state<T>(
        &mut self,
        operation: &'static str,
        accept: impl FnOnce(CheckoutState) -> Result<T, CheckoutState>,
    ) -> Result<T, RedeemError> {
        let state = std::mem::replace(&mut self.state, CheckoutState::Open);
        accept(state).map_err(|state| {
            self.state = state;
            self.refuse(operation)
        })
    }

    fn refuse(&self, operation: &'static str) -> RedeemError {
        RedeemError::InvalidState {
            checkout: self.id.clone(),
            state: self.state.name(),
            operation,
        }
    }

    fn ensure_editable(&self, operation: &'static str) -> Result<(), RedeemError> {
        match self.state {
            CheckoutState::Open | CheckoutState::Voided => Ok(()),
            _ => Err(self.refuse(operation)),
        }
    }
}

/// The ids of the cards a checkout needs, in order (see [`Checkout::cards_needed`]).
#[derive(Debug, Clone)]
pub(crate) enum NeededCards<'a> {
    Applied(std::slice::Iter<'a, CardId>),
    Held(std::slice::Iter<'a, HoldRef>),
    Spent(std::slice::Iter<'a, CardAmount>),
}

impl Iterator for NeededCards<'_> {
    type Item = CardId;

    fn next(&mut self) -> Option<CardId> {
        match self {
            NeededCards::Applied(ids) => ids.next().copied(),
            NeededCards::Held(holds) => holds.next().map(|h| h.card),
            NeededCards::Spent(spent) => spent.next().map(|c| c.card),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            NeededCards::Applied(ids) => ids.size_hint(),
            NeededCards::Held(holds) => holds.size_hint(),
            NeededCards::Spent(spent) => spent.size_hint(),
        }
    }
}

impl ExactSizeIterator for NeededCards<'_> {}

/// One card's part in an authorisation, in BigCommerce's terms (seed 004).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardUse {
    /// The card.
    pub card: CardId,
    /// Its code, masked.
    pub code: CodeHint,
    /// What it could give.
    pub balance: Money,
    /// What this checkout holds on it.
    pub used: Money,
    /// What it keeps.
    pub remaining: Money,
}

/// The result of authorising a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorisation {
    /// The checkout.
    pub checkout: Reference,
    /// What the order costs.
    pub payable: Money,
    /// What the cards pay together.
    pub credit: Money,
    /// What is left to pay by another method (BigCommerce's `outstandingBalance`).
    pub outstanding: Money,
    /// Every applied card, in the order applied.
    pub cards: Vec<CardUse>,
}

/// A card closed and its remainder moved (replacement strategy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    /// The closed card.
    pub old_card: CardId,
    /// The card with the new code.
    pub new_card: CardId,
    /// What moved.
    pub value: Money,
}

/// The result of capturing a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Captured {
    /// The checkout.
    pub checkout: Reference,
    /// What the cards paid together.
    pub total: Money,
    /// What each card paid.
    pub cards: Vec<CardAmount>,
    /// Cards replaced by the leftover strategy.
    pub replacements: Vec<Replacement>,
}

/// The result of voiding a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Voided {
    /// The checkout.
    pub checkout: Reference,
    /// What went back to each card.
    pub released: Vec<CardAmount>,
}

/// One part of a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundPart {
    /// The card the money was spent from.
    pub from_card: CardId,
    /// The card it went to (the same card, or a new one).
    pub to_card: CardId,
    /// How much.
    pub amount: Money,
}

/// The result of a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundOutcome {
    /// The checkout.
    pub checkout: Reference,
    /// What was refunded.
    pub total: Money,
    /// Where it went.
    pub parts: Vec<RefundPart>,
}

/// A card issued, as the caller may see it (the code masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedCard {
    /// The card.
    pub card: CardId,
    /// Its code, masked.
    pub code: CodeHint,
    /// Its value.
    pub value: Money,
}

/// The result of issuing cards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issued {
    /// The cards, in the order asked.
    pub cards: Vec<IssuedCard>,
}

/// Any operation's result, as an idempotency record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operation", content = "result", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Outcome {
    /// [`authorise`].
    Authorised(Authorisation),
    /// [`capture`].
    Captured(Captured),
    /// [`void`].
    Voided(Voided),
    /// [`refund`].
    Refunded(RefundOutcome),
    /// [`issue`].
    Issued(Issued),
}

/// What a decision returns and what it asks to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision<T> {
    /// The answer for the caller.
    pub outcome: T,
    /// The checkout as it must be stored, if it changed.
    pub checkout: Option<Checkout>,
    /// Existing cards that changed (write them with the version they were read at).
    pub updated: Vec<GiftCard>,
    /// New cards with their codes (neither ids nor codes may exist yet).
    pub inserted: Vec<(GiftCard, Code)>,
    /// Ledger entries to append, in order.
    pub entries: Vec<LedgerEntry>,
    /// What to tell people, for the host to deliver.
    pub notifications: Vec<Notification>,
}

impl<T> Decision<T> {
    /// Splits the decision into its outcome, its notifications and the [`Changes`] to commit.
    ///
    /// `card_version` gives the version each updated card was read at, and `checkout_version`
    /// the checkout's (`None` when the checkout is new). The idempotency record is the
    /// caller's to add.
    pub fn into_parts(
        self,
        card_version: impl Fn(CardId) -> Option<u64>,
        checkout_version: Option<u64>,
    ) -> (T, Vec<Notification>, Changes) {
        let mut cards = Vec::with_capacity(self.updated.len() + self.inserted.len());
        cards.extend(self.updated.into_iter().map(|card| CardWrite::Update {
            // A card with no known version cannot match any stored one: it conflicts.
            expected_version: card_version(card.id()).unwrap_or(0),
            card,
        }));
        cards.extend(
            self.inserted
                .into_iter()
                .map(|(card, code)| CardWrite::Insert { card, code }),
        );
        let changes = Changes {
            cards,
            entries: self.entries,
            checkout: self.checkout.map(|value| RecordWrite {
                value,
                expected_version: checkout_version,
            }),
            idempotency: None,
            guard: None,
        };
        (self.outcome, self.notifications, changes)
    }

    fn new(outcome: T) -> Decision<T> {
        Decision {
            outcome,
            checkout: None,
            updated: Vec::new(),
            inserted: Vec::new(),
            entries: Vec::new(),
            notifications: Vec::new(),
        }
    }
}

/// Keeps the cards a checkout needs, in `ids` order, and drops the others: in place, since
/// callers usually pass exactly those cards in that order already.
fn take_cards(
    ids: impl IntoIterator<Item = CardId>,
    mut cards: Vec<GiftCard>,
) -> Result<Vec<GiftCard>, RedeemError> {
    let mut taken = 0;
    for id in ids {
        let found = cards
            .get(taken..)
            .and_then(|rest| rest.iter().position(|c| c.id() == id))
            .ok_or(RedeemError::MissingCard(id))?;
        if found > 0 {
            cards.swap(taken, taken + found);
        }
        taken += 1;
    }
    cards.truncate(taken);
    Ok(cards)
}

/// Applies `card` to checkout `id` (created in `currency` when `existing` is `None`).
///
/// Applying a card already on the checkout changes nothing.
///
/// # Errors
///
/// [`RedeemError::InvalidState`] once authorised or captured; [`RedeemError::Card`] for a card
/// that cannot be spent at `now`; [`RedeemError::CardCurrency`] for a card in another currency;
/// [`RedeemError::EmptyCard`]; [`RedeemError::Money`] when `currency` differs from the
/// existing checkout's.
pub fn apply(
    existing: Option<Checkout>,
    id: Reference,
    currency: Currency,
    customer: Option<Reference>,
    card: &GiftCard,
    now: DateTime<Utc>,
) -> Result<Checkout, RedeemError> {
    let mut checkout = existing.unwrap_or_else(|| Checkout::new(id, currency, customer));
    checkout.ensure_editable("apply a code")?;
    if checkout.currency != currency {
        return Err(MoneyError::CurrencyMismatch {
            expected: checkout.currency,
            found: currency,
        }
        .into());
    }
    card.ensure_spendable(now)?;
    if card.currency() != checkout.currency {
        return Err(RedeemError::CardCurrency {
            card: card.id(),
            card_currency: card.currency(),
            checkout: checkout.id.clone(),
            checkout_currency: checkout.currency,
        });
    }
    if !card.available().is_positive() {
        return Err(RedeemError::EmptyCard(card.id()));
    }
    if !checkout.applied.contains(&card.id()) {
        checkout.applied.push(card.id());
    }
    Ok(checkout)
}

/// Takes `card` off the checkout (BigCommerce's `DELETE .../gift-certificates/{code}`).
///
/// # Errors
///
/// [`RedeemError::InvalidState`] once authorised or captured, and [`RedeemError::NotApplied`].
pub fn remove(mut checkout: Checkout, card: &GiftCard) -> Result<Checkout, RedeemError> {
    checkout.ensure_editable("remove a code")?;
    let before = checkout.applied.len();
    checkout.applied.retain(|id| *id != card.id());
    if checkout.applied.len() == before {
        return Err(RedeemError::NotApplied {
            code: card.code_hint().to_owned(),
            checkout: checkout.id.clone(),
        });
    }
    Ok(checkout)
}

/// Authorises `payable` on the checkout: allocates it over the applied cards lowest-first and
/// places a hold on each card used, expiring at `hold_expires_at`.
///
/// `cards` are the checkout's [`applied`](Checkout::applied) cards (any order).
///
/// # Errors
///
/// [`RedeemError::InvalidState`] unless open or voided; [`RedeemError::Money`] when `payable`
/// is in another currency; [`RedeemError::Allocation`] when it is negative;
/// [`RedeemError::Card`] when a card can no longer be spent.
pub fn authorise(
    mut checkout: Checkout,
    cards: Vec<GiftCard>,
    payable: Money,
    now: DateTime<Utc>,
    hold_expires_at: Option<DateTime<Utc>>,
) -> Result<Decision<Authorisation>, RedeemError> {
    checkout.ensure_editable("authorise")?;
    if payable.currency() != checkout.currency {
        return Err(MoneyError::CurrencyMismatch {
            expected: checkout.currency,
            found: payable.currency(),
        }
        .into());
    }
    let mut cards = take_cards(checkout.applied.iter().copied(), cards)?;
    let mut entries = Vec::with_capacity(cards.len());
    for card in &mut cards {
        entries.extend(card.release_expired_holds(now));
        card.ensure_spendable(now)?;
    }
    let allocation = allocate(payable, cards.iter().map(|c| (c.id(), c.available())))?;
    let mut holds = Vec::with_capacity(cards.len());
    let mut uses = Vec::with_capacity(cards.len());
    for (card, part) in cards.iter_mut().zip(allocation.cards()) {
        if part.used.is_positive() {
            let held = card.place_hold(
                part.used,
                checkout.id.clone(),
                checkout.customer.clone(),
                now,
                hold_expires_at,
            )?;
            holds.push(HoldRef {
                card: card.id(),
                hold: held.seq(),
                amount: part.used,
            });
            entries.push(held);
        }
        uses.push(CardUse {
            card: card.id(),
            code: card.shared_code_hint().clone(),
            balance: part.available,
            used: part.used,
            remaining: part.remaining,
        });
    }
    let outcome = Authorisation {
        checkout: checkout.id.clone(),
        payable,
        credit: allocation.used(),
        outstanding: allocation.outstanding(),
        cards: uses,
    };
    checkout.state = CheckoutState::Authorised { payable, holds };
    let mut decision = Decision::new(outcome);
    decision.checkout = Some(checkout);
    decision.updated = cards;
    decision.entries = entries;
    Ok(decision)
}

/// Captures the checkout's holds (order completed) and runs `strategy` on each card used.
/// `fresh` gives an id and code for each new card a replacement needs; it is not called
/// otherwise.
///
/// `cards` are the cards [`Checkout::cards_needed`] names.
///
/// # Errors
///
/// [`RedeemError::InvalidState`] unless authorised, [`RedeemError::AuthorisationExpired`] when
/// a hold has run out, and whatever `fresh` returns.
pub fn capture<F>(
    mut checkout: Checkout,
    cards: Vec<GiftCard>,
    strategy: &dyn LeftoverStrategy,
    now: DateTime<Utc>,
    mut fresh: F,
) -> Result<Decision<Captured>, RedeemError>
where
    F: FnMut() -> Result<(CardId, Code), RedeemError>,
{
    let (payable, holds) = checkout.take_state("capture", |state| match state {
        CheckoutState::Authorised { payable, holds } => Ok((payable, holds)),
        other => Err(other),
    })?;
    let mut cards = take_cards(holds.iter().map(|h| h.card), cards)?;
    let mut decision = Decision::new(());
    decision.entries.reserve(2 * holds.len());
    let mut captures = Vec::with_capacity(holds.len());
    for (card, hold) in cards.iter_mut().zip(&holds) {
        card.capture_into(hold.hold, hold.amount, now, &mut decision.entries)
            .map_err(|e| match e {
                CardError::HoldExpired { .. } | CardError::UnknownHold { .. } => {
                    RedeemError::AuthorisationExpired(checkout.id.clone())
                }
                other => other.into(),
            })?;
        captures.push(CardAmount {
            card: card.id(),
            amount: hold.amount,
        });
    }
    let mut replacements = Vec::new();
    for card in &mut cards {
        if let Some((closed, new)) = settle_leftover(strategy, card, now, &mut fresh)? {
            replacements.push(Replacement {
                old_card: card.id(),
                new_card: new.card.id(),
                value: new.card.balance(),
            });
            decision.entries.push(closed);
            decision.entries.push(new.entry);
            decision.notifications.push(new.notification);
            decision.inserted.push((new.card, new.code));
        }
    }
    let total = Money::sum(checkout.currency, captures.iter().map(|c| c.amount))?;
    checkout.state = CheckoutState::Captured {
        payable,
        captures: captures.clone(),
        refunds: Vec::new(),
    };
    Ok(Decision {
        outcome: Captured {
            checkout: checkout.id.clone(),
            total,
            cards: captures,
            replacements,
        },
        checkout: Some(checkout),
        updated: cards,
        inserted: decision.inserted,
        entries: decision.entries,
        notifications: decision.notifications,
    })
}

/// Releases the checkout's holds (payment failed: seed 003's revert). Holds that already
/// expired were released by themselves and are skipped.
///
/// # Errors
///
/// [`RedeemError::InvalidState`] unless authorised.
pub fn void(
    mut checkout: Checkout,
    cards: Vec<GiftCard>,
    now: DateTime<Utc>,
) -> Result<Decision<Voided>, RedeemError> {
    let holds = checkout.take_state("void", |state| match state {
        CheckoutState::Authorised { holds, .. } => Ok(holds),
        other => Err(other),
    })?;
    let mut cards = take_cards(holds.iter().map(|h| h.card), cards)?;
    let mut entries = Vec::new();
    let mut released = Vec::new();
    for (card, hold) in cards.iter_mut().zip(&holds) {
        match card.release(hold.hold, ReleaseReason::Voided, now) {
            Ok(entry) => {
                released.push(CardAmount {
                    card: card.id(),
                    amount: hold.amount,
                });
                entries.push(entry);
            }
            Err(CardError::UnknownHold { .. }) => {}
            Err(other) => return Err(other.into()),
        }
        entries.extend(card.release_expired_holds(now));
    }
    checkout.state = CheckoutState::Voided;
    let mut decision = Decision::new(Voided {
        checkout: checkout.id.clone(),
        released,
    });
    decision.checkout = Some(checkout);
    decision.updated = cards;
    decision.entries = entries;
    Ok(decision)
}

/// Refunds `amount` of what the checkout captured, to the cards it was spent from, last used
/// first, as `strategy` directs (the same card, or a new one with a code from `fresh`).
///
/// # Errors
///
/// [`RedeemError::InvalidState`] unless captured, [`RedeemError::Card`] for an amount of zero
/// or less, [`RedeemError::Money`] for another currency, [`RedeemError::RefundExceedsCapture`]
/// beyond what was captured and not yet refunded, and whatever `fresh` returns.
pub fn refund<F>(
    mut checkout: Checkout,
    cards: Vec<GiftCard>,
    amount: Money,
    strategy: &dyn LeftoverStrategy,
    now: DateTime<Utc>,
    mut fresh: F,
) -> Result<Decision<RefundOutcome>, RedeemError>
where
    F: FnMut() -> Result<(CardId, Code), RedeemError>,
{
    let (payable, captures, mut refunds) = checkout.take_state("refund", |state| match state {
        CheckoutState::Captured {
            payable,
            captures,
            refunds,
        } => Ok((payable, captures, refunds)),
        other => Err(other),
    })?;
    let currency = checkout.currency;
    if amount.currency() != currency {
        return Err(MoneyError::CurrencyMismatch {
            expected: currency,
            found: amount.currency(),
        }
        .into());
    }
    if !amount.is_positive() {
        return Err(CardError::NotPositive(amount).into());
    }
    let refunded_from = |card: CardId, refunds: &[CardAmount]| {
        Money::sum(
            currency,
            refunds.iter().filter(|r| r.card == card).map(|r| r.amount),
        )
    };
    let captured = Money::sum(currency, captures.iter().map(|c| c.amount))?;
    let refunded = Money::sum(currency, refunds.iter().map(|r| r.amount))?;
    let refundable = captured.checked_sub(refunded)?;
    if amount.amount() > refundable.amount() {
        return Err(RedeemError::RefundExceedsCapture {
            checkout: checkout.id.clone(),
            refundable,
            requested: amount,
        });
    }
    let mut cards = take_cards(captures.iter().map(|c| c.card), cards)?;
    let mut decision = Decision::new(());
    let mut parts = Vec::new();
    let mut left = amount;
    for (card, spent) in cards.iter_mut().zip(&captures).rev() {
        if left.is_zero() {
            break;
        }
        let open = spent
            .amount
            .checked_sub(refunded_from(card.id(), &refunds)?)?;
        let part = open.checked_min(left)?;
        if !part.is_positive() {
            continue;
        }
        let to_card =
            match refund_to_card(strategy, card, part, checkout.id.clone(), now, &mut fresh)? {
                Refunded::SameCard(entry) => {
                    decision.entries.push(entry);
                    card.id()
                }
                Refunded::NewCard(new) => {
                    let id = new.card.id();
                    decision.entries.push(new.entry);
                    decision.notifications.push(new.notification);
                    decision.inserted.push((new.card, new.code));
                    id
                }
            };
        parts.push(RefundPart {
            from_card: card.id(),
            to_card,
            amount: part,
        });
        refunds.push(CardAmount {
            card: card.id(),
            amount: part,
        });
        left = left.checked_sub(part)?;
    }
    checkout.state = CheckoutState::Captured {
        payable,
        captures,
        refunds,
    };
    Ok(Decision {
        outcome: RefundOutcome {
            checkout: checkout.id.clone(),
            total: amount,
            parts,
        },
        checkout: Some(checkout),
        updated: cards,
        inserted: decision.inserted,
        entries: decision.entries,
        notifications: decision.notifications,
    })
}

/// Issues one card per spec (a paid certificate, a bulk batch), with ids and codes from
/// `fresh`, and a notification for each recipient.
///
/// # Errors
///
/// [`RedeemError::Card`] for a value of zero or less, and whatever `fresh` returns.
pub fn issue<F>(
    specs: Vec<CardSpec>,
    now: DateTime<Utc>,
    mut fresh: F,
) -> Result<Decision<Issued>, RedeemError>
where
    F: FnMut() -> Result<(CardId, Code), RedeemError>,
{
    let mut decision = Decision::new(Issued { cards: Vec::new() });
    for spec in specs {
        let (id, code) = fresh()?;
        let (card, entry) = GiftCard::issue(id, &code, spec, now)?;
        decision.outcome.cards.push(IssuedCard {
            card: card.id(),
            code: card.shared_code_hint().clone(),
            value: card.initial_value(),
        });
        decision.notifications.push(Notification::CardIssued {
            card: card.id(),
            code: code.clone(),
            value: card.initial_value(),
            recipient: card.recipient().cloned(),
            message: card.message().map(str::to_owned),
            order: card.order().cloned(),
        });
        decision.entries.push(entry);
        decision.inserted.push((card, code));
    }
    Ok(decision)
}
