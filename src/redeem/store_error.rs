//! What a store reports when it cannot do what it was asked.

use super::{CheckoutId, ClientId};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::card::CardId;
use crate::code::Code;
use crate::redeem::IdempotencyKey;

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
    Checkout(CheckoutId),
    /// The record kept for an idempotency key.
    Idempotency(IdempotencyKey),
    /// A client's guard window.
    Guard(ClientId),
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
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StoreError {
    /// A record changed since it was read, a record to insert already exists, or the database
    /// aborted a read or a commit to keep it apart from another transaction
    /// ([`Record::Transaction`]): read again and retry (the protocol does, for reads and
    /// commits alike).
    Conflict {
        /// The record that conflicted.
        record: Record,
        /// What was found.
        reason: String,
    },
    /// A new card's code is already taken: generate another.
    DuplicateCode {
        /// The code, masked.
        code: String,
    },
    /// The store holds something that breaks the crate's rules.
    Corrupt {
        /// What is wrong.
        reason: String,
        /// The error that showed it, if any.
        source: Option<StoreSource>,
    },
    /// The database failed.
    Backend {
        /// What the store was doing.
        reason: String,
        /// The driver's error.
        source: Option<StoreSource>,
    },
    /// No database connection became free in time (the pool is at its maximum size).
    Unavailable {
        /// How long the request waited.
        waited: Duration,
        /// The pool's error.
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

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Conflict { record, reason } => {
                write!(f, "write conflict on {record}: {reason}")
            }
            StoreError::DuplicateCode { code } => {
                write!(f, "a card with code {code} already exists")
            }
            StoreError::Corrupt { reason, .. } => write!(f, "store is inconsistent: {reason}"),
            StoreError::Backend { reason, .. } => write!(f, "store failure: {reason}"),
            StoreError::Unavailable { waited, .. } => write!(
                f,
                "no database connection was free within {} ms",
                waited.as_millis()
            ),
        }
    }
}

/// The source is the driver's error itself (not the `Arc` that shares it), so that a host can
/// `downcast_ref` it to the driver's type.
impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Corrupt { source, .. }
            | StoreError::Backend { source, .. }
            | StoreError::Unavailable { source, .. } => source
                .as_deref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            StoreError::Conflict { .. } | StoreError::DuplicateCode { .. } => None,
        }
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

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("disk on fire")]
    struct DriverError;

    #[test]
    fn a_backend_error_hands_on_the_drivers_error_itself() {
        let err = StoreError::backend("reading a card", DriverError);
        assert_eq!(err.to_string(), "store failure: reading a card");
        let source = err.source().expect("a source");
        assert!(source.downcast_ref::<DriverError>().is_some());
        assert_eq!(source.to_string(), "disk on fire");
        assert!(StoreError::corrupt("x").source().is_none());
    }

    #[test]
    fn a_conflict_names_its_record() {
        let err = StoreError::conflict(Record::Card(CardId::from_u128(1)), "it changed");
        assert!(err.is_conflict());
        assert_eq!(
            err.to_string(),
            format!(
                "write conflict on card {}: it changed",
                CardId::from_u128(1)
            )
        );
        assert_ne!(err, StoreError::corrupt("it changed"));
    }
}
