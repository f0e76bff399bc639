//! The table the drivers' request methods are made from: one line per method, naming its
//! arguments, the [`Request`] it builds and the [`Answer`] variant it returns. The sync
//! [`Redeemer`](super::Redeemer), the async [`AsyncRedeemer`](super::AsyncRedeemer) and the
//! conformance kit's driver seam each expand it with a macro of their own, so a new operation
//! is one line here beside its [`Request`] variant and its flow.
//!
//! The table's types are named as the expanding module imports them.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::code::Code;
use crate::redeem::{Answer, Protocol, RedeemError, Request};

/// What a driver answers needs from: its store, the protocol it follows and its clock.
#[derive(Debug)]
pub(crate) struct Parts<S> {
    pub(crate) store: S,
    pub(crate) protocol: Protocol,
    pub(crate) clock: Arc<dyn Clock>,
}

impl<S> Parts<S> {
    /// `store` with the protocol's defaults and the system clock.
    pub(crate) fn new(store: S) -> Parts<S> {
        Parts {
            store,
            protocol: Protocol::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// What a table line's build expression gives: a request, or the error that stops it before
/// it starts (a code typed with characters no code has).
pub(crate) trait IntoRequest {
    fn into_request(self) -> Result<Request, RedeemError>;
}

impl IntoRequest for Request {
    fn into_request(self) -> Result<Request, RedeemError> {
        Ok(self)
    }
}

impl IntoRequest for Result<Request, RedeemError> {
    fn into_request(self) -> Result<Request, RedeemError> {
        self
    }
}

/// The code a shopper typed, normalised ([`Code::parse`]); its check character is the
/// protocol's to verify.
pub(crate) fn typed_code(text: &str) -> Result<Code, RedeemError> {
    Code::parse(text).map_err(RedeemError::InvalidCode)
}

/// An operation that answered another variant than its request's: a bug in the protocol.
pub(crate) fn unexpected(wanted: &'static str, answer: &Answer) -> RedeemError {
    RedeemError::Driver {
        need: wanted,
        reply: answer.name(),
    }
}

/// The builder and accessors both drivers have alike (`$driver` holding its [`Parts`] as
/// `parts`).
macro_rules! driver_settings {
    ($driver:ident) => {
        /// Follows `protocol`'s settings (strategy, codes, expiry, holds, guard, attempts,
        /// allocation order, retention).
        #[must_use]
        pub fn with_protocol(mut self, protocol: Protocol) -> $driver<S> {
            self.parts.protocol = protocol;
            self
        }

        /// Reads time from `clock`.
        #[must_use]
        pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> $driver<S> {
            self.parts.clock = clock;
            self
        }

        /// The store.
        pub fn store(&self) -> &S {
            &self.parts.store
        }

        /// The protocol settings it follows.
        pub fn protocol(&self) -> &Protocol {
            &self.parts.protocol
        }
    };
}

pub(crate) use driver_settings;

/// Answers a need from a driver's [`Parts`] (`$driver`)
/// for both drivers alike: `$await` is `.await` for the async one, and the two pauses are the
/// driver's own (`$pause` for [`Need::Wait`](crate::redeem::Need::Wait), `$turn` for
/// [`Need::Turn`](crate::redeem::Need::Turn)).
macro_rules! answer_need {
    ($driver:expr, $need:expr, [$($await:tt)*],
        wait($pause:ident) => $wait:block, turn($turn:ident) => $turn_wait:block) => {{
        use $crate::redeem::{Need, Reply};
        let driver = $driver;
        let store = &driver.store;
        Ok(match $need {
            Need::Now => Reply::Now(driver.clock.now()),
            Need::Idempotency(key) => Reply::Idempotency(store.idempotency(&key)$($await)*?),
            Need::Checkout(id) => Reply::Checkout(store.checkout(&id)$($await)*?),
            Need::Card(id) => Reply::Card(store.card(id)$($await)*?),
            Need::CardByCode(code) => Reply::Card(store.card_by_code(&code)$($await)*?),
            Need::Guard(client) => Reply::Guard(store.guard(&client)$($await)*?),
            Need::Fresh => Reply::Fresh(driver.protocol.draw()),
            Need::NewCardId => Reply::CardId($crate::card::CardId::random()),
            Need::Seed => Reply::Seed(rand::random()),
            Need::Commit(changes) => {
                store.commit(*changes)$($await)*?;
                Reply::Committed
            }
            Need::Wait($pause) => {
                $wait;
                Reply::Resumed
            }
            Need::Turn($turn) => {
                $turn_wait;
                Reply::Resumed
            }
            Need::DueCards { at, limit } => Reply::DueCards(store.due_cards(at, limit)$($await)*?),
            Need::PruneRecords { before, limit } => {
                Reply::Pruned(store.prune_idempotency(before, limit)$($await)*?)
            }
            Need::PruneGuards { before, limit } => {
                Reply::Pruned(store.prune_guards(before, limit)$($await)*?)
            }
            Need::Ledger { card, from_seq, limit } => {
                Reply::Ledger(store.ledger(card, from_seq, limit)$($await)*?)
            }
            Need::OrderCards(order) => {
                let query = $crate::store::CardQuery::bought_by(order);
                let page = store.search(&query)$($await)*?;
                Reply::OrderCards(page.items.iter().map(|card| card.value.id()).collect())
            }
        })
    }};
}

pub(crate) use answer_need;

/// Expands `$emit! { ... }` with the table of request methods, after the tokens `$args`
/// the emitter takes first.
macro_rules! for_each_operation {
    ($emit:ident ! { $($args:tt)* }) => {
        $emit! {
            { $($args)* }
            /// Issues one card per spec (paid certificates, or a bulk batch with tags and metadata),
            /// returning a notification per card carrying its code for the host to e-mail. Specs
            /// without an expiry get one from the [`ExpiryPolicy`].
            ///
            /// # Errors
            ///
            /// [`RedeemError::Card`] for a value of zero or less, [`RedeemError::CodeGeneration`],
            /// [`RedeemError::Expiry`], [`RedeemError::IdempotencyConflict`], [`RedeemError::Store`].
            fn issue(key: &IdempotencyKey, specs: Vec<CardSpec>) -> Issue(Redeemed<Issued>) = Request::Issue { key: key.clone(), specs };
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
            fn import_card(key: &IdempotencyKey, code: ImportedCode, spec: CardSpec) -> Import(Redeemed<Issued>) = Request::Import { key: key.clone(), code, spec };
            /// Issues the cards a paid order bought (one per certificate unit, see
            /// [`Order::cards_to_issue`]), under an idempotency key made from the order id: however
            /// often it is called for the same order, each card is issued once.
            ///
            /// # Errors
            ///
            /// [`RedeemError::OrderNotPaid`] for an order awaiting its payment or whose payment
            /// failed (nothing is issued), and as [`Redeemer::issue`].
            fn issue_for_order(order: &Order) -> IssueForOrder(Redeemed<Issued>) = order.issue_request();
            /// What the card with `code` can pay, for a shopper's "check your balance" page: its
            /// balance, what is available now, its expiry and status, by its masked code. The check
            /// character is verified before any store is asked, and unknown codes count against
            /// `client` in the guard, as when a code is applied.
            ///
            /// # Errors
            ///
            /// [`RedeemError::TooManyAttempts`], [`RedeemError::InvalidCode`],
            /// [`RedeemError::UnknownCode`], [`RedeemError::Store`].
            fn check_balance(client: &ClientId, code: &str) -> CheckBalance(BalanceCheck) = typed_code(code).map(|code| Request::CheckBalance { client: client.clone(), code });
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
            fn apply_code(client: &ClientId, checkout: &CheckoutId, currency: Currency, code: &str) -> ApplyCode(AppliedCode) = typed_code(code).map(|code| Request::ApplyCode { client: client.clone(), checkout: checkout.clone(), currency, code });
            /// Takes a code off the checkout (BigCommerce's `DELETE .../gift-certificates/{code}`).
            ///
            /// # Errors
            ///
            /// [`RedeemError::InvalidCode`], [`RedeemError::TooManyAttempts`], [`RedeemError::UnknownCode`]
            /// (for a code that is unknown or not on this checkout alike: both count against
            /// `client` in the guard), [`RedeemError::UnknownCheckout`], and those of
            /// [`redeem::remove`](crate::redeem::remove).
            fn remove_code(client: &ClientId, checkout: &CheckoutId, code: &str) -> RemoveCode(()) = typed_code(code).map(|code| Request::RemoveCode { client: client.clone(), checkout: checkout.clone(), code });
            /// Holds `payable` on the checkout's cards, lowest first (the Nordic checkout provider's
            /// authorisation).
            ///
            /// # Errors
            ///
            /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
            /// [`RedeemError::Contention`], and those of [`redeem::authorise`](crate::redeem::authorise).
            fn authorise(key: &IdempotencyKey, checkout: &CheckoutId, payable: Money) -> Authorise(Redeemed<Authorisation>) = Request::Authorise { key: key.clone(), checkout: checkout.clone(), payable };
            /// Captures the checkout's holds (order completed), running the leftover strategy.
            ///
            /// # Errors
            ///
            /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
            /// [`RedeemError::Contention`], and those of [`redeem::capture`](crate::redeem::capture).
            fn capture(key: &IdempotencyKey, checkout: &CheckoutId) -> Capture(Redeemed<Captured>) = Request::Capture { key: key.clone(), checkout: checkout.clone() };
            /// Captures `amount` of what the checkout holds (part of the order shipped, or it cost
            /// less than authorised) and releases the rest, as TigerBeetle's partial post does. The
            /// cards give in the order they paid when authorised; the leftover strategy runs on the
            /// cards that paid. [`Captured::released`] lists what went back.
            ///
            /// ```
            /// use giftcert::{CheckoutId, ClientId, CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Reference};
            ///
            /// let usd = |s: &str| Money::parse(s, Currency::USD);
            /// let redeemer = Redeemer::new(MemoryStore::new());
            /// let issued = redeemer.issue(&IdempotencyKey::new("i-1")?, vec![CardSpec::new(usd("100")?)])?;
            /// let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else { unreachable!() };
            /// let checkout = CheckoutId::new("c-1")?;
            /// redeemer.apply_code(&ClientId::new("client")?, &checkout, Currency::USD, code.expose_secret())?;
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
            fn capture_part(key: &IdempotencyKey, checkout: &CheckoutId, amount: Money) -> CapturePart(Redeemed<Captured>) = Request::CapturePart { key: key.clone(), checkout: checkout.clone(), amount };
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
            fn change_authorisation(key: &IdempotencyKey, checkout: &CheckoutId, payable: Money) -> ChangeAuthorisation(Redeemed<Authorisation>) = Request::ChangeAuthorisation { key: key.clone(), checkout: checkout.clone(), payable };
            /// Releases the checkout's holds (payment failed).
            ///
            /// # Errors
            ///
            /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
            /// [`RedeemError::Contention`], and those of [`redeem::void`](crate::redeem::void).
            fn void(key: &IdempotencyKey, checkout: &CheckoutId) -> Void(Redeemed<Voided>) = Request::Void { key: key.clone(), checkout: checkout.clone() };
            /// Refunds `amount` of what the checkout captured back to the cards used, last used first
            /// ([`RefundTo::CardsUsed`]: the last card to pay gets back what it paid before the one
            /// before it gets anything; each part lands where the leftover strategy says).
            ///
            /// # Errors
            ///
            /// [`RedeemError::UnknownCheckout`], [`RedeemError::IdempotencyConflict`],
            /// [`RedeemError::Contention`], and those of [`redeem::refund`](crate::redeem::refund).
            fn refund(key: &IdempotencyKey, checkout: &CheckoutId, amount: Money) -> Refund(Redeemed<RefundOutcome>) = Request::Refund { key: key.clone(), checkout: checkout.clone(), amount, to: RefundTo::CardsUsed };
            /// Refunds `amount` of what the checkout captured to the target `to` names: back to the
            /// cards used, last used first ([`RefundTo::CardsUsed`], as [`Redeemer::refund`]), or onto
            /// one new card carrying it all ([`RefundTo::NewCard`], whose code comes in a
            /// [`Notification::RefundCardIssued`](crate::Notification::RefundCardIssued)). Either way
            /// no more comes back than was captured and not yet refunded, and money is conserved.
            ///
            /// ```
            /// use giftcert::redeem::RefundTo;
            /// use giftcert::{CheckoutId, ClientId, CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Reference};
            ///
            /// let usd = |s: &str| Money::parse(s, Currency::USD);
            /// let redeemer = Redeemer::new(MemoryStore::new());
            /// let issued = redeemer.issue(&IdempotencyKey::new("i-1")?, vec![CardSpec::new(usd("100")?)])?;
            /// let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else { unreachable!() };
            /// let checkout = CheckoutId::new("c-1")?;
            /// redeemer.apply_code(&ClientId::new("client")?, &checkout, Currency::USD, code.expose_secret())?;
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
            fn refund_to(key: &IdempotencyKey, checkout: &CheckoutId, amount: Money, to: RefundTo) -> Refund(Redeemed<RefundOutcome>) = Request::Refund { key: key.clone(), checkout: checkout.clone(), amount, to };
            /// Records `customer`, the shopper the host knows (an account id), on `checkout`, created
            /// in `currency` if no code was applied yet: the holds, captures, releases and refunds of
            /// its cards then name the customer in their ledger entries. Call it before authorising;
            /// recording the same customer again changes nothing.
            ///
            /// # Errors
            ///
            /// Those of [`redeem::set_customer`](crate::redeem::set_customer), and
            /// [`RedeemError::Store`].
            fn set_customer(checkout: &CheckoutId, currency: Currency, customer: &Reference) -> SetCustomer(()) = Request::SetCustomer { checkout: checkout.clone(), currency, customer: customer.clone() };
            /// The checkout's applied cards with the credit each gives it (by id and masked code),
            /// read in one go: what [`Totals::with_checkout`] needs. A checkout no code was applied
            /// to yet reads as one without cards.
            ///
            /// # Errors
            ///
            /// [`RedeemError::Store`].
            fn checkout_cards(checkout: &CheckoutId) -> CheckoutCards(CheckoutCards) = Request::CheckoutCards { checkout: checkout.clone() };
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
            /// use giftcert::{CheckoutId, ClientId, CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Redeemer, Reference};
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
            fn amend(key: &IdempotencyKey, card: CardId, command: CardCommand, by: &Attribution) -> Amend(Redeemed<Amended>) = Request::Amend { key: key.clone(), card, command, by: by.clone() };
            /// Gives a card a new code under `key`, for an owner who lost theirs
            /// ([`Request::ReplaceCode`]): the same card, balance and holds, the old code refused at
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
            /// use giftcert::{CheckoutId, ClientId, CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Reference};
            ///
            /// let redeemer = Redeemer::new(MemoryStore::new());
            /// let spec = CardSpec::new(Money::parse("25", Currency::EUR)?);
            /// let issued = redeemer.issue(&IdempotencyKey::new("issue-1")?, vec![spec])?;
            /// let Some(Notification::CardIssued { card, code: old, .. }) = issued.notifications.first() else { unreachable!() };
            /// let by = Attribution::new(Reference::new("staff:ana")?, Reason::new("e-mail lost")?);
            /// let replaced = redeemer.replace_code(&IdempotencyKey::new("ticket-9/code")?, *card, &by)?;
            /// let Some(Notification::CodeReplaced { code: new, .. }) = replaced.notifications.first() else { unreachable!() };
            /// let shopper = ClientId::new("203.0.113.7")?;
            /// assert!(redeemer.check_balance(&shopper, old.expose_secret()).is_err());
            /// assert_eq!(redeemer.check_balance(&shopper, new.expose_secret())?.balance, Money::parse("25", Currency::EUR)?);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            fn replace_code(key: &IdempotencyKey, card: CardId, by: &Attribution) -> ReplaceCode(Redeemed<CodeReplaced>) = Request::ReplaceCode { key: key.clone(), card, by: by.clone() };
            /// Reverses the purchase of `order` (a refund or a chargeback of the order that bought
            /// cards) under `key`: each card of the order in `scope` is blocked for `reason`, its
            /// open holds released and what is left on it clawed back, every entry attributed to
            /// `by`. The answer says per card what it had already paid for, so the host can decide
            /// how much of the refund to pay out. A replay returns the first result; reversing
            /// again under a new key changes nothing. Staff let a card pay again with
            /// [`CardCommand::Unblock`].
            ///
            /// ```
            /// use giftcert::card::{Attribution, CardStatus, Reason, ReversalReason};
            /// use giftcert::redeem::ReversalScope;
            /// use giftcert::{CheckoutId, ClientId, CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Redeemer, Reference};
            ///
            /// let eur = |s: &str| Money::parse(s, Currency::EUR);
            /// let redeemer = Redeemer::new(MemoryStore::new());
            /// let order = Reference::new("order-1001")?;
            /// let mut spec = CardSpec::new(eur("50")?);
            /// spec.order = Some(order.clone());
            /// let card = redeemer.issue(&IdempotencyKey::new("issue-1")?, vec![spec])?.outcome.cards[0].card;
            /// let by = Attribution::new(Reference::new("psp:webhook")?, Reason::new("chargeback")?);
            /// let key = IdempotencyKey::new("chargeback-77")?;
            /// let reversed = redeemer.reverse_purchase(&key, &order, ReversalScope::All, ReversalReason::ChargedBack, &by)?;
            /// assert_eq!(reversed.outcome.cards[0].clawed_back, eur("50")?);
            /// assert_eq!(redeemer.card(card)?.map(|c| c.status()), Some(CardStatus::Blocked));
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            ///
            /// # Errors
            ///
            /// [`RedeemError::NothingToReverse`] for an order that bought no card,
            /// [`RedeemError::NotOnOrder`] for a named card it did not buy,
            /// [`RedeemError::IdempotencyConflict`], [`RedeemError::Contention`],
            /// [`RedeemError::Store`].
            fn reverse_purchase(key: &IdempotencyKey, order: &Reference, scope: ReversalScope, reason: ReversalReason, by: &Attribution) -> ReversePurchase(Redeemed<Reversal>) = Request::ReversePurchase { key: key.clone(), order: order.clone(), scope, reason, by: by.clone() };
            /// Sweeps up to `limit` cards that are due at the clock's time ([`Store::due_cards`]):
            /// releases holds past their time limit and records expiries, each card in a versioned
            /// commit of its own ([`Request::Sweep`]). For a host's scheduler: run it every few
            /// minutes, and again at once while [`Sweep::more`] says the batch was full. Running it
            /// twice changes nothing the second time.
            ///
            /// # Errors
            ///
            /// [`RedeemError::Store`], [`RedeemError::Contention`]. A batch that fails part way keeps
            /// the cards already swept; the next run picks up the rest.
            fn sweep(limit: usize) -> Sweep(Sweep) = Request::Sweep { limit };
            /// Deletes up to `limit` idempotency records past the protocol's [`Retention`](crate::redeem::Retention) and up to
            /// `limit` guard windows that have ended ([`Protocol::prune_before`]), for a host's
            /// scheduler (daily is enough; again while a count comes back at `limit`).
            ///
            /// # Errors
            ///
            /// [`RedeemError::Store`].
            fn prune(limit: usize) -> Prune(Pruned) = Request::Prune { limit };
            /// A card's whole history, oldest first.
            ///
            /// # Errors
            ///
            /// [`RedeemError::Store`].
            fn history(id: CardId) -> History(Vec<LedgerEntry>) = Request::History { card: id };
            /// The card with this id.
            ///
            /// # Errors
            ///
            /// [`RedeemError::Store`].
            fn card(id: CardId) -> Card(Option<GiftCard>) = Request::Card { card: id };
        }
    };
}

pub(crate) use for_each_operation;
