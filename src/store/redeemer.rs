//! [`Redeemer`]: the sync driver of the redemption protocol over a [`Store`].
//!
//! Every rule (replay, retry, guard, hold expiry, code regeneration, backoff, the turn) lives
//! in the sans-IO [`Protocol`]; this driver only answers what an operation needs from the
//! store, the clock, the code generator and the thread (a sleep, a block on the turn).

use crate::redeem::{CheckoutId, ClientId};
use std::sync::Arc;

use chrono::Duration;

use crate::card::{
    Attribution, CardId, CardSpec, ExpiryPolicy, GiftCard, LedgerEntry, LeftoverStrategy,
    Reference, ReversalReason,
};
use crate::clock::Clock;
use crate::code::{CodeGenerator, ImportRules, ImportedCode};
use crate::money::{Currency, Money};
use crate::redeem::{
    AllocationOrder, Amended, Answer, AppliedCode, Authorisation, BalanceCheck, Captured,
    CardCommand, CheckoutCards, CodeReplaced, GuardPolicy, IdempotencyKey, Issued, Need, Protocol,
    Pruned, RedeemError, Redeemed, RefundOutcome, RefundTo, Reply, Request, Reversal,
    ReversalScope, Step, StoreError, Sweep, Versioned, Voided,
};
use crate::shop::{CheckoutTotalsError, Order, Selection, Totals, TotalsSettings};
use crate::store::operations::{
    IntoRequest, Parts, answer_need, driver_settings, for_each_operation, typed_code, unexpected,
};
use crate::store::{CardQuery, Page, Store};

/// The redemption service: apply and remove codes, authorise, capture, void, refund, issue.
///
/// ```
/// use giftcert::{CheckoutId, ClientId, CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Redeemer, Reference};
///
/// let redeemer = Redeemer::new(MemoryStore::new());
/// let usd = |s: &str| Money::parse(s, Currency::USD);
/// let issued = redeemer.issue(&IdempotencyKey::new("issue-1")?, vec![CardSpec::new(usd("100")?)])?;
/// let code = match &issued.notifications[0] {
///     giftcert::Notification::CardIssued { code, .. } => code.expose_secret().to_owned(),
///     _ => unreachable!(),
/// };
///
/// let checkout = CheckoutId::new("checkout-1")?;
/// let client = ClientId::new("203.0.113.7")?;
/// redeemer.apply_code(&client, &checkout, Currency::USD, &code)?;
/// let auth = redeemer.authorise(&IdempotencyKey::new("auth-1")?, &checkout, usd("60")?)?;
/// assert_eq!(auth.outcome.credit, usd("60")?);
/// let captured = redeemer.capture(&IdempotencyKey::new("cap-1")?, &checkout)?;
/// assert_eq!(captured.outcome.total, usd("60")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Redeemer<S> {
    parts: Parts<S>,
}

impl<S: Store> Redeemer<S> {
    /// A service over `store` with the defaults: the balance strategy, random codes, the
    /// system clock, cards that never expire, holds that last 30 minutes, and BigCommerce's
    /// guard of 20 unknown codes an hour.
    pub fn new(store: S) -> Redeemer<S> {
        Redeemer {
            parts: Parts::new(store),
        }
    }

    driver_settings!(Redeemer);

    /// Uses `strategy` for leftover value.
    #[must_use]
    pub fn with_strategy(mut self, strategy: Arc<dyn LeftoverStrategy>) -> Redeemer<S> {
        self.parts.protocol = self.parts.protocol.with_strategy(strategy);
        self
    }

    /// Uses `codes` to make and check codes.
    #[must_use]
    pub fn with_code_generator(mut self, codes: Arc<dyn CodeGenerator>) -> Redeemer<S> {
        self.parts.protocol = self.parts.protocol.with_code_generator(codes);
        self
    }

    /// Sets the expiry of cards it issues whose spec has none.
    #[must_use]
    pub fn with_expiry(mut self, expiry: ExpiryPolicy) -> Redeemer<S> {
        self.parts.protocol = self.parts.protocol.with_expiry(expiry);
        self
    }

    /// Holds release themselves after `ttl` (`None`: never).
    #[must_use]
    pub fn with_hold_ttl(mut self, ttl: Option<Duration>) -> Redeemer<S> {
        self.parts.protocol = self.parts.protocol.with_hold_ttl(ttl);
        self
    }

    /// Limits unknown-code lookups per client, and with
    /// [`GuardPolicy::with_store_budget`] for all clients together.
    #[must_use]
    pub fn with_guard(mut self, guard: GuardPolicy) -> Redeemer<S> {
        self.parts.protocol = self.parts.protocol.with_guard(guard);
        self
    }

    /// The order in which a checkout's cards pay: lowest first (the default) or expiring
    /// soonest first.
    #[must_use]
    pub fn with_allocation_order(mut self, order: AllocationOrder) -> Redeemer<S> {
        self.parts.protocol = self.parts.protocol.with_allocation_order(order);
        self
    }

    /// Also accepts codes imported from another platform (which carry no check character)
    /// when they fit `rules`; they are looked up like any other code and count against the
    /// guard when unknown.
    #[must_use]
    pub fn with_imported_codes(mut self, rules: ImportRules) -> Redeemer<S> {
        self.parts.protocol = self.parts.protocol.with_imported_codes(rules);
        self
    }

    /// Tries a conflicting request at most `attempts` times (at least once).
    #[must_use]
    pub fn with_attempts(mut self, attempts: u32) -> Redeemer<S> {
        self.parts.protocol = self.parts.protocol.with_attempts(attempts);
        self
    }

    /// Carries out `request` to its end, answering what its operation needs from the store,
    /// the clock, the code generator and this thread.
    ///
    /// # Errors
    ///
    /// Those of the operation `request` names (see the method of the same name).
    pub fn run(&self, request: Request) -> Result<Answer, RedeemError> {
        let mut op = self.parts.protocol.start(request);
        loop {
            let reply = match op.poll() {
                Step::Done(result) => return result,
                Step::Need(need) => self.answer(need),
            };
            op.reply(reply);
        }
    }

    pub(crate) fn answer(&self, need: Need) -> Result<Reply, StoreError> {
        answer_need!(&self.parts, need, [],
            wait(pause) => {
                if pause.is_zero() {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(pause);
                }
            },
            turn(wait) => { wait.block() })
    }

    /// The totals of `selection` with the cards applied to `checkout`, in one call (taxes on
    /// the original prices, gift credit as a payment in the protocol's allocation order, each
    /// card by its id and masked code): [`Totals::amount_to_authorise`] is what to pass to
    /// [`Redeemer::authorise`], which then holds on each card what the totals show.
    ///
    /// ```
    /// use giftcert::shop::ProductLine;
    /// use giftcert::{CheckoutId, ClientId, CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, PriceBasis, Redeemer, Reference, Selection, SelectionPolicy, TotalsSettings};
    ///
    /// let usd = |s: &str| Money::parse(s, Currency::USD);
    /// let redeemer = Redeemer::new(MemoryStore::new());
    /// let issued = redeemer.issue(&IdempotencyKey::new("i-1")?, vec![CardSpec::new(usd("1000")?)])?;
    /// let Some(Notification::CardIssued { code, .. }) = issued.notifications.first() else { unreachable!() };
    /// let checkout = CheckoutId::new("c-1")?;
    /// redeemer.apply_code(&ClientId::new("client-1")?, &checkout, Currency::USD, code.expose_secret())?;
    ///
    /// // Centra's table: 5,500 with 1,100 tax, 1,000 of gift credit, 4,500 to pay.
    /// let mut cart = Selection::new(Currency::USD, PriceBasis::TaxIncluded, SelectionPolicy::mixed());
    /// cart.add_product(ProductLine::new("a", usd("5500")?, 1, "25".parse()?)?)?;
    /// let totals = redeemer.checkout_totals(&checkout, &cart, &TotalsSettings::default())?;
    /// assert_eq!(totals.tax_total(), usd("1100")?);
    /// assert_eq!(totals.gift_certificates()[0].used(), usd("1000")?);
    /// assert_eq!(totals.outstanding_balance(), usd("4500")?);
    /// let auth = redeemer.authorise(&IdempotencyKey::new("a-1")?, &checkout, totals.amount_to_authorise())?;
    /// assert_eq!(auth.outcome.credit, totals.credit_used());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CheckoutTotalsError::Redeem`] when the read fails, [`CheckoutTotalsError::Totals`]
    /// as [`Totals::with_checkout`].
    pub fn checkout_totals(
        &self,
        checkout: &CheckoutId,
        selection: &Selection,
        settings: &TotalsSettings,
    ) -> Result<Totals, CheckoutTotalsError> {
        let cards = self.checkout_cards(checkout)?;
        Ok(Totals::with_checkout(selection, &cards, settings)?)
    }

    /// One page of the cards `query` selects, in issue order, with the cursor to the next (a
    /// read: no idempotency key). See [`Store::search`].
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub fn search(&self, query: &CardQuery) -> Result<Page<Versioned<GiftCard>>, RedeemError> {
        Ok(self.parts.store.search(query)?)
    }

    /// The liability per currency at `at` (see [`LiabilityReport`](crate::card::LiabilityReport)
    /// and [`Store::liability`]), `at` taken as stores keep instants
    /// ([`kept_instant`](crate::clock::kept_instant)).
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub fn liability(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::card::LiabilityReport, RedeemError> {
        Ok(self.parts.store.liability(crate::clock::kept_instant(at))?)
    }
}

/// Makes the request methods of the sync driver from the table in
/// [`operations`](crate::store::operations): each builds its [`Request`] and runs it.
macro_rules! sync_methods {
    ({}
        $( $(#[$doc:meta])* fn $name:ident($($arg:ident: $type:ty),*) -> $variant:ident($out:ty) = $build:expr; )*
    ) => {
        impl<S: Store> Redeemer<S> {
            $(
                $(#[$doc])*
                pub fn $name(&self, $($arg: $type),*) -> Result<$out, RedeemError> {
                    match self.run(IntoRequest::into_request($build)?)? {
                        Answer::$variant(answer) => Ok(answer),
                        other => Err(unexpected(stringify!($variant), &other)),
                    }
                }
            )*
        }
    };
}

for_each_operation!(sync_methods! {});
