//! Back-office commands (disable, enable, adjust, a new expiry) through both drivers: each an
//! idempotent request leaving one ledger entry with who did it and why, refused where the card
//! refuses, and exact when it races shoppers spending the same card.

mod support;
use support::{key, reference, usd};

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use giftcert::card::{Attribution, CardError, CardStatus, EntryKind, Reason, verify_ledger};
use giftcert::clock::FixedClock;
use giftcert::redeem::{CardCommand, RecordedRequest};
use giftcert::store::AsyncRedeemer;
use giftcert::testkit::block_on;
use giftcert::{
    CardId, CardSpec, Currency, MemoryStore, Money, Notification, RedeemError, Redeemer,
};

fn staff(actor: &str, reason: &str) -> Attribution {
    Attribution::new(reference(actor), Reason::new(reason).unwrap())
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

/// A redeemer on a fixed clock with one card of `value`: its id and code.
fn one_card(value: &str) -> (Redeemer<MemoryStore>, Arc<FixedClock>, CardId, String) {
    let clock = Arc::new(FixedClock::new(t0()));
    let redeemer = Redeemer::new(MemoryStore::new()).with_clock(clock.clone());
    let issued = redeemer
        .issue(&key("issue"), vec![CardSpec::new(usd(value))])
        .unwrap();
    let Notification::CardIssued { code, .. } = &issued.notifications[0] else {
        panic!("no code")
    };
    let code = code.expose_secret().to_owned();
    (redeemer, clock, issued.outcome.cards[0].card, code)
}

fn apply(redeemer: &Redeemer<MemoryStore>, checkout: &str, code: &str) -> Result<(), RedeemError> {
    redeemer
        .apply_code(
            &reference("shopper"),
            &reference(checkout),
            Currency::USD,
            code,
        )
        .map(|_| ())
}

#[test]
fn a_disabled_card_cannot_be_applied_until_it_is_enabled_and_both_entries_say_who() {
    let (redeemer, _, card, code) = one_card("50");
    let by = staff("staff:ana", "reported stolen");
    let disabled = redeemer
        .amend(&key("disable"), card, CardCommand::Disable, &by)
        .unwrap();
    assert_eq!(disabled.outcome.status, CardStatus::Disabled);
    assert_eq!(disabled.outcome.entry, Some(2));
    assert!(matches!(
        apply(&redeemer, "c1", &code),
        Err(RedeemError::Card(CardError::Disabled { .. }))
    ));

    let back = staff("staff:bo", "found by the customer");
    let enabled = redeemer
        .amend(&key("enable"), card, CardCommand::Enable, &back)
        .unwrap();
    assert_eq!(enabled.outcome.status, CardStatus::Active);
    apply(&redeemer, "c1", &code).unwrap();

    let history = redeemer.history(card).unwrap();
    let kinds: Vec<_> = history.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        [EntryKind::Issued, EntryKind::Disabled, EntryKind::Enabled]
    );
    assert_eq!(history[0].attribution(), None);
    assert_eq!(history[1].attribution(), Some(&by));
    assert_eq!(history[2].attribution(), Some(&back));
    let stored = redeemer.card(card).unwrap().unwrap();
    verify_ledger(stored.id(), stored.balance(), &history).unwrap();
}

#[test]
fn enabling_an_enabled_card_writes_nothing_and_disabling_twice_is_refused() {
    let (redeemer, _, card, _) = one_card("50");
    let by = staff("staff:ana", "checking");
    let enabled = redeemer
        .amend(&key("enable"), card, CardCommand::Enable, &by)
        .unwrap();
    assert_eq!(enabled.outcome.entry, None);
    assert_eq!(redeemer.history(card).unwrap().len(), 1);
    redeemer
        .amend(&key("disable-1"), card, CardCommand::Disable, &by)
        .unwrap();
    assert!(matches!(
        redeemer.amend(&key("disable-2"), card, CardCommand::Disable, &by),
        Err(RedeemError::Card(CardError::Disabled { .. }))
    ));
}

#[test]
fn adjustments_are_signed_entries_that_never_take_the_balance_below_what_is_held() {
    let (redeemer, _, card, code) = one_card("50");
    let by = staff("staff:ana", "typo in the amount loaded");
    let up = redeemer
        .amend(
            &key("up"),
            card,
            CardCommand::Adjust { change: usd("5") },
            &by,
        )
        .unwrap();
    assert_eq!(up.outcome.balance, usd("55"));
    let down = redeemer
        .amend(
            &key("down"),
            card,
            CardCommand::Adjust {
                change: usd("-15.50"),
            },
            &by,
        )
        .unwrap();
    assert_eq!(down.outcome.balance, usd("39.50"));

    // 30.00 held by a checkout: at most 9.50 can be taken away.
    apply(&redeemer, "c1", &code).unwrap();
    redeemer
        .authorise(&key("c1/a"), &reference("c1"), usd("30"))
        .unwrap();
    assert!(matches!(
        redeemer.amend(
            &key("too-far"),
            card,
            CardCommand::Adjust {
                change: usd("-9.51")
            },
            &by,
        ),
        Err(RedeemError::Card(CardError::AdjustmentTooLarge { .. }))
    ));
    let rest = redeemer
        .amend(
            &key("rest"),
            card,
            CardCommand::Adjust {
                change: usd("-9.50"),
            },
            &by,
        )
        .unwrap();
    assert_eq!(rest.outcome.balance, usd("30"));
    // Another currency is refused, and nothing was written for the refusals.
    assert!(matches!(
        redeemer.amend(
            &key("euros"),
            card,
            CardCommand::Adjust {
                change: Money::parse("1", Currency::EUR).unwrap()
            },
            &by,
        ),
        Err(RedeemError::Card(CardError::Money(_)))
    ));
    let stored = redeemer.card(card).unwrap().unwrap();
    let history = redeemer.history(card).unwrap();
    verify_ledger(stored.id(), stored.balance(), &history).unwrap();
    let adjusted: Vec<Money> = history
        .iter()
        .filter(|e| e.kind() == EntryKind::Adjusted)
        .map(|e| e.amount())
        .collect();
    assert_eq!(adjusted, [usd("5"), usd("-15.50"), usd("-9.50")]);
}

#[test]
fn an_expired_hold_does_not_count_against_an_adjustment() {
    let (redeemer, clock, card, code) = one_card("50");
    apply(&redeemer, "c1", &code).unwrap();
    redeemer
        .authorise(&key("c1/a"), &reference("c1"), usd("50"))
        .unwrap();
    clock.advance(Duration::hours(2)).unwrap();
    let by = staff("staff:ana", "fraud check");
    let emptied = redeemer
        .amend(
            &key("empty"),
            card,
            CardCommand::Adjust { change: usd("-50") },
            &by,
        )
        .unwrap();
    assert_eq!(emptied.outcome.balance, usd("0"));
    assert_eq!(emptied.outcome.status, CardStatus::Depleted);
    let stored = redeemer.card(card).unwrap().unwrap();
    verify_ledger(
        stored.id(),
        stored.balance(),
        &redeemer.history(card).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_new_expiry_revives_an_expired_card_and_none_removes_it() {
    let (redeemer, clock, card, code) = one_card("50");
    let by = staff("staff:ana", "goodwill extension");
    let march_end = Utc.with_ymd_and_hms(2026, 3, 31, 0, 0, 0).unwrap();
    let moved = redeemer
        .amend(
            &key("expiry-1"),
            card,
            CardCommand::ChangeExpiry {
                expires_at: Some(march_end),
            },
            &by,
        )
        .unwrap();
    assert_eq!(moved.outcome.expires_at, Some(march_end));
    clock.advance(Duration::days(40)).unwrap();
    assert!(apply(&redeemer, "c1", &code).is_err(), "the card expired");

    let later = Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap();
    let revived = redeemer
        .amend(
            &key("expiry-2"),
            card,
            CardCommand::ChangeExpiry {
                expires_at: Some(later),
            },
            &by,
        )
        .unwrap();
    assert_eq!(revived.outcome.status, CardStatus::Active);
    apply(&redeemer, "c1", &code).unwrap();

    let removed = redeemer
        .amend(
            &key("expiry-3"),
            card,
            CardCommand::ChangeExpiry { expires_at: None },
            &by,
        )
        .unwrap();
    assert_eq!(removed.outcome.expires_at, None);
    let history = redeemer.history(card).unwrap();
    let changes: Vec<_> = history
        .iter()
        .filter_map(|e| match e.kind() {
            EntryKind::ExpiryChanged { from, to } => Some((from, to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        [
            (None, Some(march_end)),
            (Some(march_end), Some(later)),
            (Some(later), None)
        ]
    );
    // The same date again writes nothing.
    let same = redeemer
        .amend(
            &key("expiry-4"),
            card,
            CardCommand::ChangeExpiry { expires_at: None },
            &by,
        )
        .unwrap();
    assert_eq!(same.outcome.entry, None);
    let stored = redeemer.card(card).unwrap().unwrap();
    verify_ledger(
        stored.id(),
        stored.balance(),
        &redeemer.history(card).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_replayed_command_changes_the_card_once_and_its_key_is_refused_for_another_request() {
    let (redeemer, _, card, _) = one_card("50");
    let by = staff("staff:ana", "goodwill");
    let five = CardCommand::Adjust { change: usd("5") };
    let first = redeemer.amend(&key("k"), card, five, &by).unwrap();
    let again = redeemer.amend(&key("k"), card, five, &by).unwrap();
    assert!(again.replayed && !first.replayed);
    assert_eq!(again.outcome, first.outcome);
    assert_eq!(redeemer.card(card).unwrap().unwrap().balance(), usd("55"));

    let other_actor = staff("staff:bo", "goodwill");
    let other_amount = CardCommand::Adjust { change: usd("6") };
    for (command, who) in [(other_amount, &by), (five, &other_actor)] {
        let refused = redeemer.amend(&key("k"), card, command, who).unwrap_err();
        let RedeemError::IdempotencyConflict { first, .. } = refused else {
            panic!("{refused:?}")
        };
        assert_eq!(
            *first,
            RecordedRequest::Amend {
                card,
                command: five,
                by: by.clone()
            }
        );
    }
    let (other, _, other_card, _) = one_card("10");
    drop(other);
    assert!(redeemer.amend(&key("k"), other_card, five, &by).is_err());
    assert_eq!(redeemer.card(card).unwrap().unwrap().balance(), usd("55"));
}

#[test]
fn an_unknown_card_is_named_in_the_error() {
    let (redeemer, _, _, _) = one_card("50");
    let missing = CardId::from_u128(42);
    let refused = redeemer
        .amend(
            &key("k"),
            missing,
            CardCommand::Disable,
            &staff("staff:ana", "x"),
        )
        .unwrap_err();
    assert_eq!(refused, RedeemError::UnknownCard(missing));
    assert_eq!(
        refused.to_string(),
        format!("no gift card has id {missing}")
    );
}

#[test]
fn the_async_driver_runs_the_same_commands() {
    let clock = Arc::new(FixedClock::new(t0()));
    let redeemer = AsyncRedeemer::new(MemoryStore::new()).with_clock(clock);
    block_on(async {
        let issued = redeemer
            .issue(&key("issue"), vec![CardSpec::new(usd("20"))])
            .await
            .unwrap();
        let card = issued.outcome.cards[0].card;
        let by = staff("staff:ana", "goodwill");
        let command = CardCommand::Adjust {
            change: usd("2.50"),
        };
        let first = redeemer.amend(&key("k"), card, command, &by).await.unwrap();
        assert_eq!(first.outcome.balance, usd("22.50"));
        let again = redeemer.amend(&key("k"), card, command, &by).await.unwrap();
        assert!(again.replayed);
        let disabled = redeemer
            .amend(&key("d"), card, CardCommand::Disable, &by)
            .await
            .unwrap();
        assert_eq!(disabled.outcome.status, CardStatus::Disabled);
        let history = redeemer.history(card).await.unwrap();
        assert_eq!(history.len(), 3);
        assert!(history[1..].iter().all(|e| e.attribution() == Some(&by)));
    });
}

/// Staff add 1.00 eight times while four shoppers spend 1.00 each, all at once: every
/// adjustment and every capture lands exactly once, whatever the interleaving.
#[test]
fn adjustments_racing_shoppers_on_one_card_all_land() {
    let (redeemer, _, card, code) = one_card("10");
    let redeemer = Arc::new(redeemer);
    let mut threads = Vec::new();
    for i in 0..8 {
        let redeemer = Arc::clone(&redeemer);
        threads.push(std::thread::spawn(move || {
            let by = staff("staff:ana", "top-up after a complaint");
            let command = CardCommand::Adjust { change: usd("1") };
            redeemer
                .amend(&key(&format!("adjust-{i}")), card, command, &by)
                .unwrap();
        }));
    }
    for i in 0..4 {
        let (redeemer, code) = (Arc::clone(&redeemer), code.clone());
        threads.push(std::thread::spawn(move || {
            let checkout = format!("shop-{i}");
            apply(&redeemer, &checkout, &code).unwrap();
            let checkout = reference(&checkout);
            redeemer
                .authorise(&key(&format!("{checkout}/a")), &checkout, usd("1"))
                .unwrap();
            redeemer
                .capture(&key(&format!("{checkout}/c")), &checkout)
                .unwrap();
        }));
    }
    for thread in threads {
        thread.join().expect("every request succeeded");
    }
    let stored = redeemer.card(card).unwrap().unwrap();
    assert_eq!(stored.balance(), usd("14"));
    verify_ledger(
        stored.id(),
        stored.balance(),
        &redeemer.history(card).unwrap(),
    )
    .unwrap();
}

/// The kit's back-office checks, which database stores run too.
#[test]
fn memory_store_passes_the_back_office_checks() {
    giftcert::testkit::check_back_office(MemoryStore::new).unwrap();
    block_on(giftcert::testkit::check_async_back_office(|| async {
        MemoryStore::new()
    }))
    .unwrap();
}

#[test]
fn a_back_office_record_keeps_its_shape_in_json() {
    let card = CardId::from_u128(7);
    let request = RecordedRequest::Amend {
        card,
        command: CardCommand::Adjust {
            change: usd("-2.50"),
        },
        by: staff("staff:ana", "typo"),
    };
    let json = serde_json::to_value(&request).unwrap();
    assert_eq!(json["operation"], "amend");
    assert_eq!(json["command"]["command"], "adjust");
    assert_eq!(json["by"]["actor"], "staff:ana");
    assert_eq!(json["by"]["reason"], "typo");
    let back: RecordedRequest = serde_json::from_value(json).unwrap();
    assert_eq!(back, request);
    assert_eq!(
        request.to_string(),
        format!("adjust -2.50 USD {card} by staff:ana")
    );
}

fn bounds(min: &str, max: &str) -> giftcert::catalogue::AmountBounds {
    giftcert::catalogue::AmountBounds::new(Currency::USD, Some(usd(min)), Some(usd(max))).unwrap()
}

#[test]
fn a_reload_within_the_certificates_bounds_tops_the_card_up_and_wakes_a_spent_card() {
    let (redeemer, _, card, code) = one_card("20");
    apply(&redeemer, "c1", &code).unwrap();
    redeemer
        .authorise(&key("c1/a"), &reference("c1"), usd("20"))
        .unwrap();
    redeemer.capture(&key("c1/c"), &reference("c1")).unwrap();
    assert_eq!(
        redeemer.card(card).unwrap().unwrap().status(),
        CardStatus::Depleted
    );
    let by = staff("staff:ana", "top-up paid at the till");
    let reload = CardCommand::Reload {
        amount: usd("25"),
        bounds: Some(bounds("10", "500")),
    };
    let topped = redeemer.amend(&key("reload"), card, reload, &by).unwrap();
    assert_eq!(topped.outcome.balance, usd("25"));
    assert_eq!(topped.outcome.status, CardStatus::Active);
    // Never-expiring cards keep no date: one entry.
    assert_eq!(topped.outcome.expires_at, None);
    let history = redeemer.history(card).unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.kind(), last.amount(), last.attribution()),
        (EntryKind::Reloaded, usd("25"), Some(&by))
    );
    let stored = redeemer.card(card).unwrap().unwrap();
    verify_ledger(stored.id(), stored.balance(), &history).unwrap();

    // Outside the bounds, and not a positive amount: refused, nothing written.
    for (amount, expected) in [("5", "outside the limits"), ("600", "outside the limits")] {
        let refused = redeemer
            .amend(
                &key(&format!("reload-{amount}")),
                card,
                CardCommand::Reload {
                    amount: usd(amount),
                    bounds: Some(bounds("10", "500")),
                },
                &by,
            )
            .unwrap_err();
        assert!(matches!(refused, RedeemError::Command(_)), "{refused:?}");
        assert!(refused.to_string().contains(expected), "{refused}");
    }
    let refused = redeemer.amend(
        &key("reload-zero"),
        card,
        CardCommand::Reload {
            amount: usd("0"),
            bounds: None,
        },
        &by,
    );
    assert!(matches!(
        refused,
        Err(RedeemError::Card(CardError::NotPositive(_)))
    ));
    assert_eq!(redeemer.history(card).unwrap().len(), history.len());
}

#[test]
fn under_the_us_preset_a_reload_moves_the_expiry_to_five_years_from_the_load() {
    let clock = Arc::new(FixedClock::new(t0()));
    let redeemer = Redeemer::new(MemoryStore::new())
        .with_clock(clock.clone())
        .with_expiry(giftcert::card::ExpiryPolicy::us_card_act());
    let issued = redeemer
        .issue(&key("issue"), vec![CardSpec::new(usd("50"))])
        .unwrap();
    let card = issued.outcome.cards[0].card;
    let five_years =
        |from: DateTime<Utc>| from.checked_add_months(chrono::Months::new(60)).unwrap();
    assert_eq!(
        redeemer.card(card).unwrap().unwrap().expires_at(),
        Some(five_years(t0()))
    );
    clock.advance(Duration::days(400)).unwrap();
    let by = staff("staff:ana", "reload");
    let reload = CardCommand::Reload {
        amount: usd("10"),
        bounds: None,
    };
    let topped = redeemer.amend(&key("reload"), card, reload, &by).unwrap();
    let loaded_at = t0() + Duration::days(400);
    assert_eq!(topped.outcome.expires_at, Some(five_years(loaded_at)));
    let history = redeemer.history(card).unwrap();
    let kinds: Vec<_> = history.iter().rev().take(2).map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        [
            EntryKind::ExpiryChanged {
                from: Some(five_years(t0())),
                to: Some(five_years(loaded_at))
            },
            EntryKind::Reloaded
        ]
    );
    assert!(
        history
            .iter()
            .rev()
            .take(2)
            .all(|e| e.attribution() == Some(&by))
    );
}

#[test]
fn a_disabled_or_expired_card_cannot_be_reloaded() {
    let (redeemer, clock, card, _) = one_card("20");
    let by = staff("staff:ana", "reload");
    let reload = CardCommand::Reload {
        amount: usd("5"),
        bounds: None,
    };
    redeemer
        .amend(&key("disable"), card, CardCommand::Disable, &by)
        .unwrap();
    assert!(matches!(
        redeemer.amend(&key("r1"), card, reload, &by),
        Err(RedeemError::Card(CardError::Disabled { .. }))
    ));
    redeemer
        .amend(&key("enable"), card, CardCommand::Enable, &by)
        .unwrap();
    redeemer
        .amend(
            &key("expiry"),
            card,
            CardCommand::ChangeExpiry {
                expires_at: Some(t0() + Duration::days(1)),
            },
            &by,
        )
        .unwrap();
    clock.advance(Duration::days(2)).unwrap();
    assert!(matches!(
        redeemer.amend(&key("r2"), card, reload, &by),
        Err(RedeemError::Card(CardError::Expired { .. }))
    ));
}
