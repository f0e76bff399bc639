//! The redemption flow on a SQLite file: issue a card, apply its code to a checkout, authorise,
//! capture, and see what the file holds.
//!
//! ```text
//! cargo run -p giftcert-sqlite --example sqlite_quickstart
//! ```
//!
//! Codes are hashed with the key in `GIFTCERT_CODE_KEY` (at least 16 bytes as hex); without
//! it the example uses a fixed demonstration key, which a real host must never do.

use giftcert::{CardSpec, Currency, IdempotencyKey, Money, Notification, Redeemer};
use giftcert::{CheckoutId, ClientId};
use giftcert_sqlite::{CodeKey, SqliteStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usd = |s: &str| Money::parse(s, Currency::USD);
    let key = match std::env::var("GIFTCERT_CODE_KEY") {
        Ok(hex) => CodeKey::from_hex(&hex)?,
        Err(_) => {
            println!("(GIFTCERT_CODE_KEY is not set: using a demonstration key)");
            CodeKey::new(b"demonstration key, never in use!")?
        }
    };

    // A fresh file each run, left behind so that you can look inside.
    let path = std::env::temp_dir().join("giftcert-sqlite-quickstart.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    let redeemer = Redeemer::new(SqliteStore::open(&path, key)?);
    println!("== database file: {}", redeemer.store().path().display());

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

    println!("== 5. The card's ledger");
    for entry in redeemer.history(*card)? {
        println!(
            "  #{} {:?} {} -> {}",
            entry.seq(),
            entry.kind(),
            entry.amount(),
            entry.balance_after()
        );
    }
    println!(
        "== look inside: sqlite3 {} 'SELECT id, code_last4, balance, held, version FROM cards'",
        path.display()
    );
    Ok(())
}
