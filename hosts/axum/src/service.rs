//! [`GiftCards`]: the one place where handlers reach the library's synchronous [`Redeemer`].
//!
//! Each call runs on tokio's blocking pool (`spawn_blocking`), so a store that blocks (SQLite,
//! or any driver that waits on I/O) never stalls the async workers. When the async store lands,
//! this type is what changes: handlers only see its async methods.

use std::fmt;
use std::sync::Arc;

use giftcert::card::{GiftCard, Reference};
use giftcert::redeem::{Authorisation, Captured, Checkout, Issued, RefundOutcome, Voided};
use giftcert::store::{AppliedCode, Redeemed};
use giftcert::{Currency, IdempotencyKey, Money, Order, RedeemError, Redeemer, Store};

/// Why a call did not return the library's answer.
#[derive(Debug)]
pub enum ServiceError {
    /// The library refused or failed (its error as is).
    Refused(RedeemError),
    /// The blocking task did not finish (it panicked, or the runtime is shutting down).
    Stopped(String),
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::Refused(e) => e.fmt(f),
            ServiceError::Stopped(reason) => write!(f, "gift card task stopped: {reason}"),
        }
    }
}

impl std::error::Error for ServiceError {}

impl From<RedeemError> for ServiceError {
    fn from(e: RedeemError) -> Self {
        ServiceError::Refused(e)
    }
}

/// A checkout as the store has it, with the cards applied to it (in the order applied).
#[derive(Debug, Clone)]
pub struct CheckoutCards {
    /// The library's checkout.
    pub checkout: Checkout,
    /// Its applied cards, as stored now.
    pub cards: Vec<GiftCard>,
}

/// The gift card service handlers call: the library's [`Redeemer`] over store `S`, driven
/// from async code.
pub struct GiftCards<S> {
    redeemer: Arc<Redeemer<S>>,
}

impl<S> Clone for GiftCards<S> {
    fn clone(&self) -> Self {
        GiftCards {
            redeemer: Arc::clone(&self.redeemer),
        }
    }
}

impl<S: Store> fmt::Debug for GiftCards<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GiftCards")
            .field("redeemer", &self.redeemer)
            .finish()
    }
}

type Result<T> = std::result::Result<T, ServiceError>;

impl<S: Store + 'static> GiftCards<S> {
    /// A service over `redeemer`.
    pub fn new(redeemer: Redeemer<S>) -> GiftCards<S> {
        GiftCards {
            redeemer: Arc::new(redeemer),
        }
    }

    /// Runs `call` on the blocking pool.
    async fn run<T, F>(&self, call: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Redeemer<S>) -> std::result::Result<T, RedeemError> + Send + 'static,
    {
        let redeemer = Arc::clone(&self.redeemer);
        match tokio::task::spawn_blocking(move || call(&redeemer)).await {
            Ok(result) => result.map_err(ServiceError::Refused),
            Err(e) => Err(ServiceError::Stopped(e.to_string())),
        }
    }

    /// [`Redeemer::issue_for_order`]: the cards a paid order bought (once per order).
    pub async fn issue_for_order(&self, order: Order) -> Result<Redeemed<Issued>> {
        self.run(move |r| r.issue_for_order(&order)).await
    }

    /// [`Redeemer::apply_code`], counting unknown codes against `client`.
    pub async fn apply_code(
        &self,
        client: Reference,
        checkout: Reference,
        currency: Currency,
        code: String,
    ) -> Result<AppliedCode> {
        self.run(move |r| r.apply_code(&client, &checkout, currency, &code))
            .await
    }

    /// [`Redeemer::remove_code`].
    pub async fn remove_code(&self, checkout: Reference, code: String) -> Result<()> {
        self.run(move |r| r.remove_code(&checkout, &code)).await
    }

    /// [`Redeemer::authorise`].
    pub async fn authorise(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
        payable: Money,
    ) -> Result<Redeemed<Authorisation>> {
        self.run(move |r| r.authorise(&key, &checkout, payable))
            .await
    }

    /// [`Redeemer::capture`].
    pub async fn capture(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
    ) -> Result<Redeemed<Captured>> {
        self.run(move |r| r.capture(&key, &checkout)).await
    }

    /// [`Redeemer::void`].
    pub async fn void(&self, key: IdempotencyKey, checkout: Reference) -> Result<Redeemed<Voided>> {
        self.run(move |r| r.void(&key, &checkout)).await
    }

    /// [`Redeemer::refund`].
    pub async fn refund(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
        amount: Money,
    ) -> Result<Redeemed<RefundOutcome>> {
        self.run(move |r| r.refund(&key, &checkout, amount)).await
    }

    /// The checkout the store keeps for `checkout` (none before a code is applied) and its
    /// applied cards.
    pub async fn checkout(&self, checkout: Reference) -> Result<Option<CheckoutCards>> {
        self.run(move |r| {
            let Some(stored) = r.store().checkout(&checkout)? else {
                return Ok(None);
            };
            let checkout = stored.value;
            let mut cards = Vec::with_capacity(checkout.applied().len());
            for &id in checkout.applied() {
                if let Some(card) = r.card(id)? {
                    cards.push(card);
                }
            }
            Ok(Some(CheckoutCards { checkout, cards }))
        })
        .await
    }
}
