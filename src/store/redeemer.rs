//! [`Redeemer`]: the redemption service over a [`Store`].
//!
//! It reads what a request needs with its versions, asks the pure core in
//! [`redemption`](crate::redeem) for a decision, and writes the decision in one
//! [`Store::commit`]. When another writer got there first it starts again from a fresh read, a
//! bounded number of times. Money-moving requests carry an [`IdempotencyKey`]: repeating one
//! returns the first result and changes nothing; reusing a key for another request is an error.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::card::ExpiryPolicy;
use crate::card::Notification;
use crate::card::{BalanceStrategy, LeftoverStrategy};
use crate::card::{CardId, CardSpec, CodeHint, GiftCard};
use crate::card::{LedgerEntry, Reference};
use crate::clock::{Clock, SystemClock};
use crate::code::{
    Code, CodeGenerator, ImportRules, ImportedCode, RandomCodeGenerator, generate_unique,
};
use crate::money::Currency;
use crate::money::Money;
use crate::redeem::{
    self, Authorisation, Captured, Checkout, Decision, Issued, Outcome, RedeemError, RefundOutcome,
    Voided,
};
use crate::redeem::{GuardPolicy, GuardWindow};
use crate::redeem::{IdempotencyKey, IdempotencyRecord, RecordedRequest, debug_fingerprint};
use crate::shop::{CardToIssue, Order};
use crate::store::{Changes, RecordWrite, Store, StoreError, Versioned};

/// How many times a request is tried against a store that keeps changing underneath.
const DEFAULT_ATTEMPTS: u32 = 64;
/// How many codes are drawn before giving up on finding a free one.
const CODE_ATTEMPTS: u32 = 8;
/// How long a hold lasts by default.
const DEFAULT_HOLD_MINUTES: i64 = 30;
/// How many ledger entries a history read fetches at a time.
const HISTORY_PAGE: usize = 1024;

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

/// The versions a decision was computed from.
#[derive(Debug, Default)]
struct Versions {
    cards: HashMap<CardId, u64>,
    checkout: Option<u64>,
}

/// The redemption service: apply and remove codes, authorise, capture, void, refund, issue.
///
/// ```
/// use giftcert::{CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Redeemer, Reference};
///
/// let redeemer = Redeemer::new(MemoryStore::new());
/// let usd = |s: &str| Money::parse(s, Currency::USD);
/// let issued = redeemer.issue(&IdempotencyKey::new("issue-1")?, vec![CardSpec::new(usd("100")?)])?;
/// let code = match &issued.notifications[0] {
///     giftcert::Notification::CardIssued { code, .. } => code.expose_secret().to_owned(),
///     _ => unreachable!(),
/// };
///
/// let checkout = Reference::new("checkout-1")?;
/// let client = Reference::new("203.0.113.7")?;
/// redeemer.apply_code(&client, &checkout, Currency::USD, &code)?;
/// let auth = redeemer.authorise(&IdempotencyKey::new("auth-1")?, &checkout, usd("60")?)?;
/// assert_eq!(auth.outcome.credit, usd("60")?);
/// let captured = redeemer.capture(&IdempotencyKey::new("cap-1")?, &checkout)?;
/// assert_eq!(captured.outcome.total, usd("60")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Redeemer<S> {
    store: S,
    strategy: Arc<dyn LeftoverStrategy>,
    codes: Arc<dyn CodeGenerator>,
    clock: Arc<dyn Clock>,
    expiry: ExpiryPolicy,
    hold_ttl: Option<Duration>,
    guard: GuardPolicy,
    attempts: u32,
    imported: Option<ImportRules>,
}

impl<S: Store> Redeemer<S> {
    /// A service over `store` with the defaults: the balance strategy, random codes, the
    /// system clock, cards that never expire, holds that last 30 minutes, and BigCommerce's
    /// guard of 20 unknown codes an hour.
    pub fn new(store: S) -> Redeemer<S> {
        Redeemer {
            store,
            strategy: Arc::new(BalanceStrategy),
            codes: Arc::new(RandomCodeGenerator::default()),
            clock: Arc::new(SystemClock),
            expiry: ExpiryPolicy::Never,
            hold_ttl: Some(Duration::minutes(DEFAULT_HOLD_MINUTES)),
            guard: GuardPolicy::default(),
            attempts: DEFAULT_ATTEMPTS,
            imported: None,
        }
    }

    /// Uses `strategy` for leftover value.
    #[must_use]
    pub fn with_strategy(mut self, strategy: Arc<dyn LeftoverStrategy>) -> Redeemer<S> {
        self.strategy = strategy;
        self
    }

    /// Uses `codes` to make and check codes.
    #[must_use]
    pub fn with_code_generator(mut self, codes: Arc<dyn CodeGenerator>) -> Redeemer<S> {
        self.codes = codes;
        self
    }

    /// Reads time from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Redeemer<S> {
        self.clock = clock;
        self
    }

    /// Sets the expiry of cards it issues whose spec has none.
    #[must_use]
    pub fn with_expiry(mut self, expiry: ExpiryPolicy) -> Redeemer<S> {
        self.expiry = expiry;
        self
    }

    /// Holds release themselves after `ttl` (`None`: never).
    #[must_use]
    pub fn with_hold_ttl(mut self, ttl: Option<Duration>) -> Redeemer<S> {
        self.hold_ttl = ttl;
        self
    }

    /// Limits unknown-code lookups per client.
    #[must_use]
    pub fn with_guard(mut self, guard: GuardPolicy) -> Redeemer<S> {
        self.guard = guard;
        self
    }

    /// Also accepts codes imported from another platform (which carry no check character)
    /// when they fit `rules`; they are looked up like any other code and count against the
    /// guard when unknown.
    #[must_use]
    pub fn with_imported_codes(mut self, rules: ImportRules) -> Redeemer<S> {
        self.imported = Some(rules);
        self
    }

    /// Tries a conflicting request at most `attempts` times (at least once).
    #[must_use]
    pub fn with_attempts(mut self, attempts: u32) -> Redeemer<S> {
        self.attempts = attempts.max(1);
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// A new card id and a code no card has yet.
    fn fresh(&self) -> Result<(CardId, Code), RedeemError> {
        let code = generate_unique(&*self.codes, CODE_ATTEMPTS, |code| {
            Ok::<bool, RedeemError>(self.store.card_by_code(code)?.is_some())
        })?;
        Ok((CardId::random(), code))
    }

    fn load_checkout(&self, id: &Reference) -> Result<Versioned<Checkout>, RedeemError> {
        self.store
            .checkout(id)?
            .ok_or_else(|| RedeemError::UnknownCheckout(id.clone()))
    }

    /// Reads the cards `ids` names, in that order, noting their versions.
    fn load_cards(
        &self,
        ids: impl ExactSizeIterator<Item = CardId>,
        versions: &mut Versions,
    ) -> Result<Vec<GiftCard>, RedeemError> {
        let mut cards = Vec::with_capacity(ids.len());
        for id in ids {
            let stored = self
                .store
                .card(id)?
                .ok_or_else(|| StoreError::corrupt(format!("card {id} is missing")))?;
            versions.cards.entry(id).or_insert(stored.version);
            cards.push(stored.value);
        }
        Ok(cards)
    }

    /// Runs a money-moving request under its idempotency key, retrying on conflicts.
    fn run<T: Clone>(
        &self,
        key: &IdempotencyKey,
        request: RecordedRequest,
        wrap: fn(T) -> Outcome,
        unwrap: fn(Outcome) -> Option<T>,
        mut decide: impl FnMut(DateTime<Utc>, &mut Versions) -> Result<Decision<T>, RedeemError>,
    ) -> Result<Redeemed<T>, RedeemError> {
        for _ in 0..self.attempts {
            if let Some(record) = self.store.idempotency(key)? {
                if record.request != request {
                    return Err(RedeemError::IdempotencyConflict {
                        key: key.clone(),
                        first: record.request,
                    });
                }
                let outcome = unwrap(record.outcome).ok_or_else(|| {
                    StoreError::corrupt(format!("idempotency record {key} holds another operation"))
                })?;
                return Ok(Redeemed {
                    outcome,
                    notifications: Vec::new(),
                    replayed: true,
                });
            }
            let now = self.clock.now();
            let mut versions = Versions::default();
            let decision = decide(now, &mut versions)?;
            let (outcome, notifications, mut changes) =
                decision.into_parts(|id| versions.cards.get(&id).copied(), versions.checkout);
            changes.idempotency = Some(IdempotencyRecord {
                key: key.clone(),
                request: request.clone(),
                outcome: wrap(outcome.clone()),
                recorded_at: now,
            });
            match self.store.commit(changes) {
                Ok(()) => {
                    return Ok(Redeemed {
                        outcome,
                        notifications,
                        replayed: false,
                    });
                }
                Err(StoreError::Conflict { .. } | StoreError::DuplicateCode { .. }) => {
                    std::thread::yield_now();
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(RedeemError::Contention {
            attempts: self.attempts,
        })
    }

    /// Commits `changes` built by `attempt` from a fresh read, retrying on conflicts.
    fn retry<T>(
        &self,
        mut attempt: impl FnMut(DateTime<Utc>) -> Result<(T, Changes), RedeemError>,
    ) -> Result<T, RedeemError> {
        for _ in 0..self.attempts {
            let (result, changes) = attempt(self.clock.now())?;
            if changes.is_empty() {
                return Ok(result);
            }
            match self.store.commit(changes) {
                Ok(()) => return Ok(result),
                Err(StoreError::Conflict { .. }) => std::thread::yield_now(),
                Err(other) => return Err(other.into()),
            }
        }
        Err(RedeemError::Contention {
            attempts: self.attempts,
        })
    }

    /// Issues one card per spec (paid certificates, or a bulk batch with tags and metadata),
    /// returning a notification per card carrying its code for the host to e-mail. Specs
    /// without an expiry get one from the [`ExpiryPolicy`].
    ///
    /// # Errors
    ///
    /// [`RedeemError::Card`] for a value of zero or less, [`RedeemError::CodeGeneration`],
    /// [`RedeemError::Expiry`], [`RedeemError::IdempotencyConflict`], [`RedeemError::Store`].
    pub fn issue(
        &self,
        key: &IdempotencyKey,
        specs: Vec<CardSpec>,
    ) -> Result<Redeemed<Issued>, RedeemError> {
        let request = RecordedRequest::Issue {
            fingerprint: debug_fingerprint(&specs),
        };
        self.issue_with(key, request, specs, || self.fresh())
    }

    /// Issues a card under a code brought from another platform (see [`ImportRules`]), for
    /// hosts migrating their customers' cards. Check [`ImportedCode::is_weak`] first: a short
    /// or digits-only code is easy to guess. Accepting such codes at checkout takes
    /// [`Redeemer::with_imported_codes`].
    ///
    /// # Errors
    ///
    /// As [`Redeemer::issue`], and [`RedeemError::Store`] with [`StoreError::DuplicateCode`]
    /// when a card already has the code.
    pub fn import_card(
        &self,
        key: &IdempotencyKey,
        code: ImportedCode,
        spec: CardSpec,
    ) -> Result<Redeemed<Issued>, RedeemError> {
        let code = code.into_code();
        if self.store.card_by_code(&code)?.is_some() {
            return Err(StoreError::duplicate_code(&code).into());
        }
        let request = RecordedRequest::Import {
            fingerprint: debug_fingerprint(&spec),
        };
        self.issue_with(key, request, vec![spec], || {
            Ok((CardId::random(), code.clone()))
        })
    }

    fn issue_with(
        &self,
        key: &IdempotencyKey,
        request: RecordedRequest,
        specs: Vec<CardSpec>,
        fresh: impl Fn() -> Result<(CardId, Code), RedeemError>,
    ) -> Result<Redeemed<Issued>, RedeemError> {
        self.run(
            key,
            request,
            Outcome::Issued,
            |o| match o {
                Outcome::Issued(x) => Some(x),
                _ => None,
            },
            |now, _| {
                let mut specs = specs.clone();
                for spec in &mut specs {
                    if spec.expires_at.is_none() {
                        spec.expires_at = self.expiry.expires_at(now)?;
                    }
                }
                redeem::issue(specs, now, &fresh)
            },
        )
    }

    /// Issues the cards a paid order bought (one per certificate unit, see
    /// [`Order::cards_to_issue`]), under an idempotency key made from the order id: however
    /// often it is called for the same order, each card is issued once. An order with nothing
    /// to issue (unpaid, failed) issues nothing.
    ///
    /// # Errors
    ///
    /// As [`Redeemer::issue`].
    pub fn issue_for_order(&self, order: &Order) -> Result<Redeemed<Issued>, RedeemError> {
        let specs: Vec<CardSpec> = order
            .cards_to_issue()
            .iter()
            .map(CardToIssue::card_spec)
            .collect();
        if specs.is_empty() {
            return Ok(Redeemed {
                outcome: Issued { cards: Vec::new() },
                notifications: Vec::new(),
                replayed: false,
            });
        }
        let key = IdempotencyKey::new(&format!("order-issue:{}", order.id()))
            .map_err(|e| StoreError::corrupt(e.to_string()))?;
        self.issue(&key, specs)
    }

    /// Looks a typed code up for checkout `checkout` and applies it (BigCommerce's
    /// `POST /checkouts/{id}/gift-certificates`). The check character is verified before any
    /// store is asked; unknown codes count against `client` in the guard.
    ///
    /// Applying is idempotent by nature (applying a code twice changes nothing), so it takes no
    /// idempotency key.
    ///
    /// # Errors
    ///
    /// [`RedeemError::TooManyAttempts`], [`RedeemError::InvalidCode`],
    /// [`RedeemError::UnknownCode`], and those of [`redeem::apply`].
    pub fn apply_code(
        &self,
        client: &Reference,
        checkout: &Reference,
        currency: Currency,
        code: &str,
    ) -> Result<AppliedCode, RedeemError> {
        let code = Code::parse(code).map_err(RedeemError::InvalidCode)?;
        if let Err(e) = self.codes.check(&code) {
            let imported = self
                .imported
                .as_ref()
                .is_some_and(|rules| rules.import(code.expose_secret()).is_ok());
            if !imported {
                return Err(RedeemError::InvalidCode(e));
            }
        }
        let window = self.store.guard(client)?;
        if let Some(w) = &window {
            w.value.check(&self.guard, self.clock.now())?;
        }
        let Some(found) = self.store.card_by_code(&code)? else {
            self.record_unknown(client, &code)?;
            return Err(RedeemError::UnknownCode(code.masked()));
        };
        let card_id = found.value.id();
        // The first attempt uses the card just found; a retry reads it again.
        let mut found = Some(found.value);
        self.retry(|now| {
            let card = match found.take() {
                Some(card) => card,
                None => {
                    self.store
                        .card(card_id)?
                        .ok_or_else(|| StoreError::corrupt(format!("card {card_id} is missing")))?
                        .value
                }
            };
            let stored = self.store.checkout(checkout)?;
            let expected_version = stored.as_ref().map(|s| s.version);
            let updated = redeem::apply(
                stored.map(|s| s.value),
                checkout.clone(),
                currency,
                None,
                &card,
                now,
            )?;
            let applied = AppliedCode {
                card: card.id(),
                code: card.shared_code_hint().clone(),
                balance: card.available(),
                expires_at: card.expires_at(),
            };
            let changes = Changes {
                checkout: Some(RecordWrite {
                    value: updated,
                    expected_version,
                }),
                ..Changes::default()
            };
            Ok((applied, changes))
        })
    }

    fn record_unknown(&self, client: &Reference, code: &Code) -> Result<(), RedeemError> {
        self.retry(|now| {
            let stored = self.store.guard(client)?;
            let expected_version = stored.as_ref().map(|s| s.version);
            let mut window =
                stored.map_or_else(|| GuardWindow::new(client.clone(), now), |s| s.value);
            let changed = window.record_unknown(&self.guard, code, now);
            let changes = Changes {
                guard: changed.then_some(RecordWrite {
                    value: window,
                    expected_version,
                }),
                ..Changes::default()
            };
            Ok(((), changes))
        })
    }

    /// Takes a code off the checkout (BigCommerce's `DELETE .../gift-certificates/{code}`).
    ///
    /// # Errors
    ///
    /// [`RedeemError::InvalidCode`], [`RedeemError::UnknownCode`],
    /// [`RedeemError::UnknownCheckout`], and those of [`redeem::remove`].
    pub fn remove_code(&self, checkout: &Reference, code: &str) -> Result<(), RedeemError> {
        let code = Code::parse(code).map_err(RedeemError::InvalidCode)?;
        let card = self
            .store
            .card_by_code(&code)?
            .ok_or_else(|| RedeemError::UnknownCode(code.masked()))?
            .value;
        self.retry(|_| {
            let stored = self.load_checkout(checkout)?;
            let updated = redeem::remove(stored.value, &card)?;
            Ok((
                (),
                Changes {
                    checkout: Some(RecordWrite {
                        value: updated,
                        expected_version: Some(stored.version),
                    }),
                    ..Changes::default()
                },
            ))
        })
    }

    /// Holds `payable` on the checkout's cards, lowest first (the Nordic checkout provider's
    /// authorisation).
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`], and those of [`redeem::authorise`].
    pub fn authorise(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        payable: Money,
    ) -> Result<Redeemed<Authorisation>, RedeemError> {
        self.run(
            key,
            RecordedRequest::Authorise {
                checkout: checkout.clone(),
                payable,
            },
            Outcome::Authorised,
            |o| match o {
                Outcome::Authorised(x) => Some(x),
                _ => None,
            },
            |now, versions| {
                let stored = self.load_checkout(checkout)?;
                versions.checkout = Some(stored.version);
                let cards = self.load_cards(stored.value.applied().iter().copied(), versions)?;
                let expires = self.hold_ttl.and_then(|ttl| now.checked_add_signed(ttl));
                redeem::authorise(stored.value, cards, payable, now, expires)
            },
        )
    }

    /// Captures the checkout's holds (order completed), running the leftover strategy.
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`], and those of [`redeem::capture`].
    pub fn capture(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
    ) -> Result<Redeemed<Captured>, RedeemError> {
        self.run(
            key,
            RecordedRequest::Capture {
                checkout: checkout.clone(),
            },
            Outcome::Captured,
            |o| match o {
                Outcome::Captured(x) => Some(x),
                _ => None,
            },
            |now, versions| {
                let stored = self.load_checkout(checkout)?;
                versions.checkout = Some(stored.version);
                let cards = self.load_cards(stored.value.needed(), versions)?;
                redeem::capture(stored.value, cards, &*self.strategy, now, || self.fresh())
            },
        )
    }

    /// Releases the checkout's holds (payment failed).
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`], and those of [`redeem::void`].
    pub fn void(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
    ) -> Result<Redeemed<Voided>, RedeemError> {
        self.run(
            key,
            RecordedRequest::Void {
                checkout: checkout.clone(),
            },
            Outcome::Voided,
            |o| match o {
                Outcome::Voided(x) => Some(x),
                _ => None,
            },
            |now, versions| {
                let stored = self.load_checkout(checkout)?;
                versions.checkout = Some(stored.version);
                let cards = self.load_cards(stored.value.needed(), versions)?;
                redeem::void(stored.value, cards, now)
            },
        )
    }

    /// Refunds `amount` of what the checkout captured, as the leftover strategy directs.
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`], and those of [`redeem::refund`].
    pub fn refund(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
    ) -> Result<Redeemed<RefundOutcome>, RedeemError> {
        self.run(
            key,
            RecordedRequest::Refund {
                checkout: checkout.clone(),
                amount,
            },
            Outcome::Refunded,
            |o| match o {
                Outcome::Refunded(x) => Some(x),
                _ => None,
            },
            |now, versions| {
                let stored = self.load_checkout(checkout)?;
                versions.checkout = Some(stored.version);
                let cards = self.load_cards(stored.value.needed(), versions)?;
                redeem::refund(stored.value, cards, amount, &*self.strategy, now, || {
                    self.fresh()
                })
            },
        )
    }

    /// The card with this id.
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub fn card(&self, id: CardId) -> Result<Option<GiftCard>, RedeemError> {
        Ok(self.store.card(id)?.map(|v| v.value))
    }

    /// A card's whole history, oldest first.
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub fn history(&self, id: CardId) -> Result<Vec<LedgerEntry>, RedeemError> {
        let mut all = Vec::new();
        loop {
            let page = self.store.ledger(id, all.len() as u64 + 1, HISTORY_PAGE)?;
            let done = page.len() < HISTORY_PAGE;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }
}
