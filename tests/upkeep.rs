//! Replacing a lost code, sweeps and retention on the MemoryStore: the kit's checks through both
//! drivers, and sizes that stay bounded once pruned.

use giftcert::ClientId;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use giftcert::card::{Attribution, EntryKind, Reason};
use giftcert::clock::FixedClock;
use giftcert::redeem::{Outcome, RecordedRequest, Retention};
use giftcert::testkit::block_on;
use giftcert::{
    CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Reference,
};

fn usd(s: &str) -> Money {
    Money::parse(s, Currency::USD).unwrap()
}

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::new(s).unwrap()
}

/// The kit's upkeep checks, which the database stores run too.
#[test]
fn memory_store_passes_the_upkeep_checks() {
    giftcert::testkit::check_upkeep(MemoryStore::new).unwrap();
    block_on(giftcert::testkit::check_async_upkeep(|| async {
        MemoryStore::new()
    }))
    .unwrap();
}

/// A thousand records and windows pruned in batches leave none behind, and the cards stay.
#[test]
fn pruning_keeps_the_memory_store_bounded() {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = Arc::new(FixedClock::new(start));
    let redeemer = Redeemer::new(MemoryStore::new()).with_clock(clock.clone());
    for i in 0..1_000 {
        let client = ClientId::new(&format!("guesser-{i}")).unwrap();
        let (_, unknown) = redeemer.protocol().draw().unwrap();
        assert!(
            redeemer
                .check_balance(&client, unknown.expose_secret())
                .is_err()
        );
        if i % 4 == 0 {
            redeemer
                .issue(&key(&format!("k-{i}")), vec![CardSpec::new(usd("1"))])
                .unwrap();
        }
    }
    let before = redeemer.store().sizes();
    assert_eq!(
        (before.idempotency_records, before.guard_windows),
        (250, 1_000)
    );

    clock.advance(Duration::days(31)).unwrap();
    let mut rounds = 0;
    loop {
        let pruned = redeemer.prune(300).unwrap();
        assert!(pruned.records <= 300 && pruned.guards <= 300, "{pruned:?}");
        rounds += 1;
        if pruned.records == 0 && pruned.guards == 0 {
            break;
        }
    }
    let after = redeemer.store().sizes();
    assert_eq!((after.idempotency_records, after.guard_windows), (0, 0));
    assert_eq!(after.cards, 250, "pruning never deletes a card");
    assert_eq!(
        rounds, 5,
        "1,000 windows take four batches of 300, then one finds none"
    );
}

/// The retention is 30 days unless lengthened, and never under Stripe's 24 hours.
#[test]
fn retention_is_thirty_days_and_at_least_a_day() {
    assert_eq!(Retention::default().idempotency(), Duration::days(30));
    assert_eq!(
        Retention::new(Duration::minutes(5)).idempotency(),
        Duration::hours(24)
    );
    let now = Utc.with_ymd_and_hms(2026, 3, 31, 0, 0, 0).unwrap();
    assert_eq!(
        Retention::default().records_before(now),
        Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap())
    );
}

/// What the idempotency record of a replaced code keeps: the masked hint, never the code.
#[test]
fn a_replaced_code_is_never_in_the_stored_record() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let issued = redeemer
        .issue(&key("issue"), vec![CardSpec::new(usd("25"))])
        .unwrap();
    let card = issued.outcome.cards[0].card;
    let by = Attribution::new(
        Reference::new("staff:ana").unwrap(),
        Reason::new("lost e-mail").unwrap(),
    );
    let replaced = redeemer.replace_code(&key("recode"), card, &by).unwrap();
    let Some(Notification::CodeReplaced { code, .. }) = replaced.notifications.first() else {
        panic!("no notification: {replaced:?}");
    };
    let record = giftcert::Store::idempotency(redeemer.store(), &key("recode"))
        .unwrap()
        .unwrap();
    let json = serde_json::to_string(&record).unwrap();
    assert!(!json.contains(code.expose_secret()), "{json}");
    assert!(json.contains(&code.masked()), "{json}");
    assert_eq!(
        record.request,
        RecordedRequest::ReplaceCode {
            card,
            by: by.clone()
        }
    );
    assert!(matches!(record.outcome, Outcome::CodeReplaced(_)));
    assert_eq!(
        record.request.to_string(),
        format!("replace the code of {card} by staff:ana")
    );
    let history = redeemer.history(card).unwrap();
    assert_eq!(
        history.last().map(|e| e.kind()),
        Some(EntryKind::CodeReplaced)
    );
    assert_eq!(EntryKind::CodeReplaced.to_string(), "code replaced");
    // The notification's JSON carries the code for the e-mail; its Debug does not.
    let shown = format!("{:?}", replaced.notifications);
    assert!(!shown.contains(code.expose_secret()), "{shown}");
}
