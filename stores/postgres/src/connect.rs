//! Why a store could not connect, and the checks made before connecting: shared by both
//! stores.

/// The longest schema name PostgreSQL keeps whole.
const MAX_SCHEMA_LEN: usize = 63;

/// Why a store could not connect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The connection string could not be read.
    #[error("invalid PostgreSQL connection string: {0}")]
    Url(#[source] tokio_postgres::Error),
    /// The schema name is not a plain lowercase identifier.
    #[error(
        "invalid schema name \"{0}\": expected 1 to 63 lowercase letters, digits and \
         underscores, not starting with a digit"
    )]
    Schema(String),
    /// The server refused the connection or the migration.
    #[error("cannot connect to PostgreSQL: {}", crate::sql::describe(.0))]
    Database(#[source] tokio_postgres::Error),
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
    /// The schema's codes were hashed with another [`CodeKey`](giftcert_store_support::CodeKey)
    /// than the one given: with it every code would look unknown (and each lookup count as a
    /// guess against its owner), so the store refuses to open. The schema keeps the first
    /// key's fingerprint in `store_key`; the key itself is never shown.
    #[error(
        "the database's gift card codes were hashed with another CodeKey; connect with the key \
         it was written with"
    )]
    WrongKey,
    /// The connection pool could not hand out a connection to migrate with (it timed out or
    /// is closed).
    #[error("cannot connect to PostgreSQL: {reason}")]
    Pool {
        /// What the pool said.
        reason: String,
    },
}

/// Refuses a schema name that is not a plain lowercase identifier (so it needs no quoting).
pub(crate) fn check_schema(schema: &str) -> Result<(), ConnectError> {
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
