//! Replacing lost codes, sweeps and retention on `SqliteStore`: the kit's checks, and tables that stay bounded once pruned.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Duration, TimeZone, Utc};
use giftcert::clock::FixedClock;
use giftcert::{CardSpec, Currency, IdempotencyKey, Money, Redeemer, Reference};
use giftcert_sqlite::SqliteStore;
use giftcert_store_support::CodeKey;
use rusqlite::Connection;

fn key() -> CodeKey {
    CodeKey::new(b"giftcert-sqlite upkeep test key!").unwrap()
}

#[test]
fn sqlite_store_passes_the_upkeep_checks() {
    let dir = tempfile::tempdir().unwrap();
    let files = AtomicUsize::new(0);
    let open = || {
        let n = files.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open(dir.path().join(format!("upkeep-{n}.db")), key()).unwrap()
    };
    giftcert::testkit::check_upkeep(open).unwrap();
}

fn rows(path: &Path, table: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .unwrap()
}

/// Records and windows pruned in batches leave the tables empty, and the cards stay; the sweep
/// and prune queries use their indexes.
#[test]
fn pruning_keeps_the_tables_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bounded.db");
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = Arc::new(FixedClock::new(start));
    let redeemer =
        Redeemer::new(SqliteStore::open(&path, key()).unwrap()).with_clock(clock.clone());
    for i in 0..200 {
        let client = Reference::new(&format!("guesser-{i}")).unwrap();
        let (_, unknown) = redeemer.protocol().draw().unwrap();
        assert!(
            redeemer
                .check_balance(&client, unknown.expose_secret())
                .is_err()
        );
        if i % 2 == 0 {
            let key = IdempotencyKey::new(&format!("k-{i}")).unwrap();
            let usd = Money::parse("1", Currency::USD).unwrap();
            redeemer.issue(&key, vec![CardSpec::new(usd)]).unwrap();
        }
    }
    assert_eq!(rows(&path, "idempotency_records"), 100);
    assert_eq!(rows(&path, "guard_windows"), 200);
    clock.advance(Duration::days(31)).unwrap();
    while redeemer.prune(64).map(|p| p.records + p.guards).unwrap() > 0 {}
    assert_eq!(rows(&path, "idempotency_records"), 0);
    assert_eq!(rows(&path, "guard_windows"), 0);
    assert_eq!(rows(&path, "cards"), 100, "pruning never deletes a card");

    let conn = Connection::open(&path).unwrap();
    for (sql, index) in [
        (
            "SELECT id FROM cards WHERE sweep_due_at IS NOT NULL AND sweep_due_at <= 'x' \
             ORDER BY sweep_due_at LIMIT 10",
            "cards_by_sweep_due",
        ),
        (
            "SELECT key FROM idempotency_records WHERE recorded_at < 'x' \
             ORDER BY recorded_at LIMIT 10",
            "idempotency_records_by_time",
        ),
        (
            "SELECT client FROM guard_windows WHERE started_at < 'x' \
             ORDER BY started_at LIMIT 10",
            "guard_windows_by_start",
        ),
    ] {
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |row| row.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter().any(|step| step.contains(index)),
            "{sql}: {plan:?}"
        );
    }
}
