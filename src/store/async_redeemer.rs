//! [`AsyncRedeemer`]: the async driver of the redemption protocol over an [`AsyncStore`].

use std::sync::Arc;

use crate::card::{Attribution, CardId, CardSpec, GiftCard, LedgerEntry, Reference};
use crate::clock::{Clock, SystemClock};
use crate::code::ImportedCode;
use crate::money::{Currency, Money};
use crate::redeem::{
    Amended, AppliedCode, Authorisation, BalanceCheck, Captured, CardCommand, IdempotencyKey,
    Issued, Need, Operation, Protocol, RedeemError, Redeemed, RefundOutcome, Reply, Step,
    StoreError, Voided,
};
use crate::redeem::{CheckoutCards, CodeReplaced, Pruned, RefundTo, Sweep};
use crate::shop::{CheckoutTotalsError, Order, Selection, Totals, TotalsSettings};
use crate::store::AsyncStore;
use crate::store::redeemer::{HISTORY_PAGE, Turn, nothing_issued, order_issue};

/// The redemption service for async hosts: the same operations as
/// [`Redeemer`](crate::store::Redeemer), over an [`AsyncStore`], with the same rules (they
/// live in the [`Protocol`] both drivers run).
///
/// It brings no runtime: between lost commits it yields to the executor with a future that
/// is ready on its second poll.
///
/// ```
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } }
/// # }
/// use giftcert::store::{AsyncRedeemer, MemoryStore};
/// use giftcert::{CardSpec, Currency, IdempotencyKey, Money};
///
/// block_on(async {
///     let redeemer = AsyncRedeemer::new(MemoryStore::new());
///     let spec = CardSpec::new(Money::parse("40", Currency::USD)?);
///     let issued = redeemer.issue(&IdempotencyKey::new("issue-1")?, vec![spec]).await?;
///     let again = redeemer
///         .issue(&IdempotencyKey::new("issue-1")?, vec![CardSpec::new(Money::parse("40", Currency::USD)?)])
///         .await?;
///     assert!(again.replayed);
///     assert_eq!(again.outcome, issued.outcome);
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AsyncRedeemer<S> {
    store: S,
    protocol: Protocol,
    clock: Arc<dyn Clock>,
    turn: Turn,
}

impl<S: AsyncStore> AsyncRedeemer<S> {
    /// A service over `store` with the [`Protocol`]'s defaults and the system clock.
    pub fn new(store: S) -> AsyncRedeemer<S> {
        AsyncRedeemer {
            store,
            protocol: Protocol::default(),
            clock: Arc::new(SystemClock),
            turn: Turn::default(),
        }
    }

    /// Follows `protocol`'s settings (strategy, codes, expiry, holds, guard, attempts).
    #[must_use]
    pub fn with_protocol(mut self, protocol: Protocol) -> AsyncRedeemer<S> {
        self.protocol = protocol;
        self
    }

    /// Reads time from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> AsyncRedeemer<S> {
        self.clock = clock;
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

    async fn drive<T: Send + 'static>(&self, mut op: Operation<T>) -> Result<T, RedeemError> {
        // Held from the moment the protocol asks for the pessimistic path to the end.
        let mut turn = None;
        loop {
            let reply = match op.poll() {
                Step::Done(result) => return result,
                Step::Need(Need::Yield { exclusive, .. }) => {
                    if exclusive && turn.is_none() {
                        // Parked until the turn is free and the commits under way have landed.
                        turn = Some(self.turn.take_async().await);
                    } else {
                        YieldNow(false).await;
                    }
                    Ok(Reply::Resumed)
                }
                Step::Need(need @ Need::Commit(_)) => {
                    // While an operation that kept losing has its turn, the others let it
                    // commit first; the turn waits for their commits under way.
                    let _in_flight = match turn {
                        None => Some(self.turn.enter_async().await),
                        Some(_) => None,
                    };
                    self.answer(need).await
                }
                Step::Need(need) => self.answer(need).await,
            };
            op.reply(reply);
        }
    }

    async fn answer(&self, need: Need) -> Result<Reply, StoreError> {
        Ok(match need {
            Need::Now => Reply::Now(self.clock.now()),
            Need::Idempotency(key) => Reply::Idempotency(self.store.idempotency(&key).await?),
            Need::Checkout(id) => Reply::Checkout(self.store.checkout(&id).await?),
            Need::Card(id) => Reply::Card(self.store.card(id).await?),
            Need::CardByCode(code) => Reply::Card(self.store.card_by_code(&code).await?),
            Need::Guard(client) => Reply::Guard(self.store.guard(&client).await?),
            Need::Fresh => Reply::Fresh(self.protocol.draw()),
            Need::NewCardId => Reply::CardId(CardId::random()),
            Need::Commit(changes) => {
                self.store.commit(*changes).await?;
                Reply::Committed
            }
            Need::Yield { .. } => {
                YieldNow(false).await;
                Reply::Resumed
            }
        })
    }

    /// As [`Redeemer::issue`](crate::store::Redeemer::issue).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::issue`](crate::store::Redeemer::issue).
    pub async fn issue(
        &self,
        key: &IdempotencyKey,
        specs: Vec<CardSpec>,
    ) -> Result<Redeemed<Issued>, RedeemError> {
        self.drive(self.protocol.issue(key.clone(), specs)).await
    }

    /// As [`Redeemer::import_card`](crate::store::Redeemer::import_card).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::import_card`](crate::store::Redeemer::import_card).
    pub async fn import_card(
        &self,
        key: &IdempotencyKey,
        code: ImportedCode,
        spec: CardSpec,
    ) -> Result<Redeemed<Issued>, RedeemError> {
        self.drive(self.protocol.import(key.clone(), code, spec))
            .await
    }

    /// Issues the cards a paid order bought, once per order however often it is called. As
    /// [`Redeemer::issue_for_order`](crate::store::Redeemer::issue_for_order), under the same
    /// key, so an order issued through either driver is replayed by the other.
    ///
    /// # Errors
    ///
    /// As [`AsyncRedeemer::issue`].
    pub async fn issue_for_order(&self, order: &Order) -> Result<Redeemed<Issued>, RedeemError> {
        match order_issue(order)? {
            Some((key, specs)) => self.issue(&key, specs).await,
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
    pub async fn check_balance(
        &self,
        client: &Reference,
        code: &str,
    ) -> Result<BalanceCheck, RedeemError> {
        self.drive(self.protocol.check_balance(client.clone(), code))
            .await
    }

    /// As [`Redeemer::apply_code`](crate::store::Redeemer::apply_code).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::apply_code`](crate::store::Redeemer::apply_code).
    pub async fn apply_code(
        &self,
        client: &Reference,
        checkout: &Reference,
        currency: Currency,
        code: &str,
    ) -> Result<AppliedCode, RedeemError> {
        let op = self
            .protocol
            .apply_code(client.clone(), checkout.clone(), currency, code);
        self.drive(op).await
    }

    /// As [`Redeemer::remove_code`](crate::store::Redeemer::remove_code).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::remove_code`](crate::store::Redeemer::remove_code).
    pub async fn remove_code(
        &self,
        client: &Reference,
        checkout: &Reference,
        code: &str,
    ) -> Result<(), RedeemError> {
        self.drive(
            self.protocol
                .remove_code(client.clone(), checkout.clone(), code),
        )
        .await
    }

    /// As [`Redeemer::authorise`](crate::store::Redeemer::authorise).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::authorise`](crate::store::Redeemer::authorise).
    pub async fn authorise(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        payable: Money,
    ) -> Result<Redeemed<Authorisation>, RedeemError> {
        let op = self
            .protocol
            .authorise(key.clone(), checkout.clone(), payable);
        self.drive(op).await
    }

    /// As [`Redeemer::capture`](crate::store::Redeemer::capture).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::capture`](crate::store::Redeemer::capture).
    pub async fn capture(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
    ) -> Result<Redeemed<Captured>, RedeemError> {
        self.drive(self.protocol.capture(key.clone(), checkout.clone()))
            .await
    }

    /// As [`Redeemer::capture_part`](crate::store::Redeemer::capture_part).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::capture_part`](crate::store::Redeemer::capture_part).
    pub async fn capture_part(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
    ) -> Result<Redeemed<Captured>, RedeemError> {
        let op = self
            .protocol
            .capture_part(key.clone(), checkout.clone(), amount);
        self.drive(op).await
    }

    /// As [`Redeemer::change_authorisation`](crate::store::Redeemer::change_authorisation).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::change_authorisation`](crate::store::Redeemer::change_authorisation).
    pub async fn change_authorisation(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        payable: Money,
    ) -> Result<Redeemed<Authorisation>, RedeemError> {
        let op = self
            .protocol
            .change_authorisation(key.clone(), checkout.clone(), payable);
        self.drive(op).await
    }

    /// As [`Redeemer::void`](crate::store::Redeemer::void).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::void`](crate::store::Redeemer::void).
    pub async fn void(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
    ) -> Result<Redeemed<Voided>, RedeemError> {
        self.drive(self.protocol.void(key.clone(), checkout.clone()))
            .await
    }

    /// As [`Redeemer::refund`](crate::store::Redeemer::refund).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::refund`](crate::store::Redeemer::refund).
    pub async fn refund(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
    ) -> Result<Redeemed<RefundOutcome>, RedeemError> {
        let op = self.protocol.refund(key.clone(), checkout.clone(), amount);
        self.drive(op).await
    }

    /// As [`Redeemer::set_customer`](crate::store::Redeemer::set_customer).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::set_customer`](crate::store::Redeemer::set_customer).
    pub async fn set_customer(
        &self,
        checkout: &Reference,
        currency: Currency,
        customer: &Reference,
    ) -> Result<(), RedeemError> {
        let op = self
            .protocol
            .set_customer(checkout.clone(), currency, customer.clone());
        self.drive(op).await
    }

    /// As [`Redeemer::checkout_cards`](crate::store::Redeemer::checkout_cards).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::checkout_cards`](crate::store::Redeemer::checkout_cards).
    pub async fn checkout_cards(&self, checkout: &Reference) -> Result<CheckoutCards, RedeemError> {
        self.drive(self.protocol.checkout_cards(checkout.clone()))
            .await
    }

    /// As [`Redeemer::checkout_totals`](crate::store::Redeemer::checkout_totals).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::checkout_totals`](crate::store::Redeemer::checkout_totals).
    pub async fn checkout_totals(
        &self,
        checkout: &Reference,
        selection: &Selection,
        settings: &TotalsSettings,
    ) -> Result<Totals, CheckoutTotalsError> {
        let cards = self.checkout_cards(checkout).await?;
        Ok(Totals::with_checkout(selection, &cards, settings)?)
    }

    /// As [`Redeemer::refund_to`](crate::store::Redeemer::refund_to).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::refund_to`](crate::store::Redeemer::refund_to).
    pub async fn refund_to(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
        to: RefundTo,
    ) -> Result<Redeemed<RefundOutcome>, RedeemError> {
        let op = self
            .protocol
            .refund_to(key.clone(), checkout.clone(), amount, to);
        self.drive(op).await
    }

    /// Carries out a back-office command on a card (disable, enable, adjust, a new expiry)
    /// under `key`, leaving one ledger entry attributed to `by`.
    ///
    /// # Errors
    ///
    /// [`RedeemError::UnknownCard`], [`RedeemError::IdempotencyConflict`],
    /// [`RedeemError::Contention`], and those of [`redeem::amend`](crate::redeem::amend).
    pub async fn amend(
        &self,
        key: &IdempotencyKey,
        card: CardId,
        command: CardCommand,
        by: &Attribution,
    ) -> Result<Redeemed<Amended>, RedeemError> {
        self.drive(self.protocol.amend(key.clone(), card, command, by.clone()))
            .await
    }

    /// As [`Redeemer::replace_code`](crate::store::Redeemer::replace_code).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::replace_code`](crate::store::Redeemer::replace_code).
    pub async fn replace_code(
        &self,
        key: &IdempotencyKey,
        card: CardId,
        by: &Attribution,
    ) -> Result<Redeemed<CodeReplaced>, RedeemError> {
        self.drive(self.protocol.replace_code(key.clone(), card, by.clone()))
            .await
    }

    /// As [`Redeemer::sweep`](crate::store::Redeemer::sweep).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::sweep`](crate::store::Redeemer::sweep).
    pub async fn sweep(&self, limit: usize) -> Result<Sweep, RedeemError> {
        let due = self.store.due_cards(self.clock.now(), limit).await?;
        let mut sweep = Sweep {
            cards: Vec::with_capacity(due.len()),
            notifications: Vec::new(),
            more: limit > 0 && due.len() >= limit,
        };
        for card in due {
            if let Some(swept) = self.drive(self.protocol.sweep_card(card)).await? {
                sweep.add(swept);
            }
        }
        Ok(sweep)
    }

    /// As [`Redeemer::prune`](crate::store::Redeemer::prune).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::prune`](crate::store::Redeemer::prune).
    pub async fn prune(&self, limit: usize) -> Result<Pruned, RedeemError> {
        let before = self.protocol.prune_before(self.clock.now());
        let mut pruned = Pruned::default();
        if let Some(at) = before.records {
            pruned.records = self.store.prune_idempotency(at, limit).await?;
        }
        if let Some(at) = before.guards {
            pruned.guards = self.store.prune_guards(at, limit).await?;
        }
        Ok(pruned)
    }

    /// One page of the cards `query` selects. As
    /// [`Redeemer::search`](crate::store::Redeemer::search).
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub async fn search(
        &self,
        query: &crate::store::CardQuery,
    ) -> Result<crate::store::Page<crate::store::Versioned<GiftCard>>, RedeemError> {
        Ok(self.store.search(query).await?)
    }

    /// The liability per currency at `at`. As
    /// [`Redeemer::liability`](crate::store::Redeemer::liability).
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub async fn liability(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::card::LiabilityReport, RedeemError> {
        Ok(self.store.liability(at).await?)
    }

    /// The card with this id.
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub async fn card(&self, id: CardId) -> Result<Option<GiftCard>, RedeemError> {
        Ok(self.store.card(id).await?.map(|v| v.value))
    }

    /// A card's whole history, oldest first.
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub async fn history(&self, id: CardId) -> Result<Vec<LedgerEntry>, RedeemError> {
        let mut all = Vec::new();
        loop {
            let page = self
                .store
                .ledger(id, all.len() as u64 + 1, HISTORY_PAGE)
                .await?;
            let done = page.len() < HISTORY_PAGE;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }
}

/// Pending once (waking its task at once), then ready: lets the executor run other tasks.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}
