//! Rules the redemption protocol keeps whatever drives it: expired holds never count,
//! an expired authorisation can be authorised again, errors name the state met.

mod support;
use support::{key, reference, usd};

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use giftcert::{
    CardId, CardSpec, Currency, MemoryStore, Notification, RedeemError, Redeemer, clock::FixedClock,
};

/// A redeemer on a fixed clock with 15-minute holds, and a 100.00 card applied to `c1` and
/// authorised in full there.
fn held_card() -> (Redeemer<MemoryStore>, Arc<FixedClock>, CardId, String) {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(),
    ));
    let redeemer = Redeemer::new(MemoryStore::new())
        .with_clock(clock.clone())
        .with_hold_ttl(Some(Duration::minutes(15)));
    let issued = redeemer
        .issue(&key("issue"), vec![CardSpec::new(usd("100"))])
        .unwrap();
    let Notification::CardIssued { code, .. } = &issued.notifications[0] else {
        panic!("no code")
    };
    let code = code.expose_secret().to_owned();
    let client = reference("client");
    redeemer
        .apply_code(&client, &reference("c1"), Currency::USD, &code)
        .unwrap();
    redeemer
        .authorise(&key("c1/a"), &reference("c1"), usd("100"))
        .unwrap();
    (redeemer, clock, issued.outcome.cards[0].card, code)
}

#[test]
fn an_expired_hold_does_not_reduce_the_balance_shown_when_a_code_is_applied() {
    let (redeemer, clock, _, code) = held_card();
    clock.advance(Duration::minutes(16)).unwrap();
    let applied = redeemer
        .apply_code(&reference("client"), &reference("c2"), Currency::USD, &code)
        .unwrap();
    assert_eq!(applied.balance, usd("100"));
}

#[test]
fn an_expired_hold_does_not_stop_another_checkout_from_authorising() {
    let (redeemer, clock, card, code) = held_card();
    clock.advance(Duration::minutes(16)).unwrap();
    redeemer
        .apply_code(&reference("client"), &reference("c2"), Currency::USD, &code)
        .unwrap();
    let auth = redeemer
        .authorise(&key("c2/a"), &reference("c2"), usd("100"))
        .unwrap();
    assert_eq!(auth.outcome.credit, usd("100"));
    let stored = redeemer.card(card).unwrap().unwrap();
    assert_eq!(stored.available(), usd("0"));
}

#[test]
fn a_live_hold_still_counts() {
    let (redeemer, clock, _, code) = held_card();
    clock.advance(Duration::minutes(14)).unwrap();
    let applied = redeemer.apply_code(&reference("client"), &reference("c2"), Currency::USD, &code);
    // The card is fully held by c1: nothing is left to show or to hold.
    match applied {
        Ok(applied) => assert_eq!(applied.balance, usd("0")),
        Err(e) => assert!(
            matches!(e, RedeemError::EmptyCard(_) | RedeemError::Card(_)),
            "{e}"
        ),
    }
}

#[test]
fn after_an_expired_authorisation_the_same_checkout_authorises_again_without_a_void() {
    let (redeemer, clock, card, _) = held_card();
    clock.advance(Duration::minutes(16)).unwrap();
    let refused = redeemer
        .capture(&key("c1/c"), &reference("c1"))
        .unwrap_err();
    assert!(
        matches!(refused, RedeemError::AuthorisationExpired(_)),
        "{refused}"
    );
    let again = redeemer
        .authorise(&key("c1/a2"), &reference("c1"), usd("100"))
        .unwrap();
    assert_eq!(again.outcome.credit, usd("100"));
    let captured = redeemer.capture(&key("c1/c2"), &reference("c1")).unwrap();
    assert_eq!(captured.outcome.total, usd("100"));
    let stored = redeemer.card(card).unwrap().unwrap();
    assert_eq!((stored.balance(), stored.held()), (usd("0"), usd("0")));
    let history = redeemer.history(card).unwrap();
    giftcert::card::verify_ledger(card, stored.balance(), &history).unwrap();
}

#[test]
fn a_capture_after_a_void_says_voided_not_expired() {
    let (redeemer, clock, _, _) = held_card();
    redeemer.void(&key("c1/v"), &reference("c1")).unwrap();
    clock.advance(Duration::minutes(16)).unwrap();
    let err = redeemer
        .capture(&key("c1/c"), &reference("c1"))
        .unwrap_err();
    assert!(
        err.to_string().contains("voided"),
        "a capture that lost to a void must say so: {err}"
    );
}

#[test]
fn an_import_replays_under_its_key_and_refuses_the_key_for_another_card() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let rules = giftcert::code::ImportRules::new(8, 20).unwrap();
    let spec = || CardSpec::new(usd("30"));
    let first = redeemer
        .import_card(
            &key("imp-1"),
            rules.import("SHOPIFY-AB12CD34").unwrap(),
            spec(),
        )
        .unwrap();
    let again = redeemer
        .import_card(
            &key("imp-1"),
            rules.import("SHOPIFY-AB12CD34").unwrap(),
            spec(),
        )
        .unwrap();
    assert!(
        again.replayed,
        "the same import under its key is a replay, not a duplicate"
    );
    assert_eq!(again.outcome, first.outcome);
    let other_value = redeemer.import_card(
        &key("imp-1"),
        rules.import("SHOPIFY-AB12CD34").unwrap(),
        CardSpec::new(usd("31")),
    );
    assert!(
        matches!(other_value, Err(RedeemError::IdempotencyConflict { .. })),
        "{other_value:?}"
    );
    let other_code = redeemer.import_card(
        &key("imp-1"),
        rules.import("SHOPIFY-ZZ99YY88").unwrap(),
        spec(),
    );
    assert!(
        matches!(other_code, Err(RedeemError::IdempotencyConflict { .. })),
        "{other_code:?}"
    );
    let duplicate = redeemer.import_card(
        &key("imp-2"),
        rules.import("SHOPIFY-AB12CD34").unwrap(),
        spec(),
    );
    assert!(
        matches!(
            duplicate,
            Err(RedeemError::Store(
                giftcert::StoreError::DuplicateCode { .. }
            ))
        ),
        "{duplicate:?}"
    );
}

/// Rule 4 through the sync driver: eight threads on one card, and a sixteen-card checkout
/// racing a spender of one of its cards, finish every round with no request failing (each
/// allowed only a few attempts, so that the pessimistic path is what gets them through).
#[test]
fn no_request_fails_with_contention_through_the_sync_driver() {
    giftcert::testkit::check_contention(MemoryStore::new).unwrap();
}

/// Rule 4 through the async driver: the same scenarios, as tasks polled together.
#[test]
fn no_request_fails_with_contention_through_the_async_driver() {
    use giftcert::testkit::{block_on, check_async_contention};

    block_on(check_async_contention(|| async { MemoryStore::new() })).unwrap();
}

/// The async driver's rule 4 with real races: the kit's contention scenarios through one
/// `AsyncRedeemer` would run its tasks on one thread, where `MemoryStore`'s ready futures
/// never collide; here eight threads drive their own futures over one shared driver.
#[test]
fn eight_threads_driving_one_async_redeemer_finish_every_round_without_contention() {
    use giftcert::store::AsyncRedeemer;
    use giftcert::testkit::block_on;

    let redeemer = Arc::new(
        AsyncRedeemer::new(MemoryStore::new())
            .with_protocol(giftcert::redeem::Protocol::default().with_attempts(5)),
    );
    let issued = block_on(redeemer.issue(&key("hot"), vec![CardSpec::new(usd("1000"))])).unwrap();
    let Notification::CardIssued { card, code, .. } = &issued.notifications[0] else {
        panic!("no code")
    };
    let (card, code) = (*card, code.expose_secret().to_owned());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (redeemer, code) = (Arc::clone(&redeemer), code.clone());
            std::thread::spawn(move || {
                for round in 0..20 {
                    let checkout = reference(&format!("hot-{t}-{round}"));
                    block_on(async {
                        redeemer
                            .apply_code(&reference("c"), &checkout, Currency::USD, &code)
                            .await?;
                        redeemer
                            .authorise(&key(&format!("{checkout}/a")), &checkout, usd("1"))
                            .await?;
                        redeemer
                            .capture(&key(&format!("{checkout}/c")), &checkout)
                            .await?;
                        Ok::<(), RedeemError>(())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .expect("no request failed, with contention or otherwise");
    }
    let stored = block_on(redeemer.card(card)).unwrap().unwrap();
    assert_eq!(stored.balance(), usd("840"));
}

/// A store on which one card's commits always conflict: a request on it can never succeed,
/// so the contention check must fail, naming the request.
#[test]
fn the_contention_check_catches_a_request_that_fails_with_contention() {
    use giftcert::testkit::CommitHook;
    use giftcert::{
        Store, StoreError,
        redeem::{CardWrite, Changes, Record},
    };

    /// Refuses every update of a card: as if another writer always got there first.
    fn always_behind(inner: &MemoryStore, changes: Changes) -> Result<(), StoreError> {
        match changes.cards.iter().find_map(|write| match write {
            CardWrite::Update { card, .. } => Some(card.id()),
            _ => None,
        }) {
            Some(id) => Err(StoreError::conflict(Record::Card(id), "always behind")),
            None => inner.commit(changes),
        }
    }

    let failure =
        giftcert::testkit::check_contention(|| CommitHook::new(MemoryStore::new(), always_behind))
            .unwrap_err();
    assert_eq!(
        failure.check,
        "racers on one card finish every round without contention"
    );
    assert!(
        failure.detail.contains("authorise") && failure.detail.contains("gave up after 5 attempts"),
        "{failure}"
    );
}
