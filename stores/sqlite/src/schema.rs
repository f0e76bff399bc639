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
    // 0002 comes from another branch; on this branch alone 0003 is the second migration.
    include_str!("../migrations/0003_upkeep.sql"),
];

/// The schema version this crate writes (the file's `PRAGMA user_version` once opened).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The table that keeps the fingerprint: created beside the numbered migrations (`IF NOT
/// EXISTS`), so that a file of schema version 1 gets it on its next open without a version
/// change.
const KEY_TABLE: &str = "CREATE TABLE IF NOT EXISTS store_key (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT    NOT NULL
                CHECK (length(fingerprint) = 64 AND fingerprint NOT GLOB '*[^0-9a-f]*')
)";

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
pub(crate) fn migrate(conn: &mut Connection, key: &CodeKey) -> Result<(), MigrationError> {
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
    tx.execute_batch(KEY_TABLE)?;
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
