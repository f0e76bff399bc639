//! [`Redeemer`]: the sync driver of the redemption protocol over a [`Store`].
//!
//! Every rule (replay, retry, guard, hold expiry, code regeneration) lives in the sans-IO
//! [`Protocol`]; this driver only answers what an [`Operation`] needs from the store, the
//! clock and the code generator.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use chrono::Duration;

use crate::card::{
    Attribution, CardId, CardSpec, ExpiryPolicy, GiftCard, LedgerEntry, LeftoverStrategy, Reference,
};
use crate::clock::{Clock, SystemClock};
use crate::code::{CodeGenerator, ImportRules, ImportedCode};
use crate::money::{Currency, Money};
use crate::redeem::{
    AllocationOrder, Amended, AppliedCode, Authorisation, BalanceCheck, Captured, CardCommand,
    GuardPolicy, IdempotencyKey, Issued, Need, Operation, Protocol, RedeemError, Redeemed,
    RefundOutcome, Reply, Step, StoreError, Voided,
};
use crate::redeem::{CheckoutCards, CodeReplaced, Pruned, RefundTo, Sweep};
use crate::shop::{CardToIssue, CheckoutTotalsError, Order, Selection, Totals, TotalsSettings};
use crate::store::Store;

/// How many ledger entries a history read fetches at a time.
pub(crate) const HISTORY_PAGE: usize = 1024;

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
    protocol: Protocol,
    clock: Arc<dyn Clock>,
    turn: Turn,
}

impl<S: Store> Redeemer<S> {
    /// A service over `store` with the defaults: the balance strategy, random codes, the
    /// system clock, cards that never expire, holds that last 30 minutes, and BigCommerce's
    /// guard of 20 unknown codes an hour.
    pub fn new(store: S) -> Redeemer<S> {
        Redeemer {
            store,
            protocol: Protocol::default(),
            clock: Arc::new(SystemClock),
            turn: Turn::default(),
        }
    }

    /// Follows `protocol`'s settings (strategy, codes, expiry, holds, guard, attempts).
    #[must_use]
    pub fn with_protocol(mut self, protocol: Protocol) -> Redeemer<S> {
        self.protocol = protocol;
        self
    }

    /// Uses `strategy` for leftover value.
    #[must_use]
    pub fn with_strategy(mut self, strategy: Arc<dyn LeftoverStrategy>) -> Redeemer<S> {
        self.protocol = self.protocol.with_strategy(strategy);
        self
    }

    /// Uses `codes` to make and check codes.
    #[must_use]
    pub fn with_code_generator(mut self, codes: Arc<dyn CodeGenerator>) -> Redeemer<S> {
        self.protocol = self.protocol.with_code_generator(codes);
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
        self.protocol = self.protocol.with_expiry(expiry);
        self
    }

    /// Holds release themselves after `ttl` (`None`: never).
    #[must_use]
    pub fn with_hold_ttl(mut self, ttl: Option<Duration>) -> Redeemer<S> {
        self.protocol = self.protocol.with_hold_ttl(ttl);
        self
    }

    /// Limits unknown-code lookups per client, and with
    /// [`GuardPolicy::with_store_budget`] for all clients together.
    #[must_use]
    pub fn with_guard(mut self, guard: GuardPolicy) -> Redeemer<S> {
        self.protocol = self.protocol.with_guard(guard);
        self
    }

    /// The order in which a checkout's cards pay: lowest first (the default) or expiring
    /// soonest first.
    #[must_use]
    pub fn with_allocation_order(mut self, order: AllocationOrder) -> Redeemer<S> {
        self.protocol = self.protocol.with_allocation_order(order);
        self
    }

    /// Also accepts codes imported from another platform (which carry no check character)
    /// when they fit `rules`; they are looked up like any other code and count against the
    /// guard when unknown.
    #[must_use]
    pub fn with_imported_codes(mut self, rules: ImportRules) -> Redeemer<S> {
        self.protocol = self.protocol.with_imported_codes(rules);
        self
    }

    /// Tries a conflicting request at most `attempts` times (at least once).
    #[must_use]
    pub fn with_attempts(mut self, attempts: u32) -> Redeemer<S> {
        self.protocol = self.protocol.with_attempts(attempts);
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The protocol settings it follows.
    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    /// Runs `op` to its end, answering its needs from the store, the clock and the code
    /// generator.
    fn drive<T: Send + 'static>(&self, mut op: Operation<T>) -> Result<T, RedeemError> {
        // Held from the moment the protocol asks for the pessimistic path to the end.
        let mut turn = None;
        loop {
            let reply = match op.poll() {
                Step::Done(result) => return result,
                Step::Need(Need::Yield { lost, exclusive }) => {
                    if exclusive && turn.is_none() {
                        turn = Some(self.turn.take());
                    } else {
                        backoff(lost);
                    }
                    Ok(Reply::Resumed)
                }
                Step::Need(need @ Need::Commit(_)) => {
                    // While an operation that kept losing has its turn, the others let it
                    // commit first; the turn waits for their commits under way.
                    let _in_flight = turn.is_none().then(|| self.turn.enter());
                    self.answer(need)
                }
                Step::Need(need) => self.answer(need),
            };
            op.reply(reply);
        }
    }

    fn answer(&self, need: Need) -> Result<Reply, StoreError> {
        Ok(match need {
            Need::Now => Reply::Now(self.clock.now()),
            Need::Idempotency(key) => Reply::Idempotency(self.store.idempotency(&key)?),
            Need::Checkout(id) => Reply::Checkout(self.store.checkout(&id)?),
            Need::Card(id) => Reply::Card(self.store.card(id)?),
            Need::CardByCode(code) => Reply::Card(self.store.card_by_code(&code)?),
            Need::Guard(client) => Reply::Guard(self.store.guard(&client)?),
            Need::Fresh => Reply::Fresh(self.protocol.draw()),
            Need::NewCardId => Reply::CardId(CardId::random()),
            Need::Commit(changes) => {
                self.store.commit(*changes)?;
                Reply::Committed
            }
            Need::Yield { lost, .. } => {
                backoff(lost);
                Reply::Resumed
            }
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
        self.drive(self.protocol.issue(key.clone(), specs))
    }

    /// Issues a card under a code brought from another platform (see [`ImportRules`]), for
    /// hosts migrating their customers' cards. Check [`ImportedCode::is_weak`] first: a short
    /// or digits-only code is easy to guess. Accepting such codes at checkout takes
    /// [`Redeemer::with_imported_codes`]. Repeating the same import under its key replays its
    /// first result.
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
        self.drive(self.protocol.import(key.clone(), code, spec))
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
        match order_issue(order)? {
            Some((key, specs)) => self.issue(&key, specs),
            None => Ok(nothing_issued()),
        }
    }

    /// What the card with `code` can pay, for a shopper's "check your balance" page: its
    /// balance, what is available now, its expiry and status, by its masked code. The check
    /// character is verified before any store is asked, and unknown codes count against
    /// `client` in the guard, as when a code is applied.
    ///
    /// # Errors
    ///
    /// [`RedeemError::TooManyAttempts`], [`RedeemError::InvalidCode`],
    /// [`RedeemError::UnknownCode`], [`RedeemError::Store`].
    pub fn check_balance(
        &self,
        client: &Reference,
        code: &str,
    ) -> Result<BalanceCheck, RedeemError> {
        self.drive(self.protocol.check_balance(client.clone(), code))
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
    /// [`RedeemError::UnknownCode`], and those of [`redeem::apply`](crate::redeem::apply).
    pub fn apply_code(
        &self,
        client: &Reference,
        checkout: &Reference,
        currency: Currency,
        code: &str,
    ) -> Result<AppliedCode, RedeemError> {
        self.drive(
            self.protocol
                .apply_code(client.clone(), checkout.clone(), currency, code),
        )
    }

    /// Takes a code off the checkout (BigCommerce's `DELETE .../gift-certificates/{code}`).
    ///
    /// # Errors
    ///
    /// [`RedeemError::InvalidCode`], [`RedeemError::TooManyAttempts`], [`RedeemError::UnknownCode`]
    /// (for a code that is unknown or not on this checkout alike: both count against
    /// `client` in the guard), [`RedeemError::UnknownCheckout`], and those of
    /// [`redeem::remove`](crate::redeem::remove).
    pub fn remove_code(
        &self,
        client: &Reference,
        checkout: &Reference,
        code: &str,
    ) -> Result<(), RedeemError> {
        self.drive(
            self.protocol
                .remove_code(client.clone(), checkout.clone(), code),
        )
    }

    /// Holds `payable` on the checkout's cards, lowest first (the Nordic checkout provider's
    /// authorisation).
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`], and those of [`redeem::authorise`](crate::redeem::authorise).
    pub fn authorise(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        payable: Money,
    ) -> Result<Redeemed<Authorisation>, RedeemError> {
        self.drive(
            self.protocol
                .authorise(key.clone(), checkout.clone(), payable),
        )
    }

    /// Captures the checkout's holds (order completed), running the leftover strategy.
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`], and those of [`redeem::capture`](crate::redeem::capture).
    pub fn capture(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
    ) -> Result<Redeemed<Captured>, RedeemError> {
        self.drive(self.protocol.capture(key.clone(), checkout.clone()))
    }

    /// Captures `amount` of what the checkout holds (part of the order shipped, or it cost
    /// less than authorised) and releases the rest, as TigerBeetle's partial post does. The
    /// cards give in the order they paid when authorised; the leftover strategy runs on the
    /// cards that paid. [`Captured::released`] lists what went back.
    ///
    /// ```
    /// use giftcert::{CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Reference};
    ///
    /// let usd = |s: &str| Money::parse(s, Currency::USD);
    /// let redeemer = Redeemer::new(MemoryStore::new());
    /// let issued = redeemer.issue(&IdempotencyKey::new("i-1")?, vec![CardSpec::new(usd("100")?)])?;
    /// let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else { unreachable!() };
    /// let checkout = Reference::new("c-1")?;
    /// redeemer.apply_code(&Reference::new("client")?, &checkout, Currency::USD, code.expose_secret())?;
    /// redeemer.authorise(&IdempotencyKey::new("a-1")?, &checkout, usd("60")?)?;
    /// let captured = redeemer.capture_part(&IdempotencyKey::new("cap-1")?, &checkout, usd("45")?)?;
    /// assert_eq!(captured.outcome.total, usd("45")?);
    /// assert_eq!(captured.outcome.released[0].amount, usd("15")?);
    /// assert_eq!(redeemer.card(*card)?.map(|c| c.available()), Some(usd("55")?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`], and those of
    /// [`redeem::capture_part`](crate::redeem::capture_part).
    pub fn capture_part(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
    ) -> Result<Redeemed<Captured>, RedeemError> {
        self.drive(
            self.protocol
                .capture_part(key.clone(), checkout.clone(), amount),
        )
    }

    /// Changes an open authorisation to hold `payable` instead, without voiding it first (the
    /// cart changed after validation): the old holds are released and new ones placed in one
    /// commit, so the checkout never stands unauthorised and no other checkout can take the
    /// money in between.
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`], and those of
    /// [`redeem::change_authorisation`](crate::redeem::change_authorisation).
    pub fn change_authorisation(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        payable: Money,
    ) -> Result<Redeemed<Authorisation>, RedeemError> {
        self.drive(
            self.protocol
                .change_authorisation(key.clone(), checkout.clone(), payable),
        )
    }

    /// Releases the checkout's holds (payment failed).
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`], and those of [`redeem::void`](crate::redeem::void).
    pub fn void(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
    ) -> Result<Redeemed<Voided>, RedeemError> {
        self.drive(self.protocol.void(key.clone(), checkout.clone()))
    }

    /// Refunds `amount` of what the checkout captured back to the cards used, last used first
    /// ([`RefundTo::CardsUsed`]: the last card to pay gets back what it paid before the one
    /// before it gets anything; each part lands where the leftover strategy says).
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`], and those of [`redeem::refund`](crate::redeem::refund).
    pub fn refund(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
    ) -> Result<Redeemed<RefundOutcome>, RedeemError> {
        self.drive(self.protocol.refund(key.clone(), checkout.clone(), amount))
    }

    /// Refunds `amount` of what the checkout captured to the target `to` names: back to the
    /// cards used, last used first ([`RefundTo::CardsUsed`], as [`Redeemer::refund`]), or onto
    /// one new card carrying it all ([`RefundTo::NewCard`], whose code comes in a
    /// [`Notification::RefundCardIssued`](crate::Notification::RefundCardIssued)). Either way
    /// no more comes back than was captured and not yet refunded, and money is conserved.
    ///
    /// ```
    /// use giftcert::redeem::RefundTo;
    /// use giftcert::{CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Reference};
    ///
    /// let usd = |s: &str| Money::parse(s, Currency::USD);
    /// let redeemer = Redeemer::new(MemoryStore::new());
    /// let issued = redeemer.issue(&IdempotencyKey::new("i-1")?, vec![CardSpec::new(usd("100")?)])?;
    /// let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else { unreachable!() };
    /// let checkout = Reference::new("c-1")?;
    /// redeemer.apply_code(&Reference::new("client")?, &checkout, Currency::USD, code.expose_secret())?;
    /// redeemer.authorise(&IdempotencyKey::new("a-1")?, &checkout, usd("60")?)?;
    /// redeemer.capture(&IdempotencyKey::new("cap-1")?, &checkout)?;
    /// let refund = redeemer.refund_to(&IdempotencyKey::new("r-1")?, &checkout, usd("25")?, RefundTo::NewCard)?;
    /// let part = refund.outcome.parts[0];
    /// assert_eq!((part.from_card, part.amount), (*card, usd("25")?));
    /// assert_ne!(part.to_card, *card);
    /// assert_eq!(redeemer.card(part.to_card)?.map(|c| c.balance()), Some(usd("25")?));
    /// assert_eq!(redeemer.card(*card)?.map(|c| c.balance()), Some(usd("40")?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Redeemer::refund`], and those of [`redeem::refund_to`](crate::redeem::refund_to).
    pub fn refund_to(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
        to: RefundTo,
    ) -> Result<Redeemed<RefundOutcome>, RedeemError> {
        self.drive(
            self.protocol
                .refund_to(key.clone(), checkout.clone(), amount, to),
        )
    }

    /// Records `customer`, the shopper the host knows (an account id), on `checkout`, created
    /// in `currency` if no code was applied yet: the holds, captures, releases and refunds of
    /// its cards then name the customer in their ledger entries. Call it before authorising;
    /// recording the same customer again changes nothing.
    ///
    /// # Errors
    ///
    /// Those of [`redeem::set_customer`](crate::redeem::set_customer), and
    /// [`RedeemError::Store`].
    pub fn set_customer(
        &self,
        checkout: &Reference,
        currency: Currency,
        customer: &Reference,
    ) -> Result<(), RedeemError> {
        self.drive(
            self.protocol
                .set_customer(checkout.clone(), currency, customer.clone()),
        )
    }

    /// The checkout's applied cards with the credit each gives it (by id and masked code),
    /// read in one go: what [`Totals::with_checkout`] needs. A checkout no code was applied
    /// to yet reads as one without cards.
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub fn checkout_cards(&self, checkout: &Reference) -> Result<CheckoutCards, RedeemError> {
        self.drive(self.protocol.checkout_cards(checkout.clone()))
    }

    /// The totals of `selection` with the cards applied to `checkout`, in one call (taxes on
    /// the original prices, gift credit as a payment in the protocol's allocation order, each
    /// card by its id and masked code): [`Totals::amount_to_authorise`] is what to pass to
    /// [`Redeemer::authorise`], which then holds on each card what the totals show.
    ///
    /// ```
    /// use giftcert::shop::ProductLine;
    /// use giftcert::{CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, PriceBasis, Redeemer, Reference, Selection, SelectionPolicy, TotalsSettings};
    ///
    /// let usd = |s: &str| Money::parse(s, Currency::USD);
    /// let redeemer = Redeemer::new(MemoryStore::new());
    /// let issued = redeemer.issue(&IdempotencyKey::new("i-1")?, vec![CardSpec::new(usd("1000")?)])?;
    /// let Some(Notification::CardIssued { code, .. }) = issued.notifications.first() else { unreachable!() };
    /// let checkout = Reference::new("c-1")?;
    /// redeemer.apply_code(&Reference::new("client-1")?, &checkout, Currency::USD, code.expose_secret())?;
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
        checkout: &Reference,
        selection: &Selection,
        settings: &TotalsSettings,
    ) -> Result<Totals, CheckoutTotalsError> {
        let cards = self.checkout_cards(checkout)?;
        Ok(Totals::with_checkout(selection, &cards, settings)?)
    }

    /// Carries out a back-office command on a card (disable, enable, adjust, a new expiry)
    /// under `key`, leaving one ledger entry attributed to `by`.
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCard`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`], and those of [`redeem::amend`](crate::redeem::amend).
    /// ```
    /// use giftcert::card::{Attribution, Reason};
    /// use giftcert::redeem::CardCommand;
    /// use giftcert::{CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Redeemer, Reference};
    ///
    /// let redeemer = Redeemer::new(MemoryStore::new());
    /// let spec = CardSpec::new(Money::parse("25", Currency::EUR)?);
    /// let card = redeemer.issue(&IdempotencyKey::new("issue-1")?, vec![spec])?.outcome.cards[0].card;
    /// let by = Attribution::new(Reference::new("staff:ana")?, Reason::new("goodwill")?);
    /// let change = Money::parse("5", Currency::EUR)?;
    /// let key = IdempotencyKey::new("ticket-77/adjust")?;
    /// let amended = redeemer.amend(&key, card, CardCommand::Adjust { change }, &by)?;
    /// assert_eq!(amended.outcome.balance, Money::parse("30", Currency::EUR)?);
    /// // The same request again is answered from its record: the card gets 5.00 once.
    /// assert!(redeemer.amend(&key, card, CardCommand::Adjust { change }, &by)?.replayed);
    /// let history = redeemer.history(card)?;
    /// assert_eq!(history.last().and_then(|e| e.attribution()), Some(&by));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn amend(
        &self,
        key: &IdempotencyKey,
        card: CardId,
        command: CardCommand,
        by: &Attribution,
    ) -> Result<Redeemed<Amended>, RedeemError> {
        self.drive(self.protocol.amend(key.clone(), card, command, by.clone()))
    }

    /// Gives a card a new code under `key`, for an owner who lost theirs
    /// ([`Protocol::replace_code`]): the same card, balance and holds, the old code refused at
    /// once, and a [`Notification::CodeReplaced`](crate::card::Notification::CodeReplaced)
    /// carrying the new code for the host to send. A replay returns the same outcome (the new
    /// code's masked hint) without the notification: the code is handed over once.
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCard`], [`RedeemError::Card`] for a replaced card,
    /// [`RedeemError::CodeGeneration`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`].
    ///
    /// ```
    /// use giftcert::card::{Attribution, Reason};
    /// use giftcert::{CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Reference};
    ///
    /// let redeemer = Redeemer::new(MemoryStore::new());
    /// let spec = CardSpec::new(Money::parse("25", Currency::EUR)?);
    /// let issued = redeemer.issue(&IdempotencyKey::new("issue-1")?, vec![spec])?;
    /// let Some(Notification::CardIssued { card, code: old, .. }) = issued.notifications.first() else { unreachable!() };
    /// let by = Attribution::new(Reference::new("staff:ana")?, Reason::new("e-mail lost")?);
    /// let replaced = redeemer.replace_code(&IdempotencyKey::new("ticket-9/code")?, *card, &by)?;
    /// let Some(Notification::CodeReplaced { code: new, .. }) = replaced.notifications.first() else { unreachable!() };
    /// let shopper = Reference::new("203.0.113.7")?;
    /// assert!(redeemer.check_balance(&shopper, old.expose_secret()).is_err());
    /// assert_eq!(redeemer.check_balance(&shopper, new.expose_secret())?.balance, Money::parse("25", Currency::EUR)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn replace_code(
        &self,
        key: &IdempotencyKey,
        card: CardId,
        by: &Attribution,
    ) -> Result<Redeemed<CodeReplaced>, RedeemError> {
        self.drive(self.protocol.replace_code(key.clone(), card, by.clone()))
    }

    /// Sweeps up to `limit` cards that are due at the clock's time ([`Store::due_cards`]):
    /// releases holds past their time limit and records expiries, each card in a versioned
    /// commit of its own ([`Protocol::sweep_card`]). For a host's scheduler: run it every few
    /// minutes, and again at once while [`Sweep::more`] says the batch was full. Running it
    /// twice changes nothing the second time.
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`], [`RedeemError::Contention`]. A batch that fails part way keeps
    /// the cards already swept; the next run picks up the rest.
    pub fn sweep(&self, limit: usize) -> Result<Sweep, RedeemError> {
        let due = self.store.due_cards(self.clock.now(), limit)?;
        let mut sweep = Sweep {
            cards: Vec::with_capacity(due.len()),
            notifications: Vec::new(),
            more: limit > 0 && due.len() >= limit,
        };
        for card in due {
            if let Some(swept) = self.drive(self.protocol.sweep_card(card))? {
                sweep.add(swept);
            }
        }
        Ok(sweep)
    }

    /// Deletes up to `limit` idempotency records past the protocol's [`Retention`](crate::redeem::Retention) and up to
    /// `limit` guard windows that have ended ([`Protocol::prune_before`]), for a host's
    /// scheduler (daily is enough; again while a count comes back at `limit`).
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub fn prune(&self, limit: usize) -> Result<Pruned, RedeemError> {
        let before = self.protocol.prune_before(self.clock.now());
        let mut pruned = Pruned::default();
        if let Some(at) = before.records {
            pruned.records = self.store.prune_idempotency(at, limit)?;
        }
        if let Some(at) = before.guards {
            pruned.guards = self.store.prune_guards(at, limit)?;
        }
        Ok(pruned)
    }

    /// One page of the cards `query` selects, in issue order, with the cursor to the next (a
    /// read: no idempotency key). See [`Store::search`].
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub fn search(
        &self,
        query: &crate::store::CardQuery,
    ) -> Result<crate::store::Page<crate::store::Versioned<GiftCard>>, RedeemError> {
        Ok(self.store.search(query)?)
    }

    /// The liability per currency at `at` (see [`LiabilityReport`](crate::card::LiabilityReport)
    /// and [`Store::liability`]).
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub fn liability(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::card::LiabilityReport, RedeemError> {
        Ok(self.store.liability(at)?)
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

/// The turn operations that kept losing take one at a time (see [`Need::Yield`]): while one
/// has it, the driver's other operations hold back their commits, and it waits for those
/// already under way to land before it reads again, so that no other request of the same
/// driver can make it lose once more. Other drivers (other processes on the same database) do
/// not see it: against them only backoff helps.
///
/// Waiting blocks the thread (the sync driver) or parks the task until the turn changes (the
/// async driver): nothing spins while the holder's commit is at the database.
#[derive(Debug, Default)]
pub(crate) struct Turn {
    state: Mutex<TurnState>,
    /// Signalled whenever the turn is given back or the last commit under way lands.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct TurnState {
    /// Whether an operation has the turn.
    taken: bool,
    /// Commits under way of operations without the turn.
    in_flight: usize,
    /// Threads of the sync driver blocked on the condition variable: with none, a change
    /// signals nothing (no system call on the commit path).
    sleeping: usize,
    /// The tasks of the async driver waiting for the turn to change.
    waiting: Vec<Waker>,
}

/// What issuing for `order` asks both drivers for: the key made from the order id and the
/// specs of the cards it bought, or `None` when it bought none (yet).
pub(crate) fn order_issue(
    order: &Order,
) -> Result<Option<(IdempotencyKey, Vec<CardSpec>)>, RedeemError> {
    let specs: Vec<CardSpec> = order
        .cards_to_issue()
        .iter()
        .map(CardToIssue::card_spec)
        .collect();
    if specs.is_empty() {
        return Ok(None);
    }
    // Order ids are identifiers (at most 64 of `A-Z a-z 0-9 - _ .`), so the key is valid.
    let key = IdempotencyKey::new(&format!("order-issue:{}", order.id()))
        .map_err(|e| StoreError::corrupt(e.to_string()))?;
    Ok(Some((key, specs)))
}

/// The answer for an order with nothing to issue.
pub(crate) fn nothing_issued() -> Redeemed<Issued> {
    Redeemed {
        outcome: Issued { cards: Vec::new() },
        notifications: Vec::new(),
        replayed: false,
    }
}

/// A held [`Turn`]; dropping it gives the turn to the next operation.
pub(crate) struct TurnGuard<'a>(&'a Turn);

/// A commit under way while no operation has the turn; dropping it (the commit answered, or
/// its future dropped) lets the turn's holder go on.
pub(crate) struct InFlight<'a>(&'a Turn);

/// The turn is free: take it.
fn take_if_free(state: &mut TurnState) -> bool {
    !std::mem::replace(&mut state.taken, true)
}

/// Every commit that began before the turn was taken has been answered.
fn drained(state: &mut TurnState) -> bool {
    state.in_flight == 0
}

/// No operation has the turn: count a commit under way.
fn enter_if_free(state: &mut TurnState) -> bool {
    if state.taken {
        return false;
    }
    state.in_flight += 1;
    true
}

impl Turn {
    fn lock(&self) -> MutexGuard<'_, TurnState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks this thread until `attempt` succeeds on the turn's state.
    fn wait(&self, attempt: fn(&mut TurnState) -> bool) {
        let mut state = self.lock();
        while !attempt(&mut state) {
            state.sleeping += 1;
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.sleeping -= 1;
        }
    }

    /// Wakes every waiter, blocked or parked.
    fn changed(&self, mut state: MutexGuard<'_, TurnState>) {
        let waiting = std::mem::take(&mut state.waiting);
        let sleeping = state.sleeping > 0;
        drop(state);
        if sleeping {
            self.changed.notify_all();
        }
        for waker in waiting {
            waker.wake();
        }
    }

    /// Takes the turn, blocking this thread until it is free and the commits under way have
    /// landed.
    fn take(&self) -> TurnGuard<'_> {
        self.wait(take_if_free);
        let taken = TurnGuard(self);
        self.wait(drained);
        taken
    }

    /// Enters a commit, blocking this thread while another operation has the turn.
    fn enter(&self) -> InFlight<'_> {
        self.wait(enter_if_free);
        InFlight(self)
    }

    /// As [`Turn::take`], parking the task instead of blocking the thread.
    pub(crate) async fn take_async(&self) -> TurnGuard<'_> {
        TurnWait {
            turn: self,
            attempt: take_if_free,
        }
        .await;
        let taken = TurnGuard(self);
        TurnWait {
            turn: self,
            attempt: drained,
        }
        .await;
        taken
    }

    /// As [`Turn::enter`], parking the task instead of blocking the thread.
    pub(crate) async fn enter_async(&self) -> InFlight<'_> {
        TurnWait {
            turn: self,
            attempt: enter_if_free,
        }
        .await;
        InFlight(self)
    }
}

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.taken = false;
        self.0.changed(state);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            self.0.changed(state);
        }
    }
}

/// Ready once `attempt` succeeds on the turn's state; until then its task is parked, and woken
/// when the turn changes.
struct TurnWait<'a> {
    turn: &'a Turn,
    attempt: fn(&mut TurnState) -> bool,
}

impl Future for TurnWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.turn.lock();
        if (self.attempt)(&mut state) {
            return Poll::Ready(());
        }
        // A task that polls its futures together (a join) is woken once for all of them.
        if !state.waiting.iter().any(|w| w.will_wake(cx.waker())) {
            state.waiting.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Lets other writers make progress after `lost` lost commits: a yield, then a random pause
/// of up to `2^lost` microseconds (at most about a millisecond), so that racing requests
/// spread out instead of colliding again in step.
fn backoff(lost: u32) {
    std::thread::yield_now();
    if lost > 1 {
        let ceiling = 1_u64 << lost.min(10);
        std::thread::sleep(std::time::Duration::from_micros(rand::random_range(
            0..ceiling,
        )));
    }
}
