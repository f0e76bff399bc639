//! The guard against code guessing on the in-memory store: slots reserved before the lookup,
//! given back for known codes, a limit of zero, and `remove_code` through the guard.

mod support;
use support::reference;

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use giftcert::{
    CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, RedeemError, Redeemer,
    Store,
    clock::FixedClock,
    redeem::{GuardPolicy, Protocol},
};

fn redeemer<S: Store>(store: S, limit: u32) -> Redeemer<S> {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    Redeemer::new(store)
        .with_clock(Arc::new(FixedClock::new(t0)))
        .with_guard(GuardPolicy::new(limit, Duration::hours(1)))
}

/// Codes with a valid check character that no card has.
fn unissued(n: usize) -> Vec<String> {
    let protocol = Protocol::default();
    (0..n)
        .map(|_| protocol.draw().unwrap().1.expose_secret().to_owned())
        .collect()
}

fn issue<S: Store>(redeemer: &Redeemer<S>) -> String {
    let value = Money::parse("10", Currency::USD).unwrap();
    let issued = redeemer
        .issue(
            &IdempotencyKey::new(&format!("issue-{}", rand::random::<u64>())).unwrap(),
            vec![CardSpec::new(value)],
        )
        .unwrap();
    match &issued.notifications[0] {
        Notification::CardIssued { code, .. } => code.expose_secret().to_owned(),
        other => panic!("unexpected {other:?}"),
    }
}

/// 8 threads from one client guess distinct codes at once: at most the limit of them get
/// "unknown", the others are refused (the kit's check, which the SQL stores run too). Before,
/// each checked the window, looked up and then recorded the miss, so all 8 could get an answer.
#[test]
fn memory_store_never_answers_more_guesses_than_the_limit() {
    giftcert::testkit::check_guard_race(MemoryStore::new, 20).unwrap();
}

/// Before, a new client's first lookup went through a limit of zero.
#[test]
fn a_limit_of_zero_refuses_even_a_new_clients_first_lookup() {
    let redeemer = redeemer(MemoryStore::new(), 0);
    let code = issue(&redeemer);
    let client = reference("ip:203.0.113.7");
    assert!(matches!(
        redeemer.check_balance(&client, &code),
        Err(RedeemError::TooManyAttempts(_))
    ));
    assert!(matches!(
        redeemer.check_balance(&client, &unissued(1)[0]),
        Err(RedeemError::TooManyAttempts(_))
    ));
}

#[test]
fn known_codes_give_their_slot_back() {
    let redeemer = redeemer(MemoryStore::new(), 1);
    let code = issue(&redeemer);
    let client = reference("ip:203.0.113.7");
    for _ in 0..5 {
        redeemer.check_balance(&client, &code).unwrap();
    }
    let wrong = unissued(2);
    assert!(matches!(
        redeemer.check_balance(&client, &wrong[0]),
        Err(RedeemError::UnknownCode(_))
    ));
    assert!(matches!(
        redeemer.check_balance(&client, &wrong[1]),
        Err(RedeemError::TooManyAttempts(_))
    ));
}

/// Before, `remove_code` looked codes up with no client, no check character and no guard,
/// and told "unknown" from "not on this checkout".
#[test]
fn remove_code_goes_through_the_check_character_and_the_guard() {
    let redeemer = redeemer(MemoryStore::new(), 2);
    let client = reference("ip:203.0.113.7");
    let checkout = reference("c1");
    let on = issue(&redeemer);
    let elsewhere = issue(&redeemer);
    redeemer
        .apply_code(&client, &checkout, Currency::USD, &on)
        .unwrap();

    // A mistyped check character is refused before any lookup.
    let mut mistyped = on.clone();
    let last = mistyped.pop().unwrap();
    mistyped.push(if last == 'A' { 'B' } else { 'A' });
    assert!(matches!(
        redeemer.remove_code(&client, &checkout, &mistyped),
        Err(RedeemError::InvalidCode(_))
    ));

    // Unknown and "not on this checkout" get one answer, and both count.
    let not_here = redeemer
        .remove_code(&client, &checkout, &elsewhere)
        .unwrap_err();
    let unknown = redeemer
        .remove_code(&client, &checkout, &unissued(1)[0])
        .unwrap_err();
    assert!(
        matches!(not_here, RedeemError::UnknownCode(_)),
        "{not_here}"
    );
    assert!(matches!(unknown, RedeemError::UnknownCode(_)), "{unknown}");
    assert!(matches!(
        redeemer.remove_code(&client, &checkout, &unissued(1)[0]),
        Err(RedeemError::TooManyAttempts(_))
    ));
    // Another client may still remove a code that is on the checkout.
    redeemer
        .remove_code(&reference("ip:198.51.100.1"), &checkout, &on)
        .unwrap();
}
