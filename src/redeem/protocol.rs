//! The redemption protocol as one sans-IO state machine, in the spirit of quinn-proto.
//!
//! An [`Operation`] (apply or remove a code, check a balance, authorise, capture, void, refund,
//! issue, import, a back-office command)
//! owns every rule that makes money moves safe: replaying an idempotency key, refusing a key
//! reused for another request, retrying a lost commit from a fresh read, counting unknown codes
//! against the guard, releasing expired holds, drawing a new code when one is taken. It reads
//! no clock, draws no random number and touches no store: [`Operation::poll`] says what it
//! needs next ([`Need`]), the driver answers with [`Operation::reply`], and in the end `poll`
//! yields the outcome.
//!
//! The crate has two drivers, each a loop of a few lines with no rule of its own: the sync
//! [`Redeemer`](crate::store::Redeemer) over a [`Store`](crate::store::Store) and the async
//! [`AsyncRedeemer`](crate::store::AsyncRedeemer) over an
//! [`AsyncStore`](crate::store::AsyncStore). A host with its own I/O can drive operations the
//! same way:
//!
//! ```
//! use giftcert::redeem::{Need, Protocol, Reply, Step};
//! use giftcert::store::Store;
//! use giftcert::{CardId, CardSpec, Currency, IdempotencyKey, MemoryStore, Money};
//!
//! let store = MemoryStore::new();
//! let protocol = Protocol::default();
//! let spec = CardSpec::new(Money::parse("20", Currency::EUR)?);
//! let mut op = protocol.issue(IdempotencyKey::new("batch-1")?, vec![spec]);
//! let issued = loop {
//!     let reply = match op.poll() {
//!         Step::Done(result) => break result?,
//!         Step::Need(Need::Now) => Ok(Reply::Now(chrono::Utc::now())),
//!         Step::Need(Need::Idempotency(key)) => store.idempotency(&key).map(Reply::Idempotency),
//!         Step::Need(Need::CardByCode(code)) => store.card_by_code(&code).map(Reply::Card),
//!         Step::Need(Need::Fresh) => Ok(Reply::Fresh(protocol.draw())),
//!         Step::Need(Need::Commit(changes)) => store.commit(*changes).map(|()| Reply::Committed),
//!         Step::Need(other) => unreachable!("issuing needs no {other:?}"),
//!     };
//!     op.reply(reply);
//! };
//! assert_eq!(issued.outcome.cards.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, Duration, Utc};

use crate::card::{
    Attribution, BalanceStrategy, CardId, CardSpec, CodeHint, ExpiryPolicy, GiftCard,
    LeftoverStrategy, Notification, Reference,
};
use crate::code::{Code, CodeError, CodeGenerator, ImportRules, ImportedCode, RandomCodeGenerator};
use crate::money::{Currency, Money};
use crate::redeem::{
    self, AllocationOrder, Amended, Authorisation, BalanceCheck, Captured, CardCommand, Changes,
    Checkout, Decision, GuardError, GuardPolicy, GuardWindow, IdempotencyKey, IdempotencyRecord,
    Issued, Outcome, PruneBefore, RecordWrite, RecordedRequest, RedeemError, RefundOutcome,
    Retention, STORE_BUDGET_CLIENT, StoreError, Versioned, Voided, spec_fingerprint,
    store_budget_client,
};

/// How many times a request is tried against a store that keeps changing underneath.
const DEFAULT_ATTEMPTS: u32 = 64;
/// After this many lost commits an operation takes its driver's turn (the conformance kit's
/// contention checks allow one attempt more).
pub(crate) const PESSIMISTIC_AFTER: u32 = 4;
/// How many codes are drawn before giving up on finding a free one.
const CODE_ATTEMPTS: u32 = 8;
/// How long a hold lasts by default.
const DEFAULT_HOLD_MINUTES: i64 = 30;

/// A request's result, with what to tell people.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Redeemed<T> {
    /// The result.
    pub outcome: T,
    /// Notifications for the host to deliver (empty on a replay: they were handed over with
    /// the first result).
    pub notifications: Vec<Notification>,
    /// Whether this is the recorded result of an earlier identical request.
    pub replayed: bool,
}

/// A code applied to a checkout, as the shopper sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedCode {
    /// The card.
    pub card: CardId,
    /// Its code, masked.
    pub code: CodeHint,
    /// What it can give now.
    pub balance: Money,
    /// When it expires, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What an operation needs from its driver before it can go on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Need {
    /// The current time: answer [`Reply::Now`].
    Now,
    /// The record kept for this key: answer [`Reply::Idempotency`].
    Idempotency(IdempotencyKey),
    /// The checkout, with its version: answer [`Reply::Checkout`].
    Checkout(Reference),
    /// The card with this id, with its version: answer [`Reply::Card`].
    Card(CardId),
    /// The card with this code, with its version: answer [`Reply::Card`].
    CardByCode(Code),
    /// The client's guard window, with its version: answer [`Reply::Guard`].
    Guard(Reference),
    /// A new card id and a candidate code ([`Protocol::draw`]): answer [`Reply::Fresh`].
    Fresh,
    /// A new card id alone ([`CardId::random`]), for a card whose code the host brings:
    /// answer [`Reply::CardId`].
    NewCardId,
    /// Write these changes atomically (see [`Store::commit`](crate::store::Store::commit)):
    /// answer [`Reply::Committed`], or the store's error. A conflict makes the operation read
    /// again and retry. Boxed: the changes are large beside the other needs.
    Commit(Box<Changes>),
    /// The last commit lost a race: let others make progress, then answer
    /// [`Reply::Resumed`]. The first few times, yield (a driver may add a short random
    /// pause); once `exclusive` is set, take the driver's turn (one operation at a time
    /// among those that kept losing) and keep it until this operation is done, so that a
    /// request never fails with [`RedeemError::Contention`] while others make progress. A
    /// driver with a turn holds back its other operations' commits while the turn is taken,
    /// and answers this need only once the commits already under way have landed, so that
    /// the holder's next attempt cannot lose to them (see the [`Store`](crate::store::Store)
    /// contract on contention).
    Yield {
        /// How many commits this operation has lost so far.
        lost: u32,
        /// Take the driver's turn now (the pessimistic path).
        exclusive: bool,
    },
}

/// A driver's answer to a [`Need`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Reply {
    /// For [`Need::Now`].
    Now(DateTime<Utc>),
    /// For [`Need::Idempotency`].
    Idempotency(Option<IdempotencyRecord>),
    /// For [`Need::Checkout`].
    Checkout(Option<Versioned<Checkout>>),
    /// For [`Need::Card`] and [`Need::CardByCode`].
    Card(Option<Versioned<GiftCard>>),
    /// For [`Need::Guard`].
    Guard(Option<Versioned<GuardWindow>>),
    /// For [`Need::Fresh`].
    Fresh(Result<(CardId, Code), CodeError>),
    /// For [`Need::NewCardId`].
    CardId(CardId),
    /// For [`Need::Commit`]: everything was written.
    Committed,
    /// For [`Need::Yield`].
    Resumed,
}

/// Where an operation stands after [`Operation::poll`].
#[derive(Debug)]
pub enum Step<T> {
    /// It needs this answered with [`Operation::reply`] before it is polled again.
    Need(Need),
    /// It is finished.
    Done(Result<T, RedeemError>),
}

/// The settings every operation follows; shared by the drivers.
///
/// The defaults: the balance strategy, random codes, cards that never expire, holds that last
/// 30 minutes, BigCommerce's guard of 20 unknown codes an hour, 64 attempts under contention,
/// and no imported codes.
#[derive(Debug, Clone)]
pub struct Protocol {
    strategy: Arc<dyn LeftoverStrategy>,
    codes: Arc<dyn CodeGenerator>,
    expiry: ExpiryPolicy,
    hold_ttl: Option<Duration>,
    guard: GuardPolicy,
    attempts: u32,
    imported: Option<ImportRules>,
    allocation: AllocationOrder,
    retention: Retention,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            strategy: Arc::new(BalanceStrategy),
            codes: Arc::new(RandomCodeGenerator::default()),
            expiry: ExpiryPolicy::Never,
            hold_ttl: Some(Duration::minutes(DEFAULT_HOLD_MINUTES)),
            guard: GuardPolicy::default(),
            attempts: DEFAULT_ATTEMPTS,
            imported: None,
            allocation: AllocationOrder::default(),
            retention: Retention::default(),
        }
    }
}

/// When holds placed at `now` release themselves under a time limit of `ttl`: never without a
/// limit, or when the limit would run past the last instant chrono represents.
fn hold_expires_at(ttl: Option<Duration>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    ttl.and_then(|ttl| now.checked_add_signed(ttl))
}

impl Protocol {
    /// Uses `strategy` for leftover value.
    #[must_use]
    pub fn with_strategy(mut self, strategy: Arc<dyn LeftoverStrategy>) -> Protocol {
        self.strategy = strategy;
        self
    }

    /// Uses `codes` to make and check codes.
    #[must_use]
    pub fn with_code_generator(mut self, codes: Arc<dyn CodeGenerator>) -> Protocol {
        self.codes = codes;
        self
    }

    /// Sets the expiry of cards it issues whose spec has none.
    #[must_use]
    pub fn with_expiry(mut self, expiry: ExpiryPolicy) -> Protocol {
        self.expiry = expiry;
        self
    }

    /// Holds release themselves after `ttl` (`None`: never).
    #[must_use]
    pub fn with_hold_ttl(mut self, ttl: Option<Duration>) -> Protocol {
        self.hold_ttl = ttl;
        self
    }

    /// Limits unknown-code lookups per client, and with
    /// [`GuardPolicy::with_store_budget`] for all clients together.
    #[must_use]
    pub fn with_guard(mut self, guard: GuardPolicy) -> Protocol {
        self.guard = guard;
        self
    }

    /// The order in which a checkout's cards pay when it is authorised: lowest first (the
    /// default) or expiring soonest first.
    #[must_use]
    pub fn with_allocation_order(mut self, order: AllocationOrder) -> Protocol {
        self.allocation = order;
        self
    }

    /// Also accepts codes imported from another platform when they fit `rules`.
    #[must_use]
    pub fn with_imported_codes(mut self, rules: ImportRules) -> Protocol {
        self.imported = Some(rules);
        self
    }

    /// Keeps idempotency records as long as `retention` says before a prune may delete them
    /// (30 days by default; see [`Retention`] for why).
    #[must_use]
    pub fn with_retention(mut self, retention: Retention) -> Protocol {
        self.retention = retention;
        self
    }

    /// How long idempotency records are kept.
    #[must_use]
    pub const fn retention(&self) -> Retention {
        self.retention
    }

    /// What a prune at `now` may delete: idempotency records older than the [`Retention`],
    /// and guard windows that have ended under the [`GuardPolicy`] (started a whole window
    /// ago). A driver passes these to the store's prune methods.
    #[must_use]
    pub fn prune_before(&self, now: DateTime<Utc>) -> PruneBefore {
        PruneBefore {
            records: self.retention.records_before(now),
            guards: now.checked_sub_signed(self.guard.window()),
        }
    }

    /// Tries a conflicting request at most `attempts` times (at least once).
    #[must_use]
    pub fn with_attempts(mut self, attempts: u32) -> Protocol {
        self.attempts = attempts.max(1);
        self
    }

    /// What a driver answers to [`Need::Fresh`]: a random card id and a code from the
    /// configured generator. This is the only place randomness enters, and it is the driver
    /// that calls it.
    pub fn draw(&self) -> Result<(CardId, Code), CodeError> {
        Ok((CardId::random(), self.codes.generate()?))
    }

    /// Issues one card per spec (paid certificates, or a bulk batch), with a notification per
    /// card carrying its code for the host to e-mail. Specs without an expiry get one from the
    /// [`ExpiryPolicy`].
    pub fn issue(&self, key: IdempotencyKey, specs: Vec<CardSpec>) -> Operation<Redeemed<Issued>> {
        let request = RecordedRequest::Issue {
            fingerprint: spec_fingerprint(&specs, None),
        };
        let settings = self.clone();
        Operation::new(move |port| async move {
            settings
                .keyed(
                    &port,
                    key,
                    request,
                    Outcome::Issued,
                    unwrap_issued,
                    |port, now, pool| {
                        let specs = specs.clone();
                        let settings = settings.clone();
                        async move {
                            let mut specs = specs;
                            for spec in &mut specs {
                                if spec.expires_at.is_none() {
                                    spec.expires_at = settings.expiry.expires_at(now)?;
                                }
                            }
                            settings
                                .decide_with_fresh(port, pool, |fresh| {
                                    redeem::issue(specs.clone(), now, fresh)
                                })
                                .await
                        }
                    },
                )
                .await
        })
    }

    /// Issues a card under a code brought from another platform. A replay of the same import
    /// returns its first result; a card already holding the code is
    /// [`StoreError::DuplicateCode`].
    pub fn import(
        &self,
        key: IdempotencyKey,
        code: ImportedCode,
        spec: CardSpec,
    ) -> Operation<Redeemed<Issued>> {
        let code = code.into_code();
        let request = RecordedRequest::Import {
            fingerprint: spec_fingerprint(std::slice::from_ref(&spec), Some(&code.masked())),
        };
        let settings = self.clone();
        Operation::new(move |port| async move {
            let redeemed = settings
                .keyed(
                    &port,
                    key.clone(),
                    request.clone(),
                    Outcome::Issued,
                    unwrap_issued,
                    |port, now, _pool| {
                        let (code, spec) = (code.clone(), spec.clone());
                        async move {
                            if port.card_by_code(&code).await?.is_some() {
                                return Err(StoreError::duplicate_code(&code).into());
                            }
                            let mut spec = spec;
                            if spec.expires_at.is_none() {
                                spec.expires_at = settings.expiry.expires_at(now)?;
                            }
                            let id = port.new_card_id().await?;
                            let mut code = Some(code);
                            redeem::issue(vec![spec], now, || {
                                code.take()
                                    .map(|code| (id, code))
                                    .ok_or(RedeemError::Contention { attempts: 0 })
                            })
                        }
                    },
                )
                .await?;
            // The request's fingerprint knows the code only by its mask, which may show
            // nothing: a replay is the first import only if the code is the card it made.
            if redeemed.replayed {
                let made = redeemed.outcome.cards.first().map(|c| c.card);
                let found = port.card_by_code(&code).await?.map(|c| c.value.id());
                if made.is_none() || found != made {
                    return Err(RedeemError::IdempotencyConflict {
                        key,
                        first: Box::new(request),
                    });
                }
            }
            Ok(redeemed)
        })
    }

    /// Holds `payable` on the checkout's cards, in the [`AllocationOrder`] set (lowest first
    /// by default).
    pub fn authorise(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
        payable: Money,
    ) -> Operation<Redeemed<Authorisation>> {
        let request = RecordedRequest::Authorise {
            checkout: checkout.clone(),
            payable,
        };
        let (ttl, order) = (self.hold_ttl, self.allocation);
        self.on_checkout(
            key,
            checkout,
            request,
            Outcome::Authorised,
            unwrap_authorised,
            Cards::Applied,
            move |_, stored, cards, now, _| {
                let expires = hold_expires_at(ttl, now);
                redeem::authorise(stored, cards, payable, now, expires, order)
            },
        )
    }

    /// Captures the checkout's holds (order completed), running the leftover strategy.
    pub fn capture(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
    ) -> Operation<Redeemed<Captured>> {
        let request = RecordedRequest::Capture {
            checkout: checkout.clone(),
        };
        self.on_checkout(
            key,
            checkout,
            request,
            Outcome::Captured,
            unwrap_captured,
            Cards::Needed,
            |settings, stored, cards, now, fresh| {
                redeem::capture(stored, cards, &*settings.strategy, now, fresh)
            },
        )
    }

    /// Releases the checkout's holds (payment failed).
    pub fn void(&self, key: IdempotencyKey, checkout: Reference) -> Operation<Redeemed<Voided>> {
        let request = RecordedRequest::Void {
            checkout: checkout.clone(),
        };
        self.on_checkout(
            key,
            checkout,
            request,
            Outcome::Voided,
            unwrap_voided,
            Cards::Needed,
            |_, stored, cards, now, _| redeem::void(stored, cards, now),
        )
    }

    /// Refunds `amount` of what the checkout captured to the cards used, last used first, as
    /// the leftover strategy directs ([`redeem::RefundTo::CardsUsed`]).
    pub fn refund(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
        amount: Money,
    ) -> Operation<Redeemed<RefundOutcome>> {
        self.refund_to(key, checkout, amount, redeem::RefundTo::CardsUsed)
    }

    /// Refunds `amount` of what the checkout captured to the target `to` names
    /// ([`redeem::refund_to`]). The target is part of the request its key records: a refund
    /// to the cards used is [`RecordedRequest::Refund`] (so [`Protocol::refund`] and this
    /// with [`RefundTo::CardsUsed`](redeem::RefundTo::CardsUsed) replay each other), one
    /// onto a new card [`RecordedRequest::RefundToNewCard`].
    pub fn refund_to(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
        amount: Money,
        to: redeem::RefundTo,
    ) -> Operation<Redeemed<RefundOutcome>> {
        let request = match to {
            redeem::RefundTo::NewCard => RecordedRequest::RefundToNewCard {
                checkout: checkout.clone(),
                amount,
            },
            _ => RecordedRequest::Refund {
                checkout: checkout.clone(),
                amount,
            },
        };
        self.on_checkout(
            key,
            checkout,
            request,
            Outcome::Refunded,
            unwrap_refunded,
            Cards::Needed,
            move |settings, stored, cards, now, fresh| {
                redeem::refund_to(stored, cards, amount, to, &*settings.strategy, now, fresh)
            },
        )
    }

    /// Captures `amount` of what the checkout holds and releases the rest
    /// ([`redeem::capture_part`]), running the leftover strategy on the cards that paid.
    pub fn capture_part(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
        amount: Money,
    ) -> Operation<Redeemed<Captured>> {
        let request = RecordedRequest::CapturePart {
            checkout: checkout.clone(),
            amount,
        };
        self.on_checkout(
            key,
            checkout,
            request,
            Outcome::Captured,
            unwrap_captured,
            Cards::Needed,
            move |settings, stored, cards, now, fresh| {
                redeem::capture_part(stored, cards, amount, &*settings.strategy, now, fresh)
            },
        )
    }

    /// Changes an open authorisation to hold `payable` instead, without a void
    /// ([`redeem::change_authorisation`]), in the [`AllocationOrder`] set, with fresh holds
    /// that last as long as an authorisation's.
    pub fn change_authorisation(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
        payable: Money,
    ) -> Operation<Redeemed<Authorisation>> {
        let request = RecordedRequest::ChangeAuthorisation {
            checkout: checkout.clone(),
            payable,
        };
        let (ttl, order) = (self.hold_ttl, self.allocation);
        self.on_checkout(
            key,
            checkout,
            request,
            Outcome::Authorised,
            unwrap_authorised,
            Cards::Applied,
            move |_, stored, cards, now, _| {
                let expires = hold_expires_at(ttl, now);
                redeem::change_authorisation(stored, cards, payable, now, expires, order)
            },
        )
    }

    /// Records the customer the host knows on `checkout` ([`redeem::set_customer`]), creating
    /// it in `currency` if no code was applied yet. Idempotent by nature (recording the same
    /// customer twice changes nothing), so it takes no key.
    pub fn set_customer(
        &self,
        checkout: Reference,
        currency: Currency,
        customer: Reference,
    ) -> Operation<()> {
        let settings = self.clone();
        Operation::new(move |port| async move {
            settings
                .retry(&port, |port, _now| {
                    let (checkout, customer) = (checkout.clone(), customer.clone());
                    async move {
                        let stored = port.checkout(&checkout).await?;
                        let expected_version = stored.as_ref().map(|s| s.version);
                        let unchanged = stored
                            .as_ref()
                            .is_some_and(|s| s.value.customer() == Some(&customer));
                        let updated = redeem::set_customer(
                            stored.map(|s| s.value),
                            checkout,
                            currency,
                            customer,
                        )?;
                        let changes = Changes {
                            checkout: (!unchanged).then_some(RecordWrite {
                                value: updated,
                                expected_version,
                            }),
                            ..Changes::default()
                        };
                        Ok(((), changes))
                    }
                })
                .await
        })
    }

    /// Reads a checkout's applied cards with the credit each gives it ([`CheckoutCards`](redeem::CheckoutCards)),
    /// for the totals a checkout page shows before it authorises: a read, with no key and
    /// nothing written. A checkout no code was applied to yet reads as one without cards.
    pub fn checkout_cards(&self, checkout: Reference) -> Operation<redeem::CheckoutCards> {
        let order = self.allocation;
        Operation::new(move |port| async move {
            let now = port.now().await?;
            let Some(stored) = port.checkout(&checkout).await? else {
                return redeem::checkout_cards(checkout, None, &[], order, now);
            };
            let mut cards = Vec::with_capacity(stored.value.applied().len());
            for &id in stored.value.applied() {
                cards.push(port.existing_card(id).await?.value);
            }
            redeem::checkout_cards(checkout, Some(&stored.value), &cards, order, now)
        })
    }

    /// Carries out a back-office `command` on a card under its key ([`redeem::amend`]): one
    /// ledger entry attributed to `by`. A replay returns the first result; the key used again
    /// for another card, command or attribution is refused.
    pub fn amend(
        &self,
        key: IdempotencyKey,
        card: CardId,
        command: CardCommand,
        by: Attribution,
    ) -> Operation<Redeemed<Amended>> {
        let request = RecordedRequest::Amend {
            card,
            command,
            by: by.clone(),
        };
        let settings = self.clone();
        Operation::new(move |port| async move {
            settings
                .keyed(
                    &port,
                    key,
                    request,
                    Outcome::Amended,
                    unwrap_amended,
                    |port, now, _pool| {
                        let by = by.clone();
                        async move {
                            let stored = port
                                .card(card)
                                .await?
                                .ok_or(RedeemError::UnknownCard(card))?;
                            lock(&port.versions).note(card, stored.version);
                            redeem::amend(stored.value, command, &by, now, &settings.expiry)
                        }
                    },
                )
                .await
        })
    }

    /// Gives a card a new code under its key ([`redeem::replace_code`]), for an owner who lost
    /// the e-mail: the same card (id, balance, holds, history) under a code drawn like an
    /// issued card's ([`Need::Fresh`], checked to be free; a code taken meanwhile at commit is
    /// drawn again). From the commit on, the old code finds nothing and the new one finds the
    /// card. The new code is handed over once, in the first answer's
    /// [`Notification::CodeReplaced`].
    ///
    /// A replay under the same key answers with the same [`CodeReplaced`](redeem::CodeReplaced)
    /// (the new code's masked hint) but no notification: codes are never stored, and the
    /// idempotency record is stored, so it cannot carry the code. A host that lost the first
    /// answer's notification replaces the code again under a new key: the code in between,
    /// which nobody has seen, stops working.
    pub fn replace_code(
        &self,
        key: IdempotencyKey,
        card: CardId,
        by: Attribution,
    ) -> Operation<Redeemed<redeem::CodeReplaced>> {
        let request = RecordedRequest::ReplaceCode {
            card,
            by: by.clone(),
        };
        let settings = self.clone();
        Operation::new(move |port| async move {
            settings
                .keyed(
                    &port,
                    key,
                    request,
                    Outcome::CodeReplaced,
                    unwrap_code_replaced,
                    |port, now, _pool| {
                        let (by, settings) = (by.clone(), &settings);
                        async move {
                            let stored = port
                                .card(card)
                                .await?
                                .ok_or(RedeemError::UnknownCard(card))?;
                            lock(&port.versions).note(card, stored.version);
                            let (_, code) = settings.fresh_pair(port).await?;
                            redeem::replace_code(stored.value, code, &by, now)
                        }
                    },
                )
                .await
        })
    }

    /// Sweeps one card ([`redeem::sweep`]): releases its holds past their time limit and
    /// records its expiry once its date has passed, in one versioned commit retried on
    /// conflict like every operation. Naturally idempotent (a card with nothing due is left
    /// as it is), so it takes no key; an unknown card is swept as one with nothing due
    /// (`None`). The drivers' `sweep(limit)` runs it on each card the store lists as due.
    pub fn sweep_card(&self, card: CardId) -> Operation<Option<Redeemed<redeem::Swept>>> {
        let settings = self.clone();
        Operation::new(move |port| async move {
            settings
                .retry(&port, |port, now| async move {
                    let Some(stored) = port.card(card).await? else {
                        return Ok((None, Changes::default()));
                    };
                    let decision = redeem::sweep(stored.value, now)?;
                    let (outcome, notifications, changes) =
                        decision.into_parts(|_| Some(stored.version), None);
                    let swept = Redeemed {
                        outcome,
                        notifications,
                        replayed: false,
                    };
                    Ok((Some(swept), changes))
                })
                .await
        })
    }

    /// A money move on a checkout under its key: read the checkout and the `cards` it names
    /// (with their versions), then `decide`, which may draw fresh card ids and codes.
    #[allow(clippy::too_many_arguments)]
    fn on_checkout<T, D>(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
        request: RecordedRequest,
        wrap: fn(T) -> Outcome,
        unwrap: fn(Outcome) -> Option<T>,
        cards: Cards,
        decide: D,
    ) -> Operation<Redeemed<T>>
    where
        T: Clone + Send + 'static,
        D: Fn(
                &Protocol,
                Checkout,
                Vec<GiftCard>,
                DateTime<Utc>,
                &mut dyn FnMut() -> Result<(CardId, Code), RedeemError>,
            ) -> Result<Decision<T>, RedeemError>
            + Send
            + Sync
            + 'static,
    {
        let settings = self.clone();
        Operation::new(move |port| async move {
            settings
                .keyed(&port, key, request, wrap, unwrap, |port, now, pool| {
                    let (checkout, settings, decide) = (checkout.clone(), &settings, &decide);
                    async move {
                        let (stored, read) = port
                            .checkout_and_cards(&checkout, |c| match cards {
                                Cards::Applied => c.applied().to_vec(),
                                Cards::Needed => c.needed().collect(),
                            })
                            .await?;
                        settings
                            .decide_with_fresh(port, pool, |fresh| {
                                decide(settings, stored.clone(), read.clone(), now, fresh)
                            })
                            .await
                    }
                })
                .await
        })
    }

    /// Looks a typed code up for `checkout` and applies it. The check character is verified
    /// before any store is asked; unknown codes count against `client` in the guard.
    pub fn apply_code(
        &self,
        client: Reference,
        checkout: Reference,
        currency: Currency,
        code: &str,
    ) -> Operation<AppliedCode> {
        let parsed = self.parse_code(code);
        let settings = self.clone();
        Operation::new(move |port| async move {
            let code = parsed?;
            let mut reserved = settings.reserve(&port, &client, &code).await?;
            let Some(found) = port.card_by_code(&code).await? else {
                return Err(RedeemError::UnknownCode(code.masked()));
            };
            settings
                .give_back_budget(&port, &code, reserved.store)
                .await?;
            let card_id = found.value.id();
            // The first attempt uses the card just found and the window the reservation wrote;
            // a retry reads both again.
            let mut found = Some(found.value);
            let (taken, mut written) = (reserved.own.is_some(), reserved.own.take());
            settings
                .retry(&port, |port, now| {
                    let (found, written) = (found.take(), written.take());
                    let (checkout, client, code) = (checkout.clone(), client.clone(), code.clone());
                    let settings = &settings;
                    async move {
                        let guard = settings
                            .give_back_write(port, &client, &code, taken, written)
                            .await?;
                        let card = match found {
                            Some(card) => card,
                            None => port.existing_card(card_id).await?.value,
                        };
                        let stored = port.checkout(&checkout).await?;
                        let expected_version = stored.as_ref().map(|s| s.version);
                        let decided = redeem::apply(
                            stored.map(|s| s.value),
                            checkout.clone(),
                            currency,
                            None,
                            &card,
                            now,
                        )
                        .map(|updated| {
                            let applied = AppliedCode {
                                card: card.id(),
                                code: card.shared_code_hint().clone(),
                                balance: card.available_at(now),
                                expires_at: card.expires_at(),
                            };
                            let changes = Changes {
                                checkout: Some(RecordWrite {
                                    value: updated,
                                    expected_version,
                                }),
                                ..Changes::default()
                            };
                            (applied, changes)
                        });
                        Ok(with_slot_back(guard, decided))
                    }
                })
                .await?
        })
    }

    /// What a card can pay, looked up by its code for a shopper's "check your balance" page:
    /// through the check character and the guard like [`Protocol::apply_code`], so the page is
    /// no oracle for guessing codes (unknown codes count against `client`).
    pub fn check_balance(&self, client: Reference, code: &str) -> Operation<BalanceCheck> {
        let parsed = self.parse_code(code);
        let settings = self.clone();
        Operation::new(move |port| async move {
            let code = parsed?;
            let card = settings.find_by_code(&port, &client, &code).await?;
            let now = port.now().await?;
            Ok(BalanceCheck::of(&card, now))
        })
    }

    /// The card with a typed code, as the guard allows `client` to look it up: the slot is
    /// reserved before the lookup (refused while the client's window is full) and given back
    /// when the code is known, so an unknown code stays counted against the client.
    async fn find_by_code(
        &self,
        port: &Port,
        client: &Reference,
        code: &Code,
    ) -> Result<GiftCard, RedeemError> {
        let reserved = self.reserve(port, client, code).await?;
        match port.card_by_code(code).await? {
            Some(found) => {
                self.give_back(port, client, code, reserved).await?;
                Ok(found.value)
            }
            None => Err(RedeemError::UnknownCode(code.masked())),
        }
    }

    /// Takes a code off the checkout. The code goes through the check character and the guard
    /// like [`Protocol::apply_code`], and a code that is unknown and one that is not on this
    /// checkout get the same answer ([`RedeemError::UnknownCode`]) and both stay counted
    /// against `client`, so this is no oracle for guessing codes. An unknown checkout is
    /// refused before the code is looked up.
    pub fn remove_code(&self, client: Reference, checkout: Reference, code: &str) -> Operation<()> {
        let parsed = self.parse_code(code);
        let settings = self.clone();
        Operation::new(move |port| async move {
            let code = parsed?;
            let unknown = || RedeemError::UnknownCode(code.masked());
            if port.checkout(&checkout).await?.is_none() {
                return Err(RedeemError::UnknownCheckout(checkout));
            }
            let mut reserved = settings.reserve(&port, &client, &code).await?;
            let Some(card) = port.card_by_code(&code).await? else {
                return Err(unknown());
            };
            let card = card.value;
            let applied = port
                .checkout(&checkout)
                .await?
                .is_some_and(|c| c.value.applied().contains(&card.id()));
            if !applied {
                return Err(unknown());
            }
            settings
                .give_back_budget(&port, &code, reserved.store)
                .await?;
            // The client's slot goes back in the checkout's commit, as for apply_code.
            let (taken, mut written) = (reserved.own.is_some(), reserved.own.take());
            settings
                .retry(&port, |port, _now| {
                    let written = written.take();
                    let (checkout, card, client, code) =
                        (checkout.clone(), card.clone(), client.clone(), code.clone());
                    let settings = &settings;
                    async move {
                        let guard = settings
                            .give_back_write(port, &client, &code, taken, written)
                            .await?;
                        let decided = match port.checkout(&checkout).await? {
                            Some(stored) => redeem::remove(stored.value, &card).map(|updated| {
                                let changes = Changes {
                                    checkout: Some(RecordWrite {
                                        value: updated,
                                        expected_version: Some(stored.version),
                                    }),
                                    ..Changes::default()
                                };
                                ((), changes)
                            }),
                            None => Err(RedeemError::UnknownCheckout(checkout.clone())),
                        }
                        .map_err(|e| match e {
                            RedeemError::NotApplied { .. } => {
                                RedeemError::UnknownCode(code.masked())
                            }
                            other => other,
                        });
                        Ok(with_slot_back(guard, decided))
                    }
                })
                .await?
        })
    }

    /// A typed code, refused before any store is asked when its check character is wrong
    /// (unless it fits the imported codes' rules).
    fn parse_code(&self, text: &str) -> Result<Code, RedeemError> {
        let code = Code::parse(text).map_err(RedeemError::InvalidCode)?;
        if let Err(e) = self.codes.check(&code) {
            let imported = self
                .imported
                .as_ref()
                .is_some_and(|rules| rules.import(code.expose_secret()).is_ok());
            if !imported {
                return Err(RedeemError::InvalidCode(e));
            }
        }
        Ok(code)
    }

    /// Reserves the guard slots for looking `code` up, before the lookup: the client's, then
    /// (with a [store budget](GuardPolicy::with_store_budget)) the budget's under
    /// [`STORE_BUDGET_CLIENT`]. Each window is committed with one more code under its version
    /// (a lost race reads again), so parallel lookups cannot overrun either limit. A lookup
    /// the budget refuses keeps its client's slot, so that every unknown answer stays counted
    /// in both windows. The reserved id is refused as a host's client.
    async fn reserve(
        &self,
        port: &Port,
        client: &Reference,
        code: &Code,
    ) -> Result<Reserved, RedeemError> {
        if client.as_str() == STORE_BUDGET_CLIENT {
            return Err(GuardError {
                client: client.clone(),
                retry_after: DateTime::<Utc>::MAX_UTC,
            }
            .into());
        }
        let own = self.reserve_in(port, client, &self.guard, code).await?;
        let store = match self.guard.store_budget() {
            None => false,
            Some(budget) => self
                .reserve_in(port, &store_budget_client(), &budget, code)
                .await
                .map(|written| written.is_some())
                .map_err(|e| match e {
                    // Name the client that asked, not the reserved id.
                    RedeemError::TooManyAttempts(refused) => GuardError {
                        client: client.clone(),
                        retry_after: refused.retry_after,
                    }
                    .into(),
                    other => other,
                })?,
        };
        Ok(Reserved { own, store })
    }

    /// Reserves a slot for `code` in the window of `client` under `policy`. Returns the window
    /// as committed, with its new version, when a slot was taken (`None` for a code the window
    /// counts already).
    async fn reserve_in(
        &self,
        port: &Port,
        client: &Reference,
        policy: &GuardPolicy,
        code: &Code,
    ) -> Result<Option<Versioned<GuardWindow>>, RedeemError> {
        self.retry(port, |port, now| async move {
            let stored = port.guard(client).await?;
            let expected_version = stored.as_ref().map(|s| s.version);
            let mut window =
                stored.map_or_else(|| GuardWindow::new(client.clone(), now), |s| s.value);
            if !window.reserve(policy, code, now)? {
                return Ok((None, Changes::default()));
            }
            let written = Versioned {
                value: window.clone(),
                version: expected_version.map_or(1, |v| v + 1),
            };
            let changes = Changes {
                guard: Some(RecordWrite {
                    value: window,
                    expected_version,
                }),
                ..Changes::default()
            };
            Ok((Some(written), changes))
        })
        .await
    }

    /// The client's slot for a known code given back, as a write for the request's own commit
    /// (so that a known code costs one commit less): on `written`, the window
    /// [`Protocol::reserve`] committed, on the first attempt; on a fresh read after a lost
    /// commit. `None` when no slot was `taken` or nothing changed.
    async fn give_back_write(
        &self,
        port: &Port,
        client: &Reference,
        code: &Code,
        taken: bool,
        written: Option<Versioned<GuardWindow>>,
    ) -> Result<Option<RecordWrite<GuardWindow>>, RedeemError> {
        if !taken {
            return Ok(None);
        }
        let stored = match written {
            Some(window) => Some(window),
            None => port.guard(client).await?,
        };
        Ok(stored.and_then(|mut stored| {
            stored.value.give_back(code).then_some(RecordWrite {
                value: stored.value,
                expected_version: Some(stored.version),
            })
        }))
    }

    /// Gives back the store budget's slot for a known code, when [`Protocol::reserve`] took
    /// one.
    async fn give_back_budget(
        &self,
        port: &Port,
        code: &Code,
        taken: bool,
    ) -> Result<(), RedeemError> {
        if taken {
            self.give_back_in(port, &store_budget_client(), code)
                .await?;
        }
        Ok(())
    }

    /// Gives back the slots [`Protocol::reserve`] took for a code that turned out to be known.
    async fn give_back(
        &self,
        port: &Port,
        client: &Reference,
        code: &Code,
        reserved: Reserved,
    ) -> Result<(), RedeemError> {
        if reserved.own.is_some() {
            self.give_back_in(port, client, code).await?;
        }
        self.give_back_budget(port, code, reserved.store).await
    }

    /// Gives back the slot for `code` in the window of `client`.
    async fn give_back_in(
        &self,
        port: &Port,
        client: &Reference,
        code: &Code,
    ) -> Result<(), RedeemError> {
        self.retry(port, |port, _now| async move {
            let Some(stored) = port.guard(client).await? else {
                return Ok(((), Changes::default()));
            };
            let mut window = stored.value;
            let changed = window.give_back(code);
            let changes = Changes {
                guard: changed.then_some(RecordWrite {
                    value: window,
                    expected_version: Some(stored.version),
                }),
                ..Changes::default()
            };
            Ok(((), changes))
        })
        .await
    }

    /// Commits the changes `attempt` builds from a fresh read, retrying on conflicts.
    async fn retry<'p, T, F, Fut>(&self, port: &'p Port, mut attempt: F) -> Result<T, RedeemError>
    where
        F: FnMut(&'p Port, DateTime<Utc>) -> Fut,
        Fut: Future<Output = Result<(T, Changes), RedeemError>>,
    {
        for lost in 0..self.attempts {
            if lost > 0 {
                port.yield_after(lost).await?;
            }
            let now = port.now().await?;
            let (result, changes) = attempt(port, now).await?;
            if changes.is_empty() {
                return Ok(result);
            }
            match port.commit(changes).await {
                Ok(()) => return Ok(result),
                Err(StoreError::Conflict { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Err(RedeemError::Contention {
            attempts: self.attempts,
        })
    }

    /// Runs a money-moving request under its idempotency key: a recorded answer for the same
    /// request is the result; for another request, a conflict; otherwise decide from a fresh
    /// read and commit with the record, retrying lost commits.
    async fn keyed<'p, T, F, Fut>(
        &self,
        port: &'p Port,
        key: IdempotencyKey,
        request: RecordedRequest,
        wrap: fn(T) -> Outcome,
        unwrap: fn(Outcome) -> Option<T>,
        mut decide: F,
    ) -> Result<Redeemed<T>, RedeemError>
    where
        T: Clone,
        F: FnMut(&'p Port, DateTime<Utc>, &'p Pool) -> Fut,
        Fut: Future<Output = Result<Decision<T>, RedeemError>>,
    {
        for lost in 0..self.attempts {
            if lost > 0 {
                port.yield_after(lost).await?;
            }
            if let Some(record) = port.idempotency(&key).await? {
                if record.request != request {
                    return Err(RedeemError::IdempotencyConflict {
                        key,
                        first: Box::new(record.request),
                    });
                }
                let outcome = unwrap(record.outcome)
                    .ok_or(RedeemError::ReplayMismatch { key: key.clone() })?;
                return Ok(Redeemed {
                    outcome,
                    notifications: Vec::new(),
                    replayed: true,
                });
            }
            let now = port.now().await?;
            port.versions_clear();
            let decision = decide(port, now, &port.pool).await?;
            let (outcome, notifications, mut changes) = port.split_decision(decision);
            changes.idempotency = Some(IdempotencyRecord {
                key: key.clone(),
                request: request.clone(),
                outcome: wrap(outcome.clone()),
                recorded_at: now,
            });
            match port.commit(changes).await {
                Ok(()) => {
                    return Ok(Redeemed {
                        outcome,
                        notifications,
                        replayed: false,
                    });
                }
                Err(StoreError::Conflict { .. } | StoreError::DuplicateCode { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Err(RedeemError::Contention {
            attempts: self.attempts,
        })
    }

    /// Runs a pure decision that may ask for fresh card ids and codes, fetching from the
    /// driver exactly as many as the decision turns out to need (so a numbered code sequence
    /// has no gaps), each checked to be free.
    ///
    /// A decision short of pairs is run once more on stand-ins (copies of a pair drawn) to
    /// count how many more it needs, and they are drawn together: a batch of n cards costs a
    /// few runs of the decision, not n (drawing one pair per run made a bulk issue
    /// quadratic: 4,000 cards took 6 s).
    async fn decide_with_fresh<T>(
        &self,
        port: &Port,
        pool: &Pool,
        mut decide: impl FnMut(
            &mut dyn FnMut() -> Result<(CardId, Code), RedeemError>,
        ) -> Result<Decision<T>, RedeemError>,
    ) -> Result<Decision<T>, RedeemError> {
        loop {
            let mut drawn = pool.taken();
            let mut short = false;
            let result = {
                let mut fresh = || match drawn.next() {
                    Some(pair) => Ok(pair),
                    None => {
                        short = true;
                        Err(RedeemError::Contention { attempts: 0 })
                    }
                };
                decide(&mut fresh)
            };
            if !short {
                return result;
            }
            let Some(stand_in) = pool.last() else {
                let pair = self.fresh_pair(port).await?;
                pool.add(pair);
                continue;
            };
            let mut drawn = pool.taken();
            let mut more = 0_usize;
            {
                let mut fresh = || {
                    Ok(drawn.next().unwrap_or_else(|| {
                        more += 1;
                        stand_in.clone()
                    }))
                };
                // Only the count matters: the outcome on stand-ins is thrown away.
                let _ = decide(&mut fresh);
            }
            for _ in 0..more.max(1) {
                let pair = self.fresh_pair(port).await?;
                pool.add(pair);
            }
        }
    }

    /// A new card id and a code no card has yet, drawn by the driver.
    async fn fresh_pair(&self, port: &Port) -> Result<(CardId, Code), RedeemError> {
        for _ in 0..CODE_ATTEMPTS {
            let (id, code) = port.fresh().await?;
            if port.card_by_code(&code).await?.is_none() {
                return Ok((id, code));
            }
        }
        Err(RedeemError::CodeGeneration(CodeError::TooManyCollisions {
            attempts: CODE_ATTEMPTS,
        }))
    }
}

/// Which of a checkout's cards an operation reads.
#[derive(Debug, Clone, Copy)]
enum Cards {
    /// Every card applied to it (authorise).
    Applied,
    /// The cards its holds and captures are on (capture, void, refund).
    Needed,
}

fn unwrap_issued(o: Outcome) -> Option<Issued> {
    match o {
        Outcome::Issued(x) => Some(x),
        _ => None,
    }
}

fn unwrap_authorised(o: Outcome) -> Option<Authorisation> {
    match o {
        Outcome::Authorised(x) => Some(x),
        _ => None,
    }
}

fn unwrap_captured(o: Outcome) -> Option<Captured> {
    match o {
        Outcome::Captured(x) => Some(x),
        _ => None,
    }
}

fn unwrap_voided(o: Outcome) -> Option<Voided> {
    match o {
        Outcome::Voided(x) => Some(x),
        _ => None,
    }
}

fn unwrap_amended(o: Outcome) -> Option<Amended> {
    match o {
        Outcome::Amended(x) => Some(x),
        _ => None,
    }
}

fn unwrap_code_replaced(o: Outcome) -> Option<redeem::CodeReplaced> {
    match o {
        Outcome::CodeReplaced(x) => Some(x),
        _ => None,
    }
}

fn unwrap_refunded(o: Outcome) -> Option<RefundOutcome> {
    match o {
        Outcome::Refunded(x) => Some(x),
        _ => None,
    }
}

/// The fresh card ids and codes an operation has drawn and not yet committed.
#[derive(Debug, Default)]
struct Pool(Mutex<Vec<(CardId, Code)>>);

impl Pool {
    fn taken(&self) -> std::vec::IntoIter<(CardId, Code)> {
        lock(&self.0).clone().into_iter()
    }

    fn add(&self, pair: (CardId, Code)) {
        lock(&self.0).push(pair);
    }

    /// The pair drawn last.
    fn last(&self) -> Option<(CardId, Code)> {
        lock(&self.0).last().cloned()
    }
}

/// What a request on a known code commits with the client's slot given back (`guard`, from
/// [`Protocol::give_back_write`]): the decision's changes, or, when the decision refused, the
/// give-back alone, so that a refusal leaves the slot free too.
fn with_slot_back<T>(
    guard: Option<RecordWrite<GuardWindow>>,
    decided: Result<(T, Changes), RedeemError>,
) -> (Result<T, RedeemError>, Changes) {
    match decided {
        Ok((value, changes)) => (Ok(value), Changes { guard, ..changes }),
        Err(refused) => (
            Err(refused),
            Changes {
                guard,
                ..Changes::default()
            },
        ),
    }
}

/// Which guard slots [`Protocol::reserve`] took: the client's (the window as committed) and
/// the store budget's.
#[derive(Debug)]
struct Reserved {
    own: Option<Versioned<GuardWindow>>,
    store: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What passes between an operation and its driver: the need it posted, the reply it got.
#[derive(Debug, Default)]
struct Exchange {
    need: Option<Need>,
    reply: Option<Result<Reply, StoreError>>,
}

/// The operation's side of the exchange, with the versions its reads saw.
#[derive(Debug, Default)]
struct Port {
    exchange: Mutex<Exchange>,
    versions: Mutex<Versions>,
    pool: Pool,
}

/// The versions a decision was computed from. A request reads a handful of cards, so a list
/// searched in order beats a hash map (no hashing, one allocation).
#[derive(Debug, Default)]
struct Versions {
    cards: Vec<(CardId, u64)>,
    checkout: Option<u64>,
}

impl Versions {
    /// Notes that `card` was read at `version`, replacing an earlier note.
    fn note(&mut self, card: CardId, version: u64) {
        match self.cards.iter_mut().find(|(id, _)| *id == card) {
            Some(noted) => noted.1 = version,
            None => self.cards.push((card, version)),
        }
    }

    /// Notes that `card` was read at `version`, unless it was noted already.
    fn note_first(&mut self, card: CardId, version: u64) {
        if self.card(card).is_none() {
            self.cards.push((card, version));
        }
    }

    /// The version `card` was read at.
    fn card(&self, card: CardId) -> Option<u64> {
        self.cards
            .iter()
            .find_map(|&(id, version)| (id == card).then_some(version))
    }
}

/// A need posted to the driver, ready once the driver has replied.
struct Ask<'a> {
    exchange: &'a Mutex<Exchange>,
    need: Option<Need>,
}

impl Future for Ask<'_> {
    type Output = Result<Reply, StoreError>;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut exchange = lock(self.exchange);
        if let Some(need) = self.need.take() {
            exchange.reply = None;
            exchange.need = Some(need);
            return Poll::Pending;
        }
        match exchange.reply.take() {
            Some(reply) => Poll::Ready(reply),
            None => Poll::Pending,
        }
    }
}

impl Port {
    async fn ask(&self, need: Need) -> Result<Reply, StoreError> {
        Ask {
            exchange: &self.exchange,
            need: Some(need),
        }
        .await
    }

    async fn now(&self) -> Result<DateTime<Utc>, RedeemError> {
        match self.ask(Need::Now).await? {
            Reply::Now(now) => Ok(now),
            other => Err(mismatch("Now", &other)),
        }
    }

    async fn idempotency(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, RedeemError> {
        match self.ask(Need::Idempotency(key.clone())).await? {
            Reply::Idempotency(record) => Ok(record),
            other => Err(mismatch("Idempotency", &other)),
        }
    }

    async fn checkout(&self, id: &Reference) -> Result<Option<Versioned<Checkout>>, RedeemError> {
        match self.ask(Need::Checkout(id.clone())).await? {
            Reply::Checkout(found) => Ok(found),
            other => Err(mismatch("Checkout", &other)),
        }
    }

    async fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, RedeemError> {
        match self.ask(Need::Card(id)).await? {
            Reply::Card(found) => Ok(found),
            other => Err(mismatch("Card", &other)),
        }
    }

    /// A card the checkout names, which the store must have.
    async fn existing_card(&self, id: CardId) -> Result<Versioned<GiftCard>, RedeemError> {
        self.card(id)
            .await?
            .ok_or_else(|| StoreError::corrupt(format!("card {id} is missing")).into())
    }

    async fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, RedeemError> {
        match self.ask(Need::CardByCode(code.clone())).await? {
            Reply::Card(found) => Ok(found),
            other => Err(mismatch("CardByCode", &other)),
        }
    }

    async fn guard(
        &self,
        client: &Reference,
    ) -> Result<Option<Versioned<GuardWindow>>, RedeemError> {
        match self.ask(Need::Guard(client.clone())).await? {
            Reply::Guard(found) => Ok(found),
            other => Err(mismatch("Guard", &other)),
        }
    }

    async fn fresh(&self) -> Result<(CardId, Code), RedeemError> {
        match self.ask(Need::Fresh).await? {
            Reply::Fresh(drawn) => drawn.map_err(RedeemError::CodeGeneration),
            other => Err(mismatch("Fresh", &other)),
        }
    }

    async fn new_card_id(&self) -> Result<CardId, RedeemError> {
        match self.ask(Need::NewCardId).await? {
            Reply::CardId(id) => Ok(id),
            other => Err(mismatch("NewCardId", &other)),
        }
    }

    async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        match self.ask(Need::Commit(Box::new(changes))).await? {
            Reply::Committed => Ok(()),
            other => Err(StoreError::corrupt(format!(
                "the driver answered a commit with {}",
                reply_name(&other)
            ))),
        }
    }

    async fn yield_after(&self, lost: u32) -> Result<(), RedeemError> {
        let exclusive = lost >= PESSIMISTIC_AFTER;
        match self.ask(Need::Yield { lost, exclusive }).await? {
            Reply::Resumed => Ok(()),
            other => Err(mismatch("Yield", &other)),
        }
    }

    /// The checkout and the cards `ids` picks from it, noting their versions.
    async fn checkout_and_cards(
        &self,
        id: &Reference,
        ids: impl FnOnce(&Checkout) -> Vec<CardId>,
    ) -> Result<(Checkout, Vec<GiftCard>), RedeemError> {
        let stored = self
            .checkout(id)
            .await?
            .ok_or_else(|| RedeemError::UnknownCheckout(id.clone()))?;
        lock(&self.versions).checkout = Some(stored.version);
        let ids = ids(&stored.value);
        let mut cards = Vec::with_capacity(ids.len());
        for card in ids {
            let found = self.existing_card(card).await?;
            lock(&self.versions).note_first(card, found.version);
            cards.push(found.value);
        }
        Ok((stored.value, cards))
    }

    fn versions_clear(&self) {
        *lock(&self.versions) = Versions::default();
    }

    fn split_decision<T>(&self, decision: Decision<T>) -> (T, Vec<Notification>, Changes) {
        let versions = lock(&self.versions);
        decision.into_parts(|id| versions.card(id), versions.checkout)
    }
}

fn reply_name(reply: &Reply) -> &'static str {
    match reply {
        Reply::Now(_) => "Now",
        Reply::Idempotency(_) => "Idempotency",
        Reply::Checkout(_) => "Checkout",
        Reply::Card(_) => "Card",
        Reply::Guard(_) => "Guard",
        Reply::Fresh(_) => "Fresh",
        Reply::CardId(_) => "CardId",
        Reply::Committed => "Committed",
        Reply::Resumed => "Resumed",
    }
}

fn mismatch(need: &'static str, reply: &Reply) -> RedeemError {
    RedeemError::Driver {
        need,
        reply: reply_name(reply),
    }
}

type Flow<T> = Pin<Box<dyn Future<Output = Result<T, RedeemError>> + Send>>;

/// One redemption request in progress: poll it, answer what it needs, until it is done.
pub struct Operation<T> {
    flow: Option<Flow<T>>,
    /// Shared with the flow, which owns the other end: one allocation for the exchange, the
    /// versions read and the fresh codes drawn.
    port: Arc<Port>,
}

impl<T> fmt::Debug for Operation<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operation")
            .field("done", &self.flow.is_none())
            .field("exchange", &*lock(&self.port.exchange))
            .finish()
    }
}

impl<T: Send + 'static> Operation<T> {
    fn new<F, Fut>(flow: F) -> Operation<T>
    where
        F: FnOnce(Arc<Port>) -> Fut,
        Fut: Future<Output = Result<T, RedeemError>> + Send + 'static,
    {
        let port = Arc::new(Port::default());
        Operation {
            flow: Some(Box::pin(flow(Arc::clone(&port)))),
            port,
        }
    }

    /// Runs the operation until it needs something ([`Step::Need`]) or is finished
    /// ([`Step::Done`]). After a need, [`Operation::reply`] before polling again; polling a
    /// finished operation, or polling without replying, is
    /// [`RedeemError::Driver`].
    pub fn poll(&mut self) -> Step<T> {
        let Some(flow) = self.flow.as_mut() else {
            return Step::Done(Err(RedeemError::Driver {
                need: "nothing",
                reply: "a poll after the end",
            }));
        };
        let mut cx = Context::from_waker(Waker::noop());
        match flow.as_mut().poll(&mut cx) {
            Poll::Ready(result) => {
                self.flow = None;
                Step::Done(result)
            }
            Poll::Pending => match lock(&self.port.exchange).need.take() {
                Some(need) => Step::Need(need),
                None => {
                    self.flow = None;
                    Step::Done(Err(RedeemError::Driver {
                        need: "a reply",
                        reply: "a poll without one",
                    }))
                }
            },
        }
    }

    /// Answers the need the last [`Operation::poll`] returned: the value asked for, or the
    /// store's error.
    pub fn reply(&mut self, reply: Result<Reply, StoreError>) {
        lock(&self.port.exchange).reply = Some(reply);
    }
}
