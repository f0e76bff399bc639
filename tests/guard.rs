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

/// Under a limit of one, the client's one slot is free: an unknown code is answered as such,
/// and the next one refused.
fn assert_one_slot_left<S: Store>(redeemer: &Redeemer<S>, client: &giftcert::ClientId) {
    let wrong = unissued(2);
    assert!(matches!(
        redeemer.check_balance(client, &wrong[0]),
        Err(RedeemError::UnknownCode(_))
    ));
    assert!(matches!(
        redeemer.check_balance(client, &wrong[1]),
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
    assert_one_slot_left(&redeemer, &client);
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

/// Eight clients with ids of their own guess at once: together they get at most the store's
/// budget of "unknown" answers (the kit's check, which the SQL stores run too). Before, there
/// was no store-wide budget: each of them got its own limit.
#[test]
fn memory_store_never_answers_more_guesses_than_the_store_budget() {
    giftcert::testkit::check_store_budget_race(MemoryStore::new, 20).unwrap();
}

/// The budget refuses a client that has its own slots left, naming that client (not the
/// reserved id), until the budget's window ends; the reserved id is refused as a client.
#[test]
fn the_store_budget_refuses_every_client_until_its_window_ends() {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    let clock = Arc::new(FixedClock::new(t0));
    let redeemer = Redeemer::new(MemoryStore::new())
        .with_clock(clock.clone())
        .with_guard(
            GuardPolicy::new(20, Duration::hours(1)).with_store_budget(2, Duration::minutes(10)),
        );
    let codes = unissued(4);
    for (n, code) in codes.iter().take(2).enumerate() {
        let answer = redeemer.check_balance(&reference(&format!("user:{n}")), code);
        assert!(
            matches!(answer, Err(RedeemError::UnknownCode(_))),
            "{answer:?}"
        );
    }
    match redeemer.check_balance(&reference("user:9"), &codes[2]) {
        Err(RedeemError::TooManyAttempts(e)) => {
            assert_eq!(e.client, reference("user:9"));
            assert_eq!(e.retry_after, t0 + Duration::minutes(10));
        }
        other => panic!("expected the budget to refuse, got {other:?}"),
    }
    clock.set(t0 + Duration::minutes(10));
    assert!(matches!(
        redeemer.check_balance(&reference("user:9"), &codes[3]),
        Err(RedeemError::UnknownCode(_))
    ));
    match redeemer.check_balance(&reference(giftcert::redeem::STORE_BUDGET_CLIENT), &codes[3]) {
        Err(RedeemError::TooManyAttempts(e)) => {
            assert_eq!(e.retry_after, chrono::DateTime::<Utc>::MAX_UTC);
        }
        other => panic!("expected the reserved id to be refused, got {other:?}"),
    }
}

/// Without a budget (the default) nothing is kept under the reserved id: the simulator's
/// model of the guard, one window per client, still holds.
#[test]
fn no_store_budget_by_default() {
    assert_eq!(GuardPolicy::default().store_budget(), None);
    let redeemer = redeemer(MemoryStore::new(), 20);
    let code = &unissued(1)[0];
    assert!(redeemer.check_balance(&reference("user:1"), code).is_err());
    let reserved = reference(giftcert::redeem::STORE_BUDGET_CLIENT);
    assert!(redeemer.store().guard(&reserved).unwrap().is_none());
    assert!(
        redeemer
            .store()
            .guard(&reference("user:1"))
            .unwrap()
            .is_some()
    );
}

/// A known code costs two commits, applied or taken off: the reservation, and the checkout
/// with the slot given back (before, the give-back was a commit of its own). A commit lost to another writer reads the
/// window again, so the slot still goes back.
#[test]
fn a_known_code_gives_its_slot_back_in_the_checkouts_commit() {
    use giftcert::redeem::{Changes, StoreError};
    use giftcert::testkit::CommitHook;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let commits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&commits);
    // The first commit that writes a checkout loses to another writer once.
    let lose_once = Arc::new(AtomicUsize::new(1));
    let store = CommitHook::new(
        MemoryStore::new(),
        move |inner: &MemoryStore, changes: Changes| {
            counted.fetch_add(1, Ordering::SeqCst);
            if changes.checkout.is_some() {
                assert!(
                    changes.guard.is_some(),
                    "the give-back rides with the checkout"
                );
                if lose_once.swap(0, Ordering::SeqCst) == 1 {
                    return Err(StoreError::conflict(
                        giftcert::redeem::Record::Checkout(reference("c1")),
                        "another writer",
                    ));
                }
            }
            inner.commit(changes)
        },
    );
    let redeemer = redeemer(store, 1);
    let code = issue(&redeemer);
    let client = reference("ip:203.0.113.7");
    let before = commits.load(Ordering::SeqCst);
    redeemer
        .apply_code(&client, &reference("c1"), Currency::USD, &code)
        .unwrap();
    // The reservation, the lost checkout commit, its retry.
    assert_eq!(commits.load(Ordering::SeqCst) - before, 3);
    let window = redeemer.store().guard(&client).unwrap().unwrap();
    assert_eq!(window.value.count(), 0, "the known code's slot went back");
    // Without a lost commit: two.
    let before = commits.load(Ordering::SeqCst);
    redeemer
        .apply_code(&client, &reference("c2"), Currency::USD, &code)
        .unwrap();
    assert_eq!(commits.load(Ordering::SeqCst) - before, 2);
    // Taking a code off is two commits too, its slot back in the checkout's.
    let before = commits.load(Ordering::SeqCst);
    redeemer
        .remove_code(&client, &reference("c2"), &code)
        .unwrap();
    assert_eq!(commits.load(Ordering::SeqCst) - before, 2);
    let window = redeemer.store().guard(&client).unwrap().unwrap();
    assert_eq!(window.value.count(), 0);
    assert!(
        redeemer
            .store()
            .checkout(&reference("c2"))
            .unwrap()
            .unwrap()
            .value
            .applied()
            .is_empty()
    );
}

/// A known code the card refuses (here, in another currency) still gives its slot back, so a
/// shopper's mistakes with a real card never lock them out.
#[test]
fn a_known_code_the_card_refuses_gives_its_slot_back() {
    let redeemer = redeemer(MemoryStore::new(), 1);
    let code = issue(&redeemer);
    let client = reference("ip:203.0.113.7");
    for _ in 0..3 {
        let refused = redeemer
            .apply_code(&client, &reference("c1"), Currency::EUR, &code)
            .unwrap_err();
        assert!(
            !matches!(
                refused,
                RedeemError::UnknownCode(_) | RedeemError::TooManyAttempts(_)
            ),
            "{refused}"
        );
    }
    assert_one_slot_left(&redeemer, &client);
}

/// A code found on the checkout that another request takes off before this one commits: the
/// answer is "unknown" (it is no longer there), and the client's slot still goes back, since
/// the code was known when it was looked up.
#[test]
fn a_code_taken_off_meanwhile_still_gives_its_slot_back() {
    use giftcert::redeem::{self, Record, RecordWrite};
    use giftcert::redeem::{Changes, StoreError};
    use giftcert::testkit::CommitHook;
    use std::sync::atomic::{AtomicBool, Ordering};

    let armed = Arc::new(AtomicBool::new(false));
    let trigger = Arc::clone(&armed);
    // When armed, the first commit that writes the checkout loses to another request that
    // takes the code off first.
    let store = CommitHook::new(
        MemoryStore::new(),
        move |inner: &MemoryStore, changes: Changes| {
            if changes.checkout.is_some() && trigger.swap(false, Ordering::SeqCst) {
                let id = reference("c1");
                let stored = inner.checkout(&id)?.expect("the checkout");
                let card = inner
                    .card(stored.value.applied()[0])?
                    .expect("the card")
                    .value;
                let taken_off = redeem::remove(stored.value, &card).expect("on the checkout");
                inner.commit(Changes {
                    checkout: Some(RecordWrite {
                        value: taken_off,
                        expected_version: Some(stored.version),
                    }),
                    ..Changes::default()
                })?;
                return Err(StoreError::conflict(Record::Checkout(id), "another writer"));
            }
            inner.commit(changes)
        },
    );
    let redeemer = redeemer(store, 1);
    let code = issue(&redeemer);
    let client = reference("ip:203.0.113.7");
    redeemer
        .apply_code(&client, &reference("c1"), Currency::USD, &code)
        .unwrap();
    armed.store(true, Ordering::SeqCst);
    let answer = redeemer
        .remove_code(&client, &reference("c1"), &code)
        .unwrap_err();
    assert!(matches!(answer, RedeemError::UnknownCode(_)), "{answer}");
    assert_eq!(
        redeemer
            .store()
            .guard(&client)
            .unwrap()
            .unwrap()
            .value
            .count(),
        0,
        "the known code's slot went back"
    );
    assert_one_slot_left(&redeemer, &client);
}
