//! Errors a shopper reads say what happened in their terms: the masked code, not a hex id,
//! and times to the second; the ids stay in typed fields for the host. Every message pinned.

mod support;
use support::{key, reference, usd};

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use giftcert::{
    CardSpec, Currency, MemoryStore, Notification, RedeemError, Redeemer,
    card::{CardError, CardStatus, EntryKind, ReleaseReason},
    clock::FixedClock,
    redeem::CardUnavailable,
};

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 13, 35, 0).unwrap()
}

/// A redeemer at 13:35:00 with one card of `value`; returns its id, code and the masked code.
fn one_card(
    ttl: Option<Duration>,
    value: &str,
) -> (Redeemer<MemoryStore>, giftcert::CardId, String, String) {
    let redeemer = Redeemer::new(MemoryStore::new())
        .with_clock(Arc::new(FixedClock::new(at())))
        .with_hold_ttl(ttl);
    let (card, code, masked) = issue(&redeemer, value);
    (redeemer, card, code, masked)
}

/// Issues one card of `value` on `redeemer`: its id, code and masked code.
fn issue(redeemer: &Redeemer<MemoryStore>, value: &str) -> (giftcert::CardId, String, String) {
    let issued = redeemer
        .issue(&key("i"), vec![CardSpec::new(usd(value))])
        .unwrap();
    let Notification::CardIssued { card, code, .. } = &issued.notifications[0] else {
        panic!()
    };
    let masked = issued.outcome.cards[0].code.as_str().to_owned();
    (*card, code.expose_secret().to_owned(), masked)
}

/// The first shopper applies `code` to checkout c-1 and authorises `amount` on it.
fn authorise_on_c1(redeemer: &Redeemer<MemoryStore>, code: &str, amount: &str) {
    redeemer
        .apply_code(&reference("client"), &reference("c-1"), Currency::USD, code)
        .unwrap();
    redeemer
        .authorise(&key("a"), &reference("c-1"), usd(amount))
        .unwrap();
}

/// What a second shopper reads when applying `code` to checkout c-2.
fn apply_on_c2(redeemer: &Redeemer<MemoryStore>, code: &str) -> RedeemError {
    redeemer
        .apply_code(&reference("client"), &reference("c-2"), Currency::USD, code)
        .unwrap_err()
}

#[test]
fn a_card_held_by_another_checkout_says_until_when_to_the_second() {
    let (redeemer, card, code, masked) = one_card(Some(Duration::minutes(30)), "50");
    authorise_on_c1(&redeemer, &code, "50");
    let err = apply_on_c2(&redeemer, &code);
    assert_eq!(
        err.to_string(),
        format!("gift card {masked} is held by another checkout until 14:05:00 UTC")
    );
    assert!(!err.to_string().contains(&card.to_string()));
    let RedeemError::EmptyCard(CardUnavailable {
        card: id,
        held,
        held_until,
        ..
    }) = err
    else {
        panic!("{err}")
    };
    assert_eq!(id, card);
    assert_eq!(held, usd("50"));
    assert_eq!(held_until, Some(at() + Duration::minutes(30)));
}

#[test]
fn a_hold_past_the_day_shows_its_date_and_one_without_a_limit_says_so() {
    let (redeemer, _, code, masked) = one_card(Some(Duration::hours(12)), "50");
    authorise_on_c1(&redeemer, &code, "50");
    let err = apply_on_c2(&redeemer, &code);
    assert_eq!(
        err.to_string(),
        format!("gift card {masked} is held by another checkout until 2026-12-02 01:35:00 UTC")
    );

    let (redeemer, _, code, masked) = one_card(None, "50");
    authorise_on_c1(&redeemer, &code, "50");
    let err = apply_on_c2(&redeemer, &code);
    assert_eq!(
        err.to_string(),
        format!(
            "gift card {masked} is held by another checkout until that checkout completes or is cancelled"
        )
    );
}

#[test]
fn an_empty_card_says_so_by_its_masked_code() {
    let (redeemer, card, code, masked) = one_card(None, "50");
    authorise_on_c1(&redeemer, &code, "50");
    redeemer.capture(&key("c"), &reference("c-1")).unwrap();
    let err = apply_on_c2(&redeemer, &code);
    assert_eq!(
        err.to_string(),
        format!("gift card {masked} has no balance left")
    );
    assert!(matches!(err, RedeemError::EmptyCard(CardUnavailable { card: id, .. }) if id == card));
}

#[test]
fn a_card_in_another_currency_names_its_masked_code_and_both_currencies() {
    let (redeemer, card, code, masked) = one_card(None, "50");
    let err = redeemer
        .apply_code(
            &reference("client"),
            &reference("c-1"),
            Currency::EUR,
            &code,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("gift card {masked} is in USD and cannot pay in EUR")
    );
    assert!(matches!(err, RedeemError::CardCurrency { card: id, .. } if id == card));
}

#[test]
fn card_errors_name_the_masked_code_and_show_times_to_the_second() {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    let at =
        Utc.with_ymd_and_hms(2026, 12, 23, 12, 0, 0).unwrap() + Duration::nanoseconds(123_456_789);
    let mut spec = CardSpec::new(usd("10"));
    spec.expires_at = Some(at);
    let (mut card, _) = giftcert::GiftCard::issue(
        giftcert::CardId::from_u128(1),
        &giftcert::Code::parse("ABCD-EFGH-JKMN-PQR7").unwrap(),
        spec,
        now,
    )
    .unwrap();
    let masked = card.code_hint().to_owned();
    assert!(!masked.contains("ABCD"));
    let err = card.ensure_spendable(at + Duration::days(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("gift card {masked} expired on 2026-12-23 12:00:00 UTC")
    );
    assert!(matches!(err, CardError::Expired { card: id, .. } if id == card.id()));
    card.disable(now).unwrap();
    let err = card.ensure_spendable(now).unwrap_err();
    assert_eq!(err.to_string(), format!("gift card {masked} is disabled"));
    let err = CardError::HoldExpired {
        card: card.id(),
        hold: 2,
        at,
    };
    assert_eq!(
        err.to_string(),
        format!(
            "hold 2 on card {} expired at 2026-12-23 12:00:00 UTC",
            card.id()
        )
    );
}

#[test]
fn a_replaced_card_says_a_new_code_replaces_it() {
    let redeemer = Redeemer::new(MemoryStore::new())
        .with_strategy(Arc::new(giftcert::card::ReplacementStrategy));
    let (_, code, masked) = issue(&redeemer, "50");
    authorise_on_c1(&redeemer, &code, "20");
    redeemer.capture(&key("c"), &reference("c-1")).unwrap();
    let err = apply_on_c2(&redeemer, &code);
    assert_eq!(
        err.to_string(),
        format!("gift card {masked} was replaced by a card with a new code; use the new code")
    );
}

#[test]
fn card_status_and_ledger_entry_kinds_print_as_a_back_office_reads_them() {
    let shown: Vec<String> = [
        CardStatus::Active,
        CardStatus::Disabled,
        CardStatus::Expired,
        CardStatus::Replaced,
        CardStatus::Depleted,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        shown,
        ["active", "disabled", "expired", "replaced", "depleted"]
    );
    let card = giftcert::CardId::from_u128(0xab);
    let from = Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap() + Duration::nanoseconds(5));
    let shown: Vec<String> = [
        EntryKind::Issued,
        EntryKind::ReplacementOf { card },
        EntryKind::Held { hold: 3 },
        EntryKind::Captured { hold: 3 },
        EntryKind::Released {
            hold: 3,
            reason: ReleaseReason::Voided,
        },
        EntryKind::Released {
            hold: 3,
            reason: ReleaseReason::Expired,
        },
        EntryKind::Released {
            hold: 3,
            reason: ReleaseReason::Remainder,
        },
        EntryKind::Released {
            hold: 3,
            reason: ReleaseReason::Changed,
        },
        EntryKind::Refunded,
        EntryKind::ReplacedBy { card },
        EntryKind::Expired,
        EntryKind::Disabled,
        EntryKind::Enabled,
        EntryKind::Adjusted,
        EntryKind::ExpiryChanged { from, to: None },
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        shown,
        [
            "issued".to_owned(),
            format!("issued to replace card {card}"),
            "held (hold 3)".to_owned(),
            "captured (hold 3)".to_owned(),
            "released (hold 3, voided)".to_owned(),
            "released (hold 3, expired)".to_owned(),
            "released (hold 3, remainder of a partial capture)".to_owned(),
            "released (hold 3, authorisation changed)".to_owned(),
            "refunded".to_owned(),
            format!("replaced by card {card}"),
            "expired".to_owned(),
            "disabled".to_owned(),
            "enabled".to_owned(),
            "adjusted".to_owned(),
            "expiry changed from 2027-01-01 00:00:00 UTC to never".to_owned(),
        ]
    );
}

/// A checkout is "this checkout" to the shopper; the shop's reference for it stays in the
/// error's typed fields.
#[test]
fn checkout_errors_say_this_checkout_and_keep_the_reference_in_their_fields() {
    let (redeemer, _, code, _) = one_card(None, "50");
    let client = reference("client");
    let err = redeemer
        .capture(&key("c"), &reference("cart-7731"))
        .unwrap_err();
    assert_eq!(err.to_string(), "this checkout does not exist");
    assert!(matches!(&err, RedeemError::UnknownCheckout(id) if id.as_str() == "cart-7731"));

    redeemer
        .apply_code(&client, &reference("cart-7731"), Currency::USD, &code)
        .unwrap();
    let err = redeemer
        .capture(&key("c2"), &reference("cart-7731"))
        .unwrap_err();
    assert_eq!(err.to_string(), "this checkout is open; cannot capture");
    let RedeemError::InvalidState {
        checkout, state, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((checkout.as_str(), *state), ("cart-7731", "open"));

    redeemer
        .authorise(&key("a"), &reference("cart-7731"), usd("20"))
        .unwrap();
    let err = redeemer
        .capture_part(&key("c3"), &reference("cart-7731"), usd("20.01"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "this checkout holds 20.00 USD; cannot capture 20.01 USD"
    );
    assert!(!err.to_string().contains("cart-7731"));
}
