//! [`SqliteStore`]: the [`Store`] contract on one SQLite file.

use giftcert::redeem::{CheckoutId, ClientId};
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use giftcert::{
    CardId, Code, GiftCard, IdempotencyKey, Store, StoreError,
    card::{LedgerEntry, LiabilityReport},
    redeem::{Changes, Checkout, GuardWindow, IdempotencyRecord, Versioned},
    store::{CardQuery, Page},
};
use giftcert_store_support::{CodeKey, PoolOptions, checkout};
use rusqlite::Connection;

use crate::connect::{Connections, OpenError, connect};
use crate::schema::{self, MigrationError, SCHEMA_VERSION};
use crate::{commit, ops};

/// A [`Store`] in one SQLite file, for hosts that run in one process on one machine.
///
/// Every record is a row; every [`Store::commit`] is one `BEGIN IMMEDIATE` transaction that
/// checks each version with `UPDATE ... WHERE version = ?` and turns a missed row or a unique
/// violation into [`StoreError::Conflict`]. Codes are kept as [`CodeKey`] digests and their
/// last four characters, never whole.
///
/// A store is `Send + Sync`: it keeps a pool of connections to its file (`r2d2`, sized by
/// [`PoolOptions`]: by default at most 16, and a request that waits 5 s for a free one fails
/// with [`StoreError::Unavailable`]) and hands one to each thread that asks. Several stores (in one process or several) may
/// share a file; SQLite's locking and the version checks keep them consistent. The file runs
/// in WAL mode with `synchronous = FULL`, so a commit that returned is on disk, and a process
/// killed at any point leaves the file as of its last commit.
///
/// ```
/// use giftcert::Store;
/// use giftcert_sqlite::{CodeKey, SqliteStore};
///
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("cards.db"), CodeKey::new(&[7; 32])?)?;
/// assert!(store.card(giftcert::CardId::from_u128(1))?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SqliteStore {
    path: PathBuf,
    key: CodeKey,
    options: PoolOptions,
    pool: r2d2::Pool<Connections>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.pool.state();
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("connections", &state.connections)
            .field("idle_connections", &state.idle_connections)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path`, bringing its schema to
    /// [`SCHEMA_VERSION`], with `key` to hash codes.
    ///
    /// Every store on one file must use the same key: a code is found only under the key it
    /// was written with. The file keeps a fingerprint of its key (the key's digest of a fixed
    /// label, in the table `store_key`), written by the first open, and refuses any other key.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotAFile`] for `:memory:` or an empty path, [`OpenError::Database`] when
    /// SQLite cannot open or migrate the file, [`OpenError::NewerSchema`] for a file written
    /// by a newer version of this crate, [`OpenError::WrongKey`] for a file written under
    /// another key (the message names the file, never either key).
    pub fn open(path: impl AsRef<Path>, key: CodeKey) -> Result<SqliteStore, OpenError> {
        SqliteStore::open_with(path, key, PoolOptions::default())
    }

    /// Like [`SqliteStore::open`], with the connection pool sized by `options`.
    ///
    /// # Errors
    ///
    /// Those of [`SqliteStore::open`].
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    ///
    /// use giftcert_sqlite::{CodeKey, PoolOptions, SqliteStore};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let options = PoolOptions::new()
    ///     .with_max_size(NonZeroU32::new(4).ok_or("zero")?)
    ///     .with_checkout_timeout(Duration::from_secs(1));
    /// let store = SqliteStore::open_with(dir.path().join("cards.db"), CodeKey::new(&[7; 32])?, options)?;
    /// assert_eq!(store.pool_options(), options);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_with(
        path: impl AsRef<Path>,
        key: CodeKey,
        options: PoolOptions,
    ) -> Result<SqliteStore, OpenError> {
        let path = path.as_ref().to_path_buf();
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
            return Err(OpenError::NotAFile { path });
        }
        let database = |source| OpenError::Database {
            path: path.clone(),
            source,
        };
        let mut conn = connect(&path).map_err(database)?;
        schema::migrate(&mut conn, &key).map_err(|e| match e {
            MigrationError::Database(source) => database(source),
            MigrationError::WrongKey => OpenError::WrongKey { path: path.clone() },
            MigrationError::Newer(found) => OpenError::NewerSchema {
                path: path.clone(),
                found,
                known: SCHEMA_VERSION,
            },
        })?;
        drop(conn);
        Ok(SqliteStore {
            pool: options.build(Connections { path: path.clone() }),
            path,
            key,
            options,
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How its connection pool is sized.
    #[must_use]
    pub fn pool_options(&self) -> PoolOptions {
        self.options
    }

    /// Runs `f` on a connection from the pool, which takes it back afterwards.
    fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = checkout(&self.pool)?;
        f(&mut conn)
    }
}

impl Store for SqliteStore {
    fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.with_connection(|conn| ops::card(conn, id))
    }

    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.with_connection(|conn| ops::card_by_code(conn, &self.key, code))
    }

    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let (Ok(from_seq), limit) = (
            i64::try_from(from_seq),
            i64::try_from(limit).unwrap_or(i64::MAX),
        ) else {
            return Ok(Vec::new());
        };
        self.with_connection(|conn| ops::ledger(conn, card, from_seq, limit))
    }

    fn checkout(&self, id: &CheckoutId) -> Result<Option<Versioned<Checkout>>, StoreError> {
        self.with_connection(|conn| ops::checkout(conn, id))
    }

    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.with_connection(|conn| ops::idempotency(conn, key))
    }

    fn guard(&self, client: &ClientId) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
        self.with_connection(|conn| ops::guard(conn, client))
    }

    /// One statement reading the page off an index: the filter's `(column, issued_at, id)`
    /// index (the tag's `card_tags` key for a tag), from the cursor on, `limit + 1` rows. With
    /// several filters SQLite picks one index and checks the others row by row.
    fn search(&self, query: &CardQuery) -> Result<Page<Versioned<GiftCard>>, StoreError> {
        let (sql, params) = ops::search_sql(query)?;
        self.with_connection(|conn| ops::search(conn, &sql, &params, query.limit()))
    }

    /// Two grouped statements in one read transaction (the flows per currency and entry kind,
    /// the balances per currency and standing): amounts are summed as integers of minor units,
    /// exactly; the rare amount too long for a 64-bit integer is summed in Rust from its own
    /// rows.
    fn liability(&self, at: DateTime<Utc>) -> Result<LiabilityReport, StoreError> {
        self.with_connection(|conn| ops::liability(conn, at))
    }

    fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        self.with_connection(|conn| commit::commit(conn, &self.key, &changes))
    }

    fn due_cards(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<CardId>, StoreError> {
        self.with_connection(|conn| ops::due_cards(conn, now, limit))
    }

    fn prune_idempotency(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.with_connection(|conn| ops::prune_idempotency(conn, before, limit))
    }

    fn prune_guards(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.with_connection(|conn| ops::prune_guards(conn, before, limit))
    }
}
