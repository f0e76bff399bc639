//! An async host drives the crate's async redeemer over an `AsyncStore`: the same protocol as
//! the sync `Redeemer` (replays, retries, the guard, hold expiry), with no rule of its own.
//!
//! ```text
//! cargo run --example async_host
//! ```
//!
//! A real host runs these futures on its runtime (tokio, as `hosts/axum` does) over a database
//! store such as `giftcert_postgres::AsyncPostgresStore`; this example runs them on a
//! ten-line executor over the in-memory store, so that it needs nothing else.

use giftcert::CheckoutId;
use giftcert::ClientId;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use giftcert::store::AsyncRedeemer;
use giftcert::{CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to its end on this thread.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::park();
    }
}

async fn run() -> Result<()> {
    let usd = |s: &str| Money::parse(s, Currency::USD);
    let redeemer = AsyncRedeemer::new(MemoryStore::new());

    let issued = redeemer
        .issue(
            &IdempotencyKey::new("order-1001")?,
            vec![CardSpec::new(usd("100")?)],
        )
        .await?;
    let Some(Notification::CardIssued { code, .. }) = issued.notifications.first() else {
        return Err("no card was issued".into());
    };
    println!("issued a card of 100.00 USD, code {code} (masked; the e-mail carries it whole)");

    let (checkout, client) = (
        CheckoutId::new("checkout-7")?,
        ClientId::new("ip:203.0.113.7")?,
    );
    let applied = redeemer
        .apply_code(&client, &checkout, Currency::USD, code.expose_secret())
        .await?;
    println!("applied {}: {} available", applied.code, applied.balance);

    // An HTTP request retried by the shopper's browser carries the same Idempotency-Key.
    let key = IdempotencyKey::new("checkout-7/authorise")?;
    let first = redeemer.authorise(&key, &checkout, usd("60")?).await?;
    let retried = redeemer.authorise(&key, &checkout, usd("60")?).await?;
    println!(
        "authorised {} (retry replayed: {}, held once: {})",
        first.outcome.credit,
        retried.replayed,
        retried.outcome == first.outcome
    );

    let captured = redeemer
        .capture(&IdempotencyKey::new("checkout-7/capture")?, &checkout)
        .await?;
    let card = redeemer
        .card(applied.card)
        .await?
        .ok_or("the card is gone")?;
    println!(
        "captured {}; the card keeps {}",
        captured.outcome.total,
        card.balance()
    );
    Ok(())
}

fn main() -> Result<()> {
    block_on(run())
}
