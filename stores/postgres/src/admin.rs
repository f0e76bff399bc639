//! The steps an owner runs apart from the stores: [`migrate`] and [`grant_runtime`], and
//! their async twins.

use giftcert_store_support::{CodeKey, PoolOptions};

use crate::async_store::{Pooled, pool_and_client};
use crate::connect::{ConnectError, Tls, quote_role};
use crate::schema;
use crate::store::{Unprepared, block, client, migrate_with};

/// Brings the schema at `url` (in `schema` when given, created if missing; else the
/// connection's default schema) to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION), with `key` to
/// hash codes, as the role the URL names, which becomes the owner of what it creates. It runs
/// what connecting with [`PostgresStore::connect_with`](crate::PostgresStore::connect_with)
/// runs (the missing migrations, the commit function, the functions' `search_path`, the key's
/// fingerprint) in one transaction under an advisory lock, and opens no pool.
///
/// In production this is a step of its own, run by the owner role at deploy time; the role
/// that serves shoppers is given its rights with [`grant_runtime`] and connects with
/// [`PostgresStore::connect_migrated`](crate::PostgresStore::connect_migrated) or
/// [`AsyncPostgresStore::connect_migrated`](crate::AsyncPostgresStore::connect_migrated).
/// The example `migrate` is a command line for both steps; [`migrate_async`] and
/// [`grant_runtime_async`] do them on `tokio-postgres`.
///
/// ```no_run
/// use giftcert_postgres::{CodeKey, Tls};
///
/// let key = CodeKey::from_hex(&std::env::var("GIFTCERT_CODE_KEY")?)?;
/// let owner = "postgresql://giftcert_owner@db.internal/shop";
/// giftcert_postgres::migrate(owner, Some("giftcert"), &key, Tls::default())?;
/// giftcert_postgres::grant_runtime(owner, Some("giftcert"), "giftcert_app", Tls::default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Those of [`PostgresStore::connect_in_schema`](crate::PostgresStore::connect_in_schema);
/// [`ConnectError::Database`] also when the role may not create the schema or its tables.
pub fn migrate(
    url: &str,
    schema: Option<&str>,
    key: &CodeKey,
    tls: Tls,
) -> Result<(), ConnectError> {
    migrate_with(&mut client(url, schema, &tls)?, schema, key)
}

/// Gives `role` what a store serving shoppers needs in the schema at `url` (in `schema` when
/// given), and nothing more, as the schema's owner (the role the URL names): `USAGE` on the
/// schema, `EXECUTE` on `giftcert_commit`, and on the tables
///
/// | tables | rights |
/// | --- | --- |
/// | `ledger_entries`, `card_tags` (history) | `SELECT`, `INSERT` |
/// | `cards`, `checkouts` | `SELECT`, `INSERT`, `UPDATE` |
/// | `holds` | `SELECT`, `INSERT`, `DELETE` |
/// | `card_sweeps`, `guard_windows`, `idempotency_records` | `SELECT`, `INSERT`, `UPDATE`, `DELETE` (a prune deletes old windows and records, after `SELECT ... FOR UPDATE`) |
/// | `store_key`, `giftcert_schema_migrations` | `SELECT` |
///
/// The schema has no sequences. Every right `role` held before on the schema, its tables and
/// its functions is revoked first, in the same transaction, so that these are all it has
/// there; rights it holds through `PUBLIC` or another role it is a member of are not touched.
/// The role is not created here; a superuser, the schema's owner and the members of its owner
/// are refused, since the grants would not limit them. `giftcert_commit` is `SECURITY
/// INVOKER`: it writes with the rights of the role that calls it, so `EXECUTE` on it gives no
/// right on a table.
///
/// Run it after [`migrate`], and again after a migration that adds a table.
///
/// # Errors
///
/// [`ConnectError::Role`] for an empty or overlong role name, or a role that is a superuser,
/// owns the schema or is a member of its owner; [`ConnectError::Unmigrated`] or
/// [`ConnectError::NewerSchema`] unless the schema is at
/// [`SCHEMA_VERSION`](crate::SCHEMA_VERSION); [`ConnectError::Database`] when the role does
/// not exist or the URL's role may not grant (it is not the owner); and those of
/// [`PostgresStore::connect_in_schema`](crate::PostgresStore::connect_in_schema) about the
/// URL, the schema name and TLS.
pub fn grant_runtime(
    url: &str,
    schema: Option<&str>,
    role: &str,
    tls: Tls,
) -> Result<(), ConnectError> {
    let quoted = quote_role(role)?;
    let mut client = client(url, schema, &tls)?;
    let mut tx = client.transaction().map_err(ConnectError::Database)?;
    block(schema::grant(&mut Unprepared(&mut tx), role, &quoted))?;
    tx.commit().map_err(ConnectError::Database)
}

/// [`migrate`] on `tokio-postgres`, for an async host that runs the step itself (the
/// blocking [`migrate`] panics inside a tokio runtime).
///
/// # Errors
///
/// Those of [`migrate`], and [`ConnectError::Pool`] when no connection opens within the
/// default pool timeout.
pub async fn migrate_async(
    url: &str,
    schema: Option<&str>,
    key: &CodeKey,
    tls: Tls,
) -> Result<(), ConnectError> {
    let (_pool, mut client) = pool_and_client(url, schema, &tls, PoolOptions::default()).await?;
    let tx = client.transaction().await.map_err(ConnectError::Database)?;
    schema::migrate(&mut Pooled(&tx), schema, key).await?;
    tx.commit().await.map_err(ConnectError::Database)
}

/// [`grant_runtime`] on `tokio-postgres`, for an async host that runs the step itself.
///
/// # Errors
///
/// Those of [`grant_runtime`], and [`ConnectError::Pool`] when no connection opens within the
/// default pool timeout.
pub async fn grant_runtime_async(
    url: &str,
    schema: Option<&str>,
    role: &str,
    tls: Tls,
) -> Result<(), ConnectError> {
    let quoted = quote_role(role)?;
    let (_pool, mut client) = pool_and_client(url, schema, &tls, PoolOptions::default()).await?;
    let tx = client.transaction().await.map_err(ConnectError::Database)?;
    schema::grant(&mut Pooled(&tx), role, &quoted).await?;
    tx.commit().await.map_err(ConnectError::Database)
}
