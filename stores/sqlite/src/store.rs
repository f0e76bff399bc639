//! [`SqliteStore`]: the [`Store`] contract on one SQLite file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use giftcert::{
    CardId, Code, GiftCard, IdempotencyKey, Reference, Store, StoreError,
    card::{LedgerEntry, LiabilityReport, LiabilityTally, Standing},
    redeem::RecordWrite,
    redeem::{Changes, Checkout, GuardWindow, IdempotencyRecord, Record, Versioned},
    store::{CardQuery, Page},
};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior};

use crate::schema::{self, MigrationError, SCHEMA_VERSION};
use giftcert_store_support::{
    CodeKey, CommitSteps, PoolOptions, SearchColumns, amount, checkout, from_json, from_minor,
    hint_shown, missed_write, parse_amount, parse_currency, sql_version, status_tag, timestamp,
    to_json, versioned, write_changes,
};

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
    /// The file's codes were hashed under another [`CodeKey`]: with this one every code would
    /// look unknown, and every lookup would count as a guess against its owner.
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

/// Opens the pool's connections to the store's file.
#[derive(Debug)]
struct Connections {
    path: PathBuf,
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
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // WAL: readers never wait for the writer. FULL: a commit is on disk when it returns.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// SQLite's error, met while `doing` something, as a store error: waiting too long for the
/// writer's lock is a conflict on the whole transaction (read again and retry), anything else a
/// backend failure that keeps SQLite's error as its source.
fn db_error(doing: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
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
fn violates(e: &rusqlite::Error, what: &str) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, Some(message))
            if f.code == ErrorCode::ConstraintViolation && message.ends_with(what)
    )
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

    /// The one row `sql` selects with `key`, as a version and JSON text (`doing` says what it
    /// reads, for errors).
    fn versioned_row<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        key: &str,
        doing: &'static str,
        what: impl fmt::Display,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        let db = db_error(doing);
        self.with_connection(|conn| {
            let row: Option<(i64, String)> = conn
                .prepare_cached(sql)
                .map_err(&db)?
                .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
                .map_err(&db)?;
            row.map(|(version, json)| versioned(version, &json, what))
                .transpose()
        })
    }
}

impl Store for SqliteStore {
    fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.versioned_row(
            "SELECT version, card FROM cards WHERE id = ?1",
            &id.to_string(),
            "reading a card",
            format_args!("card {id}"),
        )
    }

    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.versioned_row(
            "SELECT version, card FROM cards WHERE code_digest = ?1",
            &self.key.digest(code).to_string(),
            "reading a card by its code",
            format_args!("card with code {}", code.masked()),
        )
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
        let db = db_error("reading a ledger");
        self.with_connection(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT entry FROM ledger_entries WHERE card_id = ?1 AND seq >= ?2 \
                     ORDER BY seq LIMIT ?3",
                )
                .map_err(&db)?;
            let rows = statement
                .query_map(
                    rusqlite::params![card.to_string(), from_seq, limit],
                    |row| row.get::<_, String>(0),
                )
                .map_err(&db)?;
            rows.map(|json| from_json(&json.map_err(&db)?, format_args!("an entry of card {card}")))
                .collect()
        })
    }

    fn checkout(&self, id: &Reference) -> Result<Option<Versioned<Checkout>>, StoreError> {
        self.versioned_row(
            "SELECT version, checkout FROM checkouts WHERE id = ?1",
            id.as_str(),
            "reading a checkout",
            format_args!("checkout {id}"),
        )
    }

    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        let db = db_error("reading an idempotency record");
        self.with_connection(|conn| {
            let json: Option<String> = conn
                .prepare_cached("SELECT record FROM idempotency_records WHERE key = ?1")
                .map_err(&db)?
                .query_row([key.as_str()], |row| row.get(0))
                .optional()
                .map_err(&db)?;
            json.map(|json| from_json(&json, format_args!("idempotency record {key}")))
                .transpose()
        })
    }

    fn guard(&self, client: &Reference) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
        self.versioned_row(
            "SELECT version, guard FROM guard_windows WHERE client = ?1",
            client.as_str(),
            "reading a guard window",
            format_args!("guard window of {client}"),
        )
    }

    /// One statement reading the page off an index: the filter's `(column, issued_at, id)`
    /// index (the tag's `card_tags` key for a tag), from the cursor on, `limit + 1` rows. With
    /// several filters SQLite picks one index and checks the others row by row.
    fn search(&self, query: &CardQuery) -> Result<Page<Versioned<GiftCard>>, StoreError> {
        let db = db_error("searching cards");
        let (sql, params) = search_sql(query)?;
        self.with_connection(|conn| {
            let mut statement = conn.prepare_cached(&sql).map_err(&db)?;
            let rows = statement
                .query_map(rusqlite::params_from_iter(params.iter()), |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(&db)?;
            let mut cards = Vec::new();
            for row in rows {
                let (version, json) = row.map_err(&db)?;
                cards.push(versioned(version, &json, "a card found by a search")?);
            }
            Ok(Page::from_overfetch(cards, query.limit()))
        })
    }

    /// Two grouped statements in one read transaction (the flows per currency and entry kind,
    /// the balances per currency and standing): amounts are summed as integers of minor units, exactly; the rare
    /// amount too long for a 64-bit integer is summed in Rust from its own rows.
    fn liability(&self, at: DateTime<Utc>) -> Result<LiabilityReport, StoreError> {
        let db = db_error("computing the liability report");
        let at_text = timestamp(at);
        self.with_connection(|conn| {
            let tx = conn.transaction().map_err(&db)?;
            let mut tally = LiabilityTally::new(at);
            let sum = |e: giftcert::money::MoneyError| {
                StoreError::corrupt(format!("the liability report cannot sum: {e}"))
            };
            let mut wide = false;
            {
                let mut flows = tx.prepare_cached(LIABILITY_FLOWS).map_err(&db)?;
                let mut rows = flows.query([&at_text]).map_err(&db)?;
                while let Some(row) = rows.next().map_err(&db)? {
                    let currency = parse_currency(&row.get::<_, String>(0).map_err(&db)?)?;
                    let kind: String = row.get(1).map_err(&db)?;
                    let minor: Option<i64> = row.get(2).map_err(&db)?;
                    wide |= row.get::<_, i64>(3).map_err(&db)? > 0;
                    let total = from_minor(minor.unwrap_or(0), currency)?;
                    tally.add_kind_total(&kind, total).map_err(sum)?;
                }
                let mut stocks = tx.prepare_cached(LIABILITY_STOCKS).map_err(&db)?;
                let mut rows = stocks.query([&at_text]).map_err(&db)?;
                while let Some(row) = rows.next().map_err(&db)? {
                    let currency = parse_currency(&row.get::<_, String>(0).map_err(&db)?)?;
                    let standing = if row.get::<_, i64>(1).map_err(&db)? != 0 {
                        Standing::Expired
                    } else {
                        Standing::Outstanding
                    };
                    let cards = u64::try_from(row.get::<_, i64>(2).map_err(&db)?).unwrap_or(0);
                    let minor: Option<i64> = row.get(3).map_err(&db)?;
                    wide |= row.get::<_, i64>(4).map_err(&db)? > 0;
                    let value = from_minor(minor.unwrap_or(0), currency)?;
                    tally.add_cards(standing, cards, value).map_err(sum)?;
                }
            }
            if wide {
                let mut flows = tx.prepare_cached(WIDE_FLOWS).map_err(&db)?;
                let mut rows = flows.query([&at_text]).map_err(&db)?;
                while let Some(row) = rows.next().map_err(&db)? {
                    let currency = parse_currency(&row.get::<_, String>(0).map_err(&db)?)?;
                    let kind: String = row.get(1).map_err(&db)?;
                    let amount = parse_amount(&row.get::<_, String>(2).map_err(&db)?, currency)?;
                    tally.add_kind_total(&kind, amount).map_err(sum)?;
                }
                let mut stocks = tx.prepare_cached(WIDE_STOCKS).map_err(&db)?;
                let mut rows = stocks.query([&at_text]).map_err(&db)?;
                while let Some(row) = rows.next().map_err(&db)? {
                    let currency = parse_currency(&row.get::<_, String>(0).map_err(&db)?)?;
                    let standing = if row.get::<_, i64>(1).map_err(&db)? != 0 {
                        Standing::Expired
                    } else {
                        Standing::Outstanding
                    };
                    let value = parse_amount(&row.get::<_, String>(2).map_err(&db)?, currency)?;
                    // Counted already by the grouped statement: only the value is added.
                    tally.add_cards(standing, 0, value).map_err(sum)?;
                }
            }
            tx.finish().map_err(&db)?;
            Ok(tally.finish())
        })
    }

    fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        self.with_connection(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_error("starting a transaction"))?;
            write_changes(
                &mut Steps {
                    tx: &tx,
                    key: &self.key,
                },
                &changes,
            )?;
            // Deferred foreign keys (holds to their ledger entries) are checked here.
            tx.commit().map_err(db_error("committing"))
        })
    }

    fn due_cards(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<CardId>, StoreError> {
        let db = db_error("listing the cards due for a sweep");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_connection(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT id FROM cards WHERE sweep_due_at IS NOT NULL AND sweep_due_at <= ?1 \
                     ORDER BY sweep_due_at LIMIT ?2",
                )
                .map_err(&db)?;
            let rows = statement
                .query_map(rusqlite::params![timestamp(now), limit], |row| {
                    row.get::<_, String>(0)
                })
                .map_err(&db)?;
            rows.map(|id| {
                let id = id.map_err(&db)?;
                id.parse()
                    .map_err(|_| StoreError::corrupt(format!("card id {id:?} is not an id")))
            })
            .collect()
        })
    }

    fn prune_idempotency(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.prune(
            "DELETE FROM idempotency_records WHERE key IN (SELECT key FROM idempotency_records \
             WHERE recorded_at < ?1 ORDER BY recorded_at LIMIT ?2)",
            before,
            limit,
            "pruning idempotency records",
        )
    }

    fn prune_guards(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.prune(
            "DELETE FROM guard_windows WHERE client IN (SELECT client FROM guard_windows \
             WHERE started_at < ?1 ORDER BY started_at LIMIT ?2)",
            before,
            limit,
            "pruning guard windows",
        )
    }
}

impl SqliteStore {
    /// Runs a prune statement with `before` and `limit`; the number of rows it deleted.
    fn prune(
        &self,
        sql: &str,
        before: DateTime<Utc>,
        limit: usize,
        doing: &'static str,
    ) -> Result<usize, StoreError> {
        let db = db_error(doing);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_connection(|conn| {
            conn.prepare_cached(sql)
                .map_err(&db)?
                .execute(rusqlite::params![timestamp(before), limit])
                .map_err(&db)
        })
    }
}

/// An amount column as an integer of minor units when it fits one (18 digits or fewer; the
/// text is exact at the currency's scale, so dropping the point gives the minor units), NULL
/// otherwise: `SUM` over it is exact (SQLite sums integers exactly and fails on overflow,
/// never rounding), where `SUM` over the text would go through floating point.
macro_rules! minor_units {
    ($column:literal) => {
        concat!(
            "CASE WHEN length(",
            $column,
            ") <= 19 THEN CAST(replace(",
            $column,
            ", '.', '') AS INTEGER) END"
        )
    };
}

/// The kinds of entry whose amounts the report sums ([`LiabilityTally::COUNTED_KINDS`]).
macro_rules! counted_kinds {
    () => {
        "('issued', 'replacementOf', 'held', 'captured', 'released', 'refunded', 'replacedBy', \
         'adjusted', 'reloaded')"
    };
}

/// Per currency and kind, the entries' amounts by the instant `?1` (an aggregate over
/// `ledger_entries` joined to the card's currency): the sum of those that fit an integer, and
/// how many do not.
const LIABILITY_FLOWS: &str = concat!(
    "SELECT c.currency, e.kind, sum(",
    minor_units!("e.amount"),
    "), sum(length(e.amount) > 19) \
     FROM ledger_entries e JOIN cards c ON c.id = e.card_id \
     WHERE e.at <= ?1 AND e.kind IN ",
    counted_kinds!(),
    " GROUP BY c.currency, e.kind"
);

/// The entries whose amounts do not fit an integer, summed in Rust.
const WIDE_FLOWS: &str = concat!(
    "SELECT c.currency, e.kind, e.amount \
     FROM ledger_entries e JOIN cards c ON c.id = e.card_id \
     WHERE e.at <= ?1 AND length(e.amount) > 19 AND e.kind IN ",
    counted_kinds!()
);

/// Each card's last entry by the instant `?1`, and whether it had expired then: its last
/// `expired` entry comes after its last `expiryChanged` entry that moved the date past the
/// change ([`expiry_effect`](giftcert::card::expiry_effect); dates compared as Julian days,
/// to the millisecond). One pass over the ledger's primary key `(card_id, seq)`.
macro_rules! last_entries {
    () => {
        "WITH last AS ( \
         SELECT card_id, max(seq) AS seq, \
                coalesce(max(CASE WHEN kind = 'expired' THEN seq END), 0) \
                  > coalesce(max(CASE WHEN kind = 'expiryChanged' \
                      AND (json_extract(entry, '$.kind.to') IS NULL \
                           OR julianday(json_extract(entry, '$.kind.to')) > julianday(at)) \
                      THEN seq END), 0) AS expired \
         FROM ledger_entries WHERE at <= ?1 GROUP BY card_id) "
    };
}

/// Per currency and standing, the cards with a balance above zero and the sum of their
/// balances after their last entry by the instant.
const LIABILITY_STOCKS: &str = concat!(
    last_entries!(),
    "SELECT c.currency, l.expired, sum(e.balance_after GLOB '*[1-9]*'), sum(",
    minor_units!("e.balance_after"),
    "), sum(length(e.balance_after) > 19) \
     FROM last l JOIN ledger_entries e ON e.card_id = l.card_id AND e.seq = l.seq \
     JOIN cards c ON c.id = l.card_id GROUP BY c.currency, l.expired"
);

/// The balances that do not fit an integer, summed in Rust.
const WIDE_STOCKS: &str = concat!(
    last_entries!(),
    "SELECT c.currency, l.expired, e.balance_after \
     FROM last l JOIN ledger_entries e ON e.card_id = l.card_id AND e.seq = l.seq \
     JOIN cards c ON c.id = l.card_id WHERE length(e.balance_after) > 19"
);

/// The statement and parameters of one search page.
fn search_sql(query: &CardQuery) -> Result<(String, Vec<String>), StoreError> {
    let mut params: Vec<String> = Vec::new();
    let mut sql = String::from("SELECT c.version, c.card FROM ");
    // With a tag, the page reads off card_tags' (tag, issued_at, card_id) key.
    let (issued, id) = match query.tag() {
        Some(tag) => {
            params.push(tag.to_owned());
            sql.push_str("card_tags t CROSS JOIN cards c ON c.id = t.card_id WHERE t.tag = ?1");
            ("t.issued_at", "t.card_id")
        }
        None => {
            sql.push_str("cards c WHERE 1");
            ("c.issued_at", "c.id")
        }
    };
    let mut filter = |column: &str, op: &str, value: String| {
        params.push(value);
        sql.push_str(&format!(" AND {column} {op} ?{}", params.len()));
    };
    if let Some(order) = query.order() {
        filter("c.order_ref", "=", order.as_str().to_owned());
    }
    if let Some(purchaser) = query.purchaser() {
        filter("c.purchaser", "=", purchaser.as_str().to_owned());
    }
    if let Some(email) = query.recipient() {
        filter("c.recipient_email", "=", email.to_owned());
    }
    if let Some(status) = query.status() {
        filter("c.status", "=", status_tag(status)?);
    }
    if let Some(currency) = query.currency() {
        filter("c.currency", "=", currency.code().to_owned());
    }
    if let Some(at) = query.expires_before() {
        filter("c.expires_at", "<", timestamp(at));
    }
    if let Some(cursor) = query.cursor() {
        params.push(timestamp(cursor.issued_at()));
        params.push(cursor.card().to_string());
        let (a, b) = (params.len() - 1, params.len());
        sql.push_str(&format!(" AND ({issued}, {id}) > (?{a}, ?{b})"));
    }
    sql.push_str(&format!(
        " ORDER BY {issued}, {id} LIMIT {}",
        query.limit().saturating_add(1)
    ));
    Ok((sql, params))
}

/// A commit's steps on SQLite, inside `tx` (see [`write_changes`]).
struct Steps<'a> {
    tx: &'a Transaction<'a>,
    key: &'a CodeKey,
}

impl CommitSteps for Steps<'_> {
    fn insert_card(&mut self, card: &GiftCard, code: &Code) -> Result<(), StoreError> {
        insert_card(self.tx, self.key, card, code)
    }

    fn update_card(&mut self, card: &GiftCard, expected_version: u64) -> Result<u64, StoreError> {
        update_card(self.tx, card, None, expected_version)
    }

    fn update_card_code(
        &mut self,
        card: &GiftCard,
        code: &Code,
        expected_version: u64,
    ) -> Result<u64, StoreError> {
        update_card(self.tx, card, Some((self.key, code)), expected_version)
    }

    fn write_holds(&mut self, card: &GiftCard) -> Result<(), StoreError> {
        write_holds(self.tx, card)
    }

    fn insert_entry(&mut self, entry: &LedgerEntry) -> Result<(), StoreError> {
        insert_entry(self.tx, entry)
    }

    fn write_checkout(&mut self, write: &RecordWrite<Checkout>) -> Result<(), StoreError> {
        write_checkout(self.tx, write)
    }

    fn insert_record(&mut self, record: &IdempotencyRecord) -> Result<(), StoreError> {
        insert_record(self.tx, record)
    }

    fn write_guard(&mut self, write: &RecordWrite<GuardWindow>) -> Result<(), StoreError> {
        write_guard(self.tx, write)
    }
}

/// Inserts a new card.
fn insert_card(
    tx: &Transaction<'_>,
    key: &CodeKey,
    card: &GiftCard,
    code: &Code,
) -> Result<(), StoreError> {
    let db = db_error("inserting a card");
    let (json, status) = to_json(card, &["status"])?;
    let id = card.id().to_string();
    let search = SearchColumns::of(card);
    let inserted = tx
        .prepare_cached(
            "INSERT INTO cards \
             (id, code_digest, code_last4, currency, status, balance, held, version, card, \
              issued_at, expires_at, order_ref, purchaser, recipient_email, sweep_due_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .map_err(&db)?
        .execute(rusqlite::params![
            id,
            key.digest(code).to_string(),
            hint_shown(card),
            card.currency().code(),
            status,
            amount(card.balance())?,
            amount(card.held())?,
            json,
            search.issued_at,
            search.expires_at,
            search.order_ref,
            search.purchaser,
            search.recipient_email,
            card.sweep_at().map(timestamp),
        ]);
    let exists = || StoreError::conflict(Record::Card(card.id()), "it already exists");
    match inserted {
        Ok(_) => {
            // Tags are fixed at issue: written once, with the card.
            let mut tag = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO card_tags (tag, issued_at, card_id) VALUES (?1, ?2, ?3)",
                )
                .map_err(&db)?;
            for t in card.tags() {
                tag.execute(rusqlite::params![t, search.issued_at, id])
                    .map_err(&db)?;
            }
            Ok(())
        }
        Err(e) if violates(&e, "cards.id") => Err(exists()),
        Err(e) if violates(&e, "cards.code_digest") => {
            // A card inserted twice is a conflict, whichever constraint SQLite checked first.
            let id_taken = tx
                .prepare_cached("SELECT 1 FROM cards WHERE id = ?1")
                .map_err(&db)?
                .exists([&id])
                .map_err(&db)?;
            Err(if id_taken {
                exists()
            } else {
                StoreError::duplicate_code(code)
            })
        }
        Err(e) => Err(db(e)),
    }
}

/// Updates a card read at `expected_version`, under a new code when one is given (with the
/// key its digest is made with); returns the sequence number its next entry must have.
fn update_card(
    tx: &Transaction<'_>,
    card: &GiftCard,
    code: Option<(&CodeKey, &Code)>,
    expected_version: u64,
) -> Result<u64, StoreError> {
    let db = db_error("updating a card");
    let (json, status) = to_json(card, &["status"])?;
    let id = card.id().to_string();
    let search = SearchColumns::of(card);
    let params = rusqlite::params![
        id,
        status,
        amount(card.balance())?,
        amount(card.held())?,
        json,
        sql_version(expected_version),
        hint_shown(card),
        search.expires_at,
        search.order_ref,
        search.purchaser,
        search.recipient_email,
        card.sweep_at().map(timestamp),
        code.map(|(key, code)| key.digest(code).to_string()),
    ];
    let updated = match code {
        None => tx
            .prepare_cached(
                "UPDATE cards SET status = ?2, balance = ?3, held = ?4, card = ?5, \
                 version = version + 1, code_last4 = ?7, expires_at = ?8, order_ref = ?9, \
                 purchaser = ?10, recipient_email = ?11, sweep_due_at = ?12 \
                 WHERE id = ?1 AND version = ?6",
            )
            .map_err(&db)?
            .execute(&params[..12])
            .map_err(&db),
        Some((_, new)) => tx
            .prepare_cached(
                "UPDATE cards SET status = ?2, balance = ?3, held = ?4, card = ?5, \
                 version = version + 1, code_last4 = ?7, expires_at = ?8, order_ref = ?9, \
                 purchaser = ?10, recipient_email = ?11, sweep_due_at = ?12, \
                 code_digest = ?13 WHERE id = ?1 AND version = ?6",
            )
            .map_err(&db)?
            .execute(params)
            .map_err(|e| {
                if violates(&e, "cards.code_digest") {
                    StoreError::duplicate_code(new)
                } else {
                    db(e)
                }
            }),
    }?;
    if updated == 0 {
        return Err(missed_write(
            Record::Card(card.id()),
            Some(expected_version),
        ));
    }
    let last: i64 = tx
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM ledger_entries WHERE card_id = ?1")
        .map_err(&db)?
        .query_row([&id], |row| row.get(0))
        .map_err(&db)?;
    u64::try_from(last)
        .ok()
        .and_then(|last| last.checked_add(1))
        .ok_or_else(|| StoreError::corrupt(format!("card {} has entry {last}", card.id())))
}

/// Mirrors the card's open holds into the `holds` table.
fn write_holds(tx: &Transaction<'_>, card: &GiftCard) -> Result<(), StoreError> {
    let db = db_error("writing a card's holds");
    let id = card.id().to_string();
    tx.prepare_cached("DELETE FROM holds WHERE card_id = ?1")
        .map_err(&db)?
        .execute([&id])
        .map_err(&db)?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO holds (card_id, hold_id, amount, reference, placed_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(&db)?;
    for hold in card.holds() {
        let hold_id = i64::try_from(hold.id())
            .map_err(|_| StoreError::corrupt(format!("hold {} is out of range", hold.id())))?;
        insert
            .execute(rusqlite::params![
                id,
                hold_id,
                amount(hold.amount())?,
                hold.reference().as_str(),
                timestamp(hold.placed_at()),
                hold.expires_at().map(timestamp),
            ])
            .map_err(&db)?;
    }
    Ok(())
}

fn insert_entry(tx: &Transaction<'_>, entry: &LedgerEntry) -> Result<(), StoreError> {
    let db = db_error("inserting a ledger entry");
    let record = || Record::Entry {
        card: entry.card(),
        seq: entry.seq(),
    };
    let (json, kind) = to_json(entry, &["kind", "type"])?;
    let seq = i64::try_from(entry.seq())
        .map_err(|_| StoreError::conflict(record(), "its number is out of range"))?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO ledger_entries \
             (card_id, seq, at, kind, amount, balance_after, reference, entry) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(&db)?
        .execute(rusqlite::params![
            entry.card().to_string(),
            seq,
            timestamp(entry.at()),
            kind,
            amount(entry.amount())?,
            amount(entry.balance_after())?,
            entry.reference().map(Reference::as_str),
            json,
        ]);
    match inserted {
        Ok(_) => Ok(()),
        Err(e)
            if violates(&e, "ledger_entries.card_id, ledger_entries.seq")
                || violates(&e, "must follow the last entry of its card") =>
        {
            Err(StoreError::conflict(
                record(),
                "it does not follow the stored ledger",
            ))
        }
        Err(e) => Err(db(e)),
    }
}

fn write_checkout(tx: &Transaction<'_>, write: &RecordWrite<Checkout>) -> Result<(), StoreError> {
    let db = db_error("writing a checkout");
    let checkout = &write.value;
    let (json, state) = to_json(checkout, &["state", "state"])?;
    let currency = checkout.currency();
    let params = rusqlite::params![
        checkout.id().as_str(),
        currency.code(),
        state,
        json,
        write.expected_version.map(sql_version),
    ];
    let written = match write.expected_version {
        None => tx
            .prepare_cached(
                "INSERT INTO checkouts (id, currency, state, checkout, version) \
                 VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT (id) DO NOTHING",
            )
            .map_err(&db)?
            .execute(&params[..4]),
        Some(_) => tx
            .prepare_cached(
                "UPDATE checkouts SET currency = ?2, state = ?3, checkout = ?4, \
                 version = version + 1 WHERE id = ?1 AND version = ?5",
            )
            .map_err(&db)?
            .execute(params),
    }
    .map_err(&db)?;
    if written == 0 {
        return Err(missed_write(
            Record::Checkout(checkout.id().clone()),
            write.expected_version,
        ));
    }
    Ok(())
}

fn insert_record(tx: &Transaction<'_>, record: &IdempotencyRecord) -> Result<(), StoreError> {
    let db = db_error("inserting an idempotency record");
    let (json, _) = to_json(record, &[])?;
    let written = tx
        .prepare_cached(
            "INSERT INTO idempotency_records (key, request, recorded_at, record) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key) DO NOTHING",
        )
        .map_err(&db)?
        .execute(rusqlite::params![
            record.key.as_str(),
            record.request.to_string(),
            timestamp(record.recorded_at),
            json,
        ])
        .map_err(&db)?;
    if written == 0 {
        return Err(StoreError::conflict(
            Record::Idempotency(record.key.clone()),
            "it is recorded",
        ));
    }
    Ok(())
}

fn write_guard(tx: &Transaction<'_>, write: &RecordWrite<GuardWindow>) -> Result<(), StoreError> {
    let db = db_error("writing a guard window");
    let window = &write.value;
    let (json, _) = to_json(window, &[])?;
    let count = i64::try_from(window.count()).unwrap_or(i64::MAX);
    let params = rusqlite::params![
        window.client().as_str(),
        count,
        json,
        timestamp(window.started_at()),
        write.expected_version.map(sql_version),
    ];
    let written = match write.expected_version {
        None => tx
            .prepare_cached(
                "INSERT INTO guard_windows (client, unknown_codes, guard, started_at, version) \
                 VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT (client) DO NOTHING",
            )
            .map_err(&db)?
            .execute(&params[..4]),
        Some(_) => tx
            .prepare_cached(
                "UPDATE guard_windows SET unknown_codes = ?2, guard = ?3, started_at = ?4, \
                 version = version + 1 WHERE client = ?1 AND version = ?5",
            )
            .map_err(&db)?
            .execute(params),
    }
    .map_err(&db)?;
    if written == 0 {
        return Err(missed_write(
            Record::Guard(window.client().clone()),
            write.expected_version,
        ));
    }
    Ok(())
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
