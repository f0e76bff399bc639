//! The async driver runs the same protocol as the sync one: the same outcomes for the same
//! requests, replays, refusals, and no overspending when tasks race for one card.

mod support;
use giftcert::testkit::block_on;
use support::{key, reference, usd};

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use giftcert::{
    CardSpec, Currency, MemoryStore, Money, Notification, RedeemError, Redeemer,
    card::verify_ledger,
    clock::FixedClock,
    code::{CodeGenerator, MemorySequence, PatternCodeGenerator},
    redeem::{GuardPolicy, Protocol},
    store::{AsyncRedeemer, Store},
};

/// Both drivers with the same clock and the same numbered codes, so that the same requests
/// must give the very same outcomes.
fn drivers() -> (Redeemer<MemoryStore>, AsyncRedeemer<MemoryStore>) {
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
    let protocol = || {
        let codes: Arc<dyn CodeGenerator> =
            Arc::new(PatternCodeGenerator::new("X-GC-{number}", MemorySequence::new()).unwrap());
        // Numbered codes are issued only under a store-wide guess budget.
        let guard = GuardPolicy::default().with_store_budget(1_000, chrono::Duration::hours(1));
        Protocol::default()
            .with_code_generator(codes)
            .with_guard(guard)
    };
    (
        Redeemer::new(MemoryStore::new())
            .with_protocol(protocol())
            .with_clock(Arc::new(FixedClock::new(at))),
        AsyncRedeemer::new(MemoryStore::new())
            .with_protocol(protocol())
            .with_clock(Arc::new(FixedClock::new(at))),
    )
}

fn issued_code(notifications: &[Notification]) -> String {
    match &notifications[0] {
        Notification::CardIssued { code, .. } => code.expose_secret().to_owned(),
        other => panic!("expected a card issued, got {other:?}"),
    }
}

#[test]
fn both_drivers_give_the_same_outcomes_for_the_same_requests() {
    let (sync, asynchronous) = drivers();
    let checkout = reference("c-1");
    let client = reference("client-1");

    let a = sync
        .issue(&key("i-1"), vec![CardSpec::new(usd("50"))])
        .unwrap();
    let b = block_on(asynchronous.issue(&key("i-1"), vec![CardSpec::new(usd("50"))])).unwrap();
    assert_eq!(a.outcome.cards[0].code, b.outcome.cards[0].code);
    let (code_a, code_b) = (issued_code(&a.notifications), issued_code(&b.notifications));
    assert_eq!(code_a, code_b);

    let applied_a = sync
        .apply_code(&client, &checkout, Currency::USD, &code_a)
        .unwrap();
    let applied_b =
        block_on(asynchronous.apply_code(&client, &checkout, Currency::USD, &code_b)).unwrap();
    assert_eq!(applied_a.balance, applied_b.balance);

    let auth_a = sync.authorise(&key("a-1"), &checkout, usd("30")).unwrap();
    let auth_b = block_on(asynchronous.authorise(&key("a-1"), &checkout, usd("30"))).unwrap();
    assert_eq!(auth_a.outcome.credit, auth_b.outcome.credit);
    assert_eq!(auth_b.outcome.credit, usd("30"));

    let cap_a = sync.capture(&key("c-1"), &checkout).unwrap();
    let cap_b = block_on(asynchronous.capture(&key("c-1"), &checkout)).unwrap();
    assert_eq!(cap_a.outcome.total, cap_b.outcome.total);

    let ref_a = sync.refund(&key("r-1"), &checkout, usd("5")).unwrap();
    let ref_b = block_on(asynchronous.refund(&key("r-1"), &checkout, usd("5"))).unwrap();
    assert_eq!(ref_a.outcome.total, ref_b.outcome.total);

    let card = b.outcome.cards[0].card;
    let stored = block_on(asynchronous.card(card)).unwrap().unwrap();
    assert_eq!(stored.balance(), usd("25"));
    let history = block_on(asynchronous.history(card)).unwrap();
    verify_ledger(card, stored.balance(), &history).unwrap();
}

#[test]
fn the_async_driver_replays_a_key_and_refuses_it_for_another_request() {
    let (_, redeemer) = drivers();
    let first = block_on(redeemer.issue(&key("i-1"), vec![CardSpec::new(usd("10"))])).unwrap();
    let again = block_on(redeemer.issue(&key("i-1"), vec![CardSpec::new(usd("10"))])).unwrap();
    assert!(again.replayed && !first.replayed);
    assert_eq!(again.outcome, first.outcome);
    assert!(again.notifications.is_empty(), "codes go out once");
    let other = block_on(redeemer.issue(&key("i-1"), vec![CardSpec::new(usd("11"))]));
    assert!(
        matches!(other, Err(RedeemError::IdempotencyConflict { .. })),
        "{other:?}"
    );
    assert_eq!(redeemer.store().card_count(), 1);
}

#[test]
fn the_async_driver_counts_unknown_codes_against_the_client() {
    let (_, redeemer) = drivers();
    let (client, checkout) = (reference("203.0.113.9"), reference("c-9"));
    for n in 1..=20 {
        let result =
            block_on(redeemer.apply_code(&client, &checkout, Currency::USD, &format!("X-GC-{n}")));
        assert!(
            matches!(result, Err(RedeemError::UnknownCode(_))),
            "{n}: {result:?}"
        );
    }
    let refused = block_on(redeemer.apply_code(&client, &checkout, Currency::USD, "X-GC-21"));
    assert!(
        matches!(refused, Err(RedeemError::TooManyAttempts(_))),
        "{refused:?}"
    );
}

#[test]
fn eight_tasks_spending_one_card_never_overspend() {
    let redeemer = Arc::new(AsyncRedeemer::new(MemoryStore::new()));
    let issued = block_on(redeemer.issue(&key("i-hot"), vec![CardSpec::new(usd("100"))])).unwrap();
    let code = issued_code(&issued.notifications);
    let card = issued.outcome.cards[0].card;

    let threads: Vec<_> = (0..8)
        .map(|task| {
            let (redeemer, code) = (Arc::clone(&redeemer), code.clone());
            std::thread::spawn(move || {
                let mut spent = Money::zero(Currency::USD);
                for round in 0..20 {
                    let checkout = reference(&format!("t{task}-r{round}"));
                    let client = reference(&format!("client-{task}"));
                    block_on(async {
                        redeemer
                            .apply_code(&client, &checkout, Currency::USD, &code)
                            .await?;
                        let auth = redeemer
                            .authorise(&key(&format!("{checkout}/a")), &checkout, usd("1.25"))
                            .await?;
                        if auth.outcome.credit.is_positive() {
                            let captured = redeemer
                                .capture(&key(&format!("{checkout}/c")), &checkout)
                                .await?;
                            spent = spent.checked_add(captured.outcome.total)?;
                        }
                        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
                    })
                    .or_else(|e| match e.downcast_ref::<RedeemError>() {
                        // The card ran dry: the race is lost fairly, not overspent.
                        Some(RedeemError::EmptyCard(_) | RedeemError::Card(_)) => Ok(()),
                        _ => Err(e),
                    })
                    .unwrap();
                }
                spent
            })
        })
        .collect();
    let spent = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .try_fold(Money::zero(Currency::USD), Money::checked_add)
        .unwrap();

    let stored = Store::card(redeemer.store(), card).unwrap().unwrap().value;
    assert_eq!(
        spent,
        usd("100"),
        "8 x 20 x 1.25 = 200 asked of a 100.00 card"
    );
    assert_eq!(stored.balance(), usd("0"));
    let history = block_on(redeemer.history(card)).unwrap();
    verify_ledger(card, stored.balance(), &history).unwrap();
}

#[test]
fn the_async_driver_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let redeemer = AsyncRedeemer::new(MemoryStore::new());
    let (k, c) = (key("k"), reference("c"));
    let future = redeemer.authorise(&k, &c, usd("1"));
    send(&future);
}
