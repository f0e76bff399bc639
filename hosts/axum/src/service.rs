//! [`GiftCards`]: the one place where handlers reach the library, through its async driver,
//! [`AsyncRedeemer`].
//!
//! The store is any [`AsyncStore`]: `giftcert_postgres::AsyncPostgresStore` as it is, or a
//! blocking store such as SQLite behind [`giftcert_sqlite::Blocking`], which moves each store
//! call to tokio's blocking pool. Every rule (replays, retries after a lost commit, the
//! unknown-code guard, hold expiry) is the driver's: this type only owns what the handlers
//! pass and runs each operation as a task of its own.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use giftcert::card::Reference;
use giftcert::redeem::{AppliedCode, Redeemed};
use giftcert::redeem::{Authorisation, Captured, CheckoutCards, Issued, RefundOutcome, Voided};
use giftcert::store::{AsyncRedeemer, AsyncStore};
use giftcert::{Currency, IdempotencyKey, Money, Order, RedeemError};

/// Why a call did not return the library's answer.
#[derive(Debug)]
pub enum ServiceError {
    /// The library refused or failed (its error as is).
    Refused(RedeemError),
    /// The operation's task did not finish (it panicked, or the runtime is shutting down).
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

/// The gift card service handlers call: the library's [`AsyncRedeemer`] over store `S`.
///
/// Each operation runs as a tokio task of its own (`tokio::spawn`): a request whose client
/// goes away mid-way still finishes its money move (its answer is then replayed to the
/// retry), and a panic becomes [`ServiceError::Stopped`] (a `500`) rather than a dropped
/// connection.
pub struct GiftCards<S> {
    redeemer: Arc<AsyncRedeemer<S>>,
}

impl<S> Clone for GiftCards<S> {
    fn clone(&self) -> Self {
        GiftCards {
            redeemer: Arc::clone(&self.redeemer),
        }
    }
}

impl<S: AsyncStore> fmt::Debug for GiftCards<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GiftCards")
            .field("redeemer", &self.redeemer)
            .finish()
    }
}

type Result<T> = std::result::Result<T, ServiceError>;

impl<S: AsyncStore + 'static> GiftCards<S> {
    /// A service over `redeemer`.
    pub fn new(redeemer: AsyncRedeemer<S>) -> GiftCards<S> {
        GiftCards {
            redeemer: Arc::new(redeemer),
        }
    }

    /// The driver.
    pub fn redeemer(&self) -> &AsyncRedeemer<S> {
        &self.redeemer
    }

    /// Runs the operation `call` makes as a task of its own and awaits it.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<AsyncRedeemer<S>>) -> Fut,
        Fut: Future<Output = std::result::Result<T, RedeemError>> + Send + 'static,
    {
        match tokio::spawn(call(Arc::clone(&self.redeemer))).await {
            Ok(result) => result.map_err(ServiceError::Refused),
            Err(e) => Err(ServiceError::Stopped(e.to_string())),
        }
    }

    /// The cards a paid order bought, issued once per order however often this is called:
    /// [`AsyncRedeemer::issue_for_order`]. `None` when the order has nothing to issue (it is
    /// unpaid, or its payment failed).
    pub async fn issue_for_order(&self, order: Order) -> Result<Option<Redeemed<Issued>>> {
        self.run(move |r| async move {
            let issued = r.issue_for_order(&order).await?;
            Ok((!issued.outcome.cards.is_empty()).then_some(issued))
        })
        .await
    }

    /// [`AsyncRedeemer::apply_code`], counting unknown codes against `client`.
    pub async fn apply_code(
        &self,
        client: Reference,
        checkout: Reference,
        currency: Currency,
        code: String,
    ) -> Result<AppliedCode> {
        self.run(move |r| async move { r.apply_code(&client, &checkout, currency, &code).await })
            .await
    }

    /// [`AsyncRedeemer::remove_code`].
    pub async fn remove_code(
        &self,
        client: Reference,
        checkout: Reference,
        code: String,
    ) -> Result<()> {
        self.run(move |r| async move { r.remove_code(&client, &checkout, &code).await })
            .await
    }

    /// [`AsyncRedeemer::authorise`].
    pub async fn authorise(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
        payable: Money,
    ) -> Result<Redeemed<Authorisation>> {
        self.run(move |r| async move { r.authorise(&key, &checkout, payable).await })
            .await
    }

    /// [`AsyncRedeemer::capture`].
    pub async fn capture(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
    ) -> Result<Redeemed<Captured>> {
        self.run(move |r| async move { r.capture(&key, &checkout).await })
            .await
    }

    /// [`AsyncRedeemer::void`].
    pub async fn void(&self, key: IdempotencyKey, checkout: Reference) -> Result<Redeemed<Voided>> {
        self.run(move |r| async move { r.void(&key, &checkout).await })
            .await
    }

    /// [`AsyncRedeemer::refund`].
    pub async fn refund(
        &self,
        key: IdempotencyKey,
        checkout: Reference,
        amount: Money,
    ) -> Result<Redeemed<RefundOutcome>> {
        self.run(move |r| async move { r.refund(&key, &checkout, amount).await })
            .await
    }

    /// [`AsyncRedeemer::checkout_cards`]: the cards applied to `checkout` as they stand, with
    /// the credit each gives it and what its payment holds, captured and refunded on each (no
    /// cards before a code is applied).
    pub async fn checkout_cards(&self, checkout: Reference) -> Result<CheckoutCards> {
        self.run(move |r| async move { r.checkout_cards(&checkout).await })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use giftcert::clock::{Clock, SystemClock};
    use giftcert::shop::PaymentOutcome;
    use giftcert::{
        EmailAddress, OrderId, PaymentDetails, PaymentKind, PaymentMethod, PaymentPolicy,
        PaymentResult, PriceBasis, Redeemer, Selection, SelectionPolicy, TotalsSettings,
    };
    use giftcert_sqlite::{Blocking, CodeKey, SqliteStore};
    use rust_decimal::Decimal;

    use super::*;
    use crate::demo_catalogue;

    fn order(
        id: &str,
        result: Option<PaymentResult>,
    ) -> std::result::Result<Order, Box<dyn Error>> {
        let mut cart = Selection::new(
            Currency::USD,
            PriceBasis::TaxIncluded,
            SelectionPolicy::exclusive(),
        );
        cart.add_certificate_from(&demo_catalogue()?, "gift-1", Some(Decimal::from(25)), 1)?;
        let details = PaymentDetails::new(
            PaymentMethod::new("card", PaymentKind::Card)?,
            EmailAddress::new("buyer@example.com")?,
        );
        let mut order = Order::place(
            OrderId::new(id)?,
            cart,
            details,
            &PaymentPolicy::default(),
            &TotalsSettings::default(),
        )?;
        if let Some(result) = result {
            let outcome = order.report_payment(result, SystemClock.now());
            assert!(!matches!(outcome, PaymentOutcome::AlreadySettled { .. }));
        }
        Ok(order)
    }

    /// Both drivers issue an order under one key: an order the sync driver issued (on the
    /// same SQLite file) is replayed by the service, not issued twice, and the other way round.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn issuing_for_an_order_uses_the_sync_drivers_key()
    -> std::result::Result<(), Box<dyn Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("shop.db");
        let key = CodeKey::new(&[9; 32])?;
        let sync = Redeemer::new(SqliteStore::open(&path, key.clone())?);
        let cards = GiftCards::new(AsyncRedeemer::new(Blocking::new(SqliteStore::open(
            &path, key,
        )?)));

        let first = order("o-sync-first", Some(PaymentResult::Paid))?;
        let by_sync = tokio::task::block_in_place(|| sync.issue_for_order(&first))?;
        assert!(!by_sync.replayed);
        let again = cards
            .issue_for_order(first)
            .await?
            .ok_or("nothing issued")?;
        assert!(again.replayed);
        assert_eq!(again.outcome, by_sync.outcome);

        let second = order("o-async-first", Some(PaymentResult::Paid))?;
        let by_async = cards
            .issue_for_order(second.clone())
            .await?
            .ok_or("nothing issued")?;
        assert!(!by_async.replayed);
        assert_eq!(by_async.outcome.cards.len(), 1);
        let replayed = tokio::task::block_in_place(|| sync.issue_for_order(&second))?;
        assert!(replayed.replayed);
        assert_eq!(replayed.outcome, by_async.outcome);

        // Nothing to issue before payment, or after a failed one.
        assert!(
            cards
                .issue_for_order(order("o-unpaid", None)?)
                .await?
                .is_none()
        );
        let failed = order("o-failed", Some(PaymentResult::Failed))?;
        assert!(cards.issue_for_order(failed).await?.is_none());
        Ok(())
    }
}
