//! The redemption flow on PostgreSQL: issue a card, apply its code to a checkout, authorise,
//! capture, and see where it all went.
//!
//! ```text
//! GIFTCERT_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres \
//!     cargo run -p giftcert-postgres --example postgres_quickstart
//! ```
//!
//! The tables go to the schema `giftcert_quickstart`, emptied at the start of each run. Codes
//! are hashed with the key in `GIFTCERT_CODE_KEY` (at least 16 bytes as hex); without it the
//! example uses a fixed demonstration key, which a real host must never do.

use giftcert::{CheckoutId, ClientId};
use std::str::FromStr;

use giftcert::{CardSpec, Currency, IdempotencyKey, Money, Notification, Redeemer};
use giftcert_postgres::{CodeKey, PostgresStore};

const SCHEMA: &str = "giftcert_quickstart";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("GIFTCERT_POSTGRES_URL") else {
        println!("GIFTCERT_POSTGRES_URL is not set: point it at a PostgreSQL server, for example");
        println!("  GIFTCERT_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres \\");
        println!("      cargo run -p giftcert-postgres --example postgres_quickstart");
        println!("(bash .ci/run starts a throw-away server and runs this example against it)");
        return Ok(());
    };
    let usd = |s: &str| Money::parse(s, Currency::USD);
    let key = match std::env::var("GIFTCERT_CODE_KEY") {
        Ok(hex) => CodeKey::from_hex(&hex)?,
        Err(_) => {
            println!("(GIFTCERT_CODE_KEY is not set: using a demonstration key)");
            CodeKey::new(b"demonstration key, never in use!")?
        }
    };

    // Where the server is, without the password.
    let config = postgres::Config::from_str(&url)?;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    println!(
        "== server {} port {}, database {}, schema {SCHEMA}",
        hosts.join(","),
        if ports.is_empty() {
            "5432".to_owned()
        } else {
            ports.join(",")
        },
        config.get_dbname().unwrap_or("(the user's)"),
    );

    // A fresh schema each run.
    let mut admin = config.connect(postgres::NoTls)?;
    admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))?;
    let redeemer = Redeemer::new(PostgresStore::connect_in_schema(&url, SCHEMA, key)?);

    println!("== 1. Issue a 100.00 USD card");
    let issued = redeemer.issue(
        &IdempotencyKey::new("quickstart-issue")?,
        vec![CardSpec::new(usd("100")?)],
    )?;
    let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else {
        return Err("no card was issued".into());
    };
    println!(
        "  card {card}, code {} (e-mailed to its owner)",
        code.masked()
    );

    println!("== 2. The shopper applies the code to checkout order-1001");
    let checkout = CheckoutId::new("order-1001")?;
    let client = ClientId::new("203.0.113.7")?;
    let applied = redeemer.apply_code(&client, &checkout, Currency::USD, code.expose_secret())?;
    println!("  {} can give {}", applied.code, applied.balance);

    println!("== 3. Authorise 60.00: the money is held");
    redeemer.authorise(
        &IdempotencyKey::new("order-1001-auth")?,
        &checkout,
        usd("60")?,
    )?;
    let held = redeemer.card(*card)?.ok_or("card vanished")?;
    println!(
        "  balance {}, held {}, available {}",
        held.balance(),
        held.held(),
        held.available()
    );

    println!("== 4. The order completes: capture");
    let captured = redeemer.capture(&IdempotencyKey::new("order-1001-capture")?, &checkout)?;
    let after = redeemer.card(*card)?.ok_or("card vanished")?;
    println!(
        "  captured {}, balance now {}",
        captured.outcome.total,
        after.balance()
    );

    println!("== 5. What the database holds");
    for row in admin.query(
        &format!("SELECT id, code_last4, balance::text, held::text, version FROM {SCHEMA}.cards"),
        &[],
    )? {
        let (id, last4, balance, held, version): (String, String, String, String, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        println!("  cards: {id} ...{last4} balance {balance} held {held} version {version}");
    }
    for row in admin.query(
        &format!(
            "SELECT seq, kind, amount::text, balance_after::text \
             FROM {SCHEMA}.ledger_entries ORDER BY seq"
        ),
        &[],
    )? {
        let (seq, kind, amount, after): (i64, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        println!("  ledger_entries: #{seq} {kind} {amount} -> {after}");
    }
    Ok(())
}
