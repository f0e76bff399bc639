//! A shopper's "check your balance" page: the balance, what is available, the expiry and the
//! status by the masked code, through the check character and the unknown-code guard.

mod support;
use support::{key, reference, usd};

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use giftcert::card::CardStatus;
use giftcert::clock::FixedClock;
use giftcert::redeem::{CardCommand, GuardPolicy};
use giftcert::store::AsyncRedeemer;
use giftcert::testkit::block_on;
use giftcert::{CardSpec, Currency, MemoryStore, Notification, RedeemError, Redeemer};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
}

fn setup() -> (Redeemer<MemoryStore>, Arc<FixedClock>, String) {
    let clock = Arc::new(FixedClock::new(t0()));
    let redeemer = Redeemer::new(MemoryStore::new())
        .with_clock(clock.clone())
        .with_guard(GuardPolicy::new(3, Duration::hours(1)));
    let mut spec = CardSpec::new(usd("80"));
    spec.expires_at = Some(t0() + Duration::days(30));
    let issued = redeemer.issue(&key("issue"), vec![spec]).unwrap();
    let Notification::CardIssued { code, .. } = &issued.notifications[0] else {
        panic!("no code")
    };
    (redeemer, clock, code.expose_secret().to_owned())
}

#[test]
fn the_check_shows_balance_available_expiry_and_status_by_the_masked_code() {
    let (redeemer, clock, code) = setup();
    let shopper = reference("203.0.113.9");
    let fresh = redeemer.check_balance(&shopper, &code).unwrap();
    assert_eq!(fresh.balance, usd("80"));
    assert_eq!(fresh.available, usd("80"));
    assert_eq!(fresh.status, CardStatus::Active);
    assert_eq!(fresh.expires_at, Some(t0() + Duration::days(30)));
    let shown = format!("{fresh:?} {}", serde_json::to_string(&fresh).unwrap());
    assert!(!shown.contains(&code), "the whole code leaked: {shown}");

    // A checkout holds 30.00: the balance stays, the available amount falls.
    let checkout = reference("c1");
    redeemer
        .apply_code(&shopper, &checkout, Currency::USD, &code)
        .unwrap();
    redeemer
        .authorise(&key("c1/a"), &checkout, usd("30"))
        .unwrap();
    let held = redeemer.check_balance(&shopper, &code).unwrap();
    assert_eq!((held.balance, held.available), (usd("80"), usd("50")));

    // Once the hold is past its time limit it no longer counts.
    clock.advance(Duration::hours(1)).unwrap();
    let released = redeemer.check_balance(&shopper, &code).unwrap();
    assert_eq!(released.available, usd("80"));

    // Past its date the card shows as expired, with nothing available.
    clock.advance(Duration::days(31)).unwrap();
    let expired = redeemer.check_balance(&shopper, &code).unwrap();
    assert_eq!(expired.status, CardStatus::Expired);
    assert_eq!((expired.balance, expired.available), (usd("80"), usd("0")));
}

#[test]
fn a_disabled_card_shows_its_balance_but_nothing_available() {
    let (redeemer, _, code) = setup();
    let shopper = reference("shopper");
    let card = redeemer.check_balance(&shopper, &code).unwrap().card;
    let by = giftcert::card::Attribution::new(
        reference("staff:ana"),
        giftcert::card::Reason::new("reported stolen").unwrap(),
    );
    redeemer
        .amend(&key("disable"), card, CardCommand::Disable, &by)
        .unwrap();
    let check = redeemer.check_balance(&shopper, &code).unwrap();
    assert_eq!(check.status, CardStatus::Disabled);
    assert_eq!((check.balance, check.available), (usd("80"), usd("0")));
}

#[test]
fn a_typo_is_refused_before_the_store_and_unknown_codes_count_against_the_guard() {
    let (redeemer, _, code) = setup();
    let guesser = reference("198.51.100.4");
    // Changing one character breaks the check character: refused, and not counted.
    let mut typo: Vec<char> = code.chars().collect();
    let last = typo.len() - 2;
    typo[last] = if typo[last] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    for _ in 0..5 {
        assert!(matches!(
            redeemer.check_balance(&guesser, &typo),
            Err(RedeemError::InvalidCode(_))
        ));
    }
    // Well-formed codes no card has: three are answered "unknown", then the guard refuses,
    // even the real code.
    let generator = giftcert::code::RandomCodeGenerator::default();
    for _ in 0..3 {
        let guess = giftcert::code::CodeGenerator::generate(&generator).unwrap();
        assert!(matches!(
            redeemer.check_balance(&guesser, guess.expose_secret()),
            Err(RedeemError::UnknownCode(_))
        ));
    }
    assert!(matches!(
        redeemer.check_balance(&guesser, &code),
        Err(RedeemError::TooManyAttempts(_))
    ));
    // Another client is not affected.
    assert!(redeemer.check_balance(&reference("other"), &code).is_ok());
}

#[test]
fn the_async_driver_checks_the_same_way() {
    let redeemer =
        AsyncRedeemer::new(MemoryStore::new()).with_clock(Arc::new(FixedClock::new(t0())));
    block_on(async {
        let issued = redeemer
            .issue(&key("issue"), vec![CardSpec::new(usd("15"))])
            .await
            .unwrap();
        let Notification::CardIssued { code, .. } = &issued.notifications[0] else {
            panic!("no code")
        };
        let check = redeemer
            .check_balance(&reference("a"), code.expose_secret())
            .await
            .unwrap();
        assert_eq!(check.card, issued.outcome.cards[0].card);
        assert_eq!((check.balance, check.available), (usd("15"), usd("15")));
        let unknown = redeemer.check_balance(&reference("a"), "NOT-A-CODE").await;
        assert!(unknown.is_err());
    });
}
