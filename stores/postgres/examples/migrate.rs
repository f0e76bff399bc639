//! The deploy step: brings a schema to this crate's version as its owner, and gives the role
//! that serves shoppers its rights there, so that the host connects that role with
//! `connect_migrated` and never needs `CREATE`.
//!
//! ```text
//! GIFTCERT_POSTGRES_URL=postgresql://giftcert_owner@db.internal/shop \
//! GIFTCERT_CODE_KEY=... \
//!     cargo run -p giftcert-postgres --example migrate -- [schema] [runtime role]
//! ```
//!
//! `GIFTCERT_POSTGRES_URL` names the owner role (it creates the schema when missing, and owns
//! what the migrations create). The schema defaults to `giftcert_migrate_example`; with a
//! runtime role (which must exist, and must not be a superuser, the owner or a member of it) the example
//! grants it what `grant_runtime` documents, revoking whatever else it held there. Codes are
//! hashed with the key in `GIFTCERT_CODE_KEY` (at least 16 bytes as hex), whose fingerprint
//! the schema keeps; without it the example uses a fixed demonstration key, which a real
//! deployment must never do. Running it again runs no migration and grants the same rights.

use giftcert_postgres::{CodeKey, PoolOptions, PostgresStore, SCHEMA_VERSION, Tls};

const DEFAULT_SCHEMA: &str = "giftcert_migrate_example";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("GIFTCERT_POSTGRES_URL") else {
        println!("GIFTCERT_POSTGRES_URL is not set: point it at the PostgreSQL server as the");
        println!("schema's owner role, for example");
        println!("  GIFTCERT_POSTGRES_URL=postgresql://giftcert_owner@127.0.0.1:5432/shop \\");
        println!("      cargo run -p giftcert-postgres --example migrate -- giftcert giftcert_app");
        println!("(bash .ci/run starts a throw-away server and runs this example against it)");
        return Ok(());
    };
    let mut args = std::env::args().skip(1);
    let schema = args.next().unwrap_or_else(|| DEFAULT_SCHEMA.to_owned());
    let role = args.next();
    if args.next().is_some() {
        return Err("usage: migrate [schema] [runtime role]".into());
    }
    let key = match std::env::var("GIFTCERT_CODE_KEY") {
        Ok(hex) => CodeKey::from_hex(&hex)?,
        Err(_) => {
            println!("(GIFTCERT_CODE_KEY is not set: using a demonstration key)");
            CodeKey::new(b"demonstration key, never in use!")?
        }
    };

    println!("== migrating schema {schema} to version {SCHEMA_VERSION} as the URL's role");
    giftcert_postgres::migrate(&url, Some(&schema), &key, Tls::default())?;

    match &role {
        Some(role) => {
            println!("== granting {role} what a store serving shoppers needs in {schema}");
            giftcert_postgres::grant_runtime(&url, Some(&schema), role, Tls::default())?;
        }
        None => println!("== no runtime role given: nothing granted"),
    }

    // The check the runtime role's store makes when it connects, which runs no DDL.
    let store = PostgresStore::connect_migrated(
        &url,
        Some(&schema),
        key,
        Tls::default(),
        PoolOptions::default(),
    )?;
    drop(store);
    println!("== {schema} is migrated: connect_migrated opens it without running any DDL");
    println!(
        "Serve shoppers as {} with PostgresStore::connect_migrated (or \
         AsyncPostgresStore::connect_migrated), in schema {schema}.",
        role.as_deref().unwrap_or("the runtime role")
    );
    Ok(())
}
