//! The store contract for async hosts: the same reads and the same atomic commit as
//! [`Store`], as futures.

use crate::redeem::{CheckoutId, ClientId};
use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};

use crate::card::{CardId, GiftCard, LedgerEntry, LiabilityReport};
use crate::code::Code;
use crate::redeem::{
    Changes, Checkout, GuardWindow, IdempotencyKey, IdempotencyRecord, StoreError, Versioned,
};
use crate::store::{CardQuery, MemoryStore, Page, Store};

/// [`Store`] for async hosts (axum or actix on tokio, with sqlx or tokio-postgres): the same
/// methods, each returning a `Send` future, under the same contract (read the rules on
/// [`Store`]: versions, one atomic commit, conflicts and duplicate codes).
///
/// The trait uses native `async fn` in traits (written as `fn -> impl Future + Send`, so that
/// a multi-threaded runtime can move the futures between threads); it brings no runtime of
/// its own. An implementation may write `async fn` in its `impl` block.
///
/// [`MemoryStore`] implements it with futures that are ready at once, for tests of async
/// hosts.
pub trait AsyncStore: Send + Sync + fmt::Debug {
    /// The card with this id. As [`Store::card`].
    fn card(
        &self,
        id: CardId,
    ) -> impl Future<Output = Result<Option<Versioned<GiftCard>>, StoreError>> + Send;

    /// The card with this code. As [`Store::card_by_code`].
    fn card_by_code(
        &self,
        code: &Code,
    ) -> impl Future<Output = Result<Option<Versioned<GiftCard>>, StoreError>> + Send;

    /// A card's ledger entries from `from_seq` on, at most `limit`. As [`Store::ledger`].
    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send;

    /// The checkout with this reference. As [`Store::checkout`].
    fn checkout(
        &self,
        id: &CheckoutId,
    ) -> impl Future<Output = Result<Option<Versioned<Checkout>>, StoreError>> + Send;

    /// The record kept for an idempotency key. As [`Store::idempotency`].
    fn idempotency(
        &self,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send;

    /// A client's current guard window. As [`Store::guard`].
    fn guard(
        &self,
        client: &ClientId,
    ) -> impl Future<Output = Result<Option<Versioned<GuardWindow>>, StoreError>> + Send;

    /// Writes `changes` atomically, checking every version. As [`Store::commit`].
    fn commit(&self, changes: Changes) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` cards a sweep has work on at `now`. As [`Store::due_cards`].
    fn due_cards(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CardId>, StoreError>> + Send;

    /// Deletes up to `limit` idempotency records recorded before `before`. As
    /// [`Store::prune_idempotency`].
    fn prune_idempotency(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Deletes up to `limit` guard windows started before `before`. As
    /// [`Store::prune_guards`].
    fn prune_guards(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// One page of the cards `query` selects. As [`Store::search`].
    fn search(
        &self,
        query: &CardQuery,
    ) -> impl Future<Output = Result<Page<Versioned<GiftCard>>, StoreError>> + Send;

    /// The liability per currency at `at`. As [`Store::liability`].
    fn liability(
        &self,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<LiabilityReport, StoreError>> + Send;
}

impl AsyncStore for MemoryStore {
    async fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        Store::card(self, id)
    }

    async fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        Store::card_by_code(self, code)
    }

    async fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        Store::ledger(self, card, from_seq, limit)
    }

    async fn checkout(&self, id: &CheckoutId) -> Result<Option<Versioned<Checkout>>, StoreError> {
        Store::checkout(self, id)
    }

    async fn idempotency(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        Store::idempotency(self, key)
    }

    async fn guard(&self, client: &ClientId) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
        Store::guard(self, client)
    }

    async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        Store::commit(self, changes)
    }

    async fn due_cards(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<CardId>, StoreError> {
        Store::due_cards(self, now, limit)
    }

    async fn prune_idempotency(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<usize, StoreError> {
        Store::prune_idempotency(self, before, limit)
    }

    async fn prune_guards(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        Store::prune_guards(self, before, limit)
    }

    async fn search(&self, query: &CardQuery) -> Result<Page<Versioned<GiftCard>>, StoreError> {
        Store::search(self, query)
    }

    async fn liability(&self, at: DateTime<Utc>) -> Result<LiabilityReport, StoreError> {
        Store::liability(self, at)
    }
}
