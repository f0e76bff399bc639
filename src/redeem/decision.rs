//! Redeeming gift cards at checkout, as pure decisions (the Nordic checkout provider and
//! BigCommerce).
//!
//! A [`Checkout`] records which cards a shopper applied (BigCommerce's
//! `POST`/`DELETE .../gift-certificates`) and where its payment stands. Each function here takes
//! the checkout, the cards it needs, the request and `now`, and returns a [`Decision`]: the
//! outcome for the caller, the cards and ledger entries to write, the notifications to deliver.
//! Nothing here reads a clock, draws a random number or touches storage, so the same decisions
//! serve the crate's own [`Redeemer`](crate::store::Redeemer) and a host's async handlers alike.
//!
//! The flow is the Nordic checkout provider's: *authorise* at validation places holds for the
//! amounts allocated lowest-first; *capture* on completion turns them into spending and runs the
//! leftover strategy; *void* on payment failure releases them. *Refund* returns captured money,
//! never more than the checkout captured.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::card::Notification;
use crate::card::{CardError, CardId, CardSpec, GiftCard};
use crate::card::{LedgerEntry, Reference, ReleaseReason};
use crate::card::{LeftoverStrategy, Refunded, refund_to_card, settle_leftover};
use crate::code::Code;
use crate::money::Currency;
use crate::money::{Money, MoneyError};
use crate::redeem::{CardWrite, Changes, CodeWrite, RecordWrite};
use crate::redeem::{Offer, allocate_by};

use super::*;

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
    /// Existing cards under a new code (a lost code replaced; the new code may not exist
    /// yet), written with the version they were read at.
    pub recoded: Vec<(GiftCard, Code)>,
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
        let mut codes = Vec::with_capacity(self.recoded.len());
        for (card, code) in self.recoded {
            codes.push(CodeWrite {
                card: card.id(),
                code,
            });
            cards.push(CardWrite::Update {
                expected_version: card_version(card.id()).unwrap_or(0),
                card,
            });
        }
        let changes = Changes {
            cards,
            codes,
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

    pub(super) fn new(outcome: T) -> Decision<T> {
        Decision {
            outcome,
            checkout: None,
            updated: Vec::new(),
            inserted: Vec::new(),
            recoded: Vec::new(),
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
    id: CheckoutId,
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
            code: card.shared_code_hint().clone(),
            card_currency: card.currency(),
            checkout: checkout.id.clone(),
            checkout_currency: checkout.currency,
        });
    }
    if !card.available_at(now).is_positive() {
        let live = card.holds().iter().filter(|h| !h.is_expired(now));
        let held = Money::sum(card.currency(), live.clone().map(|h| h.amount()))?;
        let held_until = live
            .map(|h| h.expires_at())
            .try_fold(None, |last: Option<DateTime<Utc>>, at| {
                at.map(|at| Some(last.map_or(at, |last| last.max(at))))
            })
            .flatten();
        return Err(RedeemError::EmptyCard(CardUnavailable {
            card: card.id(),
            code: card.shared_code_hint().clone(),
            held,
            held_until,
            at: now,
        }));
    }
    if !checkout.applied.contains(&card.id()) {
        checkout.applied.push(card.id());
    }
    Ok(checkout)
}

/// Records `customer`, the shopper the host knows, on checkout `id` (created in `currency`
/// when `existing` is `None`), so that the holds, captures, releases and refunds of its cards
/// carry it in their ledger entries (the balance strategy's history: date, customer, code,
/// spent value). Recording the same customer again changes nothing; another customer takes
/// the place of the first while the checkout is open.
///
/// # Errors
///
/// [`RedeemError::InvalidState`] once authorised or captured (the holds already name the
/// customer they were placed for); [`RedeemError::Money`] when `currency` differs from the
/// existing checkout's.
pub fn set_customer(
    existing: Option<Checkout>,
    id: CheckoutId,
    currency: Currency,
    customer: Reference,
) -> Result<Checkout, RedeemError> {
    let mut checkout = existing.unwrap_or_else(|| Checkout::new(id, currency, None));
    checkout.ensure_editable("set the customer")?;
    if checkout.currency != currency {
        return Err(MoneyError::CurrencyMismatch {
            expected: checkout.currency,
            found: currency,
        }
        .into());
    }
    checkout.customer = Some(customer);
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

/// Authorises `payable` on the checkout: allocates it over the applied cards in `order`
/// (lowest first, or expiring soonest first) and places a hold on each card used, expiring at
/// `hold_expires_at`. The outcome lists the cards in the order they pay.
///
/// `cards` are the checkout's [`applied`](Checkout::applied) cards (any order).
///
/// # Errors
///
/// [`RedeemError::InvalidState`] unless open, voided, or authorised with a hold that has run
/// out (then the old holds are released and the checkout is authorised anew);
/// [`RedeemError::Money`] when `payable` is in another currency;
/// [`RedeemError::NotPositive`] when it is zero or less; [`RedeemError::Card`] when a card
/// can no longer be spent.
pub fn authorise(
    mut checkout: Checkout,
    cards: Vec<GiftCard>,
    payable: Money,
    now: DateTime<Utc>,
    hold_expires_at: Option<DateTime<Utc>>,
    order: AllocationOrder,
) -> Result<Decision<Authorisation>, RedeemError> {
    let mut cards = take_cards(checkout.applied.iter().copied(), cards)?;
    // An authorisation whose holds ran out may be authorised again, without a void first.
    let mut entries = Vec::with_capacity(cards.len());
    match &checkout.state {
        CheckoutState::Authorised { holds, .. } if authorisation_expired(holds, &cards, now) => {
            // Holds of the old authorisation that have not run out yet go too: a checkout
            // holds each card once.
            for held in holds {
                if let Some(card) = cards.iter_mut().find(|c| c.id() == held.card) {
                    let live = card
                        .holds()
                        .iter()
                        .any(|h| h.id() == held.hold && !h.is_expired(now));
                    if live {
                        entries.push(card.release(held.hold, ReleaseReason::Voided, now)?);
                    }
                }
            }
        }
        _ => checkout.ensure_editable("authorise")?,
    }
    if payable.currency() != checkout.currency {
        return Err(MoneyError::CurrencyMismatch {
            expected: checkout.currency,
            found: payable.currency(),
        }
        .into());
    }
    if !payable.is_positive() {
        return Err(RedeemError::NotPositive {
            operation: "authorise",
            amount: payable,
        });
    }
    for card in &mut cards {
        entries.extend(card.release_expired_holds(now));
        card.ensure_spendable(now)?;
    }
    let offers = cards.iter().enumerate().map(|(i, c)| Offer {
        key: i,
        available: c.available(),
        expires_at: c.expires_at(),
    });
    let allocation = allocate_by(payable, order, offers)?;
    let mut holds = Vec::with_capacity(cards.len());
    let mut uses = Vec::with_capacity(cards.len());
    for part in allocation.in_order_paid() {
        let card = &mut cards[part.key];
        if part.used.is_positive() {
            let held = card.place_hold(
                part.used,
                checkout.id.reference(),
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

/// Whether any of an authorisation's holds has run out at `now` (or is gone: another checkout
/// released it once it had run out).
fn authorisation_expired(holds: &[HoldRef], cards: &[GiftCard], now: DateTime<Utc>) -> bool {
    holds.iter().any(|held| {
        cards
            .iter()
            .find(|card| card.id() == held.card)
            .and_then(|card| card.holds().iter().find(|hold| hold.id() == held.hold))
            .is_none_or(|hold| hold.is_expired(now))
    })
}

/// Changes an open authorisation to hold `payable` instead, without a void: the checkout
/// stays authorised throughout, its holds are released (reason
/// [`ReleaseReason::Changed`]) and `payable` is allocated anew over the applied cards in
/// `order`, each new hold expiring at `hold_expires_at`, all in one decision, so no other
/// checkout can take the money in between. Raising the amount can use what the old holds
/// kept back; lowering it gives the difference back at once. The outcome is the new
/// authorisation, its cards in the order they pay.
///
/// `cards` are the checkout's [`applied`](Checkout::applied) cards (any order).
///
/// # Errors
///
/// [`RedeemError::InvalidState`] unless authorised, [`RedeemError::NotPositive`] when
/// `payable` is zero or less (void instead), and those of [`authorise`].
pub fn change_authorisation(
    mut checkout: Checkout,
    cards: Vec<GiftCard>,
    payable: Money,
    now: DateTime<Utc>,
    hold_expires_at: Option<DateTime<Utc>>,
    order: AllocationOrder,
) -> Result<Decision<Authorisation>, RedeemError> {
    let holds = match &checkout.state {
        CheckoutState::Authorised { holds, .. } => holds.clone(),
        _ => return Err(checkout.refuse("change the authorisation")),
    };
    if !payable.is_positive() {
        return Err(RedeemError::NotPositive {
            operation: "change the authorisation to",
            amount: payable,
        });
    }
    let mut cards = take_cards(checkout.applied.iter().copied(), cards)?;
    let mut released = Vec::with_capacity(holds.len());
    for held in &holds {
        let Some(card) = cards.iter_mut().find(|c| c.id() == held.card) else {
            return Err(RedeemError::MissingCard(held.card));
        };
        // A hold that ran out released itself (or is released with the others below).
        let live = card
            .holds()
            .iter()
            .any(|h| h.id() == held.hold && !h.is_expired(now));
        if live {
            released.push(card.release(held.hold, ReleaseReason::Changed, now)?);
        }
    }
    checkout.state = CheckoutState::Open;
    let mut decision = authorise(checkout, cards, payable, now, hold_expires_at, order)?;
    released.append(&mut decision.entries);
    decision.entries = released;
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
    checkout: Checkout,
    cards: Vec<GiftCard>,
    strategy: &dyn LeftoverStrategy,
    now: DateTime<Utc>,
    fresh: F,
) -> Result<Decision<Captured>, RedeemError>
where
    F: FnMut() -> Result<(CardId, Code), RedeemError>,
{
    capture_with(checkout, cards, None, strategy, now, fresh)
}

/// Captures `amount` of what the checkout holds (the order shipped in part, or cost less than
/// authorised: TigerBeetle's partial post) and releases the rest, then runs `strategy` on each
/// card that paid. The holds are taken in the order the cards paid when authorised: each gives
/// all it holds until `amount` is reached, the next gives the part still missing, and the
/// holds after it are released whole. [`Captured::released`] says what went back to each
/// card; refunds afterwards never exceed `amount`.
///
/// `cards` are the cards [`Checkout::cards_needed`] names.
///
/// # Errors
///
/// [`RedeemError::InvalidState`] unless authorised; [`RedeemError::Money`] for another
/// currency; [`RedeemError::NotPositive`] for an amount of zero or less (void instead);
/// [`RedeemError::CaptureExceedsAuthorisation`] above what is held;
/// [`RedeemError::AuthorisationExpired`] when a hold has run out; and whatever `fresh`
/// returns.
pub fn capture_part<F>(
    checkout: Checkout,
    cards: Vec<GiftCard>,
    amount: Money,
    strategy: &dyn LeftoverStrategy,
    now: DateTime<Utc>,
    fresh: F,
) -> Result<Decision<Captured>, RedeemError>
where
    F: FnMut() -> Result<(CardId, Code), RedeemError>,
{
    capture_with(checkout, cards, Some(amount), strategy, now, fresh)
}

/// [`capture`] of everything held (`amount` `None`) or of `amount` ([`capture_part`]).
fn capture_with<F>(
    mut checkout: Checkout,
    cards: Vec<GiftCard>,
    amount: Option<Money>,
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
    let currency = checkout.currency;
    let authorised = Money::sum(currency, holds.iter().map(|h| h.amount))?;
    let mut left = match amount {
        None => authorised,
        Some(amount) => {
            // A refusal drops the checkout taken here: nothing is written.
            if amount.currency() != currency {
                return Err(MoneyError::CurrencyMismatch {
                    expected: currency,
                    found: amount.currency(),
                }
                .into());
            }
            if !amount.is_positive() {
                return Err(RedeemError::NotPositive {
                    operation: "capture",
                    amount,
                });
            }
            if amount.amount() > authorised.amount() {
                return Err(RedeemError::CaptureExceedsAuthorisation {
                    checkout: checkout.id.clone(),
                    authorised,
                    requested: amount,
                });
            }
            amount
        }
    };
    let mut cards = take_cards(holds.iter().map(|h| h.card), cards)?;
    let mut decision = Decision::new(());
    decision.entries.reserve(2 * holds.len());
    let mut captures = Vec::with_capacity(holds.len());
    let mut released = Vec::new();
    let expired = |checkout: &Checkout| RedeemError::AuthorisationExpired(checkout.id.clone());
    for (card, hold) in cards.iter_mut().zip(&holds) {
        // A card blocked since the authorisation pays nothing: its hold went with the block.
        card.refuse_blocked()?;
        let part = hold.amount.checked_min(left)?;
        left = left.checked_sub(part)?;
        if part.is_positive() {
            card.capture_into(hold.hold, part, now, &mut decision.entries)
                .map_err(|e| match e {
                    CardError::HoldExpired { .. } | CardError::UnknownHold { .. } => {
                        expired(&checkout)
                    }
                    other => other.into(),
                })?;
            captures.push(CardAmount {
                card: card.id(),
                amount: part,
            });
        } else {
            let live = card
                .holds()
                .iter()
                .any(|h| h.id() == hold.hold && !h.is_expired(now));
            if !live {
                return Err(expired(&checkout));
            }
            decision
                .entries
                .push(card.release(hold.hold, ReleaseReason::Remainder, now)?);
        }
        let rest = hold.amount.checked_sub(part)?;
        if rest.is_positive() {
            released.push(CardAmount {
                card: card.id(),
                amount: rest,
            });
        }
    }
    // Only the cards that paid run the leftover strategy: a card whose hold went back whole
    // was not spent.
    let paid: Vec<CardId> = captures.iter().map(|c| c.card).collect();
    let mut replacements = Vec::new();
    for card in cards.iter_mut().filter(|c| paid.contains(&c.id())) {
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
            released,
        },
        checkout: Some(checkout),
        updated: cards,
        inserted: decision.inserted,
        recoded: Vec::new(),
        entries: decision.entries,
        notifications: decision.notifications,
    })
}

/// Releases the checkout's holds (payment failed: the Nordic checkout provider's revert). Holds
/// that already expired were released by themselves and are skipped.
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

/// Refunds `amount` of what the checkout captured back to the cards it was spent from
/// ([`RefundTo::CardsUsed`]; [`refund_to`] chooses).
///
/// # Errors
///
/// As [`refund_to`].
pub fn refund<F>(
    checkout: Checkout,
    cards: Vec<GiftCard>,
    amount: Money,
    strategy: &dyn LeftoverStrategy,
    now: DateTime<Utc>,
    fresh: F,
) -> Result<Decision<RefundOutcome>, RedeemError>
where
    F: FnMut() -> Result<(CardId, Code), RedeemError>,
{
    refund_to(
        checkout,
        cards,
        amount,
        RefundTo::CardsUsed,
        strategy,
        now,
        fresh,
    )
}

/// Where one refund goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum RefundTo {
    /// Back to the cards the checkout was spent from, last used first (the default). The
    /// cards are taken in the reverse of the order they paid at capture: the last card to pay
    /// gets back what it paid (less what earlier refunds gave it back) before the card before
    /// it gets anything, and so on, until `amount` is reached. Each card's part goes where the
    /// leftover strategy says: onto the same card (balance strategy), or onto a new card with
    /// its own code, one per card refunded (replacement strategy, or a card replaced since).
    #[default]
    CardsUsed,
    /// Onto one new card with its own code carrying the whole amount, whatever the leftover
    /// strategy (store credit for the shopper, say after the original cards were given
    /// away). The refund counts against the cards used, split last used first as for
    /// [`RefundTo::CardsUsed`], so that what can still be refunded stays exact; the new card
    /// takes its owner details from the last card used.
    NewCard,
}

/// Refunds `amount` of what the checkout captured, to the target `to` names (see
/// [`RefundTo`]), with codes from `fresh` for new cards. Never more than the checkout
/// captured and has not yet refunded; each part of the outcome says which card the money was
/// spent from and which card it went to.
///
/// # Errors
///
/// [`RedeemError::InvalidState`] unless captured, [`RedeemError::Card`] for an amount of zero
/// or less, [`RedeemError::Money`] for another currency, [`RedeemError::RefundExceedsCapture`]
/// beyond what was captured and not yet refunded, and whatever `fresh` returns.
pub fn refund_to<F>(
    mut checkout: Checkout,
    cards: Vec<GiftCard>,
    amount: Money,
    to: RefundTo,
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
    // The split, last used first: (position in `cards`, part).
    let mut split = Vec::new();
    let mut left = amount;
    for (index, spent) in captures.iter().enumerate().rev() {
        if left.is_zero() {
            break;
        }
        let open = spent
            .amount
            .checked_sub(refunded_from(spent.card, &refunds)?)?;
        let part = open.checked_min(left)?;
        if !part.is_positive() {
            continue;
        }
        split.push((index, part));
        refunds.push(CardAmount {
            card: spent.card,
            amount: part,
        });
        left = left.checked_sub(part)?;
    }
    let mut decision = Decision::new(());
    let mut parts = Vec::with_capacity(split.len());
    match to {
        RefundTo::CardsUsed => {
            for &(index, part) in &split {
                let card = &mut cards[index];
                let reference = checkout.id.reference();
                let customer = checkout.customer.as_ref();
                let to_card =
                    match refund_to_card(strategy, card, part, reference, now, &mut fresh)? {
                        Refunded::SameCard(entry) => {
                            decision.entries.push(entry.for_customer(customer));
                            card.id()
                        }
                        Refunded::NewCard(new) => {
                            let id = new.card.id();
                            decision.entries.push(new.entry.for_customer(customer));
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
            }
        }
        RefundTo::NewCard => {
            let Some(&(last, _)) = split.first() else {
                return Err(CardError::NotPositive(amount).into());
            };
            let (id, code) = fresh()?;
            let source = &cards[last];
            let (new, entry) =
                source.refund_to_new_card(id, &code, amount, checkout.id.reference(), now)?;
            decision.notifications.push(Notification::RefundCardIssued {
                original_card: source.id(),
                new_card: id,
                code: code.clone(),
                value: amount,
                order: checkout.id.reference(),
            });
            decision
                .entries
                .push(entry.for_customer(checkout.customer.as_ref()));
            decision.inserted.push((new, code));
            for &(index, part) in &split {
                parts.push(RefundPart {
                    from_card: cards[index].id(),
                    to_card: id,
                    amount: part,
                });
            }
            // The cards used do not change: the money goes elsewhere. The card the new one
            // takes its expiry and owner from is written back as read, so that the commit
            // checks its version: a card changed meanwhile makes the refund decide again.
            let source = cards[last].id();
            cards.retain(|card| card.id() == source);
        }
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
        recoded: Vec::new(),
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

/// The applied cards of `checkout` (`None`: no code applied yet, nothing stored) as they stand
/// at `now`, with the credit each gives it (see [`CheckoutCards`]), for totals that match what
/// [`authorise`] will hold.
///
/// `cards` are the checkout's [`applied`](Checkout::applied) cards (any order).
///
/// # Errors
///
/// [`RedeemError::MissingCard`] when `cards` lacks one of them; [`RedeemError::Money`] on an
/// overflow.
pub fn checkout_cards(
    id: CheckoutId,
    checkout: Option<&Checkout>,
    cards: &[GiftCard],
    order: AllocationOrder,
    now: DateTime<Utc>,
) -> Result<CheckoutCards, RedeemError> {
    let mut out = CheckoutCards {
        checkout: id,
        currency: checkout.map(Checkout::currency),
        customer: checkout.and_then(|c| c.customer().cloned()),
        cards: Vec::new(),
        order,
        at: now,
        stage: checkout.map_or(PaymentStage::Open, |c| c.state.stage()),
        payments: Vec::new(),
    };
    let Some(checkout) = checkout else {
        return Ok(out);
    };
    out.cards.reserve(checkout.applied.len());
    out.payments.reserve(checkout.applied.len());
    for &id in &checkout.applied {
        let card = cards
            .iter()
            .find(|c| c.id() == id)
            .ok_or(RedeemError::MissingCard(id))?;
        let zero = Money::zero(card.currency());
        let free = if card.ensure_spendable(now).is_ok() {
            card.available_at(now)
        } else {
            zero
        };
        let mut payment = CardPayment {
            card: id,
            issued_at: card.issued_at(),
            available: free,
            held: zero,
            captured: zero,
            refunded: zero,
        };
        let on_card = |amounts: &mut dyn Iterator<Item = (CardId, Money)>| {
            Money::sum(
                card.currency(),
                amounts.filter(|(c, _)| *c == id).map(|(_, m)| m),
            )
        };
        let credit = match &checkout.state {
            CheckoutState::Open | CheckoutState::Voided => free,
            CheckoutState::Authorised { holds, .. } => {
                let live = holds.iter().filter(|h| {
                    card.holds()
                        .iter()
                        .any(|live| live.id() == h.hold && !live.is_expired(now))
                });
                payment.held = on_card(&mut live.map(|h| (h.card, h.amount)))?;
                free.checked_add(payment.held)?
            }
            CheckoutState::Captured {
                captures, refunds, ..
            } => {
                payment.captured = on_card(&mut captures.iter().map(|c| (c.card, c.amount)))?;
                payment.refunded = on_card(&mut refunds.iter().map(|c| (c.card, c.amount)))?;
                payment.captured
            }
        };
        out.payments.push(payment);
        out.cards.push(AppliedCode {
            card: id,
            code: card.shared_code_hint().clone(),
            balance: credit,
            expires_at: card.expires_at(),
        });
    }
    Ok(out)
}
