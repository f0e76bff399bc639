//! A host that dies between authorise and capture loses no money: its holds are in the file,
//! and capture, a retried request, or expiry carry on after a restart.

use giftcert::{CheckoutId, ClientId};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use giftcert::{
    CardId, CardSpec, Currency, IdempotencyKey, Money, Notification, RedeemError, Redeemer,
    card::verify_ledger, clock::FixedClock,
};
use giftcert_sqlite::SqliteStore;
use giftcert_store_support::CodeKey;

/// Set in the child process: the database file it authorises on before it is killed.
const CHILD_FILE: &str = "GIFTCERT_SQLITE_CRASH_CHILD_FILE";
/// How long the parent waits for the child to authorise (a bound, not an expectation).
const CHILD_DEADLINE: Duration = Duration::from_secs(120);

fn key() -> CodeKey {
    CodeKey::new(b"giftcert-sqlite crash test key!!").unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn usd(s: &str) -> Money {
    Money::parse(s, Currency::USD).unwrap()
}

fn ikey(s: &str) -> IdempotencyKey {
    IdempotencyKey::new(s).unwrap()
}

fn redeemer(path: &Path, clock: &Arc<FixedClock>) -> Redeemer<SqliteStore> {
    Redeemer::new(SqliteStore::open(path, key()).unwrap())
        .with_clock(clock.clone())
        .with_hold_ttl(Some(chrono::Duration::minutes(30)))
}

/// Issues a 100.00 card and applies it to `checkout-1`; returns it with its code.
fn card_on_a_checkout(redeemer: &Redeemer<SqliteStore>) -> (CardId, String) {
    let issued = redeemer
        .issue(&ikey("issue"), vec![CardSpec::new(usd("100"))])
        .unwrap();
    let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else {
        panic!("no card issued");
    };
    redeemer
        .apply_code(
            &ClientId::new("client").unwrap(),
            &CheckoutId::new("checkout-1").unwrap(),
            Currency::USD,
            code.expose_secret(),
        )
        .unwrap();
    (*card, code.expose_secret().to_owned())
}

/// The child: authorises 60.00, says so, and waits to be killed.
fn authorise_and_wait_to_be_killed(path: &Path) -> ! {
    let clock = Arc::new(FixedClock::new(t0()));
    let redeemer = redeemer(path, &clock);
    redeemer
        .authorise(
            &ikey("auth-1"),
            &CheckoutId::new("checkout-1").unwrap(),
            usd("60"),
        )
        .unwrap();
    std::fs::write(path.with_extension("authorised"), b"").unwrap();
    std::thread::sleep(CHILD_DEADLINE);
    std::process::exit(3);
}

/// The test process runs itself again as the child, kills it (SIGKILL on Unix: no destructor
/// runs, no connection is closed) once it has authorised, and then reopens the file.
#[test]
fn a_process_killed_between_authorise_and_capture_loses_nothing() {
    if let Some(path) = std::env::var_os(CHILD_FILE) {
        authorise_and_wait_to_be_killed(Path::new(&path));
    }
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("cards.db");
    let clock = Arc::new(FixedClock::new(t0()));
    let (card, _) = card_on_a_checkout(&redeemer(&path, &clock));

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_process_killed_between_authorise_and_capture_loses_nothing",
            "--nocapture",
        ])
        .env(CHILD_FILE, &path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !path.with_extension("authorised").exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended before authorising: {status}");
        }
        assert!(
            started.elapsed() < CHILD_DEADLINE,
            "the child did not authorise"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was not killed: {status}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "the child was not killed: {status}"
        );
    }

    // The restarted host finds the hold where the dead one left it.
    clock.advance(chrono::Duration::minutes(5)).unwrap();
    let redeemer = redeemer(&path, &clock);
    let stored = redeemer.card(card).unwrap().unwrap();
    assert_eq!(stored.balance(), usd("100"));
    assert_eq!(stored.held(), usd("60"));
    assert_eq!(stored.available(), usd("40"));
    assert_eq!(stored.holds().len(), 1);

    // The host retries the request it never saw answered: the recorded result comes back.
    let checkout = CheckoutId::new("checkout-1").unwrap();
    let retried = redeemer
        .authorise(&ikey("auth-1"), &checkout, usd("60"))
        .unwrap();
    assert!(retried.replayed);
    assert_eq!(retried.outcome.credit, usd("60"));

    let captured = redeemer.capture(&ikey("capture-1"), &checkout).unwrap();
    assert_eq!(captured.outcome.total, usd("60"));
    let stored = redeemer.card(card).unwrap().unwrap();
    assert_eq!(stored.balance(), usd("40"));
    assert!(stored.held().is_zero());
    verify_ledger(card, stored.balance(), &redeemer.history(card).unwrap()).unwrap();
}

/// A store dropped between authorise and capture (every connection closed) leaves the hold
/// in the file; once the hold's time is up, the money can be spent again and the old
/// authorisation no longer captures.
#[test]
fn holds_left_by_a_dropped_store_still_expire() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cards.db");
    let clock = Arc::new(FixedClock::new(t0()));
    let first = redeemer(&path, &clock);
    let (card, code) = card_on_a_checkout(&first);
    let checkout = CheckoutId::new("checkout-1").unwrap();
    first
        .authorise(&ikey("auth-1"), &checkout, usd("60"))
        .unwrap();
    drop(first);

    let redeemer = redeemer(&path, &clock);
    let stored = redeemer.card(card).unwrap().unwrap();
    assert_eq!(stored.available(), usd("40"));
    assert_eq!(stored.holds().len(), 1);

    // Past the hold's 30 minutes, another checkout can have all 100.00.
    clock.advance(chrono::Duration::minutes(31)).unwrap();
    let later = CheckoutId::new("checkout-2").unwrap();
    redeemer
        .apply_code(
            &ClientId::new("client").unwrap(),
            &later,
            Currency::USD,
            &code,
        )
        .unwrap();
    let auth = redeemer
        .authorise(&ikey("auth-2"), &later, usd("100"))
        .unwrap();
    assert_eq!(
        auth.outcome.credit,
        usd("100"),
        "the expired hold was released"
    );

    let stale = redeemer.capture(&ikey("capture-1"), &checkout);
    assert!(
        matches!(stale, Err(RedeemError::AuthorisationExpired(_))),
        "{stale:?}"
    );
    let captured = redeemer.capture(&ikey("capture-2"), &later).unwrap();
    assert_eq!(captured.outcome.total, usd("100"));
    let stored = redeemer.card(card).unwrap().unwrap();
    assert!(stored.balance().is_zero());
    verify_ledger(card, stored.balance(), &redeemer.history(card).unwrap()).unwrap();
}
