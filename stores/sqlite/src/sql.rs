//! How SQLite's errors become the store errors the [`Store`](giftcert::Store) contract names.

use giftcert::{StoreError, redeem::Record};
use rusqlite::ErrorCode;

/// SQLite's error, met while `doing` something, as a store error: waiting too long for the
/// writer's lock is a conflict on the whole transaction (read again and retry), anything else a
/// backend failure that keeps SQLite's error as its source.
pub(crate) fn db_error(doing: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::conflict(
            Record::Transaction,
            format!("the database stayed busy while {doing}: {e}"),
        ),
        _ => StoreError::backend(doing, e),
    }
}

/// Whether `e` is a violation of the constraint whose message ends with `what`
/// (`"cards.code_digest"` for a unique column, a trigger's message for a trigger).
pub(crate) fn violates(e: &rusqlite::Error, what: &str) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, Some(message))
            if f.code == ErrorCode::ConstraintViolation && message.ends_with(what)
    )
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn failure(code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    /// A busy or locked file is a conflict on the whole transaction, which the service retries.
    #[test]
    fn a_busy_or_locked_database_is_a_conflict_on_the_transaction() {
        for code in [rusqlite::ffi::SQLITE_BUSY, rusqlite::ffi::SQLITE_LOCKED] {
            let error = db_error("committing")(failure(code));
            assert!(
                matches!(
                    &error,
                    StoreError::Conflict {
                        record: Record::Transaction,
                        reason,
                    } if reason.starts_with("the database stayed busy while committing: ")
                ),
                "{error:?}"
            );
        }
    }

    /// Any other failure says what the store was doing and keeps SQLite's error as its source.
    #[test]
    fn other_failures_keep_the_driver_error_as_their_source() {
        let error = db_error("reading a card")(failure(rusqlite::ffi::SQLITE_IOERR));
        assert_eq!(error.to_string(), "store failure: reading a card");
        let StoreError::Backend {
            source: Some(source),
            ..
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(
            source
                .downcast_ref::<rusqlite::Error>()
                .and_then(rusqlite::Error::sqlite_error_code),
            Some(ErrorCode::SystemIoFailure)
        );
        assert_eq!(
            error.source().map(ToString::to_string),
            Some(source.to_string())
        );
    }
}
