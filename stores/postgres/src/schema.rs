//! The schema, created and upgraded by numbered migrations ([`migrate`]: run by
//! [`crate::migrate`] as the schema's owner, or when a store connects with migrations), the
//! commit function, re-created after them, the check a store makes when it connects without
//! running DDL ([`check`]), and the rights of the role that serves shoppers ([`grant`]).
//!
//! The table `giftcert_schema_migrations` records each migration applied (its version, nothing
//! else). Migrating runs the missing ones in one transaction under a transaction-scoped
//! advisory lock, so stores that start at the same moment (several processes, or several
//! connections of one) wait for each other instead of racing, and a failure leaves the schema
//! as it was. A schema from a newer version of the crate is refused rather than misread.
//!
//! The migrations hold the tables. The function `giftcert_commit` is not among them: it is one
//! file ([`COMMIT_FUNCTION`]) that the same transaction runs after them, so a database always
//! has this crate's function, whatever version it was migrated from. Then a last file
//! (`sql/search_path.sql`) pins the `search_path` of every function the store installs to
//! `pg_catalog`, the store's schema and `pg_temp`, so that none looks a name up in a schema
//! other roles may create objects in.

use giftcert_store_support::CodeKey;

use crate::connect::ConnectError;
use crate::sql::ExecText;

/// What a store does to the schema before it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnConnect {
    /// Runs the missing migrations ([`schema::migrate`]).
    Migrate,
    /// Runs no DDL: checks that the schema is migrated ([`schema::check`]).
    Check,
}

/// The migrations, in order: migration `n` (from 1) brings the schema to version `n`.
/// What a released migration does to the tables never changes (a database at its version has
/// it already); table changes come as new migrations.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_store_key.sql"),
    include_str!("../migrations/0003_search_and_hints.sql"),
    include_str!("../migrations/0004_upkeep.sql"),
    include_str!("../migrations/0005_commit_function.sql"),
    include_str!("../migrations/0006_hot_card_updates.sql"),
];

/// The function that makes a commit's writes (see [`crate::commit`]), created or replaced after
/// the migrations every time they run. A change to the document it reads that an older crate's
/// function could not take goes with a new migration, so that the older crate refuses the
/// schema ([`ConnectError::NewerSchema`]) instead of putting its function back.
pub(crate) const COMMIT_FUNCTION: &str = include_str!("../sql/commit_function.sql");

/// Pins the `search_path` of every function the store installs to `pg_catalog`, the store's
/// schema and `pg_temp`, run after [`COMMIT_FUNCTION`] every time the migrations run: a
/// function never looks a name up in a schema other roles may create objects in.
const SEARCH_PATH: &str = include_str!("../sql/search_path.sql");

/// The schema version this crate writes (the highest version in `giftcert_schema_migrations`).
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// The advisory lock that serialises migrations ("giftcert" in ASCII).
const MIGRATION_LOCK: i64 = 0x6769_6674_6365_7274;

/// Brings the schema in the search path of the transaction `tx` (after creating `schema`, when
/// given) to [`SCHEMA_VERSION`], running only the missing migrations, and then creates or
/// replaces [`COMMIT_FUNCTION`] in it and pins the functions' `search_path`
/// ([`SEARCH_PATH`]). The caller commits `tx`. Then checks that the schema's codes are hashed with `key`: a schema without a
/// fingerprint (new, or from before version 2) takes `key`'s, and another key is refused
/// ([`ConnectError::WrongKey`]). Both stores run this one function: the blocking one with
/// ready futures.
pub(crate) async fn migrate<E: ExecText>(
    tx: &mut E,
    schema: Option<&str>,
    key: &CodeKey,
) -> Result<(), ConnectError> {
    tx.execute_text("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(ConnectError::Database)?;
    if let Some(schema) = schema {
        // `schema` is checked to be a plain lowercase identifier: it needs no quoting.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            .map_err(ConnectError::Database)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS giftcert_schema_migrations (
             version    integer     NOT NULL PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(ConnectError::Database)?;
    let found: i32 = tx
        .query_one_text(
            "SELECT coalesce(max(version), 0) FROM giftcert_schema_migrations",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(ConnectError::Database)?;
    if found > SCHEMA_VERSION {
        return Err(ConnectError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (version, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        tx.batch_execute(sql)
            .await
            .map_err(ConnectError::Database)?;
        tx.execute_text(
            "INSERT INTO giftcert_schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(ConnectError::Database)?;
    }
    tx.batch_execute(COMMIT_FUNCTION)
        .await
        .map_err(ConnectError::Database)?;
    tx.batch_execute(SEARCH_PATH)
        .await
        .map_err(ConnectError::Database)?;
    let expected = key.fingerprint();
    let stored: Option<String> = tx
        .query_one_text(
            "SELECT (SELECT fingerprint FROM store_key WHERE id = 1)",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(ConnectError::Database)?;
    match stored {
        Some(stored) if stored != expected => return Err(ConnectError::WrongKey),
        Some(_) => {}
        None => {
            tx.execute_text(
                "INSERT INTO store_key (id, fingerprint) VALUES (1, $1)",
                &[&expected],
            )
            .await
            .map_err(ConnectError::Database)?;
        }
    }
    Ok(())
}

/// The body of [`COMMIT_FUNCTION`] (between its `$$` quotes), as `pg_proc.prosrc` keeps it.
fn commit_function_body() -> &'static str {
    let mut parts = COMMIT_FUNCTION.splitn(3, "$$");
    parts.next();
    parts.next().unwrap_or_default()
}

/// Checks, without running any DDL or writing anything, that the schema in the search path of
/// the transaction `tx` is ready for this crate: at [`SCHEMA_VERSION`], with the fingerprint
/// of `key`, and with this crate's [`COMMIT_FUNCTION`]. A role with only the rights
/// [`grant`] gives can run it.
///
/// # Errors
///
/// [`ConnectError::NoAccess`] when the role may not use `schema`;
/// [`ConnectError::Unmigrated`] for a schema without tables, behind [`SCHEMA_VERSION`],
/// without a key fingerprint or with another commit function; [`ConnectError::NewerSchema`]
/// for one ahead; [`ConnectError::WrongKey`] for another key's; [`ConnectError::Database`]
/// when the server refuses a read (a role without the rights).
pub(crate) async fn check<E: ExecText>(
    tx: &mut E,
    schema: Option<&str>,
    key: &CodeKey,
) -> Result<(), ConnectError> {
    if let Some(schema) = schema {
        // A schema the role may not use is skipped by the search path, and would look empty.
        let usable: Option<bool> = tx
            .query_one_text(
                "SELECT (SELECT pg_catalog.has_schema_privilege(n.oid, 'USAGE') \
                 FROM pg_catalog.pg_namespace n WHERE n.nspname = $1)",
                &[&schema],
            )
            .await
            .and_then(|row| row.try_get(0))
            .map_err(ConnectError::Database)?;
        if usable == Some(false) {
            return Err(ConnectError::NoAccess {
                schema: schema.to_owned(),
            });
        }
    }
    let found = current_version(tx).await?;
    let unmigrated = |found| ConnectError::Unmigrated {
        found,
        needed: SCHEMA_VERSION,
    };
    let stored: Option<String> = tx
        .query_one_text(
            "SELECT (SELECT fingerprint FROM store_key WHERE id = 1)",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(ConnectError::Database)?;
    match stored {
        None => return Err(unmigrated(found)),
        Some(stored) if stored != key.fingerprint() => return Err(ConnectError::WrongKey),
        Some(_) => {}
    }
    // The function the store calls, found as its statements find it (the search path).
    let body: Option<String> = tx
        .query_one_text(
            "SELECT (SELECT p.prosrc FROM pg_catalog.pg_proc p \
             WHERE p.oid = pg_catalog.to_regprocedure('giftcert_commit(pg_catalog.jsonb)'))",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(ConnectError::Database)?;
    if body.as_deref() != Some(commit_function_body()) {
        return Err(unmigrated(found));
    }
    Ok(())
}

/// The schema version in the search path of `tx` (0 without a migration table), read without
/// writing anything.
///
/// # Errors
///
/// [`ConnectError::Unmigrated`] for a version behind [`SCHEMA_VERSION`] (or none),
/// [`ConnectError::NewerSchema`] for one ahead, [`ConnectError::Database`] when the server
/// refuses the read.
async fn current_version<E: ExecText>(tx: &mut E) -> Result<i32, ConnectError> {
    let has_table: bool = tx
        .query_one_text(
            "SELECT pg_catalog.to_regclass('giftcert_schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(ConnectError::Database)?;
    let found: i32 = if has_table {
        tx.query_one_text(
            "SELECT coalesce(max(version), 0) FROM giftcert_schema_migrations",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(ConnectError::Database)?
    } else {
        0
    };
    if found > SCHEMA_VERSION {
        return Err(ConnectError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found < SCHEMA_VERSION {
        return Err(ConnectError::Unmigrated {
            found,
            needed: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// What the role that serves shoppers may do on each table, and nothing else: read
/// everything; append to the history (`ledger_entries`, `card_tags`), never change or delete
/// it; update the records a commit moves (`cards`, `checkouts`, `guard_windows`,
/// `card_sweeps`); delete what a commit or an upkeep removes (`holds`, `card_sweeps`, and the
/// `idempotency_records` and `guard_windows` a prune drops, whose `SELECT ... FOR UPDATE`
/// needs `UPDATE` too); only read `store_key` and `giftcert_schema_migrations`.
pub(crate) const RUNTIME_GRANTS: &[(&str, &str)] = &[
    ("giftcert_schema_migrations", "SELECT"),
    ("store_key", "SELECT"),
    ("ledger_entries", "SELECT, INSERT"),
    ("card_tags", "SELECT, INSERT"),
    ("cards", "SELECT, INSERT, UPDATE"),
    ("checkouts", "SELECT, INSERT, UPDATE"),
    ("holds", "SELECT, INSERT, DELETE"),
    ("card_sweeps", "SELECT, INSERT, UPDATE, DELETE"),
    ("guard_windows", "SELECT, INSERT, UPDATE, DELETE"),
    ("idempotency_records", "SELECT, INSERT, UPDATE, DELETE"),
];

/// Grants `role` (`quoted` as an identifier) what a store serving shoppers needs in the schema in the
/// search path of `tx`, which must be at [`SCHEMA_VERSION`] ([`migrate`] first): `USAGE` on
/// the schema, [`RUNTIME_GRANTS`] on the tables, and `EXECUTE` on `giftcert_commit`. First it
/// revokes every right `role` holds on the schema, its tables and its functions, so that the
/// rights are these and no more, whatever was granted before. A superuser, the schema's owner
/// and the members of its owner are refused ([`ConnectError::Role`]). The caller commits `tx`.
pub(crate) async fn grant<E: ExecText>(
    tx: &mut E,
    role: &str,
    quoted: &str,
) -> Result<(), ConnectError> {
    current_version(tx).await?;
    // A role the grants would not bind, or whose revoked rights would be the owner's.
    let unbound: Vec<bool> = tx
        .query_text(
            "SELECT r.rolsuper OR pg_catalog.pg_has_role(r.oid, n.nspowner, 'MEMBER') \
             FROM pg_catalog.pg_roles r, pg_catalog.pg_namespace n \
             WHERE r.rolname = $1 AND n.nspname = pg_catalog.current_schema()",
            &[&role],
        )
        .await
        .and_then(|rows| rows.iter().map(|row| row.try_get(0)).collect())
        .map_err(ConnectError::Database)?;
    if unbound.contains(&true) {
        return Err(ConnectError::Role {
            reason: "it is a superuser, owns the schema or is a member of its owner".to_owned(),
        });
    }
    let role = quoted;
    let schema: Option<String> = tx
        .query_one_text("SELECT pg_catalog.current_schema()::text", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(ConnectError::Database)?;
    let schema = schema.ok_or_else(|| ConnectError::Unmigrated {
        found: 0,
        needed: SCHEMA_VERSION,
    })?;
    let schema = format!("\"{}\"", schema.replace('"', "\"\""));
    let mut sql = format!(
        "REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role};
         REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role};
         REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {schema} FROM {role};
         REVOKE ALL ON SCHEMA {schema} FROM {role};
         GRANT USAGE ON SCHEMA {schema} TO {role};
         GRANT EXECUTE ON FUNCTION {schema}.giftcert_commit(pg_catalog.jsonb) TO {role};"
    );
    for (table, rights) in RUNTIME_GRANTS {
        sql.push_str(&format!("GRANT {rights} ON {schema}.{table} TO {role};"));
    }
    tx.batch_execute(&sql).await.map_err(ConnectError::Database)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table the migrations create (and the migration table) has its runtime rights,
    /// once: a migration that adds a table must say what the runtime role may do on it.
    #[test]
    fn every_table_has_its_runtime_rights() {
        let mut created: Vec<&str> = MIGRATIONS
            .iter()
            .flat_map(|sql| sql.split("CREATE TABLE ").skip(1))
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        created.push("giftcert_schema_migrations");
        created.sort_unstable();
        let mut granted: Vec<&str> = RUNTIME_GRANTS.iter().map(|(table, _)| *table).collect();
        granted.sort_unstable();
        assert_eq!(granted, created);
        // History is only read and appended to.
        for (table, rights) in RUNTIME_GRANTS {
            if [
                "ledger_entries",
                "card_tags",
                "store_key",
                "giftcert_schema_migrations",
            ]
            .contains(table)
            {
                assert!(
                    !rights.contains("UPDATE") && !rights.contains("DELETE"),
                    "{table}: {rights}"
                );
            }
        }
    }

    /// The body `connect_migrated` compares with the database's is the function's whole body.
    #[test]
    fn the_commit_function_body_is_what_is_between_its_quotes() {
        let body = commit_function_body();
        assert!(body.trim_start().starts_with("DECLARE"), "{}", &body[..40]);
        assert!(
            body.trim_end().ends_with("END"),
            "{}",
            &body[body.len() - 40..]
        );
        assert!(!body.contains("$$"));
    }
}
