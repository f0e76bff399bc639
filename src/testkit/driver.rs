//! The one seam between the kit's checks and the two drivers: every protocol check is written
//! once, as an async fn over [`Driver`], and each entry point picks the driver it names.
//!
//! [`Redeemer`] answers with futures that are ready at once (the blocking call runs when it is
//! made) and runs concurrent tasks on threads of their own, each driven by [`block_on`];
//! [`AsyncRedeemer`] answers with its own futures and runs concurrent tasks by polling them in
//! turn inside one future ([`JoinAll`]), so that the kit needs no runtime and a caller's
//! runtime (tokio's, for a database store) drives their I/O.

use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{ConformanceFailure, block_on, fail};
use chrono::{DateTime, Utc};

use crate::card::{
    Attribution, CardId, CardSpec, GiftCard, LedgerEntry, LiabilityReport, Reference,
};
use crate::clock::Clock;
use crate::code::ImportedCode;
use crate::money::{Currency, Money};
use crate::redeem::{
    Amended, AppliedCode, Authorisation, BalanceCheck, Captured, CardCommand, Checkout,
    CodeReplaced, IdempotencyKey, IdempotencyRecord, Issued, Protocol, Pruned, RedeemError,
    Redeemed, RefundOutcome, RefundTo, Sweep, Voided,
};
use crate::store::{
    AsyncRedeemer, AsyncStore, CardQuery, Changes, Page, Redeemer, Store, StoreError, Versioned,
};

/// What a kit check asks of a driver: its operations, reads of its store, and running tasks at
/// once.
pub(crate) trait Driver: Sync + Sized {
    /// The store it drives.
    type Store;

    /// A driver over `store` following `protocol`, reading time from `clock`.
    fn build(store: Self::Store, protocol: Protocol, clock: Arc<dyn Clock>) -> Self;

    // The driver's operations and reads, as on `Redeemer` (futures ready at once) and
    // `AsyncRedeemer`.

    fn issue(
        &self,
        key: &IdempotencyKey,
        specs: Vec<CardSpec>,
    ) -> impl Future<Output = Result<Redeemed<Issued>, RedeemError>> + Send;

    fn import_card(
        &self,
        key: &IdempotencyKey,
        code: ImportedCode,
        spec: CardSpec,
    ) -> impl Future<Output = Result<Redeemed<Issued>, RedeemError>> + Send;

    fn apply_code(
        &self,
        client: &Reference,
        checkout: &Reference,
        currency: Currency,
        code: &str,
    ) -> impl Future<Output = Result<AppliedCode, RedeemError>> + Send;

    fn authorise(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        payable: Money,
    ) -> impl Future<Output = Result<Redeemed<Authorisation>, RedeemError>> + Send;

    fn capture(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
    ) -> impl Future<Output = Result<Redeemed<Captured>, RedeemError>> + Send;

    fn void(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
    ) -> impl Future<Output = Result<Redeemed<Voided>, RedeemError>> + Send;

    fn amend(
        &self,
        key: &IdempotencyKey,
        card: CardId,
        command: CardCommand,
        by: &Attribution,
    ) -> impl Future<Output = Result<Redeemed<Amended>, RedeemError>> + Send;

    fn capture_part(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
    ) -> impl Future<Output = Result<Redeemed<Captured>, RedeemError>> + Send;

    fn change_authorisation(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        payable: Money,
    ) -> impl Future<Output = Result<Redeemed<Authorisation>, RedeemError>> + Send;

    fn refund_to(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
        to: RefundTo,
    ) -> impl Future<Output = Result<Redeemed<RefundOutcome>, RedeemError>> + Send;

    fn replace_code(
        &self,
        key: &IdempotencyKey,
        card: CardId,
        by: &Attribution,
    ) -> impl Future<Output = Result<Redeemed<CodeReplaced>, RedeemError>> + Send;

    fn sweep(&self, limit: usize) -> impl Future<Output = Result<Sweep, RedeemError>> + Send;

    fn prune(&self, limit: usize) -> impl Future<Output = Result<Pruned, RedeemError>> + Send;

    fn check_balance(
        &self,
        client: &Reference,
        code: &str,
    ) -> impl Future<Output = Result<BalanceCheck, RedeemError>> + Send;

    fn card(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Option<GiftCard>, RedeemError>> + Send;

    fn refund(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
    ) -> impl Future<Output = Result<Redeemed<RefundOutcome>, RedeemError>> + Send;

    fn search(
        &self,
        query: &CardQuery,
    ) -> impl Future<Output = Result<Page<Versioned<GiftCard>>, RedeemError>> + Send;

    fn liability(
        &self,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<LiabilityReport, RedeemError>> + Send;

    fn history(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, RedeemError>> + Send;

    /// The store's own read of a card, with its version.
    fn stored_card(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Option<Versioned<GiftCard>>, StoreError>> + Send;

    /// The store's own ledger read.
    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send;

    /// The store's own checkout read.
    fn checkout(
        &self,
        id: &Reference,
    ) -> impl Future<Output = Result<Option<Versioned<Checkout>>, StoreError>> + Send;

    /// The store's own idempotency read.
    fn idempotency(
        &self,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send;

    /// A commit straight to the store, past the protocol.
    fn commit(&self, changes: Changes) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Runs `tasks` at once and returns their results in order; a task that panicked is a
    /// failure of `check`.
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

    fn issue(
        &self,
        key: &IdempotencyKey,
        specs: Vec<CardSpec>,
    ) -> impl Future<Output = Result<Redeemed<Issued>, RedeemError>> + Send {
        ready(Redeemer::issue(self, key, specs))
    }

    fn import_card(
        &self,
        key: &IdempotencyKey,
        code: ImportedCode,
        spec: CardSpec,
    ) -> impl Future<Output = Result<Redeemed<Issued>, RedeemError>> + Send {
        ready(Redeemer::import_card(self, key, code, spec))
    }

    fn apply_code(
        &self,
        client: &Reference,
        checkout: &Reference,
        currency: Currency,
        code: &str,
    ) -> impl Future<Output = Result<AppliedCode, RedeemError>> + Send {
        ready(Redeemer::apply_code(self, client, checkout, currency, code))
    }

    fn authorise(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        payable: Money,
    ) -> impl Future<Output = Result<Redeemed<Authorisation>, RedeemError>> + Send {
        ready(Redeemer::authorise(self, key, checkout, payable))
    }

    fn capture(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
    ) -> impl Future<Output = Result<Redeemed<Captured>, RedeemError>> + Send {
        ready(Redeemer::capture(self, key, checkout))
    }

    fn void(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
    ) -> impl Future<Output = Result<Redeemed<Voided>, RedeemError>> + Send {
        ready(Redeemer::void(self, key, checkout))
    }

    fn amend(
        &self,
        key: &IdempotencyKey,
        card: CardId,
        command: CardCommand,
        by: &Attribution,
    ) -> impl Future<Output = Result<Redeemed<Amended>, RedeemError>> + Send {
        ready(Redeemer::amend(self, key, card, command, by))
    }

    fn capture_part(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
    ) -> impl Future<Output = Result<Redeemed<Captured>, RedeemError>> + Send {
        ready(Redeemer::capture_part(self, key, checkout, amount))
    }

    fn change_authorisation(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        payable: Money,
    ) -> impl Future<Output = Result<Redeemed<Authorisation>, RedeemError>> + Send {
        ready(Redeemer::change_authorisation(self, key, checkout, payable))
    }

    fn refund_to(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
        to: RefundTo,
    ) -> impl Future<Output = Result<Redeemed<RefundOutcome>, RedeemError>> + Send {
        ready(Redeemer::refund_to(self, key, checkout, amount, to))
    }

    fn replace_code(
        &self,
        key: &IdempotencyKey,
        card: CardId,
        by: &Attribution,
    ) -> impl Future<Output = Result<Redeemed<CodeReplaced>, RedeemError>> + Send {
        ready(Redeemer::replace_code(self, key, card, by))
    }

    fn sweep(&self, limit: usize) -> impl Future<Output = Result<Sweep, RedeemError>> + Send {
        ready(Redeemer::sweep(self, limit))
    }

    fn prune(&self, limit: usize) -> impl Future<Output = Result<Pruned, RedeemError>> + Send {
        ready(Redeemer::prune(self, limit))
    }

    fn check_balance(
        &self,
        client: &Reference,
        code: &str,
    ) -> impl Future<Output = Result<BalanceCheck, RedeemError>> + Send {
        ready(Redeemer::check_balance(self, client, code))
    }

    fn card(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Option<GiftCard>, RedeemError>> + Send {
        ready(Redeemer::card(self, id))
    }

    fn refund(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
    ) -> impl Future<Output = Result<Redeemed<RefundOutcome>, RedeemError>> + Send {
        ready(Redeemer::refund(self, key, checkout, amount))
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

    fn history(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, RedeemError>> + Send {
        ready(Redeemer::history(self, id))
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
        id: &Reference,
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

    /// A thread per task, each driving its task with [`block_on`]: the blocking driver's
    /// requests race for real.
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

    fn issue(
        &self,
        key: &IdempotencyKey,
        specs: Vec<CardSpec>,
    ) -> impl Future<Output = Result<Redeemed<Issued>, RedeemError>> + Send {
        AsyncRedeemer::issue(self, key, specs)
    }

    fn import_card(
        &self,
        key: &IdempotencyKey,
        code: ImportedCode,
        spec: CardSpec,
    ) -> impl Future<Output = Result<Redeemed<Issued>, RedeemError>> + Send {
        AsyncRedeemer::import_card(self, key, code, spec)
    }

    fn apply_code(
        &self,
        client: &Reference,
        checkout: &Reference,
        currency: Currency,
        code: &str,
    ) -> impl Future<Output = Result<AppliedCode, RedeemError>> + Send {
        AsyncRedeemer::apply_code(self, client, checkout, currency, code)
    }

    fn authorise(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        payable: Money,
    ) -> impl Future<Output = Result<Redeemed<Authorisation>, RedeemError>> + Send {
        AsyncRedeemer::authorise(self, key, checkout, payable)
    }

    fn capture(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
    ) -> impl Future<Output = Result<Redeemed<Captured>, RedeemError>> + Send {
        AsyncRedeemer::capture(self, key, checkout)
    }

    fn void(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
    ) -> impl Future<Output = Result<Redeemed<Voided>, RedeemError>> + Send {
        AsyncRedeemer::void(self, key, checkout)
    }

    fn amend(
        &self,
        key: &IdempotencyKey,
        card: CardId,
        command: CardCommand,
        by: &Attribution,
    ) -> impl Future<Output = Result<Redeemed<Amended>, RedeemError>> + Send {
        AsyncRedeemer::amend(self, key, card, command, by)
    }

    fn capture_part(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
    ) -> impl Future<Output = Result<Redeemed<Captured>, RedeemError>> + Send {
        AsyncRedeemer::capture_part(self, key, checkout, amount)
    }

    fn change_authorisation(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        payable: Money,
    ) -> impl Future<Output = Result<Redeemed<Authorisation>, RedeemError>> + Send {
        AsyncRedeemer::change_authorisation(self, key, checkout, payable)
    }

    fn refund_to(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
        to: RefundTo,
    ) -> impl Future<Output = Result<Redeemed<RefundOutcome>, RedeemError>> + Send {
        AsyncRedeemer::refund_to(self, key, checkout, amount, to)
    }

    fn replace_code(
        &self,
        key: &IdempotencyKey,
        card: CardId,
        by: &Attribution,
    ) -> impl Future<Output = Result<Redeemed<CodeReplaced>, RedeemError>> + Send {
        AsyncRedeemer::replace_code(self, key, card, by)
    }

    fn sweep(&self, limit: usize) -> impl Future<Output = Result<Sweep, RedeemError>> + Send {
        AsyncRedeemer::sweep(self, limit)
    }

    fn prune(&self, limit: usize) -> impl Future<Output = Result<Pruned, RedeemError>> + Send {
        AsyncRedeemer::prune(self, limit)
    }

    fn check_balance(
        &self,
        client: &Reference,
        code: &str,
    ) -> impl Future<Output = Result<BalanceCheck, RedeemError>> + Send {
        AsyncRedeemer::check_balance(self, client, code)
    }

    fn card(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Option<GiftCard>, RedeemError>> + Send {
        AsyncRedeemer::card(self, id)
    }

    fn refund(
        &self,
        key: &IdempotencyKey,
        checkout: &Reference,
        amount: Money,
    ) -> impl Future<Output = Result<Redeemed<RefundOutcome>, RedeemError>> + Send {
        AsyncRedeemer::refund(self, key, checkout, amount)
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

    fn history(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, RedeemError>> + Send {
        AsyncRedeemer::history(self, id)
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
        id: &Reference,
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

    /// The tasks polled in turn inside one future: whatever runs that future (the caller's
    /// runtime, or [`block_on`]) drives them all, and their store I/O overlaps.
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
