//! The schema, created and upgraded by numbered migrations when a store opens a file.
//!
//! The file's `PRAGMA user_version` records the last migration applied. Opening runs the
//! missing ones in one `BEGIN IMMEDIATE` transaction, so two processes opening a new file at
//! once cannot both create it, and a crash mid-migration leaves the file as it was. A file
//! from a newer version of the crate is refused rather than misread.
//!
//! The same transaction checks the file's [`CodeKey`] fingerprint (see [`key_fingerprint`]):
//! a file is opened only under the key its codes were hashed with.

use giftcert_store_support::CodeKey;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// The migrations, in order: migration `n` (from 1) brings the schema to version `n`.
/// A released migration is never edited; changes come as new migrations.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_search_and_hints.sql"),
    include_str!("../migrations/0003_upkeep.sql"),
];

/// The schema version this crate writes (the file's `PRAGMA user_version` once opened).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The fingerprint a file keeps of the key its codes are hashed with: the key's digest of a
/// fixed label (HMAC-SHA-256, 64 hex digits). It tells keys apart and, like every digest in
/// the file, says nothing of the key.
pub(crate) fn key_fingerprint(key: &CodeKey) -> String {
    key.fingerprint()
}

/// Why a migration did not run.
#[derive(Debug)]
pub(crate) enum MigrationError {
    Database(rusqlite::Error),
    Newer(i64),
    WrongKey,
}

impl From<rusqlite::Error> for MigrationError {
    fn from(e: rusqlite::Error) -> Self {
        MigrationError::Database(e)
    }
}

/// Brings the file's schema to [`SCHEMA_VERSION`] (nothing when it is there already) and
/// checks that the file was written under `key`: a file without a fingerprint (new, or older
/// than fingerprints) takes `key`'s.
///
/// The fingerprint's table, `store_key`, is created by migration 2 (before, it was created
/// beside the migrations on every open; migration 2 keeps a version 1 file's table).
///
/// Migrations run with foreign keys off, as SQLite's table rebuild (migration 2 rebuilds
/// `cards`) requires: the pragma cannot change inside a transaction, so it is turned off
/// before and on again after, and `PRAGMA foreign_key_check` must find nothing before the
/// transaction commits.
pub(crate) fn migrate(conn: &mut Connection, key: &CodeKey) -> Result<(), MigrationError> {
    conn.pragma_update(None, "foreign_keys", false)?;
    let migrated = migrate_in_transaction(conn, key);
    conn.pragma_update(None, "foreign_keys", true)?;
    migrated
}

fn migrate_in_transaction(conn: &mut Connection, key: &CodeKey) -> Result<(), MigrationError> {
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
        let orphans: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |row| row.get(0))
            .optional()?;
        if let Some(table) = orphans {
            return Err(MigrationError::Database(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some(format!("migrating left rows of {table} without their card")),
            )));
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    let expected = key_fingerprint(key);
    let stored: Option<String> = tx
        .query_row(
            "SELECT fingerprint FROM store_key WHERE id = 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    match stored {
        Some(stored) if stored != expected => return Err(MigrationError::WrongKey),
        Some(_) => {}
        None => {
            tx.execute(
                "INSERT INTO store_key (id, fingerprint) VALUES (1, ?1)",
                [&expected],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}
