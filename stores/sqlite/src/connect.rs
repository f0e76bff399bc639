//! Why a store could not open its file ([`OpenError`]), and how the store's connections to
//! the file are opened and pooled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

/// How long a connection waits for another one's write transaction before giving up with a
/// conflict (which the service retries).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a database file could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// SQLite could not open, configure or migrate the file.
    #[error("cannot open {}: {source}", path.display())]
    Database {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The path names no file (`:memory:`, or empty for a temporary database): SQLite would
    /// give each of the store's connections a database of its own.
    #[error(
        "\"{}\" is not a database file: SQLite would give each connection its own empty \
         database; give a file path (a temporary file in tests)",
        path.display()
    )]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// The file was written by a newer version of this crate.
    #[error(
        "{} has schema version {found}, newer than version {known} that this giftcert-sqlite knows",
        path.display()
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this crate knows.
        known: i64,
    },
    /// The file's codes were hashed under another [`CodeKey`](crate::CodeKey): with this one
    /// every code would look unknown, and every lookup would count as a guess against its
    /// owner.
    #[error(
        "{} was written under another code key: open it with the key its codes were hashed \
         with",
        path.display()
    )]
    WrongKey {
        /// The file.
        path: PathBuf,
    },
}

/// Opens the pool's connections to the store's file.
#[derive(Debug)]
pub(crate) struct Connections {
    pub(crate) path: PathBuf,
}

impl r2d2::ManageConnection for Connections {
    type Connection = Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> rusqlite::Result<Connection> {
        connect(&self.path)
    }

    fn is_valid(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        conn.execute_batch("")
    }

    /// A SQLite connection is a handle on a local file: it does not break.
    fn has_broken(&self, _: &mut Connection) -> bool {
        false
    }
}

/// Opens a connection configured as every connection of a store must be.
pub(crate) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // WAL: readers never wait for the writer. FULL: a commit is on disk when it returns.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}
