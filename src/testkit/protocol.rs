//! The rules the redemption protocol keeps on any store: run through the sync driver over the
//! store under test, each in a fresh store.

use std::sync::Arc;

use chrono::Duration;

use super::{ConformanceFailure, ensure, fail, t0, usd};
use crate::card::{CardId, CardSpec, Notification, Reference};
use crate::clock::FixedClock;
use crate::code::ImportRules;
use crate::money::Currency;
use crate::redeem::{IdempotencyKey, RedeemError};
use crate::store::{Redeemer, Store, StoreError};

/// Runs the protocol's rules over stores from `factory` (a fresh, empty store each call):
///
/// 1. an expired hold never reduces what a card can give (a code applied, another checkout's
///    authorisation);
/// 2. after a capture is refused because its authorisation expired, the same checkout can be
///    authorised again without a void;
/// 3. an import repeated under its key replays its first result, and the key is refused for
///    another card; a second import of the code is a duplicate code;
/// 4. a capture after a void says voided.
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the rule, what was expected and what happened.
pub fn check_protocol_rules<S, F>(mut factory: F) -> Result<(), ConformanceFailure>
where
    S: Store,
    F: FnMut() -> S,
{
    expired_holds_never_count(factory())?;
    an_expired_authorisation_authorises_again(factory())?;
    imports_replay_under_their_key(factory())?;
    a_capture_after_a_void_says_voided(factory())?;
    Ok(())
}

fn key(check: &'static str, text: &str) -> Result<IdempotencyKey, ConformanceFailure> {
    IdempotencyKey::new(text).map_err(|e| fail(check, e.to_string()))
}

fn reference(check: &'static str, text: &str) -> Result<Reference, ConformanceFailure> {
    Reference::new(text).map_err(|e| fail(check, e.to_string()))
}

fn step<T>(check: &'static str, result: Result<T, RedeemError>) -> Result<T, ConformanceFailure> {
    result.map_err(|e| fail(check, format!("unexpected error: {e}")))
}

/// A redeemer over `store` on a fixed clock with 15-minute holds, with a 100.00 card applied
/// to checkout `c1` and held there in full.
fn held_card<S: Store>(
    check: &'static str,
    store: S,
) -> Result<(Redeemer<S>, Arc<FixedClock>, CardId, String), ConformanceFailure> {
    let clock = Arc::new(FixedClock::new(t0()));
    let redeemer = Redeemer::new(store)
        .with_clock(clock.clone())
        .with_hold_ttl(Some(Duration::minutes(15)));
    let issued = step(
        check,
        redeemer.issue(&key(check, "kit-held")?, vec![CardSpec::new(usd(10_000))]),
    )?;
    let (card, code) = match issued.notifications.first() {
        Some(Notification::CardIssued { card, code, .. }) => {
            (*card, code.expose_secret().to_owned())
        }
        _ => return Err(fail(check, "issue returned no card")),
    };
    let (client, c1) = (reference(check, "kit")?, reference(check, "c1")?);
    step(
        check,
        redeemer.apply_code(&client, &c1, Currency::USD, &code),
    )?;
    step(
        check,
        redeemer.authorise(&key(check, "c1/a")?, &c1, usd(10_000)),
    )?;
    Ok((redeemer, clock, card, code))
}

fn expired_holds_never_count<S: Store>(store: S) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "an expired hold never reduces what a card can give";
    let (redeemer, clock, card, code) = held_card(CHECK, store)?;
    clock
        .advance(Duration::minutes(16))
        .map_err(|e| fail(CHECK, e.to_string()))?;
    let c2 = reference(CHECK, "c2")?;
    let applied = step(
        CHECK,
        redeemer.apply_code(&reference(CHECK, "kit")?, &c2, Currency::USD, &code),
    )?;
    ensure(CHECK, applied.balance == usd(10_000), || {
        format!(
            "applied after the hold expired, the card showed {}",
            applied.balance
        )
    })?;
    let auth = step(
        CHECK,
        redeemer.authorise(&key(CHECK, "c2/a")?, &c2, usd(10_000)),
    )?;
    ensure(CHECK, auth.outcome.credit == usd(10_000), || {
        format!("another checkout could hold only {}", auth.outcome.credit)
    })?;
    let stored = step(CHECK, redeemer.card(card))?.ok_or_else(|| fail(CHECK, "card vanished"))?;
    ensure(CHECK, stored.held() == usd(10_000), || {
        format!(
            "the card holds {} after the new authorisation",
            stored.held()
        )
    })
}

fn an_expired_authorisation_authorises_again<S: Store>(store: S) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "an expired authorisation can be authorised again without a void";
    let (redeemer, clock, card, _) = held_card(CHECK, store)?;
    clock
        .advance(Duration::minutes(16))
        .map_err(|e| fail(CHECK, e.to_string()))?;
    let c1 = reference(CHECK, "c1")?;
    let refused = redeemer.capture(&key(CHECK, "c1/c")?, &c1);
    ensure(
        CHECK,
        matches!(refused, Err(RedeemError::AuthorisationExpired(_))),
        || format!("a capture after the holds expired gave {refused:?}"),
    )?;
    step(
        CHECK,
        redeemer.authorise(&key(CHECK, "c1/a2")?, &c1, usd(10_000)),
    )?;
    let captured = step(CHECK, redeemer.capture(&key(CHECK, "c1/c2")?, &c1))?;
    ensure(CHECK, captured.outcome.total == usd(10_000), || {
        format!("captured {}", captured.outcome.total)
    })?;
    let stored = step(CHECK, redeemer.card(card))?.ok_or_else(|| fail(CHECK, "card vanished"))?;
    ensure(
        CHECK,
        stored.balance().is_zero() && stored.held().is_zero(),
        || format!("left {} with {} held", stored.balance(), stored.held()),
    )
}

fn imports_replay_under_their_key<S: Store>(store: S) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "an import replays under its key and refuses it for another card";
    let redeemer = Redeemer::new(store).with_clock(Arc::new(FixedClock::new(t0())));
    let rules = ImportRules::new(8, 20).map_err(|e| fail(CHECK, e.to_string()))?;
    let import = |text: &str| rules.import(text).map_err(|e| fail(CHECK, e.to_string()));
    let k = key(CHECK, "kit-import")?;
    let first = step(
        CHECK,
        redeemer.import_card(&k, import("KITCODE-AB12CD34")?, CardSpec::new(usd(3_000))),
    )?;
    let again = step(
        CHECK,
        redeemer.import_card(&k, import("KITCODE-AB12CD34")?, CardSpec::new(usd(3_000))),
    )?;
    ensure(
        CHECK,
        again.replayed && again.outcome == first.outcome,
        || format!("the repeated import gave {again:?}"),
    )?;
    for (code, value) in [("KITCODE-AB12CD34", 3_100), ("KITCODE-ZZ99YY88", 3_000)] {
        let other = redeemer.import_card(&k, import(code)?, CardSpec::new(usd(value)));
        ensure(
            CHECK,
            matches!(other, Err(RedeemError::IdempotencyConflict { .. })),
            || format!("the key reused for another card gave {other:?}"),
        )?;
    }
    let duplicate = redeemer.import_card(
        &key(CHECK, "kit-import-2")?,
        import("KITCODE-AB12CD34")?,
        CardSpec::new(usd(3_000)),
    );
    ensure(
        CHECK,
        matches!(
            duplicate,
            Err(RedeemError::Store(StoreError::DuplicateCode { .. }))
        ),
        || format!("a second import of the code gave {duplicate:?}"),
    )
}

fn a_capture_after_a_void_says_voided<S: Store>(store: S) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "a capture that lost to a void says voided";
    let (redeemer, clock, _, _) = held_card(CHECK, store)?;
    let c1 = reference(CHECK, "c1")?;
    step(CHECK, redeemer.void(&key(CHECK, "c1/v")?, &c1))?;
    clock
        .advance(Duration::minutes(16))
        .map_err(|e| fail(CHECK, e.to_string()))?;
    let err = redeemer.capture(&key(CHECK, "c1/c")?, &c1);
    ensure(
        CHECK,
        matches!(&err, Err(e) if e.to_string().contains("voided")),
        || format!("the capture gave {err:?}"),
    )
}
