//! Storage traits the host implements, and the rules an implementation must keep (see
//! [`Store`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

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

/// The error a database store hands on as the cause of a [`StoreError`].
pub type StoreSource = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The record a [`StoreError`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Record {
    /// A card.
    Card(CardId),
    /// A card's ledger entry.
    Entry {
        /// The card.
        card: CardId,
        /// The entry's sequence number.
        seq: u64,
    },
    /// A checkout.
    Checkout(Reference),
    /// The record kept for an idempotency key.
    Idempotency(IdempotencyKey),
    /// A client's guard window.
    Guard(Reference),
    /// The transaction as a whole: the database refused it (a serialisation failure, a
    /// deadlock, a busy file) without naming a record.
    Transaction,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Record::Card(id) => write!(f, "card {id}"),
            Record::Entry { card, seq } => write!(f, "entry {seq} of card {card}"),
            Record::Checkout(id) => write!(f, "checkout {id}"),
            Record::Idempotency(key) => write!(f, "idempotency key {key}"),
            Record::Guard(client) => write!(f, "guard window of client {client}"),
            Record::Transaction => f.write_str("the transaction"),
        }
    }
}

/// What a store could not do.
///
/// Database stores keep the driver's error as the [`source`](std::error::Error::source) of
/// [`StoreError::Backend`], [`StoreError::Corrupt`] and [`StoreError::Unavailable`]. Two errors
/// compare equal when their kinds, records and messages are equal (sources by their text).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A record changed since it was read, or a record to insert already exists: read again
    /// and retry.
    #[error("write conflict on {record}: {reason}")]
    Conflict {
        /// The record that conflicted.
        record: Record,
        /// What was found.
        reason: String,
    },
    /// A new card's code is already taken: generate another.
    #[error("a card with code {code} already exists")]
    DuplicateCode {
        /// The code, masked.
        code: String,
    },
    /// The store holds something that breaks the crate's rules.
    #[error("store is inconsistent: {reason}")]
    Corrupt {
        /// What is wrong.
        reason: String,
        /// The error that showed it, if any.
        #[source]
        source: Option<StoreSource>,
    },
    /// The database failed.
    #[error("store failure: {reason}")]
    Backend {
        /// What the store was doing.
        reason: String,
        /// The driver's error.
        #[source]
        source: Option<StoreSource>,
    },
    /// No database connection became free in time (the pool is at its maximum size).
    #[error("no database connection was free within {} ms", waited.as_millis())]
    Unavailable {
        /// How long the request waited.
        waited: Duration,
        /// The pool's error.
        #[source]
        source: Option<StoreSource>,
    },
}

impl StoreError {
    /// A [`StoreError::Conflict`] on `record`.
    #[must_use]
    pub fn conflict(record: Record, reason: impl Into<String>) -> StoreError {
        StoreError::Conflict {
            record,
            reason: reason.into(),
        }
    }

    /// A [`StoreError::DuplicateCode`] for `code` (kept masked).
    #[must_use]
    pub fn duplicate_code(code: &Code) -> StoreError {
        StoreError::DuplicateCode {
            code: code.masked(),
        }
    }

    /// A [`StoreError::Corrupt`] with no source.
    #[must_use]
    pub fn corrupt(reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            reason: reason.into(),
            source: None,
        }
    }

    /// A [`StoreError::Corrupt`] caused by `source`.
    #[must_use]
    pub fn corrupt_from(
        reason: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Corrupt {
            reason: reason.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// A [`StoreError::Backend`] caused by `source`.
    #[must_use]
    pub fn backend(
        reason: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Backend {
            reason: reason.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// Whether reading again and retrying may succeed ([`StoreError::Conflict`]).
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

impl PartialEq for StoreError {
    fn eq(&self, other: &StoreError) -> bool {
        fn same_source(a: Option<&StoreSource>, b: Option<&StoreSource>) -> bool {
            a.map(ToString::to_string) == b.map(ToString::to_string)
        }
        match (self, other) {
            (
                StoreError::Conflict { record, reason },
                StoreError::Conflict {
                    record: r2,
                    reason: s2,
                },
            ) => record == r2 && reason == s2,
            (StoreError::DuplicateCode { code }, StoreError::DuplicateCode { code: c2 }) => {
                code == c2
            }
            (
                StoreError::Corrupt { reason, source },
                StoreError::Corrupt {
                    reason: r2,
                    source: s2,
                },
            )
            | (
                StoreError::Backend { reason, source },
                StoreError::Backend {
                    reason: r2,
                    source: s2,
                },
            ) => reason == r2 && same_source(source.as_ref(), s2.as_ref()),
            (
                StoreError::Unavailable { waited, source },
                StoreError::Unavailable {
                    waited: w2,
                    source: s2,
                },
            ) => waited == w2 && same_source(source.as_ref(), s2.as_ref()),
            _ => false,
        }
    }
}

impl Eq for StoreError {}

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

    /// Checks the ledger entries against the cards this commit writes: each entry belongs to
    /// a card inserted or updated in the same commit, and each card's entries continue its
    /// sequence without a gap. `next_seqs` gives, for each written card, the sequence number
    /// its next entry must have (1 for a new card, one more than its last entry otherwise); a
    /// card given twice keeps its first number.
    ///
    /// Every store makes this check before it writes, so that it lives in one place.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] naming the first entry that breaks a rule.
    pub fn check_entries(
        &self,
        next_seqs: impl IntoIterator<Item = (CardId, u64)>,
    ) -> Result<(), StoreError> {
        let mut next: HashMap<CardId, u64> = HashMap::new();
        for (card, seq) in next_seqs {
            next.entry(card).or_insert(seq);
        }
        for entry in &self.entries {
            let record = || Record::Entry {
                card: entry.card(),
                seq: entry.seq(),
            };
            let expected = next.get_mut(&entry.card()).ok_or_else(|| {
                StoreError::conflict(record(), "the commit does not write its card")
            })?;
            if entry.seq() != *expected {
                return Err(StoreError::conflict(
                    record(),
                    format!("the card's next entry is {expected}"),
                ));
            }
            *expected += 1;
        }
        Ok(())
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
