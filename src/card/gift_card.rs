//! Gift cards: what a paid certificate becomes, and every way its money can move.
//!
//! A [`GiftCard`] holds its currency, value, status, open holds and a running balance, and of
//! its code only a masked hint: the code itself is a secret that a store keeps as a keyed hash
//! and the owner receives once, in a [`Notification`](crate::card::Notification).
//! Its methods are the card's state transitions: each checks everything first and changes
//! nothing on error, then returns the [`LedgerEntry`] values it adds to the card's history
//! (Spryker's balance-strategy history: date, customer, code and spent value). They take `now`
//! as an argument and never read a clock.
//!
//! The balance is the sum of the ledger and never goes below zero; the *available* amount is
//! the balance less open holds (the Nordic checkout provider's authorise-then-capture), so two
//! checkouts cannot spend the same money.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::card::{EntryKind, LedgerEntry, Reference, ReleaseReason};
use crate::clock::kept_instant;
use crate::code::Code;
use crate::money::{Money, MoneyError};

use super::*;

/// What a card was issued with and never changes: the order, who bought it, for whom, the
/// message, tags and host data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CardDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    purchaser: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recipient: Option<Recipient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
}

/// A card's [`CardDetails`], kept out of line: cards are copied on every read and moved
/// through every decision, and these fields never change after issue. `None` when there are
/// none (most bulk-issued cards); shared between copies otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Details(Option<Arc<CardDetails>>);

/// Empty host data, for cards that have none.
static NO_METADATA: BTreeMap<String, String> = BTreeMap::new();

impl Details {
    fn new(details: CardDetails) -> Details {
        Details((details != CardDetails::default()).then(|| Arc::new(details)))
    }

    fn get(&self) -> Option<&CardDetails> {
        self.0.as_deref()
    }
}

/// Flattened into the card: the same fields, in the same place, as before they moved.
impl Serialize for Details {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.get() {
            Some(details) => details.serialize(serializer),
            None => CardDetails::default().serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        CardDetails::deserialize(deserializer).map(Details::new)
    }
}

/// A gift card: its value, status, open holds, running balance and masked code.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use giftcert::{CardId, CardSpec, Code, Currency, GiftCard, Money, Reference};
///
/// let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
/// let usd = |s: &str| Money::parse(s, Currency::USD);
/// let (mut card, _issued) = GiftCard::issue(
///     CardId::from_u128(1),
///     &Code::parse("ABCD-EFGH-JKMN-PQR7")?,
///     CardSpec::new(usd("100")?),
///     now,
/// )?;
/// let order = Reference::new("order-1")?;
/// let held = card.place_hold(usd("60")?, order, None, now, None)?;
/// assert_eq!(card.available(), usd("40")?);
/// card.capture(held.seq(), usd("60")?, now)?;
/// assert_eq!(card.balance(), usd("40")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct GiftCard {
    id: CardId,
    code_hint: CodeHint,
    initial_value: Money,
    status: CardStatus,
    issued_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    details: Details,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replaces: Option<CardId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replaced_by: Option<CardId>,
    balance: Money,
    held: Money,
    spent: Money,
    refunded: Money,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    holds: Vec<Hold>,
    last_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blocked: Option<ReversalReason>,
}

impl fmt::Debug for GiftCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GiftCard")
            .field("id", &self.id)
            .field("code_hint", &self.code_hint)
            .field("status", &self.status)
            .field("balance", &self.balance)
            .field("held", &self.held)
            .field("expires_at", &self.expires_at)
            .field("holds", &self.holds.len())
            .finish_non_exhaustive()
    }
}

/// Refuses a text of `spec` holding U+0000, which PostgreSQL's text and JSON columns cannot
/// keep: what one store keeps, every store keeps.
fn check_texts(spec: &CardSpec) -> Result<(), CardError> {
    let recipient = spec.recipient.as_ref();
    let fields = [
        ("recipient name", recipient.and_then(|r| r.name.as_deref())),
        (
            "recipient e-mail",
            recipient.and_then(|r| r.email.as_deref()),
        ),
        ("message", spec.message.as_deref()),
    ];
    let tags = spec.tags.iter().map(|t| ("tag", Some(t.as_str())));
    let metadata = spec.metadata.iter().flat_map(|(k, v)| {
        [
            ("metadata key", Some(k.as_str())),
            ("metadata value", Some(v.as_str())),
        ]
    });
    match fields
        .into_iter()
        .chain(tags)
        .chain(metadata)
        .find(|(_, text)| text.is_some_and(|t| t.contains('\0')))
    {
        Some((field, _)) => Err(CardError::NulInText { field }),
        None => Ok(()),
    }
}

impl GiftCard {
    /// Issues a new card from `spec`, returning it with its `Issued` entry.
    ///
    /// # Errors
    ///
    /// [`CardError::NotPositive`] when the value is zero or less, [`CardError::Money`] when it is
    /// above [`Money::maximum`], [`CardError::ExpiryOutOfRange`] for an expiry date outside
    /// the years a card may expire in, and [`CardError::NulInText`] for a text holding U+0000.
    /// The expiry date is kept to the microsecond.
    pub fn issue(
        id: CardId,
        code: &Code,
        spec: CardSpec,
        now: DateTime<Utc>,
    ) -> Result<(GiftCard, LedgerEntry), CardError> {
        if !spec.value.is_positive() {
            return Err(CardError::NotPositive(spec.value));
        }
        if let Some(at) = spec.expires_at.filter(|at| !expiry_in_range(*at)) {
            return Err(CardError::ExpiryOutOfRange { at });
        }
        check_texts(&spec)?;
        let mut card = GiftCard::blank(id, code, spec.value, now);
        card.expires_at = spec.expires_at.map(kept_instant);
        let reference = spec.order.clone();
        let customer = spec.purchaser.clone();
        card.details = Details::new(CardDetails {
            order: spec.order,
            purchaser: spec.purchaser,
            recipient: spec.recipient,
            message: spec.message,
            tags: spec.tags,
            metadata: spec.metadata,
        });
        let entry = card.record(EntryKind::Issued, spec.value, now, reference, customer)?;
        Ok((card, entry))
    }

    /// A card with no history yet, worth nothing until its first entry.
    fn blank(id: CardId, code: &Code, value: Money, now: DateTime<Utc>) -> GiftCard {
        let zero = Money::zero(value.currency());
        GiftCard {
            id,
            code_hint: CodeHint::from(code),
            initial_value: value,
            status: CardStatus::Active,
            issued_at: now,
            expires_at: None,
            details: Details::default(),
            replaces: None,
            replaced_by: None,
            balance: zero,
            held: zero,
            spent: zero,
            refunded: zero,
            holds: Vec::new(),
            last_seq: 0,
            blocked: None,
        }
    }

    /// A new card for `self`'s owner, with its expiry, order and tags, but no message.
    fn successor(&self, id: CardId, code: &Code, value: Money, now: DateTime<Utc>) -> GiftCard {
        let mut new = GiftCard::blank(id, code, value, now);
        new.expires_at = self.expires_at;
        new.details = match self.details.get() {
            Some(details) if details.message.is_some() => Details::new(CardDetails {
                message: None,
                ..details.clone()
            }),
            _ => self.details.clone(),
        };
        new
    }

    /// Appends an entry, moving the running balance by its kind.
    fn record(
        &mut self,
        kind: EntryKind,
        amount: Money,
        at: DateTime<Utc>,
        reference: Option<Reference>,
        customer: Option<Reference>,
    ) -> Result<LedgerEntry, CardError> {
        let change = kind.balance_change(amount);
        // Holds, releases and status entries leave the balance as it is: no addition to make.
        let balance_after = if change.is_zero() && change.currency() == self.balance.currency() {
            self.balance
        } else {
            self.balance.checked_add(change)?.within_maximum()?
        };
        self.balance = balance_after;
        self.last_seq += 1;
        Ok(LedgerEntry {
            card: self.id,
            seq: self.last_seq,
            at,
            kind,
            amount,
            balance_after,
            reference,
            customer,
            attribution: None,
        })
    }

    /// The card's id.
    #[must_use]
    pub const fn id(&self) -> CardId {
        self.id
    }

    /// The card's code, masked (`****-****-****-*KQ2-*`, see [`CodeHint`]): all a card keeps of
    /// its code.
    #[must_use]
    pub fn code_hint(&self) -> &str {
        self.code_hint.as_str()
    }

    /// The masked code, shared (cloning it copies no text).
    pub(crate) fn shared_code_hint(&self) -> &CodeHint {
        &self.code_hint
    }

    /// The card's currency: it pays only in this currency.
    #[must_use]
    pub const fn currency(&self) -> crate::money::Currency {
        self.initial_value.currency()
    }

    /// What the card was issued with.
    #[must_use]
    pub const fn initial_value(&self) -> Money {
        self.initial_value
    }

    /// The stored status (see [`GiftCard::status_at`] for expiry by date).
    #[must_use]
    pub const fn status(&self) -> CardStatus {
        self.status
    }

    /// The status at `now`: an active or depleted card past its expiry date is expired.
    #[must_use]
    pub fn status_at(&self, now: DateTime<Utc>) -> CardStatus {
        match self.status {
            CardStatus::Active | CardStatus::Depleted
                if self.expires_at.is_some_and(|at| at <= now) =>
            {
                CardStatus::Expired
            }
            status => status,
        }
    }

    /// When it was issued (BigCommerce's `purchaseDate`).
    #[must_use]
    pub const fn issued_at(&self) -> DateTime<Utc> {
        self.issued_at
    }

    /// When it expires, if ever.
    #[must_use]
    pub const fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// The order that bought it.
    #[must_use]
    pub fn order(&self) -> Option<&Reference> {
        self.details.get().and_then(|d| d.order.as_ref())
    }

    /// Who bought it.
    #[must_use]
    pub fn purchaser(&self) -> Option<&Reference> {
        self.details.get().and_then(|d| d.purchaser.as_ref())
    }

    /// Who receives it.
    #[must_use]
    pub fn recipient(&self) -> Option<&Recipient> {
        self.details.get().and_then(|d| d.recipient.as_ref())
    }

    /// The buyer's gift message.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.details.get().and_then(|d| d.message.as_deref())
    }

    /// Its tags.
    #[must_use]
    pub fn tags(&self) -> &[String] {
        self.details.get().map_or(&[], |d| &d.tags)
    }

    /// Its host data.
    #[must_use]
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        self.details.get().map_or(&NO_METADATA, |d| &d.metadata)
    }

    /// The card whose remainder it carries, if it is a replacement.
    #[must_use]
    pub const fn replaces(&self) -> Option<CardId> {
        self.replaces
    }

    /// The card that replaced it, if any.
    #[must_use]
    pub const fn replaced_by(&self) -> Option<CardId> {
        self.replaced_by
    }

    /// The balance: the sum of the ledger, holds included (O(1): a running figure).
    #[must_use]
    pub const fn balance(&self) -> Money {
        self.balance
    }

    /// What open holds keep aside.
    #[must_use]
    pub const fn held(&self) -> Money {
        self.held
    }

    /// What can be held now: the balance less open holds.
    #[must_use]
    pub fn available(&self) -> Money {
        if self.held.is_zero() {
            return self.balance;
        }
        self.balance.checked_sub(self.held).unwrap_or(self.balance)
    }

    /// What the card can give at `now`: its balance less the holds still live then. A hold past
    /// its time limit no longer counts, even before a store has written its release, so an
    /// expired hold never reduces what a card can give (a code applied, a balance shown,
    /// another checkout's authorisation).
    #[must_use]
    pub fn available_at(&self, now: DateTime<Utc>) -> Money {
        let expired = self
            .holds
            .iter()
            .filter(|h| h.is_expired(now))
            .try_fold(Money::zero(self.balance.currency()), |sum, h| {
                sum.checked_add(h.amount)
            });
        match expired {
            Ok(expired) if !expired.is_zero() => self
                .available()
                .checked_add(expired)
                .unwrap_or_else(|_| self.available()),
            _ => self.available(),
        }
    }

    /// Everything captured from it over its life.
    #[must_use]
    pub const fn spent(&self) -> Money {
        self.spent
    }

    /// Everything refunded to it over its life.
    #[must_use]
    pub const fn refunded(&self) -> Money {
        self.refunded
    }

    /// Its open holds.
    #[must_use]
    pub fn holds(&self) -> &[Hold] {
        &self.holds
    }

    /// Why the card is blocked (its purchase was refunded or charged back), or `None` when it
    /// is not.
    #[must_use]
    pub const fn blocked_for(&self) -> Option<ReversalReason> {
        self.blocked
    }

    /// The number of entries in its ledger.
    #[must_use]
    pub const fn ledger_len(&self) -> u64 {
        self.last_seq
    }

    /// Refuses a card that cannot be spent at `now`, naming the reason.
    ///
    /// # Errors
    ///
    /// [`CardError::Disabled`], [`CardError::Blocked`], [`CardError::Expired`] and
    /// [`CardError::Replaced`].
    pub fn ensure_spendable(&self, now: DateTime<Utc>) -> Result<(), CardError> {
        match self.status_at(now) {
            CardStatus::Active | CardStatus::Depleted => Ok(()),
            CardStatus::Blocked => self.refuse_blocked(),
            CardStatus::Disabled => Err(CardError::Disabled {
                card: self.id,
                code: self.code_hint.clone(),
            }),
            CardStatus::Expired => Err(CardError::Expired {
                card: self.id,
                code: self.code_hint.clone(),
                at: self.expires_at.unwrap_or(now),
            }),
            CardStatus::Replaced => Err(CardError::Replaced {
                card: self.id,
                code: self.code_hint.clone(),
                by: self.replaced_by.unwrap_or(self.id),
            }),
        }
    }

    /// Refuses a blocked card ([`CardError::Blocked`]); any other passes.
    pub(crate) fn refuse_blocked(&self) -> Result<(), CardError> {
        match self.blocked {
            Some(reason) => Err(CardError::Blocked {
                card: self.id,
                code: self.code_hint.clone(),
                reason,
            }),
            None => Ok(()),
        }
    }

    fn ensure_positive(&self, amount: Money) -> Result<(), CardError> {
        if amount.currency() != self.currency() {
            return Err(MoneyError::CurrencyMismatch {
                expected: self.currency(),
                found: amount.currency(),
            }
            .into());
        }
        if !amount.is_positive() {
            return Err(CardError::NotPositive(amount));
        }
        Ok(())
    }

    /// Holds `amount` for the checkout `reference` (the Nordic checkout provider's authorisation at
    /// validation).
    ///
    /// # Errors
    ///
    /// Those of [`GiftCard::ensure_spendable`]; [`CardError::Money`] for another currency;
    /// [`CardError::NotPositive`]; [`CardError::InsufficientFunds`] above the available amount.
    pub fn place_hold(
        &mut self,
        amount: Money,
        reference: Reference,
        customer: Option<Reference>,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<LedgerEntry, CardError> {
        self.ensure_spendable(now)?;
        self.ensure_positive(amount)?;
        let available = self.available();
        if amount.amount() > available.amount() {
            return Err(CardError::InsufficientFunds {
                card: self.id,
                available,
                requested: amount,
            });
        }
        let held = self.held.checked_add(amount)?;
        let hold = self.last_seq + 1;
        let entry = self.record(
            EntryKind::Held { hold },
            amount,
            now,
            Some(reference.clone()),
            customer.clone(),
        )?;
        self.held = held;
        self.holds.push(Hold {
            id: hold,
            amount,
            reference,
            customer,
            placed_at: now,
            expires_at,
        });
        Ok(entry)
    }

    fn open_hold(&self, hold: u64) -> Result<usize, CardError> {
        self.holds
            .iter()
            .position(|h| h.id == hold)
            .ok_or(CardError::UnknownHold {
                card: self.id,
                hold,
            })
    }

    /// Spends `amount` of hold `hold` (the Nordic checkout provider's capture on completion); what
    /// the hold kept beyond `amount` is released in the same step. The card becomes depleted at
    /// zero.
    ///
    /// Returns the `Captured` entry and, after a partial capture, the `Released` one.
    ///
    /// # Errors
    ///
    /// [`CardError::UnknownHold`], [`CardError::HoldExpired`], [`CardError::NotPositive`],
    /// [`CardError::CaptureExceedsHold`], [`CardError::Money`].
    pub fn capture(
        &mut self,
        hold: u64,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<Vec<LedgerEntry>, CardError> {
        let mut entries = Vec::with_capacity(2);
        self.capture_into(hold, amount, now, &mut entries)?;
        Ok(entries)
    }

    /// [`GiftCard::capture`], appending the entries to `entries`.
    pub(crate) fn capture_into(
        &mut self,
        hold: u64,
        amount: Money,
        now: DateTime<Utc>,
        entries: &mut Vec<LedgerEntry>,
    ) -> Result<(), CardError> {
        let index = self.open_hold(hold)?;
        let open = self.holds[index].clone();
        if let Some(at) = open.expires_at.filter(|at| *at <= now) {
            return Err(CardError::HoldExpired {
                card: self.id,
                hold,
                at,
            });
        }
        self.ensure_positive(amount)?;
        if amount.amount() > open.amount.amount() {
            return Err(CardError::CaptureExceedsHold {
                card: self.id,
                hold,
                held: open.amount,
                requested: amount,
            });
        }
        let rest = open.amount.checked_sub(amount)?;
        let held = self.held.checked_sub(open.amount)?;
        let spent = self.spent.checked_add(amount)?;
        entries.push(self.record(
            EntryKind::Captured { hold },
            amount,
            now,
            Some(open.reference.clone()),
            open.customer.clone(),
        )?);
        if rest.is_positive() {
            entries.push(self.record(
                EntryKind::Released {
                    hold,
                    reason: ReleaseReason::Remainder,
                },
                rest,
                now,
                Some(open.reference),
                open.customer,
            )?);
        }
        self.holds.swap_remove(index);
        self.held = held;
        self.spent = spent;
        if self.balance.is_zero() && self.status == CardStatus::Active {
            self.status = CardStatus::Depleted;
        }
        Ok(())
    }

    /// Releases hold `hold` without spending it (the Nordic checkout provider's revert on payment
    /// failure).
    ///
    /// # Errors
    ///
    /// [`CardError::UnknownHold`].
    pub fn release(
        &mut self,
        hold: u64,
        reason: ReleaseReason,
        now: DateTime<Utc>,
    ) -> Result<LedgerEntry, CardError> {
        let index = self.open_hold(hold)?;
        let open = self.holds[index].clone();
        let held = self.held.checked_sub(open.amount)?;
        let entry = self.record(
            EntryKind::Released { hold, reason },
            open.amount,
            now,
            Some(open.reference),
            open.customer,
        )?;
        self.holds.swap_remove(index);
        self.held = held;
        Ok(entry)
    }

    /// Releases every hold that has expired at `now`, returning their entries.
    pub fn release_expired_holds(&mut self, now: DateTime<Utc>) -> Vec<LedgerEntry> {
        let expired: Vec<u64> = self
            .holds
            .iter()
            .filter(|h| h.is_expired(now))
            .map(|h| h.id)
            .collect();
        expired
            .into_iter()
            .filter_map(|hold| self.release(hold, ReleaseReason::Expired, now).ok())
            .collect()
    }

    /// Returns `amount` of captured money to this card (balance strategy); a depleted card
    /// becomes active again. Checking that no more comes back than an order spent is the
    /// caller's rule (see the redemption module).
    ///
    /// # Errors
    ///
    /// [`CardError::Replaced`] (refunds go to the replacement), [`CardError::Blocked`] (its
    /// purchase was reversed: the shop decides where the money goes), [`CardError::NotPositive`],
    /// [`CardError::Money`].
    pub fn refund(
        &mut self,
        amount: Money,
        reference: Reference,
        customer: Option<Reference>,
        now: DateTime<Utc>,
    ) -> Result<LedgerEntry, CardError> {
        if let (CardStatus::Replaced, Some(by)) = (self.status, self.replaced_by) {
            return Err(CardError::Replaced {
                card: self.id,
                code: self.code_hint.clone(),
                by,
            });
        }
        self.refuse_blocked()?;
        self.ensure_positive(amount)?;
        let refunded = self.refunded.checked_add(amount)?;
        let entry = self.record(EntryKind::Refunded, amount, now, Some(reference), customer)?;
        self.refunded = refunded;
        if self.status == CardStatus::Depleted {
            self.status = CardStatus::Active;
        }
        Ok(entry)
    }

    /// Closes this card and issues `new_id` with `new_code` carrying its whole balance
    /// (Spryker's replacement strategy). Returns the new card and both entries (old, new).
    ///
    /// # Errors
    ///
    /// Those of [`GiftCard::ensure_spendable`], [`CardError::OpenHolds`] while holds are open,
    /// and [`CardError::NotPositive`] when there is nothing to carry over.
    pub fn replace(
        &mut self,
        new_id: CardId,
        new_code: &Code,
        now: DateTime<Utc>,
    ) -> Result<(GiftCard, [LedgerEntry; 2]), CardError> {
        self.ensure_spendable(now)?;
        if !self.holds.is_empty() {
            return Err(CardError::OpenHolds {
                card: self.id,
                count: self.holds.len(),
            });
        }
        let remainder = self.balance;
        if !remainder.is_positive() {
            return Err(CardError::NotPositive(remainder));
        }
        let mut new = self.successor(new_id, new_code, remainder, now);
        new.replaces = Some(self.id);
        let carried = new.record(
            EntryKind::ReplacementOf { card: self.id },
            remainder,
            now,
            None,
            None,
        )?;
        let closed = self.record(
            EntryKind::ReplacedBy { card: new_id },
            remainder,
            now,
            None,
            None,
        )?;
        self.status = CardStatus::Replaced;
        self.replaced_by = Some(new_id);
        Ok((new, [closed, carried]))
    }

    /// Puts `amount` refunded for order `reference` on a new card `new_id` with `new_code`,
    /// for this card's owner (replacement strategy). Its first entry is `Refunded`, so refunds
    /// are never counted as issued value.
    ///
    /// # Errors
    ///
    /// [`CardError::Blocked`] when this card is, [`CardError::NotPositive`] and
    /// [`CardError::Money`] for another currency.
    pub fn refund_to_new_card(
        &self,
        new_id: CardId,
        new_code: &Code,
        amount: Money,
        reference: Reference,
        now: DateTime<Utc>,
    ) -> Result<(GiftCard, LedgerEntry), CardError> {
        self.refuse_blocked()?;
        self.ensure_positive(amount)?;
        let mut new = self.successor(new_id, new_code, amount, now);
        let customer = new.purchaser().cloned();
        let entry = new.record(EntryKind::Refunded, amount, now, Some(reference), customer)?;
        new.refunded = amount;
        Ok((new, entry))
    }

    /// Disables the card: nothing more can be held on it (open holds may still be captured or
    /// voided).
    ///
    /// # Errors
    ///
    /// [`CardError::Disabled`] when it already is, [`CardError::Replaced`] for a replaced card,
    /// [`CardError::Blocked`] for a blocked one (it pays nothing already).
    pub fn disable(&mut self, now: DateTime<Utc>) -> Result<LedgerEntry, CardError> {
        self.refuse_blocked()?;
        match self.status {
            CardStatus::Disabled => Err(CardError::Disabled {
                card: self.id,
                code: self.code_hint.clone(),
            }),
            CardStatus::Replaced => Err(CardError::Replaced {
                card: self.id,
                code: self.code_hint.clone(),
                by: self.replaced_by.unwrap_or(self.id),
            }),
            _ => {
                let entry = self.record(
                    EntryKind::Disabled,
                    Money::zero(self.currency()),
                    now,
                    None,
                    None,
                )?;
                self.status = CardStatus::Disabled;
                Ok(entry)
            }
        }
    }

    /// Enables a disabled card again.
    ///
    /// # Errors
    ///
    /// [`CardError::Replaced`] for a replaced card, [`CardError::Blocked`] for a blocked one
    /// (only [`GiftCard::unblock`] lets it pay again). Enabling a card that is not disabled
    /// changes nothing and returns no entry.
    pub fn enable(&mut self, now: DateTime<Utc>) -> Result<Option<LedgerEntry>, CardError> {
        self.refuse_blocked()?;
        match self.status {
            CardStatus::Disabled => {
                let entry = self.record(
                    EntryKind::Enabled,
                    Money::zero(self.currency()),
                    now,
                    None,
                    None,
                )?;
                self.status = if self.balance.is_zero() {
                    CardStatus::Depleted
                } else {
                    CardStatus::Active
                };
                Ok(Some(entry))
            }
            CardStatus::Replaced => Err(CardError::Replaced {
                card: self.id,
                code: self.code_hint.clone(),
                by: self.replaced_by.unwrap_or(self.id),
            }),
            _ => Ok(None),
        }
    }

    /// Records that the card passed its expiry date, when it has at `now` and the stored status
    /// does not say so yet. The balance stays on record (it is not spent), but nothing can be
    /// held on the card any more.
    ///
    /// # Errors
    ///
    /// [`CardError::Money`] only on overflow.
    pub fn mark_expired(&mut self, now: DateTime<Utc>) -> Result<Option<LedgerEntry>, CardError> {
        if self.status_at(now) != CardStatus::Expired || self.status == CardStatus::Expired {
            return Ok(None);
        }
        let entry = self.record(
            EntryKind::Expired,
            Money::zero(self.currency()),
            now,
            None,
            None,
        )?;
        self.status = CardStatus::Expired;
        Ok(Some(entry))
    }

    /// Gives the card a new code, as an [`EntryKind::CodeReplaced`] entry: the same card (id,
    /// balance, holds, history) under `code`, the way a back office answers "I lost the
    /// e-mail". The card keeps only the new code's hint; finding it by the old code is the
    /// store's to stop (see [`CodeWrite`](crate::redeem::CodeWrite)).
    ///
    /// # Errors
    ///
    /// [`CardError::Replaced`] for a replaced card (its value lives on another card, whose
    /// code is the one to replace).
    pub fn replace_code(
        &mut self,
        code: &Code,
        now: DateTime<Utc>,
    ) -> Result<LedgerEntry, CardError> {
        if let (CardStatus::Replaced, Some(by)) = (self.status, self.replaced_by) {
            return Err(CardError::Replaced {
                card: self.id,
                code: self.code_hint.clone(),
                by,
            });
        }
        let entry = self.record(
            EntryKind::CodeReplaced,
            Money::zero(self.currency()),
            now,
            None,
            None,
        )?;
        self.code_hint = CodeHint::from(code);
        Ok(entry)
    }

    /// When a sweep next has work on this card: the earliest time limit of its open holds, or
    /// its expiry date while its stored status is active or depleted (a sweep then records the
    /// expiry), whichever comes first; `None` when nothing will fall due. Stores index cards
    /// by it, so that a sweep reads only the cards it changes.
    #[must_use]
    pub fn sweep_at(&self) -> Option<DateTime<Utc>> {
        let holds = self.holds.iter().filter_map(Hold::expires_at);
        let expiry = match self.status {
            CardStatus::Active | CardStatus::Depleted => self.expires_at,
            _ => None,
        };
        holds.chain(expiry).min()
    }

    /// Moves the expiry date (a reload under a "from last load" rule, or a goodwill extension),
    /// kept to the microsecond within the years a card may expire in
    /// ([`kept_instant`](crate::clock::kept_instant)).
    pub fn set_expires_at(&mut self, expires_at: Option<DateTime<Utc>>) {
        self.expires_at = expires_at.map(kept_instant);
    }

    /// Moves or removes the expiry date (kept to the microsecond) as a ledger entry
    /// ([`EntryKind::ExpiryChanged`]), the way a back office extends a card: a card that had expired and no longer has at `now`
    /// can be spent again. The same date again changes nothing and returns no entry.
    ///
    /// # Errors
    ///
    /// [`CardError::Replaced`] for a replaced card (its value lives on another card), and
    /// [`CardError::ExpiryOutOfRange`] for a date outside the years a card may expire in.
    pub fn change_expiry(
        &mut self,
        to: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<LedgerEntry>, CardError> {
        if let (CardStatus::Replaced, Some(by)) = (self.status, self.replaced_by) {
            return Err(CardError::Replaced {
                card: self.id,
                code: self.code_hint.clone(),
                by,
            });
        }
        if let Some(at) = to.filter(|at| !expiry_in_range(*at)) {
            return Err(CardError::ExpiryOutOfRange { at });
        }
        let to = to.map(kept_instant);
        if to == self.expires_at {
            return Ok(None);
        }
        let from = self.expires_at;
        let entry = self.record(
            EntryKind::ExpiryChanged { from, to },
            Money::zero(self.currency()),
            now,
            None,
            None,
        )?;
        self.expires_at = to;
        if self.status == CardStatus::Expired && to.is_none_or(|at| at > now) {
            self.status = if self.balance.is_zero() {
                CardStatus::Depleted
            } else {
                CardStatus::Active
            };
        }
        Ok(Some(entry))
    }

    /// Loads `amount` more onto the card (a top-up), as an [`EntryKind::Reloaded`] entry. A
    /// card spent down to zero becomes active again. Moving the expiry with the load (12 CFR
    /// 1005.20's five years from the last load) is the caller's: see
    /// [`ExpiryPolicy::after_load`](crate::card::ExpiryPolicy::after_load).
    ///
    /// # Errors
    ///
    /// [`CardError::Disabled`], [`CardError::Replaced`], [`CardError::Expired`] when the card
    /// has expired at `now`, [`CardError::NotPositive`], and [`CardError::Money`] for another
    /// currency or a balance that would go above [`Money::maximum`].
    pub fn reload(&mut self, amount: Money, now: DateTime<Utc>) -> Result<LedgerEntry, CardError> {
        self.ensure_spendable(now)?;
        self.ensure_positive(amount)?;
        let entry = self.record(EntryKind::Reloaded, amount, now, None, None)?;
        if self.status == CardStatus::Depleted {
            self.status = CardStatus::Active;
        }
        Ok(entry)
    }

    /// A manual correction by `change` (positive or negative), as a new entry: mistakes are
    /// corrected, never edited away.
    ///
    /// # Errors
    ///
    /// [`CardError::Replaced`], [`CardError::Blocked`], [`CardError::Money`] for another currency or a balance above
    /// [`Money::maximum`], and [`CardError::AdjustmentTooLarge`] when the balance would fall below what is held (and so
    /// below zero).
    pub fn adjust(
        &mut self,
        change: Money,
        reference: Option<Reference>,
        now: DateTime<Utc>,
    ) -> Result<LedgerEntry, CardError> {
        if let (CardStatus::Replaced, Some(by)) = (self.status, self.replaced_by) {
            return Err(CardError::Replaced {
                card: self.id,
                code: self.code_hint.clone(),
                by,
            });
        }
        self.refuse_blocked()?;
        let balance = self.balance.checked_add(change)?;
        if balance.amount() < self.held.amount() {
            return Err(CardError::AdjustmentTooLarge {
                card: self.id,
                change,
                balance,
                held: self.held,
            });
        }
        let entry = self.record(EntryKind::Adjusted, change, now, reference, None)?;
        match self.status {
            CardStatus::Active if self.balance.is_zero() => self.status = CardStatus::Depleted,
            CardStatus::Depleted if self.balance.is_positive() => self.status = CardStatus::Active,
            _ => {}
        }
        Ok(entry)
    }

    /// Blocks the card because the purchase that paid for it was reversed (a refund or a
    /// chargeback of its order): every open hold is released, a
    /// [`EntryKind::Blocked`] entry records `reason`, and what is left on the card is clawed
    /// back in an [`EntryKind::ClawedBack`] entry, so the balance falls to zero. From then on
    /// the card refuses every spend, refund, reload and correction until staff
    /// [unblock](GiftCard::unblock) it; its history still shows what it had.
    ///
    /// Returns the entries written: the releases, the block, then the clawback (none when the
    /// balance was zero).
    ///
    /// ```
    /// use chrono::Utc;
    /// use giftcert::card::{CardStatus, EntryKind, ReversalReason};
    /// use giftcert::{CardId, CardSpec, Code, Currency, GiftCard, Money, Reference};
    ///
    /// let now = Utc::now();
    /// let eur = |s: &str| Money::parse(s, Currency::EUR);
    /// let code = Code::parse("GIFT-2026-ABCD")?;
    /// let (mut card, _) = GiftCard::issue(CardId::from_u128(1), &code, CardSpec::new(eur("50")?), now)?;
    /// let held = card.place_hold(eur("20")?, Reference::new("checkout-1")?, None, now, None)?;
    /// card.capture(held.seq(), eur("20")?, now)?;
    /// let entries = card.block(ReversalReason::ChargedBack, now)?;
    /// assert_eq!(entries.last().map(|e| (e.kind(), e.amount())), Some((EntryKind::ClawedBack, eur("30")?)));
    /// assert_eq!((card.status(), card.balance()), (CardStatus::Blocked, eur("0")?));
    /// assert!(card.place_hold(eur("1")?, Reference::new("checkout-2")?, None, now, None).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CardError::Blocked`] when it already is, [`CardError::Replaced`] for a replaced card
    /// (its value lives on its replacement, which carries the same order), [`CardError::Money`]
    /// only on overflow.
    pub fn block(
        &mut self,
        reason: ReversalReason,
        now: DateTime<Utc>,
    ) -> Result<Vec<LedgerEntry>, CardError> {
        self.refuse_blocked()?;
        if let (CardStatus::Replaced, Some(by)) = (self.status, self.replaced_by) {
            return Err(CardError::Replaced {
                card: self.id,
                code: self.code_hint.clone(),
                by,
            });
        }
        let mut entries = Vec::with_capacity(self.holds.len() + 2);
        let open: Vec<u64> = self.holds.iter().map(|h| h.id).collect();
        for hold in open {
            entries.push(self.release(hold, ReleaseReason::Blocked, now)?);
        }
        entries.push(self.record(
            EntryKind::Blocked { reason },
            Money::zero(self.currency()),
            now,
            None,
            None,
        )?);
        let left = self.balance;
        if left.is_positive() {
            entries.push(self.record(EntryKind::ClawedBack, left, now, None, None)?);
        }
        self.status = CardStatus::Blocked;
        self.blocked = Some(reason);
        Ok(entries)
    }

    /// Lets a blocked card pay again (staff found the reversal was a mistake, or the
    /// chargeback was won), as an [`EntryKind::Unblocked`] entry. What was clawed back stays
    /// off the card: staff give it back, if at all, with an adjustment of its own.
    ///
    /// # Errors
    ///
    /// [`CardError::Money`] only on overflow. Unblocking a card that is not blocked changes
    /// nothing and returns no entry.
    pub fn unblock(&mut self, now: DateTime<Utc>) -> Result<Option<LedgerEntry>, CardError> {
        if self.blocked.is_none() {
            return Ok(None);
        }
        let entry = self.record(
            EntryKind::Unblocked,
            Money::zero(self.currency()),
            now,
            None,
            None,
        )?;
        self.blocked = None;
        self.status = if self.balance.is_zero() {
            CardStatus::Depleted
        } else {
            CardStatus::Active
        };
        Ok(Some(entry))
    }

    /// Checks the invariants a stored card must keep (used when deserialising).
    fn check(&self) -> Result<(), String> {
        let currency = self.currency();
        let amounts = [self.balance, self.held, self.spent, self.refunded];
        if amounts
            .iter()
            .chain(self.holds.iter().map(|h| &h.amount))
            .any(|m| m.currency() != currency)
        {
            return Err(format!(
                "card {}: every amount must be in {currency}",
                self.id
            ));
        }
        if self.balance.is_negative() || self.held.is_negative() {
            return Err(format!(
                "card {}: balance and held must not be negative",
                self.id
            ));
        }
        let held =
            Money::sum(currency, self.holds.iter().map(|h| h.amount)).map_err(|e| e.to_string())?;
        if held != self.held || self.held.amount() > self.balance.amount() {
            return Err(format!(
                "card {}: holds sum to {held}, recorded {} against a balance of {}",
                self.id, self.held, self.balance
            ));
        }
        if (self.status == CardStatus::Replaced) != self.replaced_by.is_some() {
            return Err(format!(
                "card {}: replaced status and replacement disagree",
                self.id
            ));
        }
        if (self.status == CardStatus::Blocked) != self.blocked.is_some()
            || (self.blocked.is_some() && !self.holds.is_empty())
        {
            return Err(format!(
                "card {}: blocked status, reason and holds disagree",
                self.id
            ));
        }
        if self.last_seq == 0 || self.holds.iter().any(|h| h.id == 0 || h.id > self.last_seq) {
            return Err(format!(
                "card {}: ledger numbering is inconsistent",
                self.id
            ));
        }
        Ok(())
    }
}

impl Serialize for GiftCard {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        GiftCard::serialize(self, serializer)
    }
}

/// Deserialising checks the card's invariants, so stored JSON cannot build a card that
/// holds more than its balance or money in two currencies.
impl<'de> Deserialize<'de> for GiftCard {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let card = GiftCard::deserialize(deserializer)?;
        card.check().map_err(serde::de::Error::custom)?;
        Ok(card)
    }
}
