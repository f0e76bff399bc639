//! [`GiftCards`]: the one place where handlers reach the library, through its async driver,
//! [`AsyncRedeemer`].
//!
//! The store is any [`AsyncStore`]: `giftcert_postgres::AsyncPostgresStore` as it is, or a
//! blocking store such as SQLite behind [`giftcert_sqlite::Blocking`], which moves each store
//! call to tokio's blocking pool. Every rule (replays, retries after a lost commit, the
//! unknown-code guard, hold expiry) is the driver's: this type only owns what the handlers
//! pass and runs each operation as a task of its own.

use std::fmt;
use std::sync::Arc;

use giftcert::RedeemError;
use giftcert::clock::Timer;
use giftcert::redeem::CheckoutId;
use giftcert::redeem::{Answer, CheckoutCards, Request};
use giftcert::store::{AsyncRedeemer, AsyncStore};

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

    /// Carries `request` out as a task of its own ([`AsyncRedeemer::run`]) and awaits it.
    pub async fn run(&self, request: Request) -> Result<Answer> {
        let redeemer = Arc::clone(&self.redeemer);
        match tokio::spawn(async move { redeemer.run(request).await }).await {
            Ok(answer) => answer.map_err(ServiceError::Refused),
            Err(e) => Err(ServiceError::Stopped(e.to_string())),
        }
    }

    /// The cards applied to `checkout` as they stand, with the credit each gives it and what
    /// its payment holds, captured and refunded on each (no cards before a code is applied).
    pub async fn checkout_cards(&self, checkout: CheckoutId) -> Result<CheckoutCards> {
        match self.run(Request::CheckoutCards { checkout }).await? {
            Answer::CheckoutCards(cards) => Ok(cards),
            other => Err(unexpected(&other)),
        }
    }
}

/// What one round of upkeep ([`GiftCards::upkeep`]) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Upkeep {
    /// Cards the sweeps changed (holds past their time released, cards past their date
    /// marked expired).
    pub swept: usize,
    /// What the sweeps' changes tell people (a card that expired with money on it).
    pub notifications: Vec<giftcert::Notification>,
    /// Idempotency records pruned past their retention.
    pub records: usize,
    /// Guard windows pruned past their window.
    pub guards: usize,
}

/// The most batches one round of upkeep runs of each kind, so that a round always ends.
const MAX_UPKEEP_BATCHES: usize = 1_000;

impl<S: AsyncStore + 'static> GiftCards<S> {
    /// One round of upkeep: sweeps the cards that are due in batches of `limit` until no more
    /// are, then prunes what retention allows, in batches of `limit` too (at most a thousand
    /// batches of each, the rest left to the next round).
    ///
    /// # Errors
    ///
    /// The first request that failed; what earlier batches did stands.
    pub async fn upkeep(&self, limit: usize) -> Result<Upkeep> {
        let mut done = Upkeep::default();
        for _ in 0..MAX_UPKEEP_BATCHES {
            match self.run(Request::Sweep { limit }).await? {
                Answer::Sweep(sweep) => {
                    done.swept += sweep.cards.len();
                    done.notifications.extend(sweep.notifications);
                    if !sweep.more {
                        break;
                    }
                }
                other => return Err(unexpected(&other)),
            }
        }
        for _ in 0..MAX_UPKEEP_BATCHES {
            match self.run(Request::Prune { limit }).await? {
                Answer::Prune(pruned) => {
                    done.records += pruned.records;
                    done.guards += pruned.guards;
                    if pruned.records < limit && pruned.guards < limit {
                        break;
                    }
                }
                other => return Err(unexpected(&other)),
            }
        }
        Ok(done)
    }
}

/// An answer of another operation than the request's: a bug in the library.
pub(crate) fn unexpected(answer: &Answer) -> ServiceError {
    ServiceError::Stopped(format!("the library answered {}", answer.name()))
}

/// The protocol's pauses between lost commits as tokio sleeps: what
/// [`AsyncRedeemer::with_timer`] takes for a host on tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioTimer;

impl Timer for TokioTimer {
    fn sleep(
        &self,
        duration: std::time::Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration))
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

    use giftcert::redeem::{Issued, Redeemed};
    use giftcert::{Currency, Order};

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

    /// The cards `order` bought, issued through the service (`None` when it bought none).
    async fn issue<S: AsyncStore + 'static>(
        cards: &GiftCards<S>,
        order: Order,
    ) -> std::result::Result<Option<Redeemed<Issued>>, Box<dyn Error>> {
        match cards.run(order.issue_request()?).await? {
            Answer::IssueForOrder(issued) => {
                Ok((!issued.outcome.cards.is_empty()).then_some(issued))
            }
            other => Err(unexpected(&other).into()),
        }
    }

    /// A round of upkeep releases a hold past its time limit, and a card's balance is whole
    /// again; a second round finds nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upkeep_releases_holds_past_their_time() -> std::result::Result<(), Box<dyn Error>> {
        use giftcert::clock::FixedClock;
        use giftcert::{CardSpec, IdempotencyKey, MemoryStore, Money, Notification};

        let clock = Arc::new(FixedClock::new(SystemClock.now()));
        let cards =
            GiftCards::new(AsyncRedeemer::new(MemoryStore::new()).with_clock(clock.clone()));
        let usd = |s: &str| Money::parse(s, Currency::USD);
        let issued = match cards
            .run(Request::Issue {
                key: IdempotencyKey::new("issue")?,
                specs: vec![CardSpec::new(usd("30")?)],
            })
            .await?
        {
            Answer::Issue(issued) => issued,
            other => return Err(unexpected(&other).into()),
        };
        let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else {
            return Err("no card".into());
        };
        let checkout = CheckoutId::new("chk-1")?;
        let redeemer = cards.redeemer();
        redeemer
            .apply_code(
                &giftcert::ClientId::new("client")?,
                &checkout,
                Currency::USD,
                code.expose_secret(),
            )
            .await?;
        redeemer
            .authorise(&IdempotencyKey::new("auth")?, &checkout, usd("10")?)
            .await?;
        assert_eq!(
            redeemer.card(*card).await?.ok_or("card")?.held(),
            usd("10")?
        );

        assert_eq!(cards.upkeep(10).await?.swept, 0);
        clock.advance(chrono::Duration::hours(1))?;
        let done = cards.upkeep(10).await?;
        assert_eq!(done.swept, 1);
        assert_eq!(redeemer.card(*card).await?.ok_or("card")?.held(), usd("0")?);
        assert_eq!(cards.upkeep(10).await?.swept, 0);
        Ok(())
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
        let again = issue(&cards, first).await?.ok_or("nothing issued")?;
        assert!(again.replayed);
        assert_eq!(again.outcome, by_sync.outcome);

        let second = order("o-async-first", Some(PaymentResult::Paid))?;
        let by_async = issue(&cards, second.clone())
            .await?
            .ok_or("nothing issued")?;
        assert!(!by_async.replayed);
        assert_eq!(by_async.outcome.cards.len(), 1);
        let replayed = tokio::task::block_in_place(|| sync.issue_for_order(&second))?;
        assert!(replayed.replayed);
        assert_eq!(replayed.outcome, by_async.outcome);

        // Nothing to issue before payment, or after a failed one: both refused, by name.
        for unpaid in [
            order("o-unpaid", None)?,
            order("o-failed", Some(PaymentResult::Failed))?,
        ] {
            let refused = unpaid.issue_request();
            assert!(
                matches!(refused, Err(RedeemError::OrderNotPaid { .. })),
                "{refused:?}"
            );
        }
        Ok(())
    }
}
