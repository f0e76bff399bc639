//! Paying with gift cards past authorise-and-capture, on any store, written once over the
//! kit's [`Driver`]: [`check_checkout_flow`] runs it through the sync [`Redeemer`],
//! [`check_async_checkout_flow`] through the [`AsyncRedeemer`], each check in a fresh store.

use std::future::{Future, ready};
use std::sync::Arc;

use super::concurrency::issue_card;
use super::driver::Driver;
use super::{ConformanceFailure, block_on, ensure, fail, key, reference, step, t0, usd};
use crate::card::{CardId, CardStatus, Notification, verify_ledger};
use crate::clock::FixedClock;
use crate::money::{Currency, Money};
use crate::redeem::{GuardPolicy, Protocol, RedeemError, RefundTo};
use crate::store::{AsyncRedeemer, AsyncStore, Redeemer, Store};

const PART: &str = "partial capture";
const CHANGE: &str = "changing an authorisation";
const REFUND: &str = "refund targets";
const BALANCE: &str = "balance check by code";

/// Runs the checkout's money moves past authorise-and-capture through a [`Redeemer`] over
/// stores from `factory` (a fresh, empty store each call):
///
/// 1. a partial capture takes what it names, lowest card first, releases the rest of the
///    holds, replays under its key, and refuses more than is held;
/// 2. changing an open authorisation moves the holds up and down without a void (up to
///    what the cards have, the rest outstanding), and is refused before any authorisation;
/// 3. refunds go back to the cards used, last used first, or onto one new card whose code
///    the notification hands over; together they never exceed what was captured, and the
///    cards' balances equal what was issued less what was captured plus what was refunded;
/// 4. a balance check by code gives balance, available amount and status through the
///    guard: a held card shows less available, unknown codes count against the client and
///    the guard then refuses it.
///
/// After each, every card's ledger proves its balance through the store.
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the check, what was expected and what happened.
pub fn check_checkout_flow<S, F>(mut factory: F) -> Result<(), ConformanceFailure>
where
    S: Store,
    F: FnMut() -> S,
{
    block_on(checkout_flow::<Redeemer<S>, _, _>(|| ready(factory())))
}

/// The same checks as [`check_checkout_flow`], run through an [`AsyncRedeemer`] over async
/// stores from `factory` (a future of a fresh, empty store, called once per check).
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the check, what was expected and what happened.
pub async fn check_async_checkout_flow<S, F, Fut>(factory: F) -> Result<(), ConformanceFailure>
where
    S: AsyncStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    checkout_flow::<AsyncRedeemer<S>, _, _>(factory).await
}

async fn checkout_flow<D, F, Fut>(mut factory: F) -> Result<(), ConformanceFailure>
where
    D: Driver,
    F: FnMut() -> Fut,
    Fut: Future<Output = D::Store>,
{
    partial_capture::<D>(factory().await).await?;
    change_authorisation::<D>(factory().await).await?;
    refund_targets::<D>(factory().await).await?;
    balance_check::<D>(factory().await).await
}

fn driver<D: Driver>(store: D::Store) -> D {
    D::build(store, Protocol::default(), Arc::new(FixedClock::new(t0())))
}

/// Issues a card of each of `values` (in minor units) and applies them all to checkout `c1`.
async fn shop<D: Driver>(
    check: &'static str,
    driver: &D,
    values: &[i64],
) -> Result<Vec<CardId>, ConformanceFailure> {
    let client = reference(check, "shopper")?;
    let checkout = reference(check, "c1")?;
    let mut cards = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let (card, code) = issue_card(check, driver, &format!("issue-{i}"), usd(*value)).await?;
        step(
            check,
            driver
                .apply_code(&client, &checkout, Currency::USD, &code)
                .await,
        )?;
        cards.push(card);
    }
    Ok(cards)
}

/// The balances and holds of `cards` as stored, each card's ledger checked against its
/// balance on the way.
async fn stored<D: Driver>(
    check: &'static str,
    driver: &D,
    cards: &[CardId],
) -> Result<(Money, Money), ConformanceFailure> {
    let (mut balance, mut held) = (usd(0), usd(0));
    for &card in cards {
        let found = step(check, driver.card(card).await)?
            .ok_or_else(|| fail(check, format!("card {card} is gone")))?;
        let history = step(check, driver.history(card).await)?;
        verify_ledger(card, found.balance(), &history).map_err(|e| {
            fail(
                check,
                format!("the ledger of {card} does not prove its balance: {e}"),
            )
        })?;
        balance = sum(check, balance, found.balance())?;
        held = sum(check, held, found.held())?;
    }
    Ok((balance, held))
}

fn sum(check: &'static str, a: Money, b: Money) -> Result<Money, ConformanceFailure> {
    a.checked_add(b).map_err(|e| fail(check, e.to_string()))
}

async fn partial_capture<D: Driver>(store: D::Store) -> Result<(), ConformanceFailure> {
    let driver = driver::<D>(store);
    let cards = shop(PART, &driver, &[1_000, 2_000, 3_000]).await?;
    let c1 = reference(PART, "c1")?;
    step(
        PART,
        driver.authorise(&key(PART, "a")?, &c1, usd(4_500)).await,
    )?;

    let too_much = driver
        .capture_part(&key(PART, "cap-too-much")?, &c1, usd(4_501))
        .await;
    ensure(
        PART,
        matches!(
            too_much,
            Err(RedeemError::CaptureExceedsAuthorisation { .. })
        ),
        || format!("capturing 45.01 of 45.00 held gave {too_much:?}"),
    )?;

    let captured = step(
        PART,
        driver
            .capture_part(&key(PART, "cap")?, &c1, usd(2_500))
            .await,
    )?;
    let outcome = &captured.outcome;
    let paid: Vec<(CardId, Money)> = outcome.cards.iter().map(|c| (c.card, c.amount)).collect();
    let expected = vec![(cards[0], usd(1_000)), (cards[1], usd(1_500))];
    ensure(
        PART,
        outcome.total == usd(2_500) && paid == expected,
        || format!("capturing 25.00 of 10.00 + 20.00 + 30.00 took {paid:?}, expected {expected:?}"),
    )?;
    let released = outcome
        .released
        .iter()
        .try_fold(usd(0), |total, part| sum(PART, total, part.amount))?;
    ensure(PART, released == usd(2_000), || {
        format!("capturing 25.00 of 45.00 held released {released}, expected 20.00")
    })?;

    let again = step(
        PART,
        driver
            .capture_part(&key(PART, "cap")?, &c1, usd(2_500))
            .await,
    )?;
    ensure(
        PART,
        again.replayed && again.outcome == captured.outcome,
        || format!("the replayed capture gave {again:?}, first {captured:?}"),
    )?;
    let (balance, held) = stored(PART, &driver, &cards).await?;
    ensure(PART, balance == usd(3_500) && held == usd(0), || {
        format!("after capturing 25.00 of 60.00 the cards hold {balance} with {held} held")
    })
}

async fn change_authorisation<D: Driver>(store: D::Store) -> Result<(), ConformanceFailure> {
    let driver = driver::<D>(store);
    let cards = shop(CHANGE, &driver, &[1_000, 2_000]).await?;
    let c1 = reference(CHANGE, "c1")?;

    let early = driver
        .change_authorisation(&key(CHANGE, "early")?, &c1, usd(500))
        .await;
    ensure(
        CHANGE,
        matches!(early, Err(RedeemError::InvalidState { .. })),
        || format!("changing an authorisation that does not exist gave {early:?}"),
    )?;

    step(
        CHANGE,
        driver.authorise(&key(CHANGE, "a")?, &c1, usd(1_500)).await,
    )?;
    for (k, payable, credit, outstanding) in [
        ("up", 2_500, 2_500, 0),
        ("past", 4_000, 3_000, 1_000),
        ("down", 500, 500, 0),
    ] {
        let changed = step(
            CHANGE,
            driver
                .change_authorisation(&key(CHANGE, k)?, &c1, usd(payable))
                .await,
        )?;
        let outcome = &changed.outcome;
        ensure(
            CHANGE,
            outcome.credit == usd(credit) && outcome.outstanding == usd(outstanding),
            || {
                format!(
                    "changing the authorisation to {} gave credit {} and outstanding {}",
                    usd(payable),
                    outcome.credit,
                    outcome.outstanding
                )
            },
        )?;
        let (_, held) = stored(CHANGE, &driver, &cards).await?;
        ensure(CHANGE, held == usd(credit), || {
            format!(
                "an authorisation changed to {} left {held} held",
                usd(credit)
            )
        })?;
    }
    let captured = step(CHANGE, driver.capture(&key(CHANGE, "cap")?, &c1).await)?;
    ensure(CHANGE, captured.outcome.total == usd(500), || {
        format!(
            "capturing an authorisation changed to 5.00 took {}",
            captured.outcome.total
        )
    })?;
    let (balance, held) = stored(CHANGE, &driver, &cards).await?;
    ensure(CHANGE, balance == usd(2_500) && held == usd(0), || {
        format!("after capturing 5.00 of 30.00 the cards hold {balance} with {held} held")
    })
}

async fn refund_targets<D: Driver>(store: D::Store) -> Result<(), ConformanceFailure> {
    let driver = driver::<D>(store);
    let cards = shop(REFUND, &driver, &[1_000, 2_000]).await?;
    let c1 = reference(REFUND, "c1")?;
    step(
        REFUND,
        driver.authorise(&key(REFUND, "a")?, &c1, usd(3_000)).await,
    )?;
    step(REFUND, driver.capture(&key(REFUND, "cap")?, &c1).await)?;

    // Last used first: the 20.00 card paid last, so it gets the 15.00 back.
    let back = step(
        REFUND,
        driver
            .refund_to(&key(REFUND, "back")?, &c1, usd(1_500), RefundTo::CardsUsed)
            .await,
    )?;
    let parts: Vec<(CardId, CardId, Money)> = back
        .outcome
        .parts
        .iter()
        .map(|p| (p.from_card, p.to_card, p.amount))
        .collect();
    let expected = vec![(cards[1], cards[1], usd(1_500))];
    ensure(REFUND, parts == expected, || {
        format!("refunding 15.00 to the cards used gave {parts:?}, expected {expected:?}")
    })?;

    let new_card = step(
        REFUND,
        driver
            .refund_to(&key(REFUND, "new")?, &c1, usd(1_000), RefundTo::NewCard)
            .await,
    )?;
    let targets: Vec<CardId> = new_card.outcome.parts.iter().map(|p| p.to_card).collect();
    let Some(&target) = targets.first() else {
        return Err(fail(REFUND, "a refund onto a new card had no parts"));
    };
    ensure(
        REFUND,
        targets.iter().all(|&t| t == target) && !cards.contains(&target),
        || format!("a refund onto one new card went to {targets:?}"),
    )?;
    let handed_over = new_card.notifications.iter().any(|n| {
        matches!(n, Notification::RefundCardIssued { new_card, value, .. }
            if *new_card == target && *value == usd(1_000))
    });
    ensure(REFUND, handed_over, || {
        format!(
            "no notification hands the new card's code over: {:?}",
            new_card.notifications
        )
    })?;

    let over = driver
        .refund_to(&key(REFUND, "over")?, &c1, usd(501), RefundTo::CardsUsed)
        .await;
    ensure(
        REFUND,
        matches!(over, Err(RedeemError::RefundExceedsCapture { .. })),
        || format!("refunding 5.01 of the 5.00 left to refund gave {over:?}"),
    )?;
    let again = step(
        REFUND,
        driver
            .refund_to(&key(REFUND, "new")?, &c1, usd(1_000), RefundTo::NewCard)
            .await,
    )?;
    ensure(
        REFUND,
        again.replayed && again.outcome == new_card.outcome,
        || format!("the replayed refund gave {again:?}"),
    )?;

    // Issued 30.00, captured 30.00, refunded 25.00: the cards hold 25.00.
    let mut all = cards.clone();
    all.push(target);
    let (balance, held) = stored(REFUND, &driver, &all).await?;
    ensure(REFUND, balance == usd(2_500) && held == usd(0), || {
        format!("after refunding 25.00 of 30.00 captured the cards hold {balance}")
    })?;
    let added = step(REFUND, driver.card(target).await)?.map(|c| c.balance());
    ensure(REFUND, added == Some(usd(1_000)), || {
        format!("the new card holds {added:?}, expected 10.00")
    })
}

async fn balance_check<D: Driver>(store: D::Store) -> Result<(), ConformanceFailure> {
    let protocol = Protocol::default().with_guard(GuardPolicy::new(2, chrono::Duration::hours(1)));
    let driver = D::build(store, protocol.clone(), Arc::new(FixedClock::new(t0())));
    let (card, code) = issue_card(BALANCE, &driver, "issue", usd(5_000)).await?;
    let client = reference(BALANCE, "shopper")?;

    let check = step(BALANCE, driver.check_balance(&client, &code).await)?;
    ensure(
        BALANCE,
        check.card == card
            && check.balance == usd(5_000)
            && check.available == usd(5_000)
            && check.status == CardStatus::Active
            && !check.code.as_str().contains(code.as_str()),
        || format!("a new 50.00 card's balance check gave {check:?}"),
    )?;

    let c1 = reference(BALANCE, "c1")?;
    step(
        BALANCE,
        driver.apply_code(&client, &c1, Currency::USD, &code).await,
    )?;
    step(
        BALANCE,
        driver.authorise(&key(BALANCE, "a")?, &c1, usd(2_000)).await,
    )?;
    let held = step(BALANCE, driver.check_balance(&client, &code).await)?;
    ensure(
        BALANCE,
        held.balance == usd(5_000) && held.available == usd(3_000),
        || format!("with 20.00 held, the balance check gave {held:?}"),
    )?;

    // Two unknown codes use up the guard's limit of 2; the third lookup is refused, even of
    // the real code.
    for _ in 0..2 {
        let (_, guess) = protocol.draw().map_err(|e| fail(BALANCE, e.to_string()))?;
        let answer = driver.check_balance(&client, guess.expose_secret()).await;
        ensure(
            BALANCE,
            matches!(answer, Err(RedeemError::UnknownCode(_))),
            || format!("an unknown code's balance check gave {answer:?}"),
        )?;
    }
    let refused = driver.check_balance(&client, &code).await;
    ensure(
        BALANCE,
        matches!(refused, Err(RedeemError::TooManyAttempts(_))),
        || format!("a balance check past the guard's limit gave {refused:?}"),
    )
}
