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

/// 8 threads from one client guess distinct codes at once through one store: at most the
/// guard's limit of them get "unknown", the others are refused, because the guard's slot is
/// reserved (a versioned commit) before the lookup.
fn eight_parallel_guesses_get_at_most_the_limit<S: giftcert::Store + 'static>(store: S) {
    use std::sync::{Arc, Barrier};

    use giftcert::RedeemError;
    use giftcert::redeem::{GuardPolicy, Protocol};

    const LIMIT: usize = 3;
    let redeemer = Arc::new(
        giftcert::Redeemer::new(store)
            .with_guard(GuardPolicy::new(LIMIT as u32, chrono::Duration::hours(1))),
    );
    let client = giftcert::Reference::new("ip:203.0.113.7").unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let protocol = Protocol::default();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let code = protocol.draw().unwrap().1.expose_secret().to_owned();
            let (redeemer, client, barrier) = (redeemer.clone(), client.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                redeemer.check_balance(&client, &code)
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let unknown = answers
        .iter()
        .filter(|a| matches!(a, Err(RedeemError::UnknownCode(_))))
        .count();
    let refused = answers
        .iter()
        .filter(|a| matches!(a, Err(RedeemError::TooManyAttempts(_))))
        .count();
    assert_eq!(unknown, LIMIT, "{answers:?}");
    assert_eq!(unknown + refused, 8, "{answers:?}");
}

#[test]
fn sqlite_never_answers_more_parallel_guesses_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    for n in 0..5 {
        eight_parallel_guesses_get_at_most_the_limit(
            SqliteStore::open(dir.path().join(format!("guard-{n}.db")), key()).unwrap(),
        );
    }
}
