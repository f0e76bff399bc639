//! A file is opened only under the `CodeKey` its codes were hashed with: with another key every
//! code would look unknown, silently, and each lookup would count as a guess against the card's
//! owner.

use giftcert::{
    CardSpec, Currency, IdempotencyKey, Money, Notification, Redeemer, Store,
    code::{CodeGenerator, RandomCodeGenerator},
};
use giftcert_sqlite::{CodeKey, OpenError, SqliteStore};
use rusqlite::Connection;

fn key() -> CodeKey {
    CodeKey::new(b"giftcert-sqlite key test key!!!!").unwrap()
}

fn other_key() -> CodeKey {
    CodeKey::new(&[1; 32]).unwrap()
}

#[test]
fn a_file_refuses_another_key_with_an_error_that_names_the_problem_not_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let redeemer = Redeemer::new(SqliteStore::open(&path, key()).unwrap());
    let issued = redeemer
        .issue(
            &IdempotencyKey::new("order-1").unwrap(),
            vec![CardSpec::new(Money::parse("10", Currency::USD).unwrap())],
        )
        .unwrap();
    let Some(Notification::CardIssued { code, .. }) = issued.notifications.first() else {
        panic!("no code issued")
    };
    let code = code.clone();
    drop(redeemer);

    let error = SqliteStore::open(&path, other_key()).unwrap_err();
    assert!(
        matches!(&error, OpenError::WrongKey { path: p } if *p == path),
        "{error:?}"
    );
    let message = error.to_string();
    assert_eq!(
        message,
        format!(
            "{} was written under another code key: open it with the key its codes were \
             hashed with",
            path.display()
        )
    );
    let label = giftcert::Code::parse("GIFTCERTSTOREKEYFINGERPRINTV1").unwrap();
    for fingerprint in [key().digest(&label), other_key().digest(&label)] {
        let fingerprint = fingerprint.to_string();
        assert!(!message.contains(&fingerprint[..16]), "{message}");
        assert!(
            !format!("{error:?}").contains(&fingerprint[..16]),
            "{error:?}"
        );
    }

    // The right key still opens the file and finds the code.
    let store = SqliteStore::open(&path, key()).unwrap();
    assert!(store.card_by_code(&code).unwrap().is_some());
}

#[test]
fn an_empty_file_takes_the_key_it_is_first_opened_with() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    drop(SqliteStore::open(&path, other_key()).unwrap());
    drop(SqliteStore::open(&path, other_key()).unwrap());
    assert!(matches!(
        SqliteStore::open(&path, key()),
        Err(OpenError::WrongKey { .. })
    ));
}

#[test]
fn the_fingerprint_is_a_keyed_digest_and_not_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    drop(SqliteStore::open(&path, key()).unwrap());
    let conn = Connection::open(&path).unwrap();
    let fingerprint: String = conn
        .query_row("SELECT fingerprint FROM store_key", [], |row| row.get(0))
        .unwrap();
    assert_eq!(fingerprint.len(), 64);
    let label = giftcert::Code::parse("GIFTCERTSTOREKEYFINGERPRINTV1").unwrap();
    assert_eq!(fingerprint, key().digest(&label).to_string());
    assert_ne!(fingerprint, other_key().digest(&label).to_string());
    let raw = hex(b"giftcert-sqlite key test key!!!!");
    assert!(!fingerprint.contains(&raw));
    // A typed code is never the label by chance: a generated one fails that check.
    let generated = RandomCodeGenerator::default();
    assert!(generated.check(&label).is_err());
}

/// A file from before fingerprints (schema version 1, which had no key table) takes the key
/// it is next opened with: migration 2 creates the table.
#[test]
fn a_file_without_a_fingerprint_takes_the_next_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let old = Connection::open(&path).unwrap();
    old.execute_batch(include_str!("../migrations/0001_initial.sql"))
        .unwrap();
    old.pragma_update(None, "user_version", 1).unwrap();
    drop(old);
    drop(SqliteStore::open(&path, other_key()).unwrap());
    assert!(matches!(
        SqliteStore::open(&path, key()),
        Err(OpenError::WrongKey { .. })
    ));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
