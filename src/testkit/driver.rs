//! The one seam between the kit's checks and the two drivers: every protocol check is written
//! once, as an async fn over [`Driver`], and each entry point picks the driver it names.
//!
//! [`Redeemer`] answers with futures that are ready at once (the blocking call runs when it is
//! made) and runs concurrent tasks on threads of their own, each driven by [`block_on`];
//! [`AsyncRedeemer`] answers with its own futures and runs concurrent tasks by polling them in
//! turn inside one future ([`JoinAll`]), so that the kit needs no runtime and a caller's
//! runtime (tokio's, for a database store) drives their I/O.

use crate::redeem::{CheckoutId, ClientId};
use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{ConformanceFailure, block_on, fail};
use chrono::{DateTime, Utc};

use crate::card::{
    Attribution, CardId, CardSpec, GiftCard, LedgerEntry, LiabilityReport, Reference,
    ReversalReason,
};
use crate::clock::Clock;
use crate::code::ImportedCode;
use crate::money::{Currency, Money};
use crate::redeem::{
    Amended, Answer, AppliedCode, Authorisation, BalanceCheck, Captured, CardCommand, Changes,
    Checkout, CheckoutCards, CodeReplaced, IdempotencyKey, IdempotencyRecord, Issued, Need,
    Protocol, Pruned, RedeemError, Redeemed, RefundOutcome, RefundTo, Reply, Request, Reversal,
    ReversalScope, StoreError, Sweep, Versioned, Voided,
};
use crate::shop::Order;
use crate::store::operations::{IntoRequest, for_each_operation, typed_code, unexpected};
use crate::store::{AsyncRedeemer, AsyncStore, CardQuery, Page, Redeemer, Store};

/// Makes the kit driver's request methods from the drivers' table, each running its request
/// through [`Driver::run`].
macro_rules! kit_methods {
    ({}
        $( $(#[$doc:meta])* fn $name:ident($($arg:ident: $type:ty),*) -> $variant:ident($out:ty) = $build:expr; )*
    ) => {
            $(
                #[allow(dead_code)]
                fn $name(&self, $($arg: $type),*) -> impl Future<Output = Result<$out, RedeemError>> + Send {
                    let request = IntoRequest::into_request($build);
                    async move {
                        match self.run(request?).await? {
                            Answer::$variant(answer) => Ok(answer),
                            other => Err(unexpected(stringify!($variant), &other)),
                        }
                    }
                }
            )*
    };
}

/// What a kit check asks of a driver: running requests, reads of its store, and running tasks
/// at once. Its request methods, as on the drivers, come from the drivers' table, each a
/// [`Driver::run`].
pub(crate) trait Driver: Sync + Sized {
    /// The store it drives.
    type Store;

    /// A driver over `store` following `protocol`, reading time from `clock`.
    fn build(store: Self::Store, protocol: Protocol, clock: Arc<dyn Clock>) -> Self;

    /// Carries `request` out (a future ready at once on the sync driver).
    fn run(&self, request: Request) -> impl Future<Output = Result<Answer, RedeemError>> + Send;

    /// The protocol it follows, for a check that steps an operation itself.
    fn protocol(&self) -> &Protocol;

    /// Answers one need as the driver does while it runs a request.
    fn answer(&self, need: Need) -> impl Future<Output = Result<Reply, StoreError>> + Send;

    for_each_operation!(kit_methods! {});

    fn search(
        &self,
        query: &CardQuery,
    ) -> impl Future<Output = Result<Page<Versioned<GiftCard>>, RedeemError>> + Send;

    fn liability(
        &self,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<LiabilityReport, RedeemError>> + Send;

    fn stored_card(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Option<Versioned<GiftCard>>, StoreError>> + Send;

    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send;

    fn checkout(
        &self,
        id: &CheckoutId,
    ) -> impl Future<Output = Result<Option<Versioned<Checkout>>, StoreError>> + Send;

    fn idempotency(
        &self,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send;

    fn commit(&self, changes: Changes) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn join_all<T, F>(
        &self,
        check: &'static str,
        tasks: Vec<F>,
    ) -> impl Future<Output = Vec<Result<T, ConformanceFailure>>>
    where
        T: Send,
        F: Future<Output = Result<T, ConformanceFailure>> + Send;
}

impl<S: Store> Driver for Redeemer<S> {
    type Store = S;

    fn build(store: S, protocol: Protocol, clock: Arc<dyn Clock>) -> Self {
        Redeemer::new(store)
            .with_protocol(protocol)
            .with_clock(clock)
    }

    fn run(&self, request: Request) -> impl Future<Output = Result<Answer, RedeemError>> + Send {
        ready(Redeemer::run(self, request))
    }

    fn protocol(&self) -> &Protocol {
        Redeemer::protocol(self)
    }

    fn answer(&self, need: Need) -> impl Future<Output = Result<Reply, StoreError>> + Send {
        ready(Redeemer::answer(self, need))
    }

    fn search(
        &self,
        query: &CardQuery,
    ) -> impl Future<Output = Result<Page<Versioned<GiftCard>>, RedeemError>> + Send {
        ready(Redeemer::search(self, query))
    }

    fn liability(
        &self,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<LiabilityReport, RedeemError>> + Send {
        ready(Redeemer::liability(self, at))
    }

    fn stored_card(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Option<Versioned<GiftCard>>, StoreError>> + Send {
        ready(Store::card(self.store(), id))
    }

    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send {
        ready(Store::ledger(self.store(), card, from_seq, limit))
    }

    fn checkout(
        &self,
        id: &CheckoutId,
    ) -> impl Future<Output = Result<Option<Versioned<Checkout>>, StoreError>> + Send {
        ready(Store::checkout(self.store(), id))
    }

    fn idempotency(
        &self,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send {
        ready(Store::idempotency(self.store(), key))
    }

    fn commit(&self, changes: Changes) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(Store::commit(self.store(), changes))
    }

    fn join_all<T, F>(
        &self,
        check: &'static str,
        tasks: Vec<F>,
    ) -> impl Future<Output = Vec<Result<T, ConformanceFailure>>>
    where
        T: Send,
        F: Future<Output = Result<T, ConformanceFailure>> + Send,
    {
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = tasks
                .into_iter()
                .map(|task| scope.spawn(move || block_on(task)))
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|_| Err(fail(check, "a task panicked")))
                })
                .collect()
        });
        ready(results)
    }
}

impl<S: AsyncStore> Driver for AsyncRedeemer<S> {
    type Store = S;

    fn build(store: S, protocol: Protocol, clock: Arc<dyn Clock>) -> Self {
        AsyncRedeemer::new(store)
            .with_protocol(protocol)
            .with_clock(clock)
    }

    fn run(&self, request: Request) -> impl Future<Output = Result<Answer, RedeemError>> + Send {
        AsyncRedeemer::run(self, request)
    }

    fn protocol(&self) -> &Protocol {
        AsyncRedeemer::protocol(self)
    }

    fn answer(&self, need: Need) -> impl Future<Output = Result<Reply, StoreError>> + Send {
        AsyncRedeemer::answer(self, need)
    }

    fn search(
        &self,
        query: &CardQuery,
    ) -> impl Future<Output = Result<Page<Versioned<GiftCard>>, RedeemError>> + Send {
        AsyncRedeemer::search(self, query)
    }

    fn liability(
        &self,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<LiabilityReport, RedeemError>> + Send {
        AsyncRedeemer::liability(self, at)
    }

    fn stored_card(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Option<Versioned<GiftCard>>, StoreError>> + Send {
        AsyncStore::card(self.store(), id)
    }

    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send {
        AsyncStore::ledger(self.store(), card, from_seq, limit)
    }

    fn checkout(
        &self,
        id: &CheckoutId,
    ) -> impl Future<Output = Result<Option<Versioned<Checkout>>, StoreError>> + Send {
        AsyncStore::checkout(self.store(), id)
    }

    fn idempotency(
        &self,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send {
        AsyncStore::idempotency(self.store(), key)
    }

    fn commit(&self, changes: Changes) -> impl Future<Output = Result<(), StoreError>> + Send {
        AsyncStore::commit(self.store(), changes)
    }

    fn join_all<T, F>(
        &self,
        _check: &'static str,
        tasks: Vec<F>,
    ) -> impl Future<Output = Vec<Result<T, ConformanceFailure>>>
    where
        T: Send,
        F: Future<Output = Result<T, ConformanceFailure>> + Send,
    {
        JoinAll {
            tasks: tasks.into_iter().map(|task| Some(Box::pin(task))).collect(),
            results: Vec::new(),
        }
    }
}

/// Futures polled in turn until all are done: a join without a runtime.
struct JoinAll<F: Future> {
    tasks: Vec<Option<Pin<Box<F>>>>,
    results: Vec<Option<F::Output>>,
}

// Only boxed futures and their outputs are moved, never pinned in place.
impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.results.is_empty() {
            this.results = this.tasks.iter().map(|_| None).collect();
        }
        let mut pending = false;
        for (task, result) in this.tasks.iter_mut().zip(this.results.iter_mut()) {
            if let Some(future) = task {
                match future.as_mut().poll(cx) {
                    Poll::Ready(output) => {
                        *result = Some(output);
                        *task = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(this.results.drain(..).flatten().collect())
        }
    }
}
