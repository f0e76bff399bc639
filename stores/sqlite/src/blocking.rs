//! [`Blocking`]: a blocking [`Store`] (such as [`SqliteStore`](crate::SqliteStore)) as an
//! [`AsyncStore`], each call on tokio's blocking pool (the `tokio` feature).
//!
//! The library's async driver, [`AsyncRedeemer`](giftcert::store::AsyncRedeemer), runs over
//! any [`AsyncStore`]. The SQLite store is blocking (a call waits on the file and its lock),
//! and a blocking call on an async worker would stall every task that worker serves. This
//! adapter runs each call with [`tokio::task::spawn_blocking`], so only a thread of the
//! blocking pool waits. It adds no rule of its own: versions, atomic commits and conflicts are
//! the store's, and the protocol (replays, retries, the guard, hold expiry) is the driver's.
//!
//! ```
//! use giftcert::store::AsyncRedeemer;
//! use giftcert_sqlite::{Blocking, CodeKey, SqliteStore};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("cards.db"), CodeKey::new(&[7; 32])?)?;
//! let redeemer = AsyncRedeemer::new(Blocking::new(store));
//! let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
//! let card = runtime.block_on(redeemer.card(giftcert::CardId::from_u128(1)))?;
//! assert!(card.is_none());
//! # Ok(())
//! # }
//! ```

use giftcert::redeem::{CheckoutId, ClientId};
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use giftcert::Store;
use giftcert::card::{CardId, GiftCard, LedgerEntry, LiabilityReport};
use giftcert::code::Code;
use giftcert::redeem::{
    Changes, Checkout, GuardWindow, IdempotencyKey, IdempotencyRecord, StoreError, Versioned,
};
use giftcert::store::{AsyncStore, CardQuery, Page};

/// A blocking [`Store`] served to async code: every [`AsyncStore`] call runs the same call of
/// the inner store on tokio's blocking pool (`spawn_blocking`) and awaits it.
///
/// The call starts when its future is first polled. Once started it runs to its end even if
/// the future is dropped (a blocking call cannot be stopped halfway), which the protocol
/// allows: a commit is atomic either way, and the next read sees whether it landed. A call
/// that does not finish (it panicked, or the runtime is shutting down) is a
/// [`StoreError::Backend`] with tokio's `JoinError` as its source.
///
/// It must be used inside a tokio runtime.
pub struct Blocking<S> {
    store: Arc<S>,
}

impl<S> Blocking<S> {
    /// Serves `store` to async code.
    pub fn new(store: S) -> Blocking<S> {
        Blocking::from_arc(Arc::new(store))
    }

    /// Serves a store shared with other code (for example a sync
    /// [`Redeemer`](giftcert::Redeemer) over the same store).
    pub fn from_arc(store: Arc<S>) -> Blocking<S> {
        Blocking { store }
    }

    /// The blocking store.
    pub fn inner(&self) -> &S {
        &self.store
    }
}

impl<S> Clone for Blocking<S> {
    fn clone(&self) -> Self {
        Blocking {
            store: Arc::clone(&self.store),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Blocking<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Blocking").field(&self.store).finish()
    }
}

impl<S: Store + 'static> Blocking<S> {
    /// Runs `call` on the blocking pool when the future is first polled.
    fn run<T, F>(&self, call: F) -> impl Future<Output = Result<T, StoreError>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&S) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        async move {
            tokio::task::spawn_blocking(move || call(&store))
                .await
                .map_err(|e| StoreError::backend("the blocking store call did not finish", e))?
        }
    }
}

impl<S: Store + 'static> AsyncStore for Blocking<S> {
    fn card(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Option<Versioned<GiftCard>>, StoreError>> + Send {
        self.run(move |s| s.card(id))
    }

    fn card_by_code(
        &self,
        code: &Code,
    ) -> impl Future<Output = Result<Option<Versioned<GiftCard>>, StoreError>> + Send {
        let code = code.clone();
        self.run(move |s| s.card_by_code(&code))
    }

    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send {
        self.run(move |s| s.ledger(card, from_seq, limit))
    }

    fn checkout(
        &self,
        id: &CheckoutId,
    ) -> impl Future<Output = Result<Option<Versioned<Checkout>>, StoreError>> + Send {
        let id = id.clone();
        self.run(move |s| s.checkout(&id))
    }

    fn idempotency(
        &self,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send {
        let key = key.clone();
        self.run(move |s| s.idempotency(&key))
    }

    fn guard(
        &self,
        client: &ClientId,
    ) -> impl Future<Output = Result<Option<Versioned<GuardWindow>>, StoreError>> + Send {
        let client = client.clone();
        self.run(move |s| s.guard(&client))
    }

    fn commit(&self, changes: Changes) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.run(move |s| s.commit(changes))
    }

    fn due_cards(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CardId>, StoreError>> + Send {
        self.run(move |s| s.due_cards(now, limit))
    }

    fn prune_idempotency(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        self.run(move |s| s.prune_idempotency(before, limit))
    }

    fn prune_guards(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        self.run(move |s| s.prune_guards(before, limit))
    }

    fn search(
        &self,
        query: &CardQuery,
    ) -> impl Future<Output = Result<Page<Versioned<GiftCard>>, StoreError>> + Send {
        let query = query.clone();
        self.run(move |s| s.search(&query))
    }

    fn liability(
        &self,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<LiabilityReport, StoreError>> + Send {
        self.run(move |s| s.liability(at))
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use giftcert::MemoryStore;

    use super::*;

    /// The adapter keeps the store contract: the library's conformance checks, over the
    /// blocking pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_blocking_store_behind_the_adapter_passes_the_conformance_kit() {
        let checked =
            giftcert::testkit::check_async_store(|| async { Blocking::new(MemoryStore::new()) })
                .await;
        assert!(checked.is_ok(), "{checked:?}");
        let searched =
            giftcert::testkit::check_async_search(|| async { Blocking::new(MemoryStore::new()) })
                .await;
        assert!(searched.is_ok(), "{searched:?}");
        let reported = giftcert::testkit::check_async_liability(|| async {
            Blocking::new(MemoryStore::new())
        })
        .await;
        assert!(reported.is_ok(), "{reported:?}");
    }

    /// Replacing codes, sweeps and pruning pass through the adapter to the store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_blocking_store_behind_the_adapter_sweeps_and_prunes() {
        let checked =
            giftcert::testkit::check_async_upkeep(|| async { Blocking::new(MemoryStore::new()) })
                .await;
        assert!(checked.is_ok(), "{checked:?}");
    }

    /// A store that panics on every call: a call that does not finish is a backend error.
    #[derive(Debug)]
    struct Panics;

    impl Store for Panics {
        fn card(&self, _: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
            panic!("the disk caught fire")
        }
        fn card_by_code(&self, _: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
            panic!("the disk caught fire")
        }
        fn ledger(&self, _: CardId, _: u64, _: usize) -> Result<Vec<LedgerEntry>, StoreError> {
            panic!("the disk caught fire")
        }
        fn checkout(&self, _: &CheckoutId) -> Result<Option<Versioned<Checkout>>, StoreError> {
            panic!("the disk caught fire")
        }
        fn idempotency(&self, _: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
            panic!("the disk caught fire")
        }
        fn guard(&self, _: &ClientId) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
            panic!("the disk caught fire")
        }
        fn commit(&self, _: Changes) -> Result<(), StoreError> {
            panic!("the disk caught fire")
        }
        fn search(&self, _: &CardQuery) -> Result<Page<Versioned<GiftCard>>, StoreError> {
            panic!("the disk caught fire")
        }
        fn liability(&self, _: DateTime<Utc>) -> Result<LiabilityReport, StoreError> {
            panic!("the disk caught fire")
        }
        fn due_cards(&self, _: DateTime<Utc>, _: usize) -> Result<Vec<CardId>, StoreError> {
            panic!("the disk caught fire")
        }
        fn prune_idempotency(&self, _: DateTime<Utc>, _: usize) -> Result<usize, StoreError> {
            panic!("the disk caught fire")
        }
        fn prune_guards(&self, _: DateTime<Utc>, _: usize) -> Result<usize, StoreError> {
            panic!("the disk caught fire")
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_that_panics_is_a_backend_error_not_a_panic() {
        let store = Blocking::new(Panics);
        let err = AsyncStore::card(&store, CardId::from_u128(1)).await.err();
        let Some(err @ StoreError::Backend { .. }) = err else {
            panic!("expected a backend error, found {err:?}");
        };
        let source = err.source().map(ToString::to_string).unwrap_or_default();
        assert!(source.contains("panicked"), "{source}");
    }
}
