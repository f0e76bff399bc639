//! [`AsyncRedeemer`]: the async driver of the redemption protocol over an [`AsyncStore`].

use crate::redeem::{CheckoutId, ClientId};
use std::sync::Arc;

use crate::card::{
    Attribution, CardId, CardSpec, GiftCard, LedgerEntry, Reference, ReversalReason,
};
use crate::clock::{Clock, Timer, YieldTimer};
use crate::code::ImportedCode;
use crate::money::{Currency, Money};
use crate::redeem::{
    Amended, Answer, AppliedCode, Authorisation, BalanceCheck, Captured, CardCommand,
    CheckoutCards, CodeReplaced, IdempotencyKey, Issued, Need, Protocol, Pruned, RedeemError,
    Redeemed, RefundOutcome, RefundTo, Reply, Request, Reversal, ReversalScope, Step, StoreError,
    Sweep, Versioned, Voided,
};
use crate::shop::{CheckoutTotalsError, Order, Selection, Totals, TotalsSettings};
use crate::store::operations::{
    IntoRequest, Parts, answer_need, driver_settings, for_each_operation, typed_code, unexpected,
};
use crate::store::{AsyncStore, CardQuery, Page};

/// The redemption service for async hosts: the same operations as
/// [`Redeemer`](crate::store::Redeemer), over an [`AsyncStore`], with the same rules (they
/// live in the [`Protocol`] both drivers run).
///
/// It brings no runtime: it pauses between lost commits with the [`Timer`] it is given
/// ([`AsyncRedeemer::with_timer`]), by default one that only yields to the executor.
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
    parts: Parts<S>,
    timer: Arc<dyn Timer>,
}

impl<S: AsyncStore> AsyncRedeemer<S> {
    /// A service over `store` with the [`Protocol`]'s defaults and the system clock.
    pub fn new(store: S) -> AsyncRedeemer<S> {
        AsyncRedeemer {
            parts: Parts::new(store),
            timer: Arc::new(YieldTimer),
        }
    }

    driver_settings!(AsyncRedeemer);

    /// Pauses between lost commits with `timer` (a runtime's sleep).
    #[must_use]
    pub fn with_timer(mut self, timer: Arc<dyn Timer>) -> AsyncRedeemer<S> {
        self.timer = timer;
        self
    }

    /// Carries out `request` to its end, answering what its operation needs from the store,
    /// the clock, the code generator and the timer; as
    /// [`Redeemer::run`](crate::store::Redeemer::run).
    ///
    /// # Errors
    ///
    /// Those of the operation `request` names.
    pub async fn run(&self, request: Request) -> Result<Answer, RedeemError> {
        let mut op = self.parts.protocol.start(request);
        loop {
            let reply = match op.poll() {
                Step::Done(result) => return result,
                Step::Need(need) => self.answer(need).await,
            };
            op.reply(reply);
        }
    }

    pub(crate) async fn answer(&self, need: Need) -> Result<Reply, StoreError> {
        answer_need!(&self.parts, need, [.await],
            wait(pause) => { self.timer.sleep(pause).await },
            turn(wait) => { wait.park().await })
    }

    /// As [`Redeemer::checkout_totals`](crate::store::Redeemer::checkout_totals).
    ///
    /// # Errors
    ///
    /// As [`Redeemer::checkout_totals`](crate::store::Redeemer::checkout_totals).
    pub async fn checkout_totals(
        &self,
        checkout: &CheckoutId,
        selection: &Selection,
        settings: &TotalsSettings,
    ) -> Result<Totals, CheckoutTotalsError> {
        let cards = self.checkout_cards(checkout).await?;
        Ok(Totals::with_checkout(selection, &cards, settings)?)
    }

    /// One page of the cards `query` selects. As
    /// [`Redeemer::search`](crate::store::Redeemer::search).
    ///
    /// # Errors
    ///
    /// [`RedeemError::Store`].
    pub async fn search(
        &self,
        query: &CardQuery,
    ) -> Result<Page<Versioned<GiftCard>>, RedeemError> {
        Ok(self.parts.store.search(query).await?)
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
        Ok(self
            .parts
            .store
            .liability(crate::clock::kept_instant(at))
            .await?)
    }
}

/// Makes the request methods of the async driver from the table in
/// [`operations`](crate::store::operations), each documented on the sync driver's method of
/// the same name.
macro_rules! async_methods {
    ({}
        $( $(#[$doc:meta])* fn $name:ident($($arg:ident: $type:ty),*) -> $variant:ident($out:ty) = $build:expr; )*
    ) => {
        impl<S: AsyncStore> AsyncRedeemer<S> {
            $(
                #[doc = concat!(
                    "As [`Redeemer::", stringify!($name), "`](crate::store::Redeemer::",
                    stringify!($name), "), awaited.\n\n# Errors\n\nAs [`Redeemer::",
                    stringify!($name), "`](crate::store::Redeemer::", stringify!($name), ")."
                )]
                pub async fn $name(&self, $($arg: $type),*) -> Result<$out, RedeemError> {
                    let request = IntoRequest::into_request($build)?;
                    match self.run(request).await? {
                        Answer::$variant(answer) => Ok(answer),
                        other => Err(unexpected(stringify!($variant), &other)),
                    }
                }
            )*
        }
    };
}

for_each_operation!(async_methods! {});
