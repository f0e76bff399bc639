//! [`PostgresStore`]: the [`Store`] contract on a PostgreSQL server.

use giftcert::redeem::{CheckoutId, ClientId};
use std::fmt;

use chrono::{DateTime, Utc};
use std::str::FromStr;

use std::future::{self, Future};

use giftcert::{
    CardId, Code, GiftCard, IdempotencyKey, Store, StoreError,
    card::{LedgerEntry, LiabilityReport},
    redeem::{Changes, Checkout, GuardWindow, IdempotencyRecord, Versioned},
    store::{CardQuery, Page},
};
use giftcert_store_support::{CodeKey, PoolOptions, checkout, run_ready};
use postgres::{Client, Config, GenericClient, NoTls, Row, Statement};
use r2d2::ManageConnection;
use r2d2_postgres::PostgresConnectionManager;

use crate::commit;
use crate::connect::{ConnectError, Plan, Tls, check_schema, plan};
use crate::ops;
use crate::schema::{self, OnConnect};
use crate::sql::{Exec, ExecText, Params, Sql, db_error};

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
/// Every record is a row; every [`Store::commit`] is one statement (so one round trip and one
/// transaction) that calls the schema's `giftcert_commit` function, which checks each version
/// with `UPDATE ... WHERE version = $n`; a missed row or a unique violation is a
/// [`StoreError::Conflict`], and so is a read or a commit the server aborted to keep it apart
/// from another transaction (SQLSTATE `40001`, `40P01`, `55P03`, as serializable PostgreSQL
/// reports them), which the protocol retries from a fresh read. Under PostgreSQL's default `READ COMMITTED`, an `UPDATE` that
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

impl PostgresStore {
    /// Connects to the database at `url` (`postgresql://user:password@host/db` or
    /// `host=... user=...`), keeping its tables in the connection's default schema, and
    /// brings the schema to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION), with `key` to hash codes.
    /// Migrating is DDL: the URL's role needs `CREATE` and owns the tables it makes, which
    /// suits development. In production an owner runs [`migrate`](crate::migrate) apart and
    /// the role that serves shoppers connects with [`PostgresStore::connect_migrated`], which
    /// runs none.
    ///
    /// With [`Tls::default`]: TLS with the server's certificate verified against Mozilla's
    /// roots for every host that is not local, plaintext for `localhost`, loopback addresses
    /// and Unix sockets (see [`Tls`] for the URL's `sslmode`).
    ///
    /// # Errors
    ///
    /// [`ConnectError::Url`], [`ConnectError::Plaintext`], [`ConnectError::Tls`],
    /// [`ConnectError::Database`], [`ConnectError::NewerSchema`], [`ConnectError::WrongKey`].
    ///
    /// ```
    /// use giftcert_postgres::{CodeKey, ConnectError, PostgresStore};
    ///
    /// let key = CodeKey::new(&[7; 32])?;
    /// // Plaintext to another machine is refused before any connection is made.
    /// let refused = PostgresStore::connect("postgresql://db.example.com/shop?sslmode=disable", key);
    /// assert!(matches!(refused, Err(ConnectError::Plaintext { host }) if host == "db.example.com"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect(url: &str, key: CodeKey) -> Result<PostgresStore, ConnectError> {
        PostgresStore::connect_with_tls(url, None, key, Tls::default())
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
        PostgresStore::connect_with_tls(url, Some(schema), key, Tls::default())
    }

    /// Connects with `tls` (the host's own CA, [`Tls::with_root_pem`]; its rustls
    /// configuration, [`Tls::with_config`]; or plaintext by name, [`Tls::disabled`]), in
    /// `schema` when given.
    ///
    /// # Errors
    ///
    /// Those of [`PostgresStore::connect_in_schema`].
    pub fn connect_with_tls(
        url: &str,
        schema: Option<&str>,
        key: CodeKey,
        tls: Tls,
    ) -> Result<PostgresStore, ConnectError> {
        PostgresStore::connect_with(url, schema, key, tls, PoolOptions::default())
    }

    /// Like [`PostgresStore::connect_with_tls`], with the connection pool sized by `options`.
    ///
    /// # Errors
    ///
    /// Those of [`PostgresStore::connect_in_schema`].
    ///
    /// ```no_run
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    ///
    /// use giftcert_postgres::{CodeKey, PoolOptions, PostgresStore, Tls};
    ///
    /// let options = PoolOptions::new()
    ///     .with_max_size(NonZeroU32::new(32).ok_or("zero")?)
    ///     .with_checkout_timeout(Duration::from_secs(2));
    /// let store = PostgresStore::connect_with(
    ///     "postgresql://giftcert@db.internal/shop",
    ///     Some("giftcert"),
    ///     CodeKey::from_hex(&std::env::var("GIFTCERT_CODE_KEY")?)?,
    ///     Tls::with_root_pem(&std::fs::read("/etc/giftcert/db-ca.pem")?)?,
    ///     options,
    /// )?;
    /// assert_eq!(store.pool_options(), options);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_with(
        url: &str,
        schema: Option<&str>,
        key: CodeKey,
        tls: Tls,
        options: PoolOptions,
    ) -> Result<PostgresStore, ConnectError> {
        PostgresStore::open(url, schema, key, tls, options, OnConnect::Migrate)
    }

    /// Connects, as [`PostgresStore::connect_with`] does, to a schema that
    /// [`migrate`](crate::migrate) has brought to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION),
    /// running no DDL and writing nothing: the way a role that serves shoppers connects, with
    /// only the rights [`grant_runtime`](crate::grant_runtime) gives it (no `CREATE`, owner of
    /// nothing). It checks the schema's version, its key's fingerprint and its commit function.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Unmigrated`] when the schema is missing or behind (run
    /// [`migrate`](crate::migrate) as its owner), [`ConnectError::NoAccess`] when the role
    /// has no `USAGE` on it (run [`grant_runtime`](crate::grant_runtime)), [`ConnectError::NewerSchema`] when it is
    /// ahead, [`ConnectError::WrongKey`], [`ConnectError::Database`] when the server refuses
    /// the connection or a read (a role without the rights), and those of
    /// [`PostgresStore::connect_in_schema`] about the URL, the schema name and TLS.
    ///
    /// ```no_run
    /// use giftcert_postgres::{CodeKey, PoolOptions, PostgresStore, Tls};
    ///
    /// let store = PostgresStore::connect_migrated(
    ///     "postgresql://giftcert_app@db.internal/shop",
    ///     Some("giftcert"),
    ///     CodeKey::from_hex(&std::env::var("GIFTCERT_CODE_KEY")?)?,
    ///     Tls::default(),
    ///     PoolOptions::default(),
    /// )?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_migrated(
        url: &str,
        schema: Option<&str>,
        key: CodeKey,
        tls: Tls,
        options: PoolOptions,
    ) -> Result<PostgresStore, ConnectError> {
        PostgresStore::open(url, schema, key, tls, options, OnConnect::Check)
    }

    /// Connects, migrating or checking the schema first as `on_connect` says.
    fn open(
        url: &str,
        schema: Option<&str>,
        key: CodeKey,
        tls: Tls,
        options: PoolOptions,
        on_connect: OnConnect,
    ) -> Result<PostgresStore, ConnectError> {
        let connections = connections(url, schema, &tls)?;
        // One client of its own checks the server and the schema before the pool opens any.
        let mut client = connections.client().map_err(ConnectError::Database)?;
        match on_connect {
            OnConnect::Migrate => migrate_with(&mut client, schema, &key)?,
            OnConnect::Check => check_with(&mut client, schema, &key)?,
        }
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

    /// A connection from the pool, which takes it back when it is dropped (unless it broke).
    fn connection(&self) -> Result<r2d2::PooledConnection<Connections>, StoreError> {
        checkout(&self.pool)
    }
}

/// The connections to `url` (in `schema` when given) under `tls`, none opened yet.
fn connections(url: &str, schema: Option<&str>, tls: &Tls) -> Result<Connections, ConnectError> {
    if let Some(schema) = schema {
        check_schema(schema)?;
    }
    let mut config = tokio_postgres::Config::from_str(url).map_err(ConnectError::Url)?;
    let plan = plan(&mut config, tls)?;
    let config = Config::from(config);
    let clients: Clients = match plan {
        Plan::Plaintext => Box::new(PostgresConnectionManager::new(config, NoTls)),
        Plan::Verified(tls) => Box::new(PostgresConnectionManager::new(config, tls)),
    };
    Ok(Connections {
        clients,
        schema: schema.map(str::to_owned),
    })
}

/// One client to `url` whose `search_path` is `schema` (when given), for the explicit steps
/// ([`crate::migrate`], [`crate::grant_runtime`]).
pub(crate) fn client(url: &str, schema: Option<&str>, tls: &Tls) -> Result<Client, ConnectError> {
    connections(url, schema, tls)?
        .client()
        .map_err(ConnectError::Database)
}

/// Runs a future of the explicit steps or of connecting (the migrations, the checks, the
/// grants) on the blocking client, whose every `.await` is ready.
pub(crate) fn block<T>(
    future: impl Future<Output = Result<T, ConnectError>>,
) -> Result<T, ConnectError> {
    blocking(future).unwrap_or_else(|| {
        Err(ConnectError::Pool {
            reason: "the blocking client waited, which it cannot".to_owned(),
        })
    })
}

/// Brings the schema of `client` to the crate's version ([`schema::migrate`]), in one
/// transaction.
pub(crate) fn migrate_with(
    client: &mut Client,
    schema: Option<&str>,
    key: &CodeKey,
) -> Result<(), ConnectError> {
    let mut tx = client.transaction().map_err(ConnectError::Database)?;
    block(schema::migrate(&mut Unprepared(&mut tx), schema, key))?;
    tx.commit().map_err(ConnectError::Database)
}

/// Checks that the schema of `client` is migrated ([`schema::check`]), writing nothing.
fn check_with(
    client: &mut Client,
    schema: Option<&str>,
    key: &CodeKey,
) -> Result<(), ConnectError> {
    let mut tx = client.transaction().map_err(ConnectError::Database)?;
    block(schema::check(&mut Unprepared(&mut tx), schema, key))?;
    tx.commit().map_err(ConnectError::Database)
}

/// Runs a future of the shared SQL ([`ops`]) on the blocking client, whose every `.await` is
/// ready: `None` if it waited, which the blocking client never does.
fn blocking<F: Future>(future: F) -> Option<F::Output> {
    run_ready(future)
}

/// [`blocking`] for the store's operations, whose errors are store errors.
fn run<T>(future: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    blocking(future).unwrap_or_else(|| {
        Err(StoreError::Backend {
            reason: "the blocking PostgreSQL client waited, which it cannot".to_owned(),
            source: None,
        })
    })
}

impl Store for PostgresStore {
    fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        run(ops::card(&mut self.connection()?.exec(), id))
    }

    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        run(ops::card_by_code(
            &mut self.connection()?.exec(),
            &self.key,
            code,
        ))
    }

    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        run(ops::ledger(
            &mut self.connection()?.exec(),
            card,
            from_seq,
            limit,
        ))
    }

    fn checkout(&self, id: &CheckoutId) -> Result<Option<Versioned<Checkout>>, StoreError> {
        run(ops::checkout(&mut self.connection()?.exec(), id))
    }

    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        run(ops::idempotency(&mut self.connection()?.exec(), key))
    }

    fn guard(&self, client: &ClientId) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
        run(ops::guard(&mut self.connection()?.exec(), client))
    }

    fn search(&self, query: &CardQuery) -> Result<Page<Versioned<GiftCard>>, StoreError> {
        let mut conn = self.connection()?;
        run(ops::search(&mut Unprepared(&mut conn.client), query))
    }

    fn liability(&self, at: DateTime<Utc>) -> Result<LiabilityReport, StoreError> {
        let mut conn = self.connection()?;
        let Connection { client, sql } = &mut *conn;
        // One snapshot for both statements.
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(db_error("starting a transaction"))?;
        let report = run(ops::liability(
            &mut Prepared {
                client: &mut tx,
                sql,
            },
            at,
        ))?;
        tx.commit().map_err(db_error("ending a read"))?;
        Ok(report)
    }

    fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        run(commit::commit(
            &mut self.connection()?.exec(),
            &self.key,
            &changes,
        ))
    }

    fn due_cards(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<CardId>, StoreError> {
        run(ops::due_cards(&mut self.connection()?.exec(), now, limit))
    }

    fn prune_idempotency(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let sql = Sql::PruneRecords;
        run(ops::prune(
            &mut self.connection()?.exec(),
            sql,
            before,
            limit,
        ))
    }

    fn prune_guards(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let sql = Sql::PruneGuards;
        run(ops::prune(
            &mut self.connection()?.exec(),
            sql,
            before,
            limit,
        ))
    }
}

/// A connection and its prepared statements.
struct Connection {
    client: Client,
    sql: Statements,
}

impl Connection {
    /// The connection as a runner of the store's statements.
    fn exec(&mut self) -> Prepared<'_, Client> {
        Prepared {
            client: &mut self.client,
            sql: &self.sql,
        }
    }
}

/// The blocking client (or a transaction on it) with its connection's prepared statements: its
/// futures are ready when they are made.
struct Prepared<'a, C> {
    client: &'a mut C,
    sql: &'a Statements,
}

impl<C: GenericClient> Exec for Prepared<'_, C> {
    fn execute(
        &mut self,
        sql: Sql,
        params: Params<'_>,
    ) -> impl Future<Output = Result<u64, postgres::Error>> + Send {
        future::ready(self.client.execute(self.sql.get(sql), params))
    }

    fn query(
        &mut self,
        sql: Sql,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, postgres::Error>> + Send {
        future::ready(self.client.query(self.sql.get(sql), params))
    }

    fn query_opt(
        &mut self,
        sql: Sql,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Option<Row>, postgres::Error>> + Send {
        future::ready(self.client.query_opt(self.sql.get(sql), params))
    }
}

/// The blocking client running statements given as text (the migrations).
pub(crate) struct Unprepared<'a, C>(pub(crate) &'a mut C);

impl<C: GenericClient> ExecText for Unprepared<'_, C> {
    fn batch_execute(
        &mut self,
        sql: &str,
    ) -> impl Future<Output = Result<(), postgres::Error>> + Send {
        future::ready(self.0.batch_execute(sql))
    }

    fn execute_text(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<u64, postgres::Error>> + Send {
        future::ready(self.0.execute(sql, params))
    }

    fn query_text(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, postgres::Error>> + Send {
        future::ready(self.0.query(sql, params))
    }

    fn query_one_text(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Row, postgres::Error>> + Send {
        future::ready(self.0.query_one(sql, params))
    }
}

/// Every statement of [`Sql`], prepared once per connection, in the order of [`Sql::ALL`].
struct Statements(Vec<Statement>);

impl Statements {
    fn prepare(client: &mut Client) -> Result<Statements, postgres::Error> {
        Sql::ALL
            .iter()
            .map(|sql| client.prepare(sql.text()))
            .collect::<Result<_, _>>()
            .map(Statements)
    }

    /// The prepared `sql`: [`Sql::ALL`] lists every statement at the index of its
    /// discriminant (a test checks it), and `prepare` fills one entry for each.
    fn get(&self, sql: Sql) -> &Statement {
        &self.0[sql as usize]
    }
}
