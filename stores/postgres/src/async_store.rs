//! [`AsyncPostgresStore`]: the [`AsyncStore`] contract on a PostgreSQL server, for hosts on
//! tokio.

use giftcert::redeem::{CheckoutId, ClientId};
use std::fmt;

use chrono::{DateTime, Utc};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{
    ClientWrapper, GenericClient, Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError,
    RecyclingMethod, Runtime,
};
use giftcert::store::AsyncStore;
use giftcert::{
    CardId, Code, GiftCard, IdempotencyKey, StoreError,
    card::{LedgerEntry, LiabilityReport},
    redeem::{Changes, Checkout, GuardWindow, IdempotencyRecord, Versioned},
    store::{CardQuery, Page},
};
use giftcert_store_support::{CodeKey, PoolOptions};
use tokio_postgres::{Config, Error, NoTls, Row};

use crate::commit;
use crate::connect::{ConnectError, Plan, Tls, check_schema, plan};
use crate::ops;
use crate::schema::{self, OnConnect};
use crate::sql::{Exec, ExecText, Params, Sql, db_error};

/// An [`AsyncStore`] on a PostgreSQL server, for async hosts (axum or actix on tokio): the
/// tables, migrations, SQL, code digests and conflict rules of
/// [`PostgresStore`](crate::PostgresStore), on `tokio-postgres` with a `deadpool-postgres`
/// pool. The two stores can open the same database and read each other's writes.
///
/// Every [`AsyncStore::commit`] is one statement (one round trip, one transaction) calling the
/// schema's `giftcert_commit` function, which checks each version with
/// `UPDATE ... WHERE version = $n`; a missed row, a unique violation, or a transaction the
/// server aborted to keep it apart from another (SQLSTATE `40001`, `40P01`, `55P03`, as
/// serializable PostgreSQL, CockroachDB and YugabyteDB report them) is a
/// [`StoreError::Conflict`] to retry from a fresh read; a read the server aborts that way is
/// one too, and the protocol retries it the same way. A commit whose future is dropped
/// before its statement is sent writes nothing; once sent, the server finishes it whether or
/// not the answer is awaited, like a commit whose answer was lost (which the protocol's
/// idempotency records and version checks answer on a retry).
///
/// The pool is sized by [`PoolOptions`]: by default at most 16 connections, and a request
/// that waits 5 s for a free one fails with [`StoreError::Unavailable`]. Each connection
/// prepares a statement the first time it runs it and keeps it. The store must be used inside
/// a tokio runtime (its connections and timeouts are tokio tasks and timers); a store is
/// `Send + Sync`, so share one (in an `Arc`) between tasks.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use giftcert::store::AsyncStore;
/// use giftcert::CardId;
/// use giftcert_postgres::{AsyncPostgresStore, CodeKey};
///
/// let key = CodeKey::from_hex(&std::env::var("GIFTCERT_CODE_KEY")?)?;
/// let store =
///     AsyncPostgresStore::connect_in_schema("postgresql://giftcert@db.internal/shop", "giftcert", key)
///         .await?;
/// let card = store.card(CardId::from_u128(1)).await?;
/// # Ok(())
/// # }
/// ```
pub struct AsyncPostgresStore {
    schema: Option<String>,
    key: CodeKey,
    options: PoolOptions,
    pool: Pool,
}

impl fmt::Debug for AsyncPostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("AsyncPostgresStore")
            .field("schema", &self.schema)
            .field("connections", &status.size)
            .field("idle_connections", &status.available)
            .finish_non_exhaustive()
    }
}

impl AsyncPostgresStore {
    /// Connects to the database at `url` (`postgresql://user:password@host/db` or
    /// `host=... user=...`), keeping its tables in the connection's default schema, and
    /// brings the schema to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION), with `key` to hash
    /// codes. Migrating is DDL: the URL's role needs `CREATE` and owns the tables it makes,
    /// which suits development. In production an owner runs [`migrate`](crate::migrate) apart
    /// and the role that serves shoppers connects with
    /// [`AsyncPostgresStore::connect_migrated`], which runs none.
    ///
    /// With [`Tls::default`]: TLS with the server's certificate verified against Mozilla's
    /// roots for every host that is not local, plaintext for `localhost`, loopback addresses
    /// and Unix sockets (see [`Tls`] for the URL's `sslmode`).
    ///
    /// # Errors
    ///
    /// [`ConnectError::Url`], [`ConnectError::Plaintext`], [`ConnectError::Tls`],
    /// [`ConnectError::Database`], [`ConnectError::NewerSchema`], [`ConnectError::WrongKey`],
    /// [`ConnectError::Pool`] when no connection could be opened within the pool's timeout.
    pub async fn connect(url: &str, key: CodeKey) -> Result<AsyncPostgresStore, ConnectError> {
        AsyncPostgresStore::connect_with(url, None, key, Tls::default(), PoolOptions::default())
            .await
    }

    /// Like [`AsyncPostgresStore::connect`], with the tables in `schema` (created if missing)
    /// and every connection's `search_path` set to it.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Schema`] unless `schema` is 1 to 63 lowercase ASCII letters, digits and
    /// underscores, not starting with a digit; and those of [`AsyncPostgresStore::connect`].
    pub async fn connect_in_schema(
        url: &str,
        schema: &str,
        key: CodeKey,
    ) -> Result<AsyncPostgresStore, ConnectError> {
        AsyncPostgresStore::connect_with(
            url,
            Some(schema),
            key,
            Tls::default(),
            PoolOptions::default(),
        )
        .await
    }

    /// Connects with `tls` (the host's own CA, [`Tls::with_root_pem`]; its rustls
    /// configuration, [`Tls::with_config`]; or plaintext by name, [`Tls::disabled`]), in
    /// `schema` when given.
    ///
    /// # Errors
    ///
    /// Those of [`AsyncPostgresStore::connect_in_schema`].
    pub async fn connect_with_tls(
        url: &str,
        schema: Option<&str>,
        key: CodeKey,
        tls: Tls,
    ) -> Result<AsyncPostgresStore, ConnectError> {
        AsyncPostgresStore::connect_with(url, schema, key, tls, PoolOptions::default()).await
    }

    /// Like [`AsyncPostgresStore::connect_with_tls`], with the connection pool sized by
    /// `options`.
    ///
    /// # Errors
    ///
    /// Those of [`AsyncPostgresStore::connect_in_schema`].
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    ///
    /// use giftcert_postgres::{AsyncPostgresStore, CodeKey, PoolOptions, Tls};
    ///
    /// let options = PoolOptions::new()
    ///     .with_max_size(NonZeroU32::new(32).ok_or("zero")?)
    ///     .with_checkout_timeout(Duration::from_secs(2));
    /// let store = AsyncPostgresStore::connect_with(
    ///     "postgresql://giftcert@db.internal/shop",
    ///     Some("giftcert"),
    ///     CodeKey::from_hex(&std::env::var("GIFTCERT_CODE_KEY")?)?,
    ///     Tls::default(),
    ///     options,
    /// )
    /// .await?;
    /// assert_eq!(store.pool_options(), options);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_with(
        url: &str,
        schema: Option<&str>,
        key: CodeKey,
        tls: Tls,
        options: PoolOptions,
    ) -> Result<AsyncPostgresStore, ConnectError> {
        AsyncPostgresStore::open(url, schema, key, tls, options, OnConnect::Migrate).await
    }

    /// Connects, as [`AsyncPostgresStore::connect_with`] does, to a schema that
    /// [`migrate`](crate::migrate) has brought to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION),
    /// running no DDL and writing nothing: the way a role that serves shoppers connects, with
    /// only the rights [`grant_runtime`](crate::grant_runtime) gives it. It checks the
    /// schema's version, its key's fingerprint and its commit function, as
    /// [`PostgresStore::connect_migrated`](crate::PostgresStore::connect_migrated) does.
    ///
    /// # Errors
    ///
    /// Those of [`PostgresStore::connect_migrated`](crate::PostgresStore::connect_migrated),
    /// and [`ConnectError::Pool`] when the pool opens no connection in time.
    pub async fn connect_migrated(
        url: &str,
        schema: Option<&str>,
        key: CodeKey,
        tls: Tls,
        options: PoolOptions,
    ) -> Result<AsyncPostgresStore, ConnectError> {
        AsyncPostgresStore::open(url, schema, key, tls, options, OnConnect::Check).await
    }

    /// Connects, migrating or checking the schema first as `on_connect` says.
    async fn open(
        url: &str,
        schema: Option<&str>,
        key: CodeKey,
        tls: Tls,
        options: PoolOptions,
        on_connect: OnConnect,
    ) -> Result<AsyncPostgresStore, ConnectError> {
        // The pool's first connection checks the server and migrates or checks the schema.
        let (pool, mut client) = pool_and_client(url, schema, &tls, options).await?;
        let tx = client.transaction().await.map_err(ConnectError::Database)?;
        match on_connect {
            OnConnect::Migrate => schema::migrate(&mut Pooled(&tx), schema, &key).await?,
            OnConnect::Check => schema::check(&mut Pooled(&tx), schema, &key).await?,
        }
        tx.commit().await.map_err(ConnectError::Database)?;
        drop(client);
        Ok(AsyncPostgresStore {
            schema: schema.map(str::to_owned),
            key,
            options,
            pool,
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

    /// A connection from the pool (back to it when dropped), waiting at most the pool's
    /// timeout.
    async fn connection(&self) -> Result<Object, StoreError> {
        let started = Instant::now();
        self.pool.get().await.map_err(|e| StoreError::Unavailable {
            waited: started.elapsed(),
            source: Some(Arc::new(e)),
        })
    }
}

/// A pool of connections to `url` (in `schema` when given) under `tls`, sized by `options`,
/// and its first connection, opened now so that a server that cannot be reached fails here.
pub(crate) async fn pool_and_client(
    url: &str,
    schema: Option<&str>,
    tls: &Tls,
    options: PoolOptions,
) -> Result<(Pool, Object), ConnectError> {
    if let Some(schema) = schema {
        check_schema(schema)?;
    }
    let mut config = Config::from_str(url).map_err(ConnectError::Url)?;
    let manager_config = ManagerConfig {
        // A connection whose socket closed is dropped; no round trip per request.
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match plan(&mut config, tls)? {
        Plan::Plaintext => Manager::from_config(config, NoTls, manager_config),
        Plan::Verified(tls) => Manager::from_config(config, tls, manager_config),
    };
    let timeout = options.checkout_timeout();
    let mut builder = Pool::builder(manager)
        .max_size(usize::try_from(options.max_size().get()).unwrap_or(usize::MAX))
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .runtime(Runtime::Tokio1);
    if let Some(schema) = schema {
        // `schema` is checked to be a plain lowercase identifier: it needs no quoting.
        let set = Arc::<str>::from(format!("SET search_path TO {schema}"));
        builder = builder.post_create(Hook::async_fn(move |client: &mut ClientWrapper, _| {
            let set = Arc::clone(&set);
            Box::pin(async move { client.batch_execute(&set).await.map_err(HookError::Backend) })
        }));
    }
    let pool = builder.build().map_err(|e| ConnectError::Pool {
        reason: format!("cannot build the connection pool: {e}"),
    })?;

    let started = Instant::now();
    let client = pool
        .get()
        .await
        .map_err(|e| connect_error(e, started.elapsed()))?;
    Ok((pool, client))
}

/// Why the pool gave no connection to migrate with.
fn connect_error(e: PoolError, waited: Duration) -> ConnectError {
    match e {
        PoolError::Backend(e) | PoolError::PostCreateHook(HookError::Backend(e)) => {
            ConnectError::Database(e)
        }
        PoolError::Timeout(_) => ConnectError::Pool {
            reason: format!("no connection was opened within {} ms", waited.as_millis()),
        },
        other => ConnectError::Pool {
            reason: format!("the connection pool failed: {other}"),
        },
    }
}

impl AsyncStore for AsyncPostgresStore {
    async fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        let client = self.connection().await?;
        ops::card(&mut Pooled(&client), id).await
    }

    async fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        let client = self.connection().await?;
        ops::card_by_code(&mut Pooled(&client), &self.key, code).await
    }

    async fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let client = self.connection().await?;
        ops::ledger(&mut Pooled(&client), card, from_seq, limit).await
    }

    async fn checkout(&self, id: &CheckoutId) -> Result<Option<Versioned<Checkout>>, StoreError> {
        let client = self.connection().await?;
        ops::checkout(&mut Pooled(&client), id).await
    }

    async fn idempotency(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let client = self.connection().await?;
        ops::idempotency(&mut Pooled(&client), key).await
    }

    async fn guard(&self, client: &ClientId) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
        let connection = self.connection().await?;
        ops::guard(&mut Pooled(&connection), client).await
    }

    async fn search(&self, query: &CardQuery) -> Result<Page<Versioned<GiftCard>>, StoreError> {
        let client = self.connection().await?;
        ops::search(&mut Pooled(&client), query).await
    }

    async fn liability(&self, at: DateTime<Utc>) -> Result<LiabilityReport, StoreError> {
        let mut client = self.connection().await?;
        // One snapshot for both statements.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db_error("starting a transaction"))?;
        let report = ops::liability(&mut Pooled(&tx), at).await?;
        tx.commit().await.map_err(db_error("ending a read"))?;
        Ok(report)
    }

    async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let client = self.connection().await?;
        commit::commit(&mut Pooled(&client), &self.key, &changes).await
    }

    async fn due_cards(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<CardId>, StoreError> {
        let client = self.connection().await?;
        ops::due_cards(&mut Pooled(&client), now, limit).await
    }

    async fn prune_idempotency(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let client = self.connection().await?;
        ops::prune(&mut Pooled(&client), Sql::PruneRecords, before, limit).await
    }

    async fn prune_guards(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let client = self.connection().await?;
        ops::prune(&mut Pooled(&client), Sql::PruneGuards, before, limit).await
    }
}

/// A pooled connection (or a transaction on one) running the store's statements, each
/// prepared the first time this connection runs it and then taken from its cache.
pub(crate) struct Pooled<'a, C>(pub(crate) &'a C);

impl<C: GenericClient> Exec for Pooled<'_, C> {
    async fn execute(&mut self, sql: Sql, params: Params<'_>) -> Result<u64, Error> {
        let statement = self.0.prepare_cached(sql.text()).await?;
        self.0.execute(&statement, params).await
    }

    async fn query(&mut self, sql: Sql, params: Params<'_>) -> Result<Vec<Row>, Error> {
        let statement = self.0.prepare_cached(sql.text()).await?;
        self.0.query(&statement, params).await
    }

    async fn query_opt(&mut self, sql: Sql, params: Params<'_>) -> Result<Option<Row>, Error> {
        let statement = self.0.prepare_cached(sql.text()).await?;
        self.0.query_opt(&statement, params).await
    }
}

impl<C: GenericClient> ExecText for Pooled<'_, C> {
    async fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.0.batch_execute(sql).await
    }

    async fn execute_text(&mut self, sql: &str, params: Params<'_>) -> Result<u64, Error> {
        self.0.execute(sql, params).await
    }

    async fn query_text(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Error> {
        self.0.query(sql, params).await
    }

    async fn query_one_text(&mut self, sql: &str, params: Params<'_>) -> Result<Row, Error> {
        self.0.query_one(sql, params).await
    }
}
