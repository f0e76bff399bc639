//! Back-office commands on `SqliteStore`: their entries, with who and why, survive the file;
//! and the checkout's money moves past authorise-and-capture.

use std::sync::atomic::{AtomicUsize, Ordering};

use giftcert_sqlite::SqliteStore;
use giftcert_store_support::CodeKey;

#[test]
fn sqlite_store_passes_the_back_office_checks() {
    let dir = tempfile::tempdir().unwrap();
    let files = AtomicUsize::new(0);
    giftcert::testkit::check_back_office(|| {
        let n = files.fetch_add(1, Ordering::Relaxed);
        let key = CodeKey::new(b"giftcert-sqlite back-office key!").unwrap();
        SqliteStore::open(dir.path().join(format!("office-{n}.db")), key).unwrap()
    })
    .unwrap();
}

#[test]
fn sqlite_store_passes_the_checkout_flow_checks() {
    let dir = tempfile::tempdir().unwrap();
    let files = AtomicUsize::new(0);
    giftcert::testkit::check_checkout_flow(|| {
        let n = files.fetch_add(1, Ordering::Relaxed);
        let key = CodeKey::new(b"giftcert-sqlite back-office key!").unwrap();
        SqliteStore::open(dir.path().join(format!("checkout-{n}.db")), key).unwrap()
    })
    .unwrap();
}
