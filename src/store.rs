//! Storage traits the host implements, and the rules an implementation must keep (see
//! [`Store`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::card::{CardId, GiftCard};
use crate::code::Code;
use crate::guard::GuardWindow;
use crate::idempotency::{IdempotencyKey, IdempotencyRecord};
use crate::ledger::{LedgerEntry, Reference};
use crate::redemption::Checkout;

/// A stored value and the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version: 1 when inserted, one more at every write.
    pub version: u64,
}

/// What a store could not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A record changed since it was read, or a record to insert already exists: read again
    /// and retry.
    #[error("write conflict: {0}")]
    Conflict(String),
    /// A new card's code is already taken: generate another.
    #[error("a card with code {0} already exists")]
    DuplicateCode(String),
    /// The store holds something that breaks the crate's rules.
    #[error("store is inconsistent: {0}")]
    Corrupt(String),
    /// The database failed (its message).
    #[error("store failure: {0}")]
    Backend(String),
}

/// A card to write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardWrite {
    /// A new card: neither its id nor its code may exist. The code is given for the lookup
    /// index only: keep a keyed hash of it (and the card's hint), never the code itself.
    Insert {
        /// The new card.
        card: GiftCard,
        /// Its code.
        code: Code,
    },
    /// An existing card, read at `expected_version`.
    Update {
        /// The card's new state.
        card: GiftCard,
        /// The version it was read at.
        expected_version: u64,
    },
}

/// A record written with an optimistic version check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write<T> {
    /// The new value.
    pub value: T,
    /// The version it was read at; `None` to insert it.
    pub expected_version: Option<u64>,
}

/// Everything one request writes, committed atomically by [`Store::commit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Cards to insert or update.
    pub cards: Vec<CardWrite>,
    /// Ledger entries to append (each card's entries continue its sequence).
    pub entries: Vec<LedgerEntry>,
    /// The checkout, if it changed.
    pub checkout: Option<Write<Checkout>>,
    /// The idempotency record to insert, if the request had a key.
    pub idempotency: Option<IdempotencyRecord>,
    /// A guard window, if it changed.
    pub guard: Option<Write<GuardWindow>>,
}

impl Changes {
    /// Whether there is nothing to write.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
            && self.entries.is_empty()
            && self.checkout.is_none()
            && self.idempotency.is_none()
            && self.guard.is_none()
    }
}

/// Where cards, their ledgers, checkouts, idempotency records and guard windows live.
///
/// Reads return what was committed last.
///
/// # Design: a synchronous store, a pure core, and async hosts
///
/// Every decision (what to hold, capture, release, issue, write) comes from the pure functions
/// in [`redemption`](crate::redemption), as values. The crate's [`Redeemer`](crate::Redeemer)
/// drives them over this synchronous [`Store`] trait, which suits embedded stores (the
/// in-memory default, SQLite) and blocking drivers. An async host (axum with sqlx or
/// tokio-postgres) does not need an async version of the trait: it reads the checkout and cards
/// with its own async I/O, calls the same pure functions, and writes the returned
/// [`Decision`](crate::Decision) in one transaction with the version checks described below.
/// That keeps the crate free of any async runtime and keeps one implementation of the rules.
/// `examples/async_host.rs` shows the loop.
///
/// # The contract
///
/// Concurrency is the database's job, and optimistic versions make it safe:
///
/// - Every card, checkout and guard window is read with its version ([`Versioned`]).
/// - [`Store::commit`] writes a whole [`Changes`] atomically or not at all. It fails with
///   [`StoreError::Conflict`] when any record's stored version is not the version the change
///   was computed from, when a record to insert already exists, or when the idempotency key is
///   already recorded; and with [`StoreError::DuplicateCode`] when a new card's code is taken.
///   On success each written record's version is the expected version plus one (inserts get 1).
/// - In SQL: one transaction; `UPDATE cards SET ..., version = version + 1 WHERE id = $1 AND
///   version = $2` and a conflict when no row was updated; `INSERT` for new cards, ledger
///   entries and the idempotency record, relying on unique constraints (card id, code, key,
///   `(card, seq)`) and mapping their violations to the errors above.
/// - Ledger entries are append-only: an entry is never updated or deleted.
///
/// The service retries a conflicting request from a fresh read a bounded number of times, so a
/// store only has to refuse, never to merge.
pub trait Store: Send + Sync + fmt::Debug {
    /// The card with this id.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError>;

    /// The card with this code (codes are unique).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError>;

    /// A card's ledger entries with sequence numbers from `from_seq` on, in order, at most
    /// `limit` of them.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// The checkout with this reference.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn checkout(&self, id: &Reference) -> Result<Option<Versioned<Checkout>>, StoreError>;

    /// The record kept for an idempotency key.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// A client's current guard window.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn guard(&self, client: &Reference) -> Result<Option<Versioned<GuardWindow>>, StoreError>;

    /// Writes `changes` atomically, checking every version (see the contract above).
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`], [`StoreError::DuplicateCode`], [`StoreError::Backend`].
    fn commit(&self, changes: Changes) -> Result<(), StoreError>;
}
