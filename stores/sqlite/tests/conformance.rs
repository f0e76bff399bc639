//! `SqliteStore` keeps the whole `Store` contract, alone and with several stores on one file.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use giftcert::{
    CardSpec, CodeKey, Currency, FixedClock, IdempotencyKey, Money, Notification, RedeemError,
    Redeemer, Reference, verify_ledger,
};
use giftcert_sqlite::SqliteStore;

fn key() -> CodeKey {
    CodeKey::new(b"giftcert-sqlite conformance key!").unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn usd(s: &str) -> Money {
    Money::parse(s, Currency::USD).unwrap()
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
    const THREADS: usize = 8;
    /// Enough rounds for the card to run out whatever the interleaving (100 are needed).
    const MAX_ROUNDS: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let clock = Arc::new(FixedClock::new(t0()));
    let redeemers: Vec<Redeemer<SqliteStore>> = (0..THREADS)
        .map(|_| {
            Redeemer::new(SqliteStore::open(&path, key()).unwrap())
                .with_clock(clock.clone())
                .with_attempts(1_000)
        })
        .collect();
    let issued = redeemers[0]
        .issue(
            &IdempotencyKey::new("issue").unwrap(),
            vec![CardSpec::new(usd("100"))],
        )
        .unwrap();
    let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else {
        panic!("no card issued");
    };
    let (card, code) = (*card, code.expose_secret().to_owned());

    let spent: Vec<Money> = std::thread::scope(|scope| {
        let handles: Vec<_> = redeemers
            .iter()
            .enumerate()
            .map(|(t, redeemer)| {
                let code = &code;
                scope.spawn(move || {
                    let mut spent = Money::zero(Currency::USD);
                    let client = Reference::new("client").unwrap();
                    for round in 0..MAX_ROUNDS {
                        if redeemer.card(card).unwrap().unwrap().balance().is_zero() {
                            break;
                        }
                        let name = format!("t{t}-r{round}");
                        let checkout = Reference::new(&name).unwrap();
                        match redeemer.apply_code(&client, &checkout, Currency::USD, code) {
                            Ok(_) => {}
                            // Everything left is held by other threads, which will capture it.
                            Err(RedeemError::EmptyCard(_)) => continue,
                            Err(e) => panic!("apply: {e}"),
                        }
                        let key = |step: &str| IdempotencyKey::new(&format!("{name}-{step}"));
                        let auth = redeemer
                            .authorise(&key("a").unwrap(), &checkout, usd("1"))
                            .unwrap();
                        if auth.outcome.credit.is_zero() {
                            continue;
                        }
                        let captured = redeemer.capture(&key("c").unwrap(), &checkout).unwrap();
                        spent = spent.checked_add(captured.outcome.total).unwrap();
                    }
                    spent
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let total = Money::sum(Currency::USD, spent).unwrap();
    let stored = redeemers[0].card(card).unwrap().unwrap();
    assert_eq!(total, usd("100"), "the threads captured {total}");
    assert!(stored.balance().is_zero() && stored.held().is_zero());
    let history = redeemers[0].history(card).unwrap();
    verify_ledger(card, stored.balance(), &history).unwrap();
    // 1 issue + 100 x (hold, capture).
    assert_eq!(history.len(), 201);
}
