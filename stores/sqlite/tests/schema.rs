//! The file's schema: migrations, the constraints the database enforces by itself, and codes
//! kept only as keyed hashes.

use giftcert::{CheckoutId, ClientId};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use giftcert::{
    CardId, CardSpec, Code, Currency, IdempotencyKey, Money, Notification, Redeemer, Reference,
    Store, clock::FixedClock,
};
use giftcert_sqlite::{OpenError, SCHEMA_VERSION, SqliteStore};
use giftcert_store_support::CodeKey;
use rusqlite::Connection;

fn key() -> CodeKey {
    CodeKey::new(b"giftcert-sqlite schema test key!").unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn usd(s: &str) -> Money {
    Money::parse(s, Currency::USD).unwrap()
}

/// A file holding one 100.00 USD card with a 60.00 hold on checkout `checkout-1`.
fn file_with_a_held_card(path: &Path) -> (CardId, Code) {
    let redeemer = Redeemer::new(SqliteStore::open(path, key()).unwrap())
        .with_clock(Arc::new(FixedClock::new(t0())));
    let issued = redeemer
        .issue(
            &IdempotencyKey::new("issue").unwrap(),
            vec![CardSpec::new(usd("100"))],
        )
        .unwrap();
    let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else {
        panic!("no card issued");
    };
    let checkout = CheckoutId::new("checkout-1").unwrap();
    let client = ClientId::new("client").unwrap();
    redeemer
        .apply_code(&client, &checkout, Currency::USD, code.expose_secret())
        .unwrap();
    redeemer
        .authorise(&IdempotencyKey::new("auth").unwrap(), &checkout, usd("60"))
        .unwrap();
    (*card, code.clone())
}

/// The error SQLite gives for `sql`, which must fail.
fn refused(conn: &Connection, sql: &str) -> String {
    conn.execute_batch(sql)
        .expect_err("the database accepted it")
        .to_string()
}

#[test]
fn opening_a_file_again_keeps_its_data_and_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let (card, code) = file_with_a_held_card(&path);
    let store = SqliteStore::open(&path, key()).unwrap();
    assert_eq!(store.path(), path);
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 3);
    let found = store.card_by_code(&code).unwrap().unwrap();
    assert_eq!(found.value.id(), card);
    assert_eq!(found.version, 2);
}

#[test]
fn a_file_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    drop(SqliteStore::open(&path, key()).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let error = SqliteStore::open(&path, key()).unwrap_err();
    assert!(matches!(
        error,
        OpenError::NewerSchema {
            found: 99,
            known: SCHEMA_VERSION,
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        format!(
            "{} has schema version 99, newer than version {SCHEMA_VERSION} that this giftcert-sqlite knows",
            path.display()
        )
    );
}

#[test]
fn a_file_that_cannot_be_opened_names_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-folder").join("cards.db");
    let error = SqliteStore::open(&path, key()).unwrap_err();
    assert!(matches!(error, OpenError::Database { .. }));
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot open {}: ", path.display())),
        "{error}"
    );
}

/// Each connection to `:memory:` is a database of its own: a store needs one file for all.
#[test]
fn an_in_memory_database_is_refused() {
    for path in [":memory:", ""] {
        let error = SqliteStore::open(path, key()).unwrap_err();
        assert!(matches!(error, OpenError::NotAFile { .. }), "{error:?}");
    }
    assert_eq!(
        SqliteStore::open(":memory:", key())
            .unwrap_err()
            .to_string(),
        "\":memory:\" is not a database file: SQLite would give each connection its own empty \
         database; give a file path (a temporary file in tests)"
    );
}

#[test]
fn the_database_refuses_a_negative_balance_or_holding_more_than_the_balance() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let (card, _) = file_with_a_held_card(&path);
    let conn = Connection::open(&path).unwrap();
    let set = |column: &str, value: &str| {
        format!("UPDATE cards SET {column} = '{value}', version = version + 1 WHERE id = '{card}'")
    };
    assert!(refused(&conn, &set("balance", "-1.00")).contains("cards_balance_not_negative"));
    assert!(refused(&conn, &set("held", "-0.01")).contains("cards_held_not_negative"));
    // 60.00 is held: the balance cannot fall below it, at any number of digits.
    assert!(refused(&conn, &set("balance", "59.99")).contains("cards_held_within_balance"));
    assert!(refused(&conn, &set("balance", "9.00")).contains("cards_held_within_balance"));
    assert!(refused(&conn, &set("held", "100.01")).contains("cards_held_within_balance"));
    assert!(refused(&conn, &set("held", "60.0")).contains("cards_held_within_balance"));
    assert!(refused(&conn, &set("balance", "0100.00")).contains("cards_balance_not_negative"));
    conn.execute_batch(&set("balance", "60.00")).unwrap();
    conn.execute_batch(&set("held", "0.00")).unwrap();
}

#[test]
fn the_ledger_is_append_only_and_numbered_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let (card, _) = file_with_a_held_card(&path);
    let conn = Connection::open(&path).unwrap();
    assert_eq!(
        refused(&conn, "UPDATE ledger_entries SET amount = '1000.00'"),
        "ledger entries are append-only"
    );
    assert_eq!(
        refused(&conn, "DELETE FROM ledger_entries"),
        "ledger entries are append-only"
    );
    let entry = |seq: u32| {
        format!(
            "INSERT INTO ledger_entries (card_id, seq, at, kind, amount, balance_after, entry) \
             VALUES ('{card}', {seq}, '2026-01-01T00:00:00.000000Z', 'adjusted', '1.00', \
             '101.00', '{{}}')"
        )
    };
    assert_eq!(
        refused(&conn, &entry(5)),
        "a ledger entry must follow the last entry of its card"
    );
    assert_eq!(
        refused(&conn, &entry(2)),
        "a ledger entry must follow the last entry of its card"
    );
    let orphan = "INSERT INTO ledger_entries (card_id, seq, at, kind, amount, balance_after, \
                  entry) VALUES ('0000000000000000000000000000000f', 1, 'now', 'issued', \
                  '1.00', '1.00', '{}')";
    assert_eq!(
        refused(&conn, &format!("PRAGMA foreign_keys = ON; {orphan}")),
        "FOREIGN KEY constraint failed"
    );
}

#[test]
fn a_card_keeps_its_id_and_each_write_adds_one_to_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let (card, _) = file_with_a_held_card(&path);
    let conn = Connection::open(&path).unwrap();
    let message = "a card keeps its id, and each write adds one to its version";
    assert_eq!(
        refused(
            &conn,
            &format!("UPDATE cards SET version = 9 WHERE id = '{card}'")
        ),
        message
    );
    assert_eq!(
        refused(
            &conn,
            &format!(
                "UPDATE cards SET code_digest = '{}' WHERE id = '{card}'",
                "0".repeat(64)
            )
        ),
        message
    );
    assert_eq!(
        refused(
            &conn,
            &format!(
                "UPDATE cards SET id = '{}', version = version + 1 WHERE id = '{card}'",
                "f".repeat(32)
            )
        ),
        message
    );
    // A lost code replaced: a new digest, written as a write of its own.
    conn.execute_batch(&format!(
        "UPDATE cards SET code_digest = '{}', version = version + 1 WHERE id = '{card}'",
        "0".repeat(64)
    ))
    .unwrap();
    assert_eq!(
        refused(
            &conn,
            &format!("UPDATE cards SET version = version WHERE id = '{card}'")
        ),
        message
    );
}

#[test]
fn holds_are_mirrored_with_their_ledger_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let (card, _) = file_with_a_held_card(&path);
    let conn = Connection::open(&path).unwrap();
    let (hold, amount, reference, kind): (i64, String, String, String) = conn
        .query_row(
            "SELECT h.hold_id, h.amount, h.reference, e.kind FROM holds h \
             JOIN ledger_entries e ON e.card_id = h.card_id AND e.seq = h.hold_id \
             WHERE h.card_id = ?1",
            [card.to_string()],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (hold, amount.as_str(), reference.as_str(), kind.as_str()),
        (2, "60.00", "checkout-1", "held")
    );
    let (balance, held): (String, String) = conn
        .query_row("SELECT balance, held FROM cards", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!((balance.as_str(), held.as_str()), ("100.00", "60.00"));
}

/// Everything written to the file (database and write-ahead log) is searched for the code:
/// only its keyed hash and what the card's masked hint shows (never the check character) are
/// there.
#[test]
fn a_leaked_file_holds_no_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let (card, code) = file_with_a_held_card(&path);
    let secret = code.expose_secret();
    let conn = Connection::open(&path).unwrap();
    let (digest, last4): (String, String) = conn
        .query_row(
            "SELECT code_digest, code_last4 FROM cards WHERE id = ?1",
            [card.to_string()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(digest, key().digest(&code).to_string());
    let shown: String = code
        .masked()
        .chars()
        .filter(|c| *c != '*' && *c != '-')
        .collect();
    assert_eq!(last4, shown);
    assert_eq!(last4, secret[secret.len() - 4..secret.len() - 1]);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(!bytes.is_empty());
    assert!(
        !bytes
            .windows(secret.len())
            .any(|window| window == secret.as_bytes()),
        "the code is in the file"
    );
}

#[test]
fn a_store_with_another_key_is_refused_and_the_file_keeps_its_cards() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let (card, code) = file_with_a_held_card(&path);
    // Opened with another key, every code would look unknown (and count as a guess): the
    // file refuses the key instead.
    let other = SqliteStore::open(&path, CodeKey::new(&[1; 32]).unwrap()).unwrap_err();
    assert!(matches!(other, OpenError::WrongKey { .. }), "{other:?}");
    let again = SqliteStore::open(&path, key()).unwrap();
    assert!(again.card_by_code(&code).unwrap().is_some());
    assert!(again.card(card).unwrap().is_some());
}

/// A file of schema version 1 opens: migration 2 rebuilds `cards` (its hint column rewritten to
/// what the hint shows, the search columns and tags filled from the card), creates the key
/// table, and keeps every constraint and trigger.
#[test]
fn a_version_1_file_migrates_with_its_cards_hints_and_triggers() {
    use giftcert::store::CardQuery;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let code = Code::parse("X-GC-1").unwrap();
    let mut spec = CardSpec::new(usd("40"));
    spec.tags = vec!["xmas".into()];
    spec.order = Some(Reference::new("order-7").unwrap());
    spec.expires_at = Some(t0() + chrono::Duration::days(400));
    let (card, issued) =
        giftcert::GiftCard::issue(CardId::from_u128(7), &code, spec, t0()).unwrap();
    let old = Connection::open(&path).unwrap();
    old.execute_batch(include_str!("../migrations/0001_initial.sql"))
        .unwrap();
    old.pragma_update(None, "user_version", 1).unwrap();
    // As version 1 wrote it: the code's last characters, check character included.
    old.execute(
        "INSERT INTO cards (id, code_digest, code_last4, currency, status, balance, held, \
         version, card) VALUES (?1, ?2, 'GC-1', 'USD', 'active', '40.00', '0.00', 1, ?3)",
        rusqlite::params![
            card.id().to_string(),
            key().digest(&code).to_string(),
            serde_json::to_string(&card).unwrap()
        ],
    )
    .unwrap();
    old.execute(
        "INSERT INTO ledger_entries (card_id, seq, at, kind, amount, balance_after, entry) \
         VALUES (?1, 1, ?2, 'issued', '40.00', '40.00', ?3)",
        rusqlite::params![
            card.id().to_string(),
            t0().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            serde_json::to_string(&issued).unwrap()
        ],
    )
    .unwrap();
    drop(old);

    let store = SqliteStore::open(&path, key()).unwrap();
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let (last4, issued_at, order): (String, String, String) = conn
        .query_row(
            "SELECT code_last4, issued_at, order_ref FROM cards",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(last4, "", "the hint of X-GC-1 shows nothing");
    assert_eq!(issued_at, "2026-01-01T00:00:00.000000Z");
    assert_eq!(order, "order-7");
    let fingerprints: i64 = conn
        .query_row("SELECT count(*) FROM store_key", [], |row| row.get(0))
        .unwrap();
    assert_eq!(fingerprints, 1);
    let found = store.search(&CardQuery::new().by_tag("xmas")).unwrap();
    assert_eq!(found.items.len(), 1);
    let found = store
        .search(&CardQuery::new().expiring_before(t0() + chrono::Duration::days(401)))
        .unwrap();
    assert_eq!(found.items.len(), 1);
    assert!(store.card_by_code(&code).unwrap().is_some());
    // The trigger, the constraints and the foreign keys are all there.
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    assert!(
        refused(&conn, "UPDATE cards SET version = version + 2")
            .contains("adds one to its version")
    );
    assert!(
        refused(
            &conn,
            "UPDATE cards SET version = version + 1, balance = '-1.00'"
        )
        .contains("CHECK")
    );
    assert!(
        refused(
            &conn,
            "INSERT INTO ledger_entries (card_id, seq, at, kind, amount, balance_after, entry) \
         VALUES ('00000000000000000000000000000009', 1, 'x', 'issued', '1', '1', '{}')"
        )
        .contains("FOREIGN KEY")
    );
    assert!(refused(&conn, "DELETE FROM ledger_entries").contains("append-only"));
    let report = store.liability(t0()).unwrap();
    assert_eq!(
        report.currency(Currency::USD).map(|l| l.outstanding),
        Some(usd("40"))
    );
}
