//! The schema, created and upgraded by numbered migrations when a store connects.
//!
//! The table `giftcert_schema_migrations` records each migration applied. Connecting runs the
//! missing ones in one transaction under a transaction-scoped advisory lock, so stores that
//! start at the same moment (several processes, or several connections of one) wait for each
//! other instead of racing, and a failure leaves the schema as it was. A schema from a newer
//! version of the crate is refused rather than misread.

use postgres::{Client, Transaction};

/// The migrations, in order: migration `n` (from 1) brings the schema to version `n`.
/// A released migration is never edited; changes come as new migrations.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_initial.sql")];

/// The schema version this crate writes (the highest version in `giftcert_schema_migrations`).
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The advisory lock that serialises migrations ("giftcert" in ASCII).
const MIGRATION_LOCK: i64 = 0x6769_6674_6365_7274;

/// Why a migration did not run.
#[derive(Debug)]
pub(crate) enum MigrationError {
    Database(postgres::Error),
    Newer(i32),
}

impl From<postgres::Error> for MigrationError {
    fn from(e: postgres::Error) -> Self {
        MigrationError::Database(e)
    }
}

/// Brings the schema in `client`'s search path (after creating `schema`, when given) to
/// [`SCHEMA_VERSION`]; does nothing when it is there already.
pub(crate) fn migrate(client: &mut Client, schema: Option<&str>) -> Result<(), MigrationError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    if let Some(schema) = schema {
        // `schema` is checked to be a plain lowercase identifier: it needs no quoting.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS giftcert_schema_migrations (
             version    integer     NOT NULL PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )?;
    let found: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM giftcert_schema_migrations",
            &[],
        )?
        .try_get(0)?;
    if found > SCHEMA_VERSION {
        return Err(MigrationError::Newer(found));
    }
    apply(&mut tx, found)?;
    tx.commit()?;
    Ok(())
}

fn apply(tx: &mut Transaction<'_>, found: i32) -> Result<(), postgres::Error> {
    for (version, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO giftcert_schema_migrations (version) VALUES ($1)",
            &[&version],
        )?;
    }
    Ok(())
}
