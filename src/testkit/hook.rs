//! A store that forwards every call to another and hands each commit to a hook: the one way
//! the kit, the simulator and a host's own tests plant a broken store (versions ignored,
//! every update refused, a commit lost) without writing every read of the contract again.

use crate::redeem::{CheckoutId, ClientId};
use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};

use crate::card::{CardId, GiftCard, LedgerEntry, LiabilityReport};
use crate::code::Code;
use crate::redeem::{Changes, StoreError};
use crate::redeem::{Checkout, GuardWindow, IdempotencyKey, IdempotencyRecord, Versioned};
use crate::store::{AsyncStore, CardQuery, Page, Store};

/// A hook that is a function (or a closure that captures nothing), so a wrapped store's type
/// can be named: [`CommitHook::forward`]'s and the simulator's planted stores'.
pub type CommitFn<S> = fn(&S, Changes) -> Result<(), StoreError>;

/// A [`Store`] (and, its calls ready at once, an [`AsyncStore`]) that forwards every read to
/// `S` and passes each commit to a hook, which may change it, refuse it or hand it on with
/// `inner.commit(changes)`.
///
/// ```
/// use giftcert::{MemoryStore, Store};
/// use giftcert::redeem::Record;
/// use giftcert::redeem::{CardWrite, Changes, StoreError};
/// use giftcert::testkit::{CommitHook, check_store};
///
/// // A store on which every card update loses to another writer: the kit refuses it.
/// fn always_behind(inner: &MemoryStore, changes: Changes) -> Result<(), StoreError> {
///     match changes.cards.iter().find_map(|w| match w {
///         CardWrite::Update { card, .. } => Some(card.id()),
///         _ => None,
///     }) {
///         Some(id) => Err(StoreError::conflict(Record::Card(id), "always behind")),
///         None => inner.commit(changes),
///     }
/// }
/// let broken = check_store(|| CommitHook::new(MemoryStore::new(), always_behind));
/// assert!(broken.is_err());
/// // Forwarded unchanged, the store is the store.
/// assert!(check_store(|| CommitHook::forward(MemoryStore::new())).is_ok());
/// ```
pub struct CommitHook<S, F> {
    inner: S,
    hook: F,
}

impl<S, F> CommitHook<S, F>
where
    F: Fn(&S, Changes) -> Result<(), StoreError>,
{
    /// Wraps `inner`, its commits passed to `hook`.
    pub const fn new(inner: S, hook: F) -> CommitHook<S, F> {
        CommitHook { inner, hook }
    }

    /// The store wrapped.
    pub const fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Store> CommitHook<S, CommitFn<S>> {
    /// Wraps `inner` with a hook that commits unchanged: `inner` as it is, behind this type
    /// (for example a blocking store as an [`AsyncStore`]).
    pub fn forward(inner: S) -> CommitHook<S, CommitFn<S>> {
        CommitHook::new(inner, |inner: &S, changes| inner.commit(changes))
    }
}

impl<S: fmt::Debug, F> fmt::Debug for CommitHook<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitHook")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, F> Store for CommitHook<S, F>
where
    S: Store,
    F: Fn(&S, Changes) -> Result<(), StoreError> + Send + Sync,
{
    fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.inner.card(id)
    }

    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.inner.card_by_code(code)
    }

    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.inner.ledger(card, from_seq, limit)
    }

    fn checkout(&self, id: &CheckoutId) -> Result<Option<Versioned<Checkout>>, StoreError> {
        self.inner.checkout(id)
    }

    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.idempotency(key)
    }

    fn guard(&self, client: &ClientId) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
        self.inner.guard(client)
    }

    fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        (self.hook)(&self.inner, changes)
    }

    fn search(&self, query: &CardQuery) -> Result<Page<Versioned<GiftCard>>, StoreError> {
        self.inner.search(query)
    }

    fn liability(&self, at: DateTime<Utc>) -> Result<LiabilityReport, StoreError> {
        self.inner.liability(at)
    }

    fn due_cards(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<CardId>, StoreError> {
        self.inner.due_cards(now, limit)
    }

    fn prune_idempotency(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.inner.prune_idempotency(before, limit)
    }

    fn prune_guards(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.inner.prune_guards(before, limit)
    }
}

/// Each call runs when it is made, through the [`Store`] impl, and its future is ready at
/// once: a blocking store driven by the async kit on the caller's thread.
impl<S, F> AsyncStore for CommitHook<S, F>
where
    S: Store,
    F: Fn(&S, Changes) -> Result<(), StoreError> + Send + Sync,
{
    fn card(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Option<Versioned<GiftCard>>, StoreError>> + Send {
        std::future::ready(Store::card(self, id))
    }

    fn card_by_code(
        &self,
        code: &Code,
    ) -> impl Future<Output = Result<Option<Versioned<GiftCard>>, StoreError>> + Send {
        std::future::ready(Store::card_by_code(self, code))
    }

    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send {
        std::future::ready(Store::ledger(self, card, from_seq, limit))
    }

    fn checkout(
        &self,
        id: &CheckoutId,
    ) -> impl Future<Output = Result<Option<Versioned<Checkout>>, StoreError>> + Send {
        std::future::ready(Store::checkout(self, id))
    }

    fn idempotency(
        &self,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send {
        std::future::ready(Store::idempotency(self, key))
    }

    fn guard(
        &self,
        client: &ClientId,
    ) -> impl Future<Output = Result<Option<Versioned<GuardWindow>>, StoreError>> + Send {
        std::future::ready(Store::guard(self, client))
    }

    fn commit(&self, changes: Changes) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Store::commit(self, changes))
    }

    fn due_cards(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CardId>, StoreError>> + Send {
        std::future::ready(Store::due_cards(self, now, limit))
    }

    fn prune_idempotency(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        std::future::ready(Store::prune_idempotency(self, before, limit))
    }

    fn prune_guards(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        std::future::ready(Store::prune_guards(self, before, limit))
    }

    fn search(
        &self,
        query: &CardQuery,
    ) -> impl Future<Output = Result<Page<Versioned<GiftCard>>, StoreError>> + Send {
        std::future::ready(Store::search(self, query))
    }

    fn liability(
        &self,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<LiabilityReport, StoreError>> + Send {
        std::future::ready(Store::liability(self, at))
    }
}
