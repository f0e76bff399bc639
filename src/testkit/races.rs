//! Refusals under a race: a capture or void that loses to another request on the same checkout
//! answers the state the checkout is in now (voided, captured), never a stale refusal such as
//! "the authorisation expired, authorise again". Each race is forced, not hoped for: the losing
//! request is stepped need by need through the driver, and the winner runs to its end right
//! after the loser has read the checkout and before it reads the cards.
//!
//! The same request sent twice under one key races too: when one reads its key, finds no
//! record, and its twin then lands, the first answers what the twin recorded, never a
//! refusal that the twin's own effect causes (a card already disabled, a checkout already
//! voided, a code already in use).

use std::future::{Future, ready};
use std::sync::Arc;

use super::concurrency::issue_card;
use super::driver::Driver;
use super::{ConformanceFailure, block_on, fail, key, reference, step, t0, usd};
use crate::card::{Attribution, CardSpec, Reason};
use crate::clock::FixedClock;
use crate::code::ImportRules;
use crate::money::Currency;
use crate::redeem::{Answer, CardCommand, Need, Protocol, RedeemError, Request, Step};
use crate::store::{AsyncRedeemer, AsyncStore, Redeemer, Store};

const CHECK: &str = "a request that loses a race names the state it meets";

/// Runs `rounds` forced races through a [`Redeemer`] over one store from `factory`, each on a
/// checkout of its own (a card of 100.00 applied, 60.00 authorised), in turn:
///
/// 1. a capture reads the checkout, a void commits, the capture goes on: it answers that the
///    checkout is voided;
/// 2. a capture reads the checkout, another capture (another key) commits, the first goes on:
///    it answers that the checkout is captured;
/// 3. a void reads the checkout, a capture commits, the void goes on: it answers that the
///    checkout is captured;
/// 4. to 6. a void, a card's disable and an import each read their key, the same request
///    under the same key lands, the first goes on: it answers the recorded outcome.
///
/// # Errors
///
/// A [`ConformanceFailure`] counting the wrong answers, with the first of them.
pub fn check_refusal_races<S, F>(mut factory: F, rounds: usize) -> Result<(), ConformanceFailure>
where
    S: Store,
    F: FnMut() -> S,
{
    block_on(refusal_races::<Redeemer<S>, _, _>(
        || ready(factory()),
        rounds,
    ))
}

/// The same races as [`check_refusal_races`], through an [`AsyncRedeemer`] over an async store
/// from `factory`.
///
/// # Errors
///
/// As [`check_refusal_races`].
pub async fn check_async_refusal_races<S, F, Fut>(
    factory: F,
    rounds: usize,
) -> Result<(), ConformanceFailure>
where
    S: AsyncStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    refusal_races::<AsyncRedeemer<S>, _, _>(factory, rounds).await
}

async fn refusal_races<D, F, Fut>(mut factory: F, rounds: usize) -> Result<(), ConformanceFailure>
where
    D: Driver,
    F: FnMut() -> Fut,
    Fut: Future<Output = D::Store>,
{
    let driver = D::build(
        factory().await,
        Protocol::default(),
        Arc::new(FixedClock::new(t0())),
    );
    let client = reference(CHECK, "racer")?;
    let mut wrong = Vec::new();
    for round in 0..rounds {
        let checkout = reference(CHECK, &format!("race-{round}"))?;
        let (card, code) =
            issue_card(CHECK, &driver, &format!("race-{round}-issue"), usd(10_000)).await?;
        step(
            CHECK,
            driver
                .apply_code(&client, &checkout, Currency::USD, &code)
                .await,
        )?;
        let authorise = key(CHECK, &format!("race-{round}-authorise"))?;
        step(
            CHECK,
            driver.authorise(&authorise, &checkout, usd(6_000)).await,
        )?;
        let (a, b) = (
            key(CHECK, &format!("race-{round}-a"))?,
            key(CHECK, &format!("race-{round}-b"))?,
        );
        let capture = |key| Request::Capture {
            key,
            checkout: checkout.clone(),
        };
        let void = |key| Request::Void {
            key,
            checkout: checkout.clone(),
        };
        let after_checkout = |need: &Need| matches!(need, Need::Checkout(_));
        let after_key = |need: &Need| matches!(need, Need::Idempotency(_));
        let twin = match round % 6 {
            3 => Some(void(a.clone())),
            4 => Some(Request::Amend {
                key: a.clone(),
                card,
                command: CardCommand::Disable,
                by: Attribution::new(
                    reference(CHECK, "staff:racer")?,
                    Reason::new("a race").map_err(|e| fail(CHECK, e.to_string()))?,
                ),
            }),
            5 => Some(Request::Import {
                key: a.clone(),
                code: ImportRules::new(8, 20)
                    .and_then(|rules| rules.import(&format!("TWIN{round:06}")))
                    .map_err(|e| fail(CHECK, e.to_string()))?,
                spec: CardSpec::new(usd(500)),
            }),
            _ => None,
        };
        if let Some(twin) = twin {
            let name = twin.name();
            match lose(&driver, twin.clone(), twin, after_key).await? {
                Ok(answer) if answered_replay(&answer) => {}
                other => wrong.push(format!(
                    "round {round}: {name} after its twin landed under its key answered {other:?}"
                )),
            }
            continue;
        }
        let (loser, winner, state) = match round % 3 {
            0 => (capture(a), void(b), "voided"),
            1 => (capture(a), capture(b), "captured"),
            _ => (void(a), capture(b), "captured"),
        };
        let (name, answer) = (
            loser.name(),
            lose(&driver, loser, winner, after_checkout).await?,
        );
        match answer {
            Err(RedeemError::InvalidState { state: met, .. }) if met == state => {}
            other => wrong.push(format!(
                "round {round}: {name} after the checkout was {state} answered {other:?}"
            )),
        }
    }
    match wrong.first() {
        None => Ok(()),
        Some(first) => Err(fail(
            CHECK,
            format!(
                "{} of {rounds} races answered wrongly; the first: {first}",
                wrong.len()
            ),
        )),
    }
}

/// Whether `answer` is the recorded outcome of an earlier request.
fn answered_replay(answer: &Answer) -> bool {
    match answer {
        Answer::Void(r) => r.replayed,
        Answer::Amend(r) => r.replayed,
        Answer::Import(r) => r.replayed,
        _ => false,
    }
}

/// Steps `loser` through the driver, running `winner` to its end between the loser's first
/// need that `trigger` picks and its next need; the loser's answer.
async fn lose<D: Driver>(
    driver: &D,
    loser: Request,
    winner: Request,
    trigger: impl Fn(&Need) -> bool,
) -> Result<Result<Answer, RedeemError>, ConformanceFailure> {
    let mut op = driver.protocol().start(loser);
    let (mut read_checkout, mut winner) = (false, Some(winner));
    loop {
        let need = match op.poll() {
            Step::Done(result) => return Ok(result),
            Step::Need(need) => need,
        };
        if read_checkout {
            if let Some(winner) = winner.take() {
                let name = winner.name();
                driver
                    .run(winner)
                    .await
                    .map_err(|e| fail(CHECK, format!("the winning {name} failed: {e}")))?;
            }
        }
        read_checkout |= trigger(&need);
        let reply = driver.answer(need).await;
        op.reply(reply);
    }
}
