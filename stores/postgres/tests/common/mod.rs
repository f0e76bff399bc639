//! What the blocking and the async store's tests share: the server's URL, the code key, the
//! test clock's start, and scratch schemas dropped when a test ends. Each test file adds the
//! ways it opens stores and clients in them (an `impl Scratch` of its own).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeZone, Utc};
use giftcert::{Currency, Money};
use giftcert_store_support::CodeKey;
use postgres::NoTls;

const URL: &str = "GIFTCERT_POSTGRES_URL";

/// The server's URL. These tests are `#[ignore]`d (they need a server); run them with
/// `GIFTCERT_POSTGRES_URL=... cargo test -p giftcert-postgres -- --ignored`, as `bash .ci/run`
/// does against a throw-away server. Run without the variable, they fail rather than pass.
pub fn url() -> String {
    match std::env::var(URL) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{URL} is not set: these tests need a PostgreSQL server (bash .ci/run starts one)"
        ),
    }
}

pub fn key() -> CodeKey {
    CodeKey::new(b"giftcert-postgres test key here!").unwrap()
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

pub fn usd(s: &str) -> Money {
    Money::parse(s, Currency::USD).unwrap()
}

/// Runs blocking PostgreSQL code (the `postgres` client panics inside a tokio runtime) on a
/// thread of its own.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(f).join().unwrap())
}

/// Schemas made for one test, dropped when it ends (whether it passed or not).
pub struct Scratch {
    pub url: String,
    schemas: Mutex<Vec<String>>,
}

impl Scratch {
    pub fn new(url: String) -> Scratch {
        Scratch {
            url,
            schemas: Mutex::new(Vec::new()),
        }
    }

    /// A name no other test, run or process uses.
    pub fn schema(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "giftcert_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.schemas.lock().unwrap().push(name.clone());
        name
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let schemas = std::mem::take(&mut *self.schemas.lock().unwrap_or_else(|e| e.into_inner()));
        let url = &self.url;
        // Off any runtime: the async tests drop their scratch inside tokio's.
        off_runtime(move || {
            if let Ok(mut client) = postgres::Client::connect(url, NoTls) {
                for schema in schemas {
                    let _ =
                        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }
        });
    }
}

/// The server's URL with `user` instead of its user (a role of the test's own, trusted by the
/// throw-away server without a password), as `key=value` settings.
pub fn as_user(url: &str, user: &str) -> String {
    let config: postgres::Config = url.parse().unwrap();
    let dbname = config.get_dbname().unwrap_or("postgres").to_owned();
    settings(&config, user, &dbname, None)
}

/// The server's URL with database `dbname` instead of its own, as `key=value` settings, its
/// user and password kept.
#[allow(dead_code)]
pub fn on_database(url: &str, dbname: &str) -> String {
    let config: postgres::Config = url.parse().unwrap();
    let user = config.get_user().unwrap_or("postgres").to_owned();
    settings(&config, &user, dbname, config.get_password())
}

/// `config`'s host and port with `user`, `dbname` and, when given, `password`, as
/// `key=value` settings.
fn settings(
    config: &postgres::Config,
    user: &str,
    dbname: &str,
    password: Option<&[u8]>,
) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(name)) => name.clone(),
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let mut settings = format!("host={host} port={port} user={user} dbname={dbname}");
    if let Some(password) = password {
        let password = String::from_utf8_lossy(password)
            .replace('\\', "\\\\")
            .replace('\'', "\\'");
        settings.push_str(&format!(" password='{password}'"));
    }
    settings
}

/// The advisory lock taken around statements that change the database's own rights (granting
/// or revoking `CREATE` on it), which fail when two run at once.
const DATABASE_GRANTS: i64 = 7_366_281;

/// A login role of one test's own (no other right: no `CREATE` on the database, owner of
/// nothing), dropped with everything it owns and every right it holds when the test ends.
pub struct ScratchRole {
    url: String,
    pub name: String,
}

impl ScratchRole {
    pub fn new(url: &str, tag: &str) -> ScratchRole {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "giftcert_{tag}_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let url = url.to_owned();
        let created = name.clone();
        let server = url.clone();
        off_runtime(move || {
            postgres::Client::connect(&server, NoTls)
                .unwrap()
                .batch_execute(&format!("CREATE ROLE {created} LOGIN"))
                .unwrap();
        });
        ScratchRole { url, name }
    }

    /// Its URL on the server's database.
    pub fn url(&self) -> String {
        as_user(&self.url, &self.name)
    }
}

impl Drop for ScratchRole {
    fn drop(&mut self) {
        let (url, name) = (&self.url, &self.name);
        off_runtime(move || {
            if let Ok(mut client) = postgres::Client::connect(url, NoTls) {
                let _ = client.batch_execute(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock({DATABASE_GRANTS}); \
                     DROP OWNED BY {name} CASCADE; COMMIT"
                ));
                let _ = client.batch_execute(&format!("DROP ROLE IF EXISTS {name}"));
            }
        });
    }
}

/// A schema owned by a role that may create it and nothing else, and a runtime role given
/// only what `grant_runtime` gives: the production split of the README.
pub struct OwnedSchema {
    pub schema: String,
    pub owner: ScratchRole,
    pub app: ScratchRole,
}

impl OwnedSchema {
    /// Creates the roles, lets the owner create schemas in the server's database, migrates
    /// `schema` as the owner and grants the runtime role its rights there.
    pub fn new(url: &str, schema: String) -> OwnedSchema {
        let owned = OwnedSchema::roles(url, schema);
        owned.migrate();
        let (owner_url, schema, app) = (
            owned.owner.url(),
            owned.schema.clone(),
            owned.app.name.clone(),
        );
        off_runtime(move || {
            giftcert_postgres::grant_runtime(
                &owner_url,
                Some(&schema),
                &app,
                giftcert_postgres::Tls::default(),
            )
            .unwrap();
        });
        owned
    }

    /// Creates the roles and lets the owner create schemas in the server's database; `schema`
    /// is not made.
    pub fn roles(url: &str, schema: String) -> OwnedSchema {
        let owner = ScratchRole::new(url, "owner");
        let app = ScratchRole::new(url, "app");
        let (server, name) = (url.to_owned(), owner.name.clone());
        off_runtime(move || {
            let mut admin = postgres::Client::connect(&server, NoTls).unwrap();
            let db: String = admin
                .query_one("SELECT current_database()::text", &[])
                .unwrap()
                .get(0);
            // Grants on one database rewrite its catalogue row: two tests granting at once
            // fail with "tuple concurrently updated" unless they take turns.
            admin
                .batch_execute(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock({DATABASE_GRANTS}); \
                     GRANT CREATE ON DATABASE {db} TO {name}; COMMIT"
                ))
                .unwrap();
        });
        OwnedSchema { schema, owner, app }
    }

    /// Runs the migrations as the owner.
    pub fn migrate(&self) {
        let (owner_url, schema) = (self.owner.url(), self.schema.clone());
        off_runtime(move || {
            giftcert_postgres::migrate(
                &owner_url,
                Some(&schema),
                &key(),
                giftcert_postgres::Tls::default(),
            )
            .unwrap();
        });
    }

    /// A plain client as the runtime role, whose search path is the schema.
    pub fn app_client(&self) -> postgres::Client {
        let (url, schema) = (self.app.url(), self.schema.clone());
        off_runtime(move || {
            let mut client = postgres::Client::connect(&url, NoTls).unwrap();
            client
                .batch_execute(&format!("SET search_path TO {schema}"))
                .unwrap();
            client
        })
    }
}

/// The SQLSTATE the server answers `sql` with, which must fail.
pub fn sqlstate(client: &mut postgres::Client, sql: &str) -> String {
    let error = client
        .batch_execute(sql)
        .expect_err(&format!("the database accepted {sql}"));
    error
        .as_db_error()
        .map_or_else(|| error.to_string(), |db| db.code().code().to_owned())
}

/// What the runtime role may do on each table of the schema, as the server says
/// (`has_table_privilege` for every table privilege), as `table: PRIV, PRIV` lines in table
/// order.
pub fn table_rights(url: &str, schema: &str, role: &str) -> Vec<String> {
    let (url, schema, role) = (url.to_owned(), schema.to_owned(), role.to_owned());
    off_runtime(move || {
        let mut admin = postgres::Client::connect(&url, NoTls).unwrap();
        admin
            .query(
                "SELECT c.relname::text || ': ' || coalesce(string_agg(p, ', ' ORDER BY n), '') \
                 FROM pg_class c \
                 LEFT JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', \
                 'REFERENCES', 'TRIGGER']) WITH ORDINALITY AS privs (p, n) \
                 ON has_table_privilege($2::text, c.oid, p) \
                 WHERE c.relnamespace = $1::text::regnamespace AND c.relkind IN ('r', 'S', 'v') \
                 GROUP BY c.relname ORDER BY c.relname",
                &[&schema, &role],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    })
}

/// What `table_rights` must say for the runtime role: the rights `grant_runtime` documents.
pub const RUNTIME_RIGHTS: [&str; 10] = [
    "card_sweeps: SELECT, INSERT, UPDATE, DELETE",
    "card_tags: SELECT, INSERT",
    "cards: SELECT, INSERT, UPDATE",
    "checkouts: SELECT, INSERT, UPDATE",
    "giftcert_schema_migrations: SELECT",
    "guard_windows: SELECT, INSERT, UPDATE, DELETE",
    "holds: SELECT, INSERT, DELETE",
    "idempotency_records: SELECT, INSERT, UPDATE, DELETE",
    "ledger_entries: SELECT, INSERT",
    "store_key: SELECT",
];

/// Statements that would edit history or the schema, each of which the runtime role must be
/// refused with SQLSTATE 42501 (insufficient privilege, or "must be owner"): a right too wide
/// would let one through, or fail it with another code (a trigger's, say).
pub const REFUSED_TO_THE_RUNTIME_ROLE: [&str; 18] = [
    "ALTER TABLE ledger_entries DISABLE TRIGGER ALL",
    "ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_are_append_only",
    "ALTER TABLE cards DISABLE TRIGGER cards_versions_count_writes",
    "DROP TRIGGER ledger_entries_are_append_only ON ledger_entries",
    "UPDATE ledger_entries SET amount = 0",
    "DELETE FROM ledger_entries",
    "TRUNCATE ledger_entries",
    "UPDATE card_tags SET tag = 'x'",
    "DELETE FROM card_tags",
    "DELETE FROM cards",
    "UPDATE store_key SET fingerprint = repeat('0', 64)",
    "DELETE FROM giftcert_schema_migrations",
    "DROP TABLE ledger_entries",
    "ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_balance_not_negative",
    "CREATE TABLE planted (id integer)",
    "CREATE OR REPLACE FUNCTION giftcert_commit(changes jsonb) RETURNS void \
     LANGUAGE sql AS 'SELECT'",
    "CREATE SCHEMA giftcert_planted",
    "INSERT INTO giftcert_schema_migrations (version) VALUES (99)",
];
