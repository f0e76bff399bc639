//! Every instant the protocol writes or compares is kept as every store keeps one: to the
//! microsecond, within the years 1 to 9999. A clock with nanoseconds, an expiry date with
//! nanoseconds and a hold running past year 9999 read back alike from every store, and a
//! text no store can keep (U+0000) is refused before anything is written.

mod support;
use support::{key, reference, usd};

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use giftcert::card::CardError;
use giftcert::clock::{FixedClock, kept_instant};
use giftcert::store::CardQuery;
use giftcert::{CardSpec, Currency, MemoryStore, Notification, RedeemError, Redeemer};

fn at_nanos(secs: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, nanos).unwrap()
}

#[test]
fn instants_are_kept_to_the_microsecond_within_years_1_to_9999() {
    let at = at_nanos(1_800_000_000, 123_456_789);
    assert_eq!(kept_instant(at), at_nanos(1_800_000_000, 123_456_000));
    assert_eq!(kept_instant(kept_instant(at)), kept_instant(at));
    let before_year_1 = Utc.with_ymd_and_hms(0, 12, 31, 23, 59, 59).unwrap();
    assert_eq!(
        kept_instant(before_year_1),
        Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap()
    );
    assert_eq!(
        kept_instant(DateTime::<Utc>::MAX_UTC).to_rfc3339(),
        "9999-12-31T23:59:59.999999+00:00"
    );
    assert_eq!(
        kept_instant(DateTime::<Utc>::MIN_UTC),
        Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap()
    );
}

#[test]
fn a_clock_and_an_expiry_with_nanoseconds_are_kept_to_the_microsecond() {
    let now = at_nanos(1_800_000_000, 999_999_999);
    let redeemer = Redeemer::new(MemoryStore::new()).with_clock(Arc::new(FixedClock::new(now)));
    let mut spec = CardSpec::new(usd("10"));
    let expiry = at_nanos(1_900_000_000, 1_999);
    spec.expires_at = Some(expiry);
    let issued = redeemer.issue(&key("issue"), vec![spec]).unwrap();
    let card = redeemer
        .card(issued.outcome.cards[0].card)
        .unwrap()
        .unwrap();
    assert_eq!(card.issued_at(), at_nanos(1_800_000_000, 999_999_000));
    assert_eq!(card.expires_at(), Some(at_nanos(1_900_000_000, 1_000)));
    let history = redeemer.history(card.id()).unwrap();
    assert_eq!(history[0].at(), card.issued_at());

    // A query at a finer instant is taken at the microsecond, as the SQL stores take it: the
    // card expiring at ...001000 is not "before" ...001999.
    let before = CardQuery::new().expiring_before(expiry);
    assert!(redeemer.search(&before).unwrap().items.is_empty());
    let after = CardQuery::new().expiring_before(expiry + Duration::microseconds(1));
    assert_eq!(redeemer.search(&after).unwrap().items.len(), 1);
}

#[test]
fn a_hold_that_would_run_past_year_9999_ends_at_its_last_microsecond() {
    let now = Utc.with_ymd_and_hms(9999, 12, 31, 23, 45, 0).unwrap();
    let redeemer = Redeemer::new(MemoryStore::new()).with_clock(Arc::new(FixedClock::new(now)));
    let issued = redeemer
        .issue(&key("issue"), vec![CardSpec::new(usd("10"))])
        .unwrap();
    let Notification::CardIssued { card, code, .. } = &issued.notifications[0] else {
        panic!("no card issued")
    };
    let checkout = reference("checkout");
    redeemer
        .apply_code(
            &reference("client"),
            &checkout,
            Currency::USD,
            code.expose_secret(),
        )
        .unwrap();
    redeemer
        .authorise(&key("authorise"), &checkout, usd("4"))
        .unwrap();
    let card = redeemer.card(*card).unwrap().unwrap();
    let hold = &card.holds()[0];
    assert_eq!(
        hold.expires_at().map(|at| at.to_rfc3339()),
        Some("9999-12-31T23:59:59.999999+00:00".to_owned())
    );
}

#[test]
fn a_text_holding_nul_is_refused_before_anything_is_written() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let mut tagged = CardSpec::new(usd("10"));
    tagged.tags = vec!["spring\0sale".to_owned()];
    let mut message = CardSpec::new(usd("10"));
    message.message = Some("\0".to_owned());
    let mut metadata = CardSpec::new(usd("10"));
    metadata
        .metadata
        .insert("batch".to_owned(), "7\0".to_owned());
    for (spec, field) in [
        (tagged, "tag"),
        (message, "message"),
        (metadata, "metadata value"),
    ] {
        let err = redeemer
            .issue(&key(&field.replace(" ", "-")), vec![spec])
            .unwrap_err();
        assert_eq!(err, RedeemError::Card(CardError::NulInText { field }));
        assert_eq!(
            err.to_string(),
            format!("the card's {field} holds a NUL character (U+0000)")
        );
    }
    let report = redeemer.liability(Utc::now()).unwrap();
    assert!(report.currency(Currency::USD).is_none());
}
