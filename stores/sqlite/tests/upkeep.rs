//! Replacing lost codes, sweeps and retention on `SqliteStore`: the kit's checks, and tables that stay bounded once pruned.

use giftcert::{CheckoutId, ClientId};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Duration, TimeZone, Utc};
use giftcert::clock::FixedClock;
use giftcert::{CardSpec, Currency, IdempotencyKey, Money, Redeemer};
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
        let client = ClientId::new(&format!("guesser-{i}")).unwrap();
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

/// Migration 0003 fills `sweep_due_at` and `started_at` for rows written before it: the values
/// the store writes itself, for a held card with an expiry and a guard window.
#[test]
fn the_migration_fills_the_new_columns_of_older_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let redeemer = Redeemer::new(SqliteStore::open(&path, key()).unwrap())
        .with_clock(Arc::new(FixedClock::new(start)));
    let usd = |s: &str| Money::parse(s, Currency::USD).unwrap();
    let mut specs = Vec::new();
    for expires in [Some(Duration::minutes(10)), Some(Duration::days(9)), None] {
        let mut spec = CardSpec::new(usd("50"));
        spec.expires_at = expires.map(|d| start + d);
        specs.push(spec);
    }
    let issued = redeemer
        .issue(&IdempotencyKey::new("issue").unwrap(), specs)
        .unwrap();
    let client = ClientId::new("shopper").unwrap();
    for (i, n) in issued.notifications.iter().enumerate() {
        let giftcert::Notification::CardIssued { code, .. } = n else {
            panic!("{n:?}")
        };
        let checkout = CheckoutId::new(&format!("c{i}")).unwrap();
        redeemer
            .apply_code(&client, &checkout, Currency::USD, code.expose_secret())
            .unwrap();
        let key = IdempotencyKey::new(&format!("c{i}/a")).unwrap();
        redeemer.authorise(&key, &checkout, usd("5")).unwrap();
    }
    let (_, unknown) = redeemer.protocol().draw().unwrap();
    assert!(
        redeemer
            .check_balance(&client, unknown.expose_secret())
            .is_err()
    );
    drop(redeemer);

    let read = |conn: &Connection| -> Vec<(String, Option<String>)> {
        let mut rows: Vec<_> = conn
            .prepare("SELECT id, sweep_due_at FROM cards UNION ALL SELECT client, started_at FROM guard_windows ORDER BY 1")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        rows
    };
    let conn = Connection::open(&path).unwrap();
    let written = read(&conn);
    assert!(
        written.iter().filter(|(_, due)| due.is_some()).count() == 4,
        "{written:?}"
    );
    // Back to the state before 0003's backfill, then its statements as released.
    let migration = include_str!("../migrations/0003_upkeep.sql");
    let backfill: Vec<&str> = migration
        .split(';')
        .map(str::trim)
        .filter(|s| {
            let code: Vec<&str> = s
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect();
            code.first().is_some_and(|l| l.starts_with("UPDATE"))
        })
        .collect();
    assert_eq!(backfill.len(), 2, "{backfill:?}");
    conn.execute_batch(
        "DROP TRIGGER cards_versions_count_writes; \
         UPDATE cards SET sweep_due_at = NULL; UPDATE guard_windows SET started_at = NULL;",
    )
    .unwrap();
    for statement in backfill {
        conn.execute_batch(statement).unwrap();
    }
    assert_eq!(read(&conn), written);
}
