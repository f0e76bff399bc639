//! [`PostgresStore`]: the [`Store`] contract on a PostgreSQL server.

use std::fmt;
use std::str::FromStr;

use giftcert::{
    CardId, Code, GiftCard, IdempotencyKey, Reference, Store, StoreError,
    card::LedgerEntry,
    redeem::RecordWrite,
    redeem::{Changes, Checkout, GuardWindow, IdempotencyRecord, Record, Versioned},
};
use postgres::error::SqlState;
use postgres::tls::{MakeTlsConnect, TlsConnect};
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Socket, Statement, Transaction};
use r2d2::ManageConnection;
use r2d2_postgres::PostgresConnectionManager;

use crate::schema::{self, MigrationError, SCHEMA_VERSION};
use giftcert_store_support::{
    CodeKey, CommitSteps, PoolOptions, amount, checkout, from_json, last4, missed_write,
    sql_version, timestamp, to_json, versioned, write_changes,
};

/// The longest schema name PostgreSQL keeps whole.
const MAX_SCHEMA_LEN: usize = 63;

/// Why a store could not connect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The connection string could not be read.
    #[error("invalid PostgreSQL connection string: {0}")]
    Url(#[source] postgres::Error),
    /// The schema name is not a plain lowercase identifier.
    #[error(
        "invalid schema name \"{0}\": expected 1 to 63 lowercase letters, digits and \
         underscores, not starting with a digit"
    )]
    Schema(String),
    /// The server refused the connection or the migration.
    #[error("cannot connect to PostgreSQL: {}", describe(.0))]
    Database(#[source] postgres::Error),
    /// The schema was written by a newer version of this crate.
    #[error(
        "the database has schema version {found}, newer than version {known} that this \
         giftcert-postgres knows"
    )]
    NewerSchema {
        /// Its schema version.
        found: i32,
        /// The newest this crate knows.
        known: i32,
    },
}

/// Opens plain clients, with the TLS connector chosen at connect time (`r2d2_postgres`'s
/// manager, its type parameter hidden so that a store is one type whatever its TLS).
type Clients = Box<dyn ManageConnection<Connection = Client, Error = postgres::Error>>;

/// Opens the pool's connections: a client in the store's schema with its statements prepared.
struct Connections {
    clients: Clients,
    schema: Option<String>,
}

impl Connections {
    /// A client whose `search_path` is the store's schema.
    fn client(&self) -> Result<Client, postgres::Error> {
        let mut client = self.clients.connect()?;
        if let Some(schema) = &self.schema {
            // `schema` is checked to be a plain lowercase identifier: it needs no quoting.
            client.batch_execute(&format!("SET search_path TO {schema}"))?;
        }
        Ok(client)
    }
}

impl ManageConnection for Connections {
    type Connection = Connection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Connection, postgres::Error> {
        let mut client = self.client()?;
        let sql = Statements::prepare(&mut client)?;
        Ok(Connection { client, sql })
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<(), postgres::Error> {
        self.clients.is_valid(&mut conn.client)
    }

    /// A client whose socket closed (the server went away) is dropped, not handed out again.
    fn has_broken(&self, conn: &mut Connection) -> bool {
        self.clients.has_broken(&mut conn.client)
    }
}

/// A [`Store`] on a PostgreSQL server, for hosts that run several processes or already
/// operate (and replicate) PostgreSQL.
///
/// Every record is a row; every [`Store::commit`] is one transaction that checks each version
/// with `UPDATE ... WHERE version = $n` and turns a missed row or a unique violation into
/// [`StoreError::Conflict`]. Under PostgreSQL's default `READ COMMITTED`, an `UPDATE` that
/// finds its row locked waits for the other transaction and then checks the version again
/// against the committed row, so two writers can never both win. Codes are kept as
/// [`CodeKey`] digests and their last four characters, never whole.
///
/// A store is `Send + Sync`: it keeps a pool of connections (`r2d2`, sized by
/// [`PoolOptions`]: by default at most 16, and a request that waits 5 s for a free one fails
/// with [`StoreError::Unavailable`]) and hands one to each thread that asks. Any number of
/// stores, in any number of processes, may share a database (with the same key).
///
/// ```no_run
/// use giftcert::Redeemer;
/// use giftcert_postgres::{CodeKey, PostgresStore};
///
/// let key = CodeKey::from_hex(&std::env::var("GIFTCERT_CODE_KEY")?)?;
/// let store = PostgresStore::connect_in_schema(
///     "postgresql://giftcert@db.internal/shop",
///     "giftcert",
///     key,
/// )?;
/// let redeemer = Redeemer::new(store);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PostgresStore {
    schema: Option<String>,
    key: CodeKey,
    options: PoolOptions,
    pool: r2d2::Pool<Connections>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.pool.state();
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("connections", &state.connections)
            .field("idle_connections", &state.idle_connections)
            .finish_non_exhaustive()
    }
}

/// The server's message and SQLSTATE, or the client's error.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// A server error, met while `doing` something, as a store error: transactions the server
/// aborted to keep them apart (serialisation failure `40001`, deadlock `40P01`, a lock not
/// available `55P03`) are conflicts on the whole transaction (read again and retry), anything
/// else a backend failure that keeps the driver's error as its source.
fn db_error(doing: &'static str) -> impl Fn(postgres::Error) -> StoreError {
    move |e| match e.code() {
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::LOCK_NOT_AVAILABLE =>
        {
            StoreError::conflict(
                Record::Transaction,
                format!("the server refused it while {doing}: {}", describe(&e)),
            )
        }
        _ => StoreError::backend(doing, e),
    }
}

/// Whether `e` is a unique violation of `constraint`, or a violation raised with `message`.
fn violates(e: &postgres::Error, constraint: &str) -> bool {
    e.as_db_error().is_some_and(|db| {
        db.constraint() == Some(constraint)
            || (*db.code() == SqlState::CHECK_VIOLATION && db.message() == constraint)
    })
}

fn check_schema(schema: &str) -> Result<(), ConnectError> {
    let mut bytes = schema.bytes();
    let plain = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && schema.len() <= MAX_SCHEMA_LEN;
    if plain {
        Ok(())
    } else {
        Err(ConnectError::Schema(schema.chars().take(80).collect()))
    }
}

/// A connection and its prepared statements.
struct Connection {
    client: Client,
    sql: Statements,
}

impl PostgresStore {
    /// Connects without TLS to the database at `url` (`postgresql://user:password@host/db`
    /// or `host=... user=...`), keeping its tables in the connection's default schema, and
    /// brings the schema to [`SCHEMA_VERSION`], with `key` to hash codes.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Url`], [`ConnectError::Database`], [`ConnectError::NewerSchema`].
    pub fn connect(url: &str, key: CodeKey) -> Result<PostgresStore, ConnectError> {
        PostgresStore::connect_with_tls(url, None, key, NoTls)
    }

    /// Like [`PostgresStore::connect`], with the tables in `schema` (created if missing) and
    /// every connection's `search_path` set to it: several hosts, or tests, can share a
    /// database without sharing tables.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Schema`] unless `schema` is 1 to 63 lowercase ASCII letters, digits and
    /// underscores, not starting with a digit; and those of [`PostgresStore::connect`].
    ///
    /// ```
    /// use giftcert_postgres::{CodeKey, PostgresStore};
    ///
    /// let key = CodeKey::new(&[7; 32])?;
    /// let refused = PostgresStore::connect_in_schema("host=localhost", "Gift Cards", key);
    /// assert!(refused.unwrap_err().to_string().starts_with("invalid schema name \"Gift Cards\""));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_in_schema(
        url: &str,
        schema: &str,
        key: CodeKey,
    ) -> Result<PostgresStore, ConnectError> {
        PostgresStore::connect_with_tls(url, Some(schema), key, NoTls)
    }

    /// Connects with a TLS connector (`postgres-native-tls` or `postgres-openssl`), in
    /// `schema` when given.
    ///
    /// # Errors
    ///
    /// Those of [`PostgresStore::connect_in_schema`].
    pub fn connect_with_tls<T>(
        url: &str,
        schema: Option<&str>,
        key: CodeKey,
        tls: T,
    ) -> Result<PostgresStore, ConnectError>
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::TlsConnect: Send,
        T::Stream: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        PostgresStore::connect_with(url, schema, key, tls, PoolOptions::default())
    }

    /// Like [`PostgresStore::connect_with_tls`] (give [`NoTls`](crate::NoTls) for none), with
    /// the connection pool sized by `options`.
    ///
    /// # Errors
    ///
    /// Those of [`PostgresStore::connect_in_schema`].
    ///
    /// ```no_run
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    ///
    /// use giftcert_postgres::{CodeKey, NoTls, PoolOptions, PostgresStore};
    ///
    /// let options = PoolOptions::new()
    ///     .with_max_size(NonZeroU32::new(32).ok_or("zero")?)
    ///     .with_checkout_timeout(Duration::from_secs(2));
    /// let store = PostgresStore::connect_with(
    ///     "postgresql://giftcert@db.internal/shop",
    ///     Some("giftcert"),
    ///     CodeKey::from_hex(&std::env::var("GIFTCERT_CODE_KEY")?)?,
    ///     NoTls,
    ///     options,
    /// )?;
    /// assert_eq!(store.pool_options(), options);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_with<T>(
        url: &str,
        schema: Option<&str>,
        key: CodeKey,
        tls: T,
        options: PoolOptions,
    ) -> Result<PostgresStore, ConnectError>
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::TlsConnect: Send,
        T::Stream: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        if let Some(schema) = schema {
            check_schema(schema)?;
        }
        let config = Config::from_str(url).map_err(ConnectError::Url)?;
        let connections = Connections {
            clients: Box::new(PostgresConnectionManager::new(config, tls)),
            schema: schema.map(str::to_owned),
        };
        // One client of its own checks the server and migrates before the pool opens any.
        let mut client = connections.client().map_err(ConnectError::Database)?;
        schema::migrate(&mut client, schema).map_err(|e| match e {
            MigrationError::Database(e) => ConnectError::Database(e),
            MigrationError::Newer(found) => ConnectError::NewerSchema {
                found,
                known: SCHEMA_VERSION,
            },
        })?;
        drop(client);
        Ok(PostgresStore {
            schema: connections.schema.clone(),
            key,
            options,
            pool: options.build(connections),
        })
    }

    /// The schema its tables are in, when one was given.
    #[must_use]
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// How its connection pool is sized.
    #[must_use]
    pub fn pool_options(&self) -> PoolOptions {
        self.options
    }

    /// Runs `f` on a connection from the pool, which takes it back afterwards (unless it
    /// broke).
    fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut Client, &Statements) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = checkout(&self.pool)?;
        let Connection { client, sql } = &mut *conn;
        f(client, sql)
    }

    /// The one row `statement` selects with `key`, as a version and JSON text.
    fn versioned_row<T: serde::de::DeserializeOwned>(
        &self,
        statement: fn(&Statements) -> &Statement,
        key: &str,
        doing: &'static str,
        what: impl fmt::Display,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        let db = db_error(doing);
        self.with_connection(|client, sql| {
            let row = client.query_opt(statement(sql), &[&key]).map_err(&db)?;
            row.map(|row| {
                let version: i64 = row.try_get(0).map_err(&db)?;
                let json: String = row.try_get(1).map_err(&db)?;
                versioned(version, &json, what)
            })
            .transpose()
        })
    }
}

impl Store for PostgresStore {
    fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.versioned_row(
            |s| &s.card,
            &id.to_string(),
            "reading a card",
            format_args!("card {id}"),
        )
    }

    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.versioned_row(
            |s| &s.card_by_digest,
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
        self.with_connection(|client, sql| {
            client
                .query(&sql.ledger, &[&card.to_string(), &from_seq, &limit])
                .map_err(&db)?
                .iter()
                .map(|row| {
                    let json: String = row.try_get(0).map_err(&db)?;
                    from_json(&json, format_args!("an entry of card {card}"))
                })
                .collect()
        })
    }

    fn checkout(&self, id: &Reference) -> Result<Option<Versioned<Checkout>>, StoreError> {
        self.versioned_row(
            |s| &s.checkout,
            id.as_str(),
            "reading a checkout",
            format_args!("checkout {id}"),
        )
    }

    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        let db = db_error("reading an idempotency record");
        self.with_connection(|client, sql| {
            let row = client
                .query_opt(&sql.idempotency, &[&key.as_str()])
                .map_err(&db)?;
            row.map(|row| {
                let json: String = row.try_get(0).map_err(&db)?;
                from_json(&json, format_args!("idempotency record {key}"))
            })
            .transpose()
        })
    }

    fn guard(&self, client: &Reference) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
        self.versioned_row(
            |s| &s.guard,
            client.as_str(),
            "reading a guard window",
            format_args!("guard window of {client}"),
        )
    }

    fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        self.with_connection(|client, sql| {
            let mut tx = client
                .transaction()
                .map_err(db_error("starting a transaction"))?;
            write_changes(
                &mut Steps {
                    tx: &mut tx,
                    sql,
                    key: &self.key,
                },
                &changes,
            )?;
            // Deferred foreign keys (holds to their ledger entries) are checked here.
            tx.commit().map_err(db_error("committing"))
        })
    }
}

/// A commit's steps on PostgreSQL, inside `tx` (see [`write_changes`]).
struct Steps<'a, 't> {
    tx: &'a mut Transaction<'t>,
    sql: &'a Statements,
    key: &'a CodeKey,
}

impl CommitSteps for Steps<'_, '_> {
    fn insert_card(&mut self, card: &GiftCard, code: &Code) -> Result<(), StoreError> {
        insert_card(self.tx, self.sql, self.key, card, code)
    }

    fn update_card(&mut self, card: &GiftCard, expected_version: u64) -> Result<u64, StoreError> {
        update_card(self.tx, self.sql, card, expected_version)
    }

    fn write_holds(&mut self, card: &GiftCard) -> Result<(), StoreError> {
        write_holds(self.tx, self.sql, card)
    }

    fn insert_entry(&mut self, entry: &LedgerEntry) -> Result<(), StoreError> {
        insert_entry(self.tx, self.sql, entry)
    }

    fn write_checkout(&mut self, write: &RecordWrite<Checkout>) -> Result<(), StoreError> {
        write_checkout(self.tx, self.sql, write)
    }

    fn insert_record(&mut self, record: &IdempotencyRecord) -> Result<(), StoreError> {
        insert_record(self.tx, self.sql, record)
    }

    fn write_guard(&mut self, write: &RecordWrite<GuardWindow>) -> Result<(), StoreError> {
        write_guard(self.tx, self.sql, write)
    }
}

/// Inserts a new card.
fn insert_card(
    tx: &mut Transaction<'_>,
    sql: &Statements,
    key: &CodeKey,
    card: &GiftCard,
    code: &Code,
) -> Result<(), StoreError> {
    let db = db_error("inserting a card");
    let (json, status) = to_json(card, &["status"])?;
    let id = card.id().to_string();
    let currency = card.currency();
    let inserted = tx
        .execute(
            &sql.insert_card,
            &[
                &id,
                &key.digest(code).to_string(),
                &last4(code),
                &currency.code(),
                &status,
                &amount(card.balance())?,
                &amount(card.held())?,
                &json,
            ],
        )
        .map_err(&db)?;
    if inserted == 0 {
        // ON CONFLICT DO NOTHING: the id or the code is taken; the id decides which.
        let exists: bool = tx
            .query_one(&sql.card_exists, &[&id])
            .and_then(|row| row.try_get(0))
            .map_err(&db)?;
        return Err(if exists {
            StoreError::conflict(Record::Card(card.id()), "it already exists")
        } else {
            StoreError::duplicate_code(code)
        });
    }
    Ok(())
}

/// Updates a card read at `expected_version`; returns the sequence number its next entry must
/// have.
fn update_card(
    tx: &mut Transaction<'_>,
    sql: &Statements,
    card: &GiftCard,
    expected_version: u64,
) -> Result<u64, StoreError> {
    let db = db_error("updating a card");
    let (json, status) = to_json(card, &["status"])?;
    let id = card.id().to_string();
    let updated = tx
        .execute(
            &sql.update_card,
            &[
                &id,
                &status,
                &amount(card.balance())?,
                &amount(card.held())?,
                &json,
                &sql_version(expected_version),
            ],
        )
        .map_err(&db)?;
    if updated == 0 {
        return Err(missed_write(
            Record::Card(card.id()),
            Some(expected_version),
        ));
    }
    // The row is locked by the update: no other commit can append to this card until ours
    // ends.
    let last: i64 = tx
        .query_one(&sql.last_seq, &[&id])
        .and_then(|row| row.try_get(0))
        .map_err(&db)?;
    u64::try_from(last)
        .ok()
        .and_then(|last| last.checked_add(1))
        .ok_or_else(|| StoreError::corrupt(format!("card {} has entry {last}", card.id())))
}

/// Mirrors the card's open holds into the `holds` table.
fn write_holds(
    tx: &mut Transaction<'_>,
    sql: &Statements,
    card: &GiftCard,
) -> Result<(), StoreError> {
    let db = db_error("writing a card's holds");
    let id = card.id().to_string();
    tx.execute(&sql.delete_holds, &[&id]).map_err(&db)?;
    for hold in card.holds() {
        let hold_id = i64::try_from(hold.id())
            .map_err(|_| StoreError::corrupt(format!("hold {} is out of range", hold.id())))?;
        tx.execute(
            &sql.insert_hold,
            &[
                &id,
                &hold_id,
                &amount(hold.amount())?,
                &hold.reference().as_str(),
                &timestamp(hold.placed_at()),
                &hold.expires_at().map(timestamp),
            ],
        )
        .map_err(&db)?;
    }
    Ok(())
}

fn insert_entry(
    tx: &mut Transaction<'_>,
    sql: &Statements,
    entry: &LedgerEntry,
) -> Result<(), StoreError> {
    let record = || Record::Entry {
        card: entry.card(),
        seq: entry.seq(),
    };
    let (json, kind) = to_json(entry, &["kind", "type"])?;
    let seq = i64::try_from(entry.seq())
        .map_err(|_| StoreError::conflict(record(), "its number is out of range"))?;
    let params: [&(dyn ToSql + Sync); 8] = [
        &entry.card().to_string(),
        &seq,
        &timestamp(entry.at()),
        &kind,
        &amount(entry.amount())?,
        &amount(entry.balance_after())?,
        &entry.reference().map(Reference::as_str),
        &json,
    ];
    match tx.execute(&sql.insert_entry, &params) {
        Ok(_) => Ok(()),
        Err(e)
            if violates(&e, "ledger_entries_pkey")
                || violates(&e, "a ledger entry must follow the last entry of its card") =>
        {
            Err(StoreError::conflict(
                record(),
                "it does not follow the stored ledger",
            ))
        }
        Err(e) => Err(db_error("inserting a ledger entry")(e)),
    }
}

fn write_checkout(
    tx: &mut Transaction<'_>,
    sql: &Statements,
    write: &RecordWrite<Checkout>,
) -> Result<(), StoreError> {
    let checkout = &write.value;
    let (json, state) = to_json(checkout, &["state", "state"])?;
    let currency = checkout.currency();
    let (id, code) = (checkout.id().as_str(), currency.code());
    let written = match write.expected_version {
        None => tx.execute(&sql.insert_checkout, &[&id, &code, &state, &json]),
        Some(v) => tx.execute(
            &sql.update_checkout,
            &[&id, &code, &state, &json, &sql_version(v)],
        ),
    }
    .map_err(db_error("writing a checkout"))?;
    if written == 0 {
        return Err(missed_write(
            Record::Checkout(checkout.id().clone()),
            write.expected_version,
        ));
    }
    Ok(())
}

fn insert_record(
    tx: &mut Transaction<'_>,
    sql: &Statements,
    record: &IdempotencyRecord,
) -> Result<(), StoreError> {
    let (json, _) = to_json(record, &[])?;
    let written = tx
        .execute(
            &sql.insert_record,
            &[
                &record.key.as_str(),
                &record.request.to_string(),
                &timestamp(record.recorded_at),
                &json,
            ],
        )
        .map_err(db_error("inserting an idempotency record"))?;
    if written == 0 {
        return Err(StoreError::conflict(
            Record::Idempotency(record.key.clone()),
            "it is recorded",
        ));
    }
    Ok(())
}

fn write_guard(
    tx: &mut Transaction<'_>,
    sql: &Statements,
    write: &RecordWrite<GuardWindow>,
) -> Result<(), StoreError> {
    let window = &write.value;
    let (json, _) = to_json(window, &[])?;
    let count = i32::try_from(window.count()).unwrap_or(i32::MAX);
    let client = window.client().as_str();
    let written = match write.expected_version {
        None => tx.execute(&sql.insert_guard, &[&client, &count, &json]),
        Some(v) => tx.execute(
            &sql.update_guard,
            &[&client, &count, &json, &sql_version(v)],
        ),
    }
    .map_err(db_error("writing a guard window"))?;
    if written == 0 {
        return Err(missed_write(
            Record::Guard(window.client().clone()),
            write.expected_version,
        ));
    }
    Ok(())
}

/// Every statement a store runs, prepared once per connection. Parameters are text cast on
/// the server (`$6::text::numeric`), so amounts and times travel as exact text.
struct Statements {
    card: Statement,
    card_by_digest: Statement,
    card_exists: Statement,
    ledger: Statement,
    last_seq: Statement,
    checkout: Statement,
    idempotency: Statement,
    guard: Statement,
    insert_card: Statement,
    update_card: Statement,
    delete_holds: Statement,
    insert_hold: Statement,
    insert_entry: Statement,
    insert_checkout: Statement,
    update_checkout: Statement,
    insert_record: Statement,
    insert_guard: Statement,
    update_guard: Statement,
}

impl Statements {
    fn prepare(client: &mut Client) -> Result<Statements, postgres::Error> {
        let mut p = |sql: &str| client.prepare(sql);
        Ok(Statements {
            card: p("SELECT version, card::text FROM cards WHERE id = $1")?,
            card_by_digest: p("SELECT version, card::text FROM cards WHERE code_digest = $1")?,
            card_exists: p("SELECT EXISTS (SELECT 1 FROM cards WHERE id = $1)")?,
            ledger: p("SELECT entry::text FROM ledger_entries \
                 WHERE card_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3")?,
            last_seq: p(
                "SELECT coalesce(max(seq), 0)::bigint FROM ledger_entries WHERE card_id = $1",
            )?,
            checkout: p("SELECT version, checkout::text FROM checkouts WHERE id = $1")?,
            idempotency: p("SELECT record::text FROM idempotency_records WHERE key = $1")?,
            guard: p("SELECT version, guard::text FROM guard_windows WHERE client = $1")?,
            insert_card: p("INSERT INTO cards \
                 (id, code_digest, code_last4, currency, status, balance, held, version, card) \
                 VALUES ($1, $2, $3, $4, $5, $6::text::numeric, $7::text::numeric, 1, \
                 $8::text::jsonb) ON CONFLICT DO NOTHING")?,
            update_card: p(
                "UPDATE cards SET status = $2, balance = $3::text::numeric, \
                 held = $4::text::numeric, card = $5::text::jsonb, version = version + 1 \
                 WHERE id = $1 AND version = $6",
            )?,
            delete_holds: p("DELETE FROM holds WHERE card_id = $1")?,
            insert_hold: p("INSERT INTO holds \
                 (card_id, hold_id, amount, reference, placed_at, expires_at) \
                 VALUES ($1, $2, $3::text::numeric, $4, $5::text::timestamptz, \
                 $6::text::timestamptz)")?,
            insert_entry: p("INSERT INTO ledger_entries \
                 (card_id, seq, at, kind, amount, balance_after, reference, entry) \
                 VALUES ($1, $2, $3::text::timestamptz, $4, $5::text::numeric, \
                 $6::text::numeric, $7, $8::text::jsonb)")?,
            insert_checkout: p(
                "INSERT INTO checkouts (id, currency, state, version, checkout) \
                 VALUES ($1, $2, $3, 1, $4::text::jsonb) ON CONFLICT (id) DO NOTHING",
            )?,
            update_checkout: p("UPDATE checkouts SET currency = $2, state = $3, \
                 checkout = $4::text::jsonb, version = version + 1 \
                 WHERE id = $1 AND version = $5")?,
            insert_record: p(
                "INSERT INTO idempotency_records (key, request, recorded_at, record) \
                 VALUES ($1, $2, $3::text::timestamptz, $4::text::jsonb) \
                 ON CONFLICT (key) DO NOTHING",
            )?,
            insert_guard: p(
                "INSERT INTO guard_windows (client, unknown_codes, version, guard) \
                 VALUES ($1, $2, 1, $3::text::jsonb) ON CONFLICT (client) DO NOTHING",
            )?,
            update_guard: p("UPDATE guard_windows SET unknown_codes = $2, \
                 guard = $3::text::jsonb, version = version + 1 \
                 WHERE client = $1 AND version = $4")?,
        })
    }
}
