//! Back-office commands on any store, written once over the kit's [`Driver`]:
//! [`check_back_office`] runs them through the sync [`Redeemer`],
//! [`check_async_back_office`] through the [`AsyncRedeemer`], each check in a fresh store.

use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::Arc;

use chrono::Duration;

use super::concurrency::issue_card;
use super::driver::Driver;
use super::{ConformanceFailure, block_on, ensure, fail, key, reference, step, t0, usd};
use crate::card::{Attribution, CardStatus, EntryKind, Reason, verify_ledger};
use crate::clock::FixedClock;
use crate::money::Currency;
use crate::redeem::{CardCommand, Protocol, RedeemError};
use crate::store::{AsyncRedeemer, AsyncStore, Redeemer, Store};

const CHECK: &str = "back-office commands";
const RACE: &str = "back-office adjustments racing shoppers";

type Task<'a> = Pin<Box<dyn Future<Output = Result<(), ConformanceFailure>> + Send + 'a>>;

/// Runs the back-office commands through a [`Redeemer`] over stores from `factory` (a fresh,
/// empty store each call):
///
/// 1. disable, enable, adjust, reload and a new expiry each write one ledger entry that keeps who did
///    it and why through the store; a disabled or expired card cannot be applied, enabled or
///    extended it can; an adjustment never takes the balance below what is held; a replayed
///    command changes the card once and its key is refused for another request; the ledger
///    proves the balance;
/// 2. eight adjustments of +1.00 racing four shoppers spending 1.00 on the same card all land
///    exactly once;
/// 3. a purchase reversal blocks every card of the order: its open holds released, what is
///    left clawed back (and reported per card beside what was already spent), every entry
///    attributed; a blocked card is refused at apply, capture and refund; a replay answers
///    the same, a second reversal changes nothing, a card of another order or an order that
///    bought nothing is refused; the liability report shows the clawback and adds up; staff
///    can unblock;
/// 4. a chargeback racing eight shoppers on the same card: every cent is either captured
///    before the block or clawed back, never both.
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the check, what was expected and what happened.
pub fn check_back_office<S, F>(mut factory: F) -> Result<(), ConformanceFailure>
where
    S: Store,
    F: FnMut() -> S,
{
    block_on(back_office::<Redeemer<S>, _, _>(|| ready(factory())))
}

/// The same checks as [`check_back_office`], run through an [`AsyncRedeemer`] over async
/// stores from `factory` (a future of a fresh, empty store, called once per check).
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the check, what was expected and what happened.
pub async fn check_async_back_office<S, F, Fut>(factory: F) -> Result<(), ConformanceFailure>
where
    S: AsyncStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    back_office::<AsyncRedeemer<S>, _, _>(factory).await
}

async fn back_office<D, F, Fut>(mut factory: F) -> Result<(), ConformanceFailure>
where
    D: Driver,
    F: FnMut() -> Fut,
    Fut: Future<Output = D::Store>,
{
    commands_keep_their_entries::<D>(factory().await).await?;
    adjustments_race_shoppers::<D>(factory().await).await?;
    super::reversal::reversals::<D, _, _>(&mut factory).await
}

/// A staff member of the kit's, acting for `reason`.
pub(super) fn staff(check: &'static str, reason: &str) -> Result<Attribution, ConformanceFailure> {
    let reason = Reason::new(reason).map_err(|e| fail(check, e.to_string()))?;
    Ok(Attribution::new(reference(check, "staff:kit")?, reason))
}

async fn commands_keep_their_entries<D: Driver>(store: D::Store) -> Result<(), ConformanceFailure> {
    let clock = Arc::new(FixedClock::new(t0()));
    let driver = D::build(store, Protocol::default(), clock.clone());
    let (card, code) = issue_card(CHECK, &driver, "issue", usd(5_000)).await?;
    let by = staff(CHECK, "conformance kit")?;
    let client = reference(CHECK, "shopper")?;
    let apply = |checkout: &'static str| {
        let (driver, client, code) = (&driver, &client, &code);
        async move {
            let checkout = reference(CHECK, checkout)?;
            Ok::<_, ConformanceFailure>(
                driver
                    .apply_code(client, &checkout, Currency::USD, code)
                    .await
                    .map(drop),
            )
        }
    };
    let amend = |k: &'static str, command| {
        let (driver, by) = (&driver, &by);
        async move {
            step(
                CHECK,
                driver.amend(&key(CHECK, k)?, card, command, by).await,
            )
        }
    };

    let disabled = amend("disable", CardCommand::Disable).await?;
    ensure(
        CHECK,
        disabled.outcome.status == CardStatus::Disabled,
        || format!("disabling left the card {:?}", disabled.outcome.status),
    )?;
    ensure(CHECK, apply("c1").await?.is_err(), || {
        "a disabled card was applied".into()
    })?;
    amend("enable", CardCommand::Enable).await?;
    step(CHECK, apply("c1").await?)?;

    let five = CardCommand::Adjust { change: usd(500) };
    let first = amend("adjust", five).await?;
    let again = amend("adjust", five).await?;
    ensure(
        CHECK,
        again.replayed && again.outcome == first.outcome && first.outcome.balance == usd(5_500),
        || format!("an adjustment and its replay gave {first:?} and {again:?}"),
    )?;
    let six = CardCommand::Adjust { change: usd(600) };
    let other = driver.amend(&key(CHECK, "adjust")?, card, six, &by).await;
    ensure(
        CHECK,
        matches!(other, Err(RedeemError::IdempotencyConflict { .. })),
        || format!("the key reused for another adjustment gave {other:?}"),
    )?;

    // 50.00 held: 5.00 of the 55.00 can be taken away, not 5.01.
    let c1 = reference(CHECK, "c1")?;
    step(
        CHECK,
        driver
            .authorise(&key(CHECK, "c1/a")?, &c1, usd(5_000))
            .await,
    )?;
    let too_far = CardCommand::Adjust { change: usd(-501) };
    let refused = driver
        .amend(&key(CHECK, "too-far")?, card, too_far, &by)
        .await;
    ensure(CHECK, refused.is_err(), || {
        format!("an adjustment below what is held gave {refused:?}")
    })?;
    amend("down", CardCommand::Adjust { change: usd(-500) }).await?;
    step(CHECK, driver.void(&key(CHECK, "c1/v")?, &c1).await)?;
    let reload = CardCommand::Reload {
        amount: usd(1_000),
        bounds: None,
    };
    let topped = amend("reload", reload).await?;
    ensure(CHECK, topped.outcome.balance == usd(6_000), || {
        format!("50.00 reloaded with 10.00 holds {}", topped.outcome.balance)
    })?;

    let soon = t0() + Duration::days(10);
    let expires_soon = CardCommand::ChangeExpiry {
        expires_at: Some(soon),
    };
    amend("expiry-1", expires_soon).await?;
    clock
        .advance(Duration::days(11))
        .map_err(|e| fail(CHECK, e.to_string()))?;
    ensure(CHECK, apply("c2").await?.is_err(), || {
        "an expired card was applied".into()
    })?;
    let never = CardCommand::ChangeExpiry { expires_at: None };
    let revived = amend("expiry-2", never).await?;
    ensure(CHECK, revived.outcome.status == CardStatus::Active, || {
        format!(
            "removing the expiry left the card {:?}",
            revived.outcome.status
        )
    })?;
    step(CHECK, apply("c2").await?)?;

    let stored =
        step(CHECK, driver.card(card).await)?.ok_or_else(|| fail(CHECK, "the card is gone"))?;
    let history = step(CHECK, driver.history(card).await)?;
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
        EntryKind::Reloaded,
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

async fn adjustments_race_shoppers<D: Driver>(store: D::Store) -> Result<(), ConformanceFailure> {
    let driver = D::build(store, Protocol::default(), Arc::new(FixedClock::new(t0())));
    let (card, code) = issue_card(RACE, &driver, "issue", usd(1_000)).await?;
    let by = staff(RACE, "top-up after a complaint")?;
    let mut tasks: Vec<Task<'_>> = Vec::new();
    for i in 0..8 {
        let (driver, by) = (&driver, &by);
        tasks.push(Box::pin(async move {
            let command = CardCommand::Adjust { change: usd(100) };
            let key = key(RACE, &format!("adjust-{i}"))?;
            step(RACE, driver.amend(&key, card, command, by).await).map(drop)
        }));
    }
    for i in 0..4 {
        let (driver, code) = (&driver, &code);
        tasks.push(Box::pin(async move {
            let checkout = reference(RACE, &format!("shop-{i}"))?;
            let client = reference(RACE, "shopper")?;
            step(
                RACE,
                driver
                    .apply_code(&client, &checkout, Currency::USD, code)
                    .await,
            )?;
            let authorise = key(RACE, &format!("{checkout}/a"))?;
            step(
                RACE,
                driver.authorise(&authorise, &checkout, usd(100)).await,
            )?;
            let capture = key(RACE, &format!("{checkout}/c"))?;
            step(RACE, driver.capture(&capture, &checkout).await).map(drop)
        }));
    }
    for result in driver.join_all(RACE, tasks).await {
        result?;
    }
    let stored =
        step(RACE, driver.card(card).await)?.ok_or_else(|| fail(RACE, "the card is gone"))?;
    ensure(RACE, stored.balance() == usd(1_400), || {
        format!(
            "10.00 + 8 x 1.00 - 4 x 1.00 left {}, expected 14.00",
            stored.balance()
        )
    })?;
    let history = step(RACE, driver.history(card).await)?;
    verify_ledger(card, stored.balance(), &history)
        .map_err(|e| fail(RACE, format!("the ledger does not prove the balance: {e}")))
}
