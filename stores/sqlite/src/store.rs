//! [`SqliteStore`]: the [`Store`] contract on one SQLite file.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use giftcert::{
    CardId, CardWrite, Changes, Checkout, Code, CodeKey, GiftCard, GuardWindow, IdempotencyKey,
    IdempotencyRecord, LedgerEntry, Reference, Store, StoreError, Versioned, Write,
};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior};

use crate::schema::{self, MigrationError, SCHEMA_VERSION};
use giftcert_store_support::{
    amount, from_json, last4, sql_version, timestamp, to_json, versioned,
};

/// How long a connection waits for another one's write transaction before giving up with a
/// conflict (which the service retries).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How many idle connections a store keeps open for its threads.
const MAX_IDLE: usize = 16;

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
}

/// A [`Store`] in one SQLite file, for hosts that run in one process on one machine.
///
/// Every record is a row; every [`Store::commit`] is one `BEGIN IMMEDIATE` transaction that
/// checks each version with `UPDATE ... WHERE version = ?` and turns a missed row or a unique
/// violation into [`StoreError::Conflict`]. Codes are kept as [`CodeKey`] digests and their
/// last four characters, never whole.
///
/// A store is `Send + Sync`: it keeps a few connections to its file and hands one to each
/// thread that asks, opening more as needed. Several stores (in one process or several) may
/// share a file; SQLite's locking and the version checks keep them consistent. The file runs
/// in WAL mode with `synchronous = FULL`, so a commit that returned is on disk, and a process
/// killed at any point leaves the file as of its last commit.
///
/// ```
/// use giftcert::{CodeKey, Store};
/// use giftcert_sqlite::SqliteStore;
///
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("cards.db"), CodeKey::new(&[7; 32])?)?;
/// assert!(store.card(giftcert::CardId::from_u128(1))?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SqliteStore {
    path: PathBuf,
    key: CodeKey,
    idle: Mutex<Vec<Connection>>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("idle_connections", &lock(&self.idle).len())
            .finish_non_exhaustive()
    }
}

fn lock(idle: &Mutex<Vec<Connection>>) -> MutexGuard<'_, Vec<Connection>> {
    // The list only ever holds whole connections: a panic elsewhere cannot corrupt it.
    idle.lock().unwrap_or_else(PoisonError::into_inner)
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

/// SQLite's error as a store error: waiting too long for the writer's lock is a conflict
/// (read again and retry), anything else a backend failure.
fn db_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Conflict(format!("the database is busy: {e}"))
        }
        _ => StoreError::Backend(e.to_string()),
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
    /// was written with.
    ///
    /// # Errors
    ///
    /// [`OpenError::NotAFile`] for `:memory:` or an empty path, [`OpenError::Database`] when
    /// SQLite cannot open or migrate the file, [`OpenError::NewerSchema`] for a file written
    /// by a newer version of this crate.
    pub fn open(path: impl AsRef<Path>, key: CodeKey) -> Result<SqliteStore, OpenError> {
        let path = path.as_ref().to_path_buf();
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
            return Err(OpenError::NotAFile { path });
        }
        let database = |source| OpenError::Database {
            path: path.clone(),
            source,
        };
        let mut conn = connect(&path).map_err(database)?;
        schema::migrate(&mut conn).map_err(|e| match e {
            MigrationError::Database(source) => database(source),
            MigrationError::Newer(found) => OpenError::NewerSchema {
                path: path.clone(),
                found,
                known: SCHEMA_VERSION,
            },
        })?;
        Ok(SqliteStore {
            path,
            key,
            idle: Mutex::new(vec![conn]),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on an idle connection (or a new one), then keeps the connection for the next
    /// caller.
    fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = lock(&self.idle).pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => connect(&self.path).map_err(db_error)?,
        };
        let result = f(&mut conn);
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result
    }

    /// The one row `sql` selects with `key`, as a version and JSON text.
    fn versioned_row<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        key: &str,
        what: impl fmt::Display,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        self.with_connection(|conn| {
            let row: Option<(i64, String)> = conn
                .prepare_cached(sql)
                .map_err(db_error)?
                .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
                .map_err(db_error)?;
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
            format_args!("card {id}"),
        )
    }

    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.versioned_row(
            "SELECT version, card FROM cards WHERE code_digest = ?1",
            &self.key.digest(code).to_string(),
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
        self.with_connection(|conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT entry FROM ledger_entries WHERE card_id = ?1 AND seq >= ?2 \
                     ORDER BY seq LIMIT ?3",
                )
                .map_err(db_error)?;
            let rows = statement
                .query_map(
                    rusqlite::params![card.to_string(), from_seq, limit],
                    |row| row.get::<_, String>(0),
                )
                .map_err(db_error)?;
            rows.map(|json| from_json(&json.map_err(db_error)?, format_args!("card {card}")))
                .collect()
        })
    }

    fn checkout(&self, id: &Reference) -> Result<Option<Versioned<Checkout>>, StoreError> {
        self.versioned_row(
            "SELECT version, checkout FROM checkouts WHERE id = ?1",
            id.as_str(),
            format_args!("checkout {id}"),
        )
    }

    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.with_connection(|conn| {
            let json: Option<String> = conn
                .prepare_cached("SELECT record FROM idempotency_records WHERE key = ?1")
                .map_err(db_error)?
                .query_row([key.as_str()], |row| row.get(0))
                .optional()
                .map_err(db_error)?;
            json.map(|json| from_json(&json, format_args!("idempotency record {key}")))
                .transpose()
        })
    }

    fn guard(&self, client: &Reference) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
        self.versioned_row(
            "SELECT version, guard FROM guard_windows WHERE client = ?1",
            client.as_str(),
            format_args!("guard window of {client}"),
        )
    }

    fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        self.with_connection(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_error)?;
            write(&tx, &self.key, &changes)?;
            // Deferred foreign keys (holds to their ledger entries) are checked here.
            tx.commit().map_err(db_error)
        })
    }
}

/// Writes every change inside `tx`, or returns the first refusal (the caller rolls back by
/// dropping `tx`).
fn write(tx: &Transaction<'_>, key: &CodeKey, changes: &Changes) -> Result<(), StoreError> {
    // The sequence number each written card's next entry must have.
    let mut next_seq: HashMap<CardId, u64> = HashMap::new();
    for card_write in &changes.cards {
        let (card, next) = match card_write {
            CardWrite::Insert { card, code } => (card, insert_card(tx, key, card, code)?),
            CardWrite::Update {
                card,
                expected_version,
            } => (card, update_card(tx, card, *expected_version)?),
            other => {
                return Err(StoreError::Backend(format!(
                    "giftcert-sqlite cannot write {other:?}"
                )));
            }
        };
        write_holds(tx, card)?;
        next_seq.insert(card.id(), next);
    }
    for entry in &changes.entries {
        let next = next_seq.get_mut(&entry.card()).ok_or_else(|| {
            StoreError::Conflict(format!(
                "entry {} is for card {}, which this commit does not write",
                entry.seq(),
                entry.card()
            ))
        })?;
        if entry.seq() != *next {
            return Err(StoreError::Conflict(format!(
                "entry {} of card {} does not follow entry {}",
                entry.seq(),
                entry.card(),
                *next - 1
            )));
        }
        insert_entry(tx, entry)?;
        *next += 1;
    }
    if let Some(checkout) = &changes.checkout {
        write_checkout(tx, checkout)?;
    }
    if let Some(record) = &changes.idempotency {
        insert_record(tx, record)?;
    }
    if let Some(guard) = &changes.guard {
        write_guard(tx, guard)?;
    }
    Ok(())
}

/// Inserts a new card; returns the sequence number of its first entry.
fn insert_card(
    tx: &Transaction<'_>,
    key: &CodeKey,
    card: &GiftCard,
    code: &Code,
) -> Result<u64, StoreError> {
    let (json, status) = to_json(card, &["status"])?;
    let id = card.id().to_string();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO cards \
             (id, code_digest, code_last4, currency, status, balance, held, version, card) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8)",
        )
        .map_err(db_error)?
        .execute(rusqlite::params![
            id,
            key.digest(code).to_string(),
            last4(code),
            card.currency().code(),
            status,
            amount(card.balance())?,
            amount(card.held())?,
            json,
        ]);
    match inserted {
        Ok(_) => Ok(1),
        Err(e) if violates(&e, "cards.id") => Err(StoreError::Conflict(format!(
            "card {} already exists",
            card.id()
        ))),
        Err(e) if violates(&e, "cards.code_digest") => {
            // A card inserted twice is a conflict, whichever constraint SQLite checked first.
            let exists = tx
                .prepare_cached("SELECT 1 FROM cards WHERE id = ?1")
                .map_err(db_error)?
                .exists([&id])
                .map_err(db_error)?;
            Err(if exists {
                StoreError::Conflict(format!("card {} already exists", card.id()))
            } else {
                StoreError::DuplicateCode(code.masked())
            })
        }
        Err(e) => Err(db_error(e)),
    }
}

/// Updates a card read at `expected_version`; returns the sequence number its next entry must
/// have.
fn update_card(
    tx: &Transaction<'_>,
    card: &GiftCard,
    expected_version: u64,
) -> Result<u64, StoreError> {
    let (json, status) = to_json(card, &["status"])?;
    let id = card.id().to_string();
    let updated = tx
        .prepare_cached(
            "UPDATE cards SET status = ?2, balance = ?3, held = ?4, card = ?5, \
             version = version + 1 WHERE id = ?1 AND version = ?6",
        )
        .map_err(db_error)?
        .execute(rusqlite::params![
            id,
            status,
            amount(card.balance())?,
            amount(card.held())?,
            json,
            sql_version(expected_version),
        ])
        .map_err(db_error)?;
    if updated == 0 {
        return Err(StoreError::Conflict(format!(
            "card {} is not at version {expected_version}",
            card.id()
        )));
    }
    let last: i64 = tx
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM ledger_entries WHERE card_id = ?1")
        .map_err(db_error)?
        .query_row([&id], |row| row.get(0))
        .map_err(db_error)?;
    u64::try_from(last)
        .ok()
        .and_then(|last| last.checked_add(1))
        .ok_or_else(|| StoreError::Corrupt(format!("card {} has entry {last}", card.id())))
}

/// Mirrors the card's open holds into the `holds` table.
fn write_holds(tx: &Transaction<'_>, card: &GiftCard) -> Result<(), StoreError> {
    let id = card.id().to_string();
    tx.prepare_cached("DELETE FROM holds WHERE card_id = ?1")
        .map_err(db_error)?
        .execute([&id])
        .map_err(db_error)?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO holds (card_id, hold_id, amount, reference, placed_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(db_error)?;
    for hold in card.holds() {
        let hold_id = i64::try_from(hold.id())
            .map_err(|_| StoreError::Corrupt(format!("hold {} is out of range", hold.id())))?;
        insert
            .execute(rusqlite::params![
                id,
                hold_id,
                amount(hold.amount())?,
                hold.reference().as_str(),
                timestamp(hold.placed_at()),
                hold.expires_at().map(timestamp),
            ])
            .map_err(db_error)?;
    }
    Ok(())
}

fn insert_entry(tx: &Transaction<'_>, entry: &LedgerEntry) -> Result<(), StoreError> {
    let (json, kind) = to_json(entry, &["kind", "type"])?;
    let seq = i64::try_from(entry.seq())
        .map_err(|_| StoreError::Conflict(format!("entry {} is out of range", entry.seq())))?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO ledger_entries \
             (card_id, seq, at, kind, amount, balance_after, reference, entry) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(db_error)?
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
            Err(StoreError::Conflict(format!(
                "entry {} of card {} does not follow the stored ledger",
                entry.seq(),
                entry.card()
            )))
        }
        Err(e) => Err(db_error(e)),
    }
}

fn write_checkout(tx: &Transaction<'_>, write: &Write<Checkout>) -> Result<(), StoreError> {
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
            .map_err(db_error)?
            .execute(&params[..4]),
        Some(_) => tx
            .prepare_cached(
                "UPDATE checkouts SET currency = ?2, state = ?3, checkout = ?4, \
                 version = version + 1 WHERE id = ?1 AND version = ?5",
            )
            .map_err(db_error)?
            .execute(params),
    }
    .map_err(db_error)?;
    if written == 0 {
        return Err(StoreError::Conflict(match write.expected_version {
            None => format!("checkout {} already exists", checkout.id()),
            Some(v) => format!("checkout {} is not at version {v}", checkout.id()),
        }));
    }
    Ok(())
}

fn insert_record(tx: &Transaction<'_>, record: &IdempotencyRecord) -> Result<(), StoreError> {
    let (json, _) = to_json(record, &[])?;
    let written = tx
        .prepare_cached(
            "INSERT INTO idempotency_records (key, request, recorded_at, record) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key) DO NOTHING",
        )
        .map_err(db_error)?
        .execute(rusqlite::params![
            record.key.as_str(),
            record.request.to_string(),
            timestamp(record.recorded_at),
            json,
        ])
        .map_err(db_error)?;
    if written == 0 {
        return Err(StoreError::Conflict(format!(
            "idempotency key {} is recorded",
            record.key
        )));
    }
    Ok(())
}

fn write_guard(tx: &Transaction<'_>, write: &Write<GuardWindow>) -> Result<(), StoreError> {
    let window = &write.value;
    let (json, _) = to_json(window, &[])?;
    let count = i64::try_from(window.count()).unwrap_or(i64::MAX);
    let params = rusqlite::params![
        window.client().as_str(),
        count,
        json,
        write.expected_version.map(sql_version),
    ];
    let written = match write.expected_version {
        None => tx
            .prepare_cached(
                "INSERT INTO guard_windows (client, unknown_codes, guard, version) \
                 VALUES (?1, ?2, ?3, 1) ON CONFLICT (client) DO NOTHING",
            )
            .map_err(db_error)?
            .execute(&params[..3]),
        Some(_) => tx
            .prepare_cached(
                "UPDATE guard_windows SET unknown_codes = ?2, guard = ?3, \
                 version = version + 1 WHERE client = ?1 AND version = ?4",
            )
            .map_err(db_error)?
            .execute(params),
    }
    .map_err(db_error)?;
    if written == 0 {
        return Err(StoreError::Conflict(match write.expected_version {
            None => format!("the guard window of {} already exists", window.client()),
            Some(v) => format!(
                "the guard window of {} is not at version {v}",
                window.client()
            ),
        }));
    }
    Ok(())
}
