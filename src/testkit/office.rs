//! Back-office commands on any store: run through the sync driver over the store under test.

use std::sync::Arc;

use chrono::Duration;

use super::{ConformanceFailure, ensure, fail, t0, usd};
use crate::card::{
    Attribution, CardId, CardSpec, CardStatus, EntryKind, Notification, Reason, Reference,
    verify_ledger,
};
use crate::clock::FixedClock;
use crate::money::Currency;
use crate::redeem::{CardCommand, IdempotencyKey, RedeemError};
use crate::store::{Redeemer, Store};

const CHECK: &str = "back-office commands";
const RACE: &str = "back-office adjustments racing shoppers";

/// Runs the back-office commands over stores from `factory` (a fresh, empty store each call):
///
/// 1. disable, enable, adjust and a new expiry each write one ledger entry that keeps who did
///    it and why through the store; a disabled or expired card cannot be applied, enabled or
///    extended it can; an adjustment never takes the balance below what is held; a replayed
///    command changes the card once and its key is refused for another request; the ledger
///    proves the balance;
/// 2. eight adjustments of +1.00 racing four shoppers spending 1.00 on the same card all land
///    exactly once.
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the check, what was expected and what happened.
pub fn check_back_office<S, F>(mut factory: F) -> Result<(), ConformanceFailure>
where
    S: Store + 'static,
    F: FnMut() -> S,
{
    commands_keep_their_entries(factory())?;
    adjustments_race_shoppers(factory())?;
    Ok(())
}

fn step<T>(check: &'static str, result: Result<T, RedeemError>) -> Result<T, ConformanceFailure> {
    result.map_err(|e| fail(check, format!("unexpected error: {e}")))
}

fn key(check: &'static str, text: &str) -> Result<IdempotencyKey, ConformanceFailure> {
    IdempotencyKey::new(text).map_err(|e| fail(check, e.to_string()))
}

fn reference(check: &'static str, text: &str) -> Result<Reference, ConformanceFailure> {
    Reference::new(text).map_err(|e| fail(check, e.to_string()))
}

fn staff(check: &'static str, reason: &str) -> Result<Attribution, ConformanceFailure> {
    let reason = Reason::new(reason).map_err(|e| fail(check, e.to_string()))?;
    Ok(Attribution::new(reference(check, "staff:kit")?, reason))
}

/// Issues a card of `value` minor units; its id and code.
fn card<S: Store>(
    check: &'static str,
    redeemer: &Redeemer<S>,
    value: i64,
) -> Result<(CardId, String), ConformanceFailure> {
    let issued = step(
        check,
        redeemer.issue(&key(check, "issue")?, vec![CardSpec::new(usd(value))]),
    )?;
    match (issued.outcome.cards.first(), issued.notifications.first()) {
        (Some(card), Some(Notification::CardIssued { code, .. })) => {
            Ok((card.card, code.expose_secret().to_owned()))
        }
        _ => Err(fail(check, "issuing a card gave no card and code")),
    }
}

fn commands_keep_their_entries<S: Store>(store: S) -> Result<(), ConformanceFailure> {
    let clock = Arc::new(FixedClock::new(t0()));
    let redeemer = Redeemer::new(store).with_clock(clock.clone());
    let (card, code) = card(CHECK, &redeemer, 5_000)?;
    let by = staff(CHECK, "conformance kit")?;
    let apply = |checkout: &str| -> Result<Result<(), RedeemError>, ConformanceFailure> {
        Ok(redeemer
            .apply_code(
                &reference(CHECK, "shopper")?,
                &reference(CHECK, checkout)?,
                Currency::USD,
                &code,
            )
            .map(|_| ()))
    };
    let amend = |k: &str, command| step(CHECK, redeemer.amend(&key(CHECK, k)?, card, command, &by));

    let disabled = amend("disable", CardCommand::Disable)?;
    ensure(
        CHECK,
        disabled.outcome.status == CardStatus::Disabled,
        || format!("disabling left the card {:?}", disabled.outcome.status),
    )?;
    ensure(CHECK, apply("c1")?.is_err(), || {
        "a disabled card was applied".into()
    })?;
    amend("enable", CardCommand::Enable)?;
    step(CHECK, apply("c1")?)?;

    let five = CardCommand::Adjust { change: usd(500) };
    let first = amend("adjust", five)?;
    let again = amend("adjust", five)?;
    ensure(
        CHECK,
        again.replayed && again.outcome == first.outcome && first.outcome.balance == usd(5_500),
        || format!("an adjustment and its replay gave {first:?} and {again:?}"),
    )?;
    let other = redeemer.amend(
        &key(CHECK, "adjust")?,
        card,
        CardCommand::Adjust { change: usd(600) },
        &by,
    );
    ensure(
        CHECK,
        matches!(other, Err(RedeemError::IdempotencyConflict { .. })),
        || format!("the key reused for another adjustment gave {other:?}"),
    )?;

    // 50.00 held: 5.00 of the 55.00 can be taken away, not 5.01.
    step(
        CHECK,
        redeemer.authorise(&key(CHECK, "c1/a")?, &reference(CHECK, "c1")?, usd(5_000)),
    )?;
    let too_far = redeemer.amend(
        &key(CHECK, "too-far")?,
        card,
        CardCommand::Adjust { change: usd(-501) },
        &by,
    );
    ensure(CHECK, too_far.is_err(), || {
        format!("an adjustment below what is held gave {too_far:?}")
    })?;
    amend("down", CardCommand::Adjust { change: usd(-500) })?;
    step(
        CHECK,
        redeemer.void(&key(CHECK, "c1/v")?, &reference(CHECK, "c1")?),
    )?;

    let soon = t0() + Duration::days(10);
    amend(
        "expiry-1",
        CardCommand::ChangeExpiry {
            expires_at: Some(soon),
        },
    )?;
    clock
        .advance(Duration::days(11))
        .map_err(|e| fail(CHECK, e.to_string()))?;
    ensure(CHECK, apply("c2")?.is_err(), || {
        "an expired card was applied".into()
    })?;
    let revived = amend("expiry-2", CardCommand::ChangeExpiry { expires_at: None })?;
    ensure(CHECK, revived.outcome.status == CardStatus::Active, || {
        format!(
            "removing the expiry left the card {:?}",
            revived.outcome.status
        )
    })?;
    step(CHECK, apply("c2")?)?;

    let stored =
        step(CHECK, redeemer.card(card))?.ok_or_else(|| fail(CHECK, "the card is gone"))?;
    let history = step(CHECK, redeemer.history(card))?;
    verify_ledger(card, stored.balance(), &history)
        .map_err(|e| fail(CHECK, format!("the ledger does not prove the balance: {e}")))?;
    let attributed: Vec<EntryKind> = history
        .iter()
        .filter(|e| e.attribution() == Some(&by))
        .map(|e| e.kind())
        .collect();
    let expected = [
        EntryKind::Disabled,
        EntryKind::Enabled,
        EntryKind::Adjusted,
        EntryKind::Adjusted,
        EntryKind::ExpiryChanged {
            from: None,
            to: Some(soon),
        },
        EntryKind::ExpiryChanged {
            from: Some(soon),
            to: None,
        },
    ];
    ensure(CHECK, attributed == expected, || {
        format!("the attributed entries read back are {attributed:?}, expected {expected:?}")
    })
}

fn adjustments_race_shoppers<S: Store + 'static>(store: S) -> Result<(), ConformanceFailure> {
    let redeemer = Arc::new(Redeemer::new(store).with_clock(Arc::new(FixedClock::new(t0()))));
    let (card, code) = card(RACE, &redeemer, 1_000)?;
    let by = staff(RACE, "top-up after a complaint")?;
    let results: Vec<Result<(), ConformanceFailure>> = std::thread::scope(|scope| {
        let mut running = Vec::new();
        for i in 0..8 {
            let (redeemer, by) = (&redeemer, &by);
            running.push(scope.spawn(move || {
                let command = CardCommand::Adjust { change: usd(100) };
                step(
                    RACE,
                    redeemer.amend(&key(RACE, &format!("adjust-{i}"))?, card, command, by),
                )
                .map(drop)
            }));
        }
        for i in 0..4 {
            let (redeemer, code) = (&redeemer, &code);
            running.push(scope.spawn(move || {
                let checkout = reference(RACE, &format!("shop-{i}"))?;
                let client = reference(RACE, "shopper")?;
                step(
                    RACE,
                    redeemer.apply_code(&client, &checkout, Currency::USD, code),
                )?;
                let authorise = key(RACE, &format!("{checkout}/a"))?;
                step(RACE, redeemer.authorise(&authorise, &checkout, usd(100)))?;
                let capture = key(RACE, &format!("{checkout}/c"))?;
                step(RACE, redeemer.capture(&capture, &checkout)).map(drop)
            }));
        }
        running
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(fail(RACE, "a request panicked")))
            })
            .collect()
    });
    results.into_iter().collect::<Result<(), _>>()?;
    let stored = step(RACE, redeemer.card(card))?.ok_or_else(|| fail(RACE, "the card is gone"))?;
    ensure(RACE, stored.balance() == usd(1_400), || {
        format!(
            "10.00 + 8 x 1.00 - 4 x 1.00 left {}, expected 14.00",
            stored.balance()
        )
    })?;
    let history = step(RACE, redeemer.history(card))?;
    verify_ledger(card, stored.balance(), &history)
        .map_err(|e| fail(RACE, format!("the ledger does not prove the balance: {e}")))
}
