//! The schema, created and upgraded by numbered migrations when a store opens a file.
//!
//! The file's `PRAGMA user_version` records the last migration applied. Opening runs the
//! missing ones in one `BEGIN IMMEDIATE` transaction, so two processes opening a new file at
//! once cannot both create it, and a crash mid-migration leaves the file as it was. A file
//! from a newer version of the crate is refused rather than misread.

use rusqlite::{Connection, TransactionBehavior};

/// The migrations, in order: migration `n` (from 1) brings the schema to version `n`.
/// A released migration is never edited; changes come as new migrations.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_initial.sql")];

/// The schema version this crate writes (the file's `PRAGMA user_version` once opened).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Why a migration did not run.
#[derive(Debug)]
pub(crate) enum MigrationError {
    Database(rusqlite::Error),
    Newer(i64),
}

impl From<rusqlite::Error> for MigrationError {
    fn from(e: rusqlite::Error) -> Self {
        MigrationError::Database(e)
    }
}

/// Brings the file's schema to [`SCHEMA_VERSION`]; does nothing when it is there already.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), MigrationError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(MigrationError::Newer(found));
    }
    let done = usize::try_from(found).unwrap_or(0);
    for sql in MIGRATIONS.iter().skip(done) {
        tx.execute_batch(sql)?;
    }
    if found != SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}
