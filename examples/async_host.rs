//! How an async host (axum with sqlx or tokio-postgres, say) uses giftcert without an async
//! store trait in the crate: it does its own async I/O and asks the pure core for decisions.
//!
//! ```text
//! cargo run --example async_host
//! ```
//!
//! The "database" here is a `MemoryStore` behind an async facade, and the executor is a
//! ten-line `block_on`, so the example needs no runtime; a real host would `.await` sqlx queries
//! inside one transaction in `commit`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use chrono::{TimeZone, Utc};
use giftcert::redeem::{self, Authorisation, Captured, RedeemError};
use giftcert::{
    CardId, CardSpec, Code, Currency, GiftCard, MemoryStore, Money, Reference, Store, StoreError,
    card::BalanceStrategy,
    code::{CodeGenerator, RandomCodeGenerator},
    redeem::{Changes, Checkout, Versioned},
};

/// The host's own async data layer.
trait AsyncStore {
    async fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError>;
    async fn checkout(&self, id: &Reference) -> Result<Option<Versioned<Checkout>>, StoreError>;
    async fn commit(&self, changes: Changes) -> Result<(), StoreError>;
}

/// Stands in for a connection pool.
struct Database(MemoryStore);

impl AsyncStore for Database {
    async fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.0.card(id)
    }
    async fn checkout(&self, id: &Reference) -> Result<Option<Versioned<Checkout>>, StoreError> {
        self.0.checkout(id)
    }
    async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        self.0.commit(changes)
    }
}

/// Loads the cards a checkout needs, remembering the versions they were read at.
async fn load_cards(
    db: &Database,
    ids: &[CardId],
) -> Result<(Vec<GiftCard>, Vec<(CardId, u64)>), RedeemError> {
    let mut cards = Vec::new();
    let mut versions = Vec::new();
    for &id in ids {
        let stored = db
            .card(id)
            .await?
            .ok_or_else(|| StoreError::corrupt(format!("card {id} is missing")))?;
        versions.push((id, stored.version));
        cards.push(stored.value);
    }
    Ok((cards, versions))
}

fn version_of(versions: &[(CardId, u64)]) -> impl Fn(CardId) -> Option<u64> + '_ {
    move |id| versions.iter().find(|(c, _)| *c == id).map(|(_, v)| *v)
}

/// An async "POST /checkouts/{id}/payment" handler's gift card part: read, decide, commit,
/// and read again when another request won the race.
async fn authorise(
    db: &Database,
    id: &Reference,
    payable: Money,
) -> Result<Authorisation, RedeemError> {
    for _ in 0..16 {
        let checkout = db
            .checkout(id)
            .await?
            .ok_or_else(|| RedeemError::UnknownCheckout(id.clone()))?;
        let (cards, versions) = load_cards(db, checkout.value.applied()).await?;
        let now = Utc::now();
        let decision = redeem::authorise(checkout.value, cards, payable, now, None)?;
        let (outcome, _notifications, changes) =
            decision.into_parts(version_of(&versions), Some(checkout.version));
        match db.commit(changes).await {
            Ok(()) => return Ok(outcome),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RedeemError::Contention { attempts: 16 })
}

async fn capture(db: &Database, id: &Reference) -> Result<Captured, RedeemError> {
    let codes = RandomCodeGenerator::default();
    for _ in 0..16 {
        let checkout = db
            .checkout(id)
            .await?
            .ok_or_else(|| RedeemError::UnknownCheckout(id.clone()))?;
        let (cards, versions) = load_cards(db, &checkout.value.cards_needed()).await?;
        // New codes (replacement strategy) come from the host's own generator; with the balance
        // strategy this closure is never called.
        let fresh = || -> Result<(CardId, Code), RedeemError> {
            Ok((
                CardId::random(),
                codes.generate().map_err(RedeemError::CodeGeneration)?,
            ))
        };
        let decision = redeem::capture(checkout.value, cards, &BalanceStrategy, Utc::now(), fresh)?;
        let (outcome, _notifications, changes) =
            decision.into_parts(version_of(&versions), Some(checkout.version));
        match db.commit(changes).await {
            Ok(()) => return Ok(outcome),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RedeemError::Contention { attempts: 16 })
}

/// Polls a future to completion on this thread (enough for futures that never wait).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Database(MemoryStore::new());
    let usd = |s: &str| Money::parse(s, Currency::USD);
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .ok_or("bad date")?;

    // Seed one card and one checkout with it applied, through the same pure functions.
    let codes = RandomCodeGenerator::default();
    let issued = redeem::issue(vec![CardSpec::new(usd("100")?)], now, || {
        Ok((
            CardId::random(),
            codes.generate().map_err(RedeemError::CodeGeneration)?,
        ))
    })?;
    let (card, _code) = issued.inserted.first().cloned().ok_or("nothing issued")?;
    let (_, _, changes) = issued.into_parts(|_| None, None);
    block_on(db.commit(changes))?;
    let checkout = Reference::new("checkout-42")?;
    let applied = redeem::apply(None, checkout.clone(), Currency::USD, None, &card, now)?;
    block_on(db.commit(Changes {
        checkout: Some(giftcert::redeem::RecordWrite {
            value: applied,
            expected_version: None,
        }),
        ..Changes::default()
    }))?;

    let auth = block_on(authorise(&db, &checkout, usd("60")?))?;
    println!(
        "authorised {} on {} card(s), {} left to pay",
        auth.credit,
        auth.cards.len(),
        auth.outstanding
    );
    let captured = block_on(capture(&db, &checkout))?;
    println!("captured {}", captured.total);
    let stored = db.0.card(card.id())?.ok_or("card vanished")?;
    println!(
        "card {} now holds {}",
        stored.value.code_hint(),
        stored.value.balance()
    );
    Ok(())
}
