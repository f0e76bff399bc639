//! `SqliteStore` keeps the whole `Store` contract, alone and with several stores on one file.

use std::sync::atomic::{AtomicUsize, Ordering};

use giftcert_sqlite::SqliteStore;
use giftcert_store_support::CodeKey;

fn key() -> CodeKey {
    CodeKey::new(b"giftcert-sqlite conformance key!").unwrap()
}

/// The kit runs every check on a fresh file, including 8 threads spending one card through
/// one store (and so through several of its connections).
#[test]
fn sqlite_store_passes_the_conformance_kit() {
    let dir = tempfile::tempdir().unwrap();
    let files = AtomicUsize::new(0);
    giftcert::testkit::check_store(|| {
        let n = files.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open(dir.path().join(format!("kit-{n}.db")), key()).unwrap()
    })
    .unwrap();
}

/// Eight stores, each with its own connections to one file, spend one 100.00 card 1.00 at a
/// time from eight threads until it is empty: together they capture exactly 100.00, never
/// more, and the ledger sums to the balance left (zero).
#[test]
fn eight_stores_on_one_file_never_overspend_a_card() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let stores = (0..8)
        .map(|_| SqliteStore::open(&path, key()).unwrap())
        .collect();
    giftcert::testkit::check_concurrent_spending(stores).unwrap();
}

/// The protocol's rules hold on SQLite, each on a fresh file.
#[test]
fn sqlite_store_keeps_the_protocol_rules() {
    let dir = tempfile::tempdir().unwrap();
    let files = AtomicUsize::new(0);
    giftcert::testkit::check_protocol_rules(|| {
        let n = files.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open(dir.path().join(format!("rules-{n}.db")), key()).unwrap()
    })
    .unwrap();
}

/// No request fails with contention while others make progress: eight threads spending one
/// card through one store (and so through several of its connections), and a sixteen-card
/// checkout racing a spender of one of its cards, each on a fresh file.
#[test]
fn sqlite_store_never_fails_a_request_with_contention() {
    let dir = tempfile::tempdir().unwrap();
    let files = AtomicUsize::new(0);
    giftcert::testkit::check_contention(|| {
        let n = files.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open(dir.path().join(format!("contention-{n}.db")), key()).unwrap()
    })
    .unwrap();
}

/// The kit's guard race: 8 parallel guesses from one client get at most the guard's limit.
#[test]
fn sqlite_never_answers_more_parallel_guesses_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let files = AtomicUsize::new(0);
    giftcert::testkit::check_guard_race(
        || {
            let n = files.fetch_add(1, Ordering::Relaxed);
            SqliteStore::open(dir.path().join(format!("guard-{n}.db")), key()).unwrap()
        },
        5,
    )
    .unwrap();
}

/// The kit's store-budget race: 8 clients with ids of their own guessing at once get, together,
/// at most the store-wide budget of "unknown" answers.
#[test]
fn sqlite_never_answers_more_parallel_guesses_than_the_store_budget() {
    let dir = tempfile::tempdir().unwrap();
    let files = AtomicUsize::new(0);
    giftcert::testkit::check_store_budget_race(
        || {
            let n = files.fetch_add(1, Ordering::Relaxed);
            SqliteStore::open(dir.path().join(format!("budget-{n}.db")), key()).unwrap()
        },
        3,
    )
    .unwrap();
}

/// The back office's search and liability report hold on SQLite, each on a fresh file.
#[test]
fn sqlite_store_passes_the_search_and_report_checks() {
    use giftcert::testkit::{check_liability, check_search};
    let dir = tempfile::tempdir().unwrap();
    let files = AtomicUsize::new(0);
    let open = || {
        let n = files.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open(dir.path().join(format!("report-{n}.db")), key()).unwrap()
    };
    check_search(open).unwrap();
    check_liability(open).unwrap();
}

/// The kit's forced races: a capture or void that loses to another request on its checkout
/// answers the state it meets, a thousand times through each driver.
#[test]
fn sqlite_refusals_under_a_race_name_the_state_met() {
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| SqliteStore::open(dir.path().join(name), key()).unwrap();
    giftcert::testkit::check_refusal_races(|| open("races-sync.db"), 1_000).unwrap();
    giftcert::testkit::block_on(giftcert::testkit::check_async_refusal_races(
        || {
            std::future::ready(giftcert::testkit::CommitHook::forward(open(
                "races-async.db",
            )))
        },
        1_000,
    ))
    .unwrap();
}
