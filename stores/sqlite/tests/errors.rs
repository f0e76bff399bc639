//! What a `SqliteStore` refuses, and how it says so: conflicts name their record.

use giftcert_sqlite::SqliteStore;
use giftcert_store_support::CodeKey;

fn key() -> CodeKey {
    CodeKey::new(b"giftcert-sqlite errors test key!").unwrap()
}

/// Conflicts name their record (the conformance kit's check), in the SQL stores' words.
#[test]
fn sqlite_conflicts_name_their_record() {
    let dir = tempfile::tempdir().unwrap();
    let reasons: Vec<String> = giftcert::testkit::check_conflict_records(
        SqliteStore::open(dir.path().join("cards.db"), key()).unwrap(),
    )
    .unwrap()
    .into_iter()
    .map(|(_, reason)| reason)
    .collect();
    assert_eq!(
        reasons,
        [
            "it does not exist at version 2",
            "it already exists",
            "it does not follow entry 1",
            "it already exists",
            "it is recorded",
        ]
    );
}
