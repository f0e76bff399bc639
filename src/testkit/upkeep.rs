//! Replacing a lost code, sweeps and pruning on any store, written once over the kit's
//! [`Driver`]: [`check_upkeep`] runs them through the sync [`Redeemer`],
//! [`check_async_upkeep`] through the [`AsyncRedeemer`], each check in a fresh store.

use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::Arc;

use chrono::Duration;

use super::concurrency::{hold, issue_card};
use super::driver::Driver;
use super::{ConformanceFailure, block_on, ensure, fail, key, reference, step, t0, usd};
use crate::card::{
    Attribution, CardSpec, CardStatus, EntryKind, GiftCard, Notification, ReleaseReason,
    verify_ledger,
};
use crate::clock::FixedClock;
use crate::code::Code;
use crate::money::Currency;
use crate::redeem::{Answer, CodeWrite, GuardPolicy, Protocol, RedeemError, Request};
use crate::redeem::{CardWrite, Changes, StoreError};
use crate::store::{AsyncRedeemer, AsyncStore, CardQuery, Redeemer, Store};

const RECODE: &str = "replacing a lost code";
const CODE_WRITE: &str = "a card's new code in a commit";
const RECODE_RACE: &str = "replacing a code racing shoppers";
const SWEEP: &str = "sweeps";
const SWEEP_RACE: &str = "sweeps racing an authorisation";
const PRUNE: &str = "pruning records and guard windows";
const PRUNE_BUDGET: &str = "a store budget outliving a prune";
const ORDER_ONCE: &str = "an order's cards issued once for its life";

type Task<'a> = Pin<Box<dyn Future<Output = Result<bool, ConformanceFailure>> + Send + 'a>>;

/// Runs the upkeep a back office and a scheduler do through a [`Redeemer`] over stores from
/// `factory` (a fresh, empty store each call):
///
/// 1. the store refuses a card's new code that another card has
///    ([`StoreError::DuplicateCode`]), and one without its card's update or on a stale version
///    (a conflict), leaving both codes where they were; then moves it;
/// 2. replacing a lost code keeps the card (id, balance, holds), refuses the old code at once
///    and finds the card by the new one, leaves an attributed `CodeReplaced` entry, hands the
///    new code over once in a notification whose `Debug` masks it, replays under its key with
///    the same masked outcome and no notification, and refuses the key for another card;
/// 3. a code replaced while shoppers spend with the old one: money is conserved, the ledger
///    proves the balance, and afterwards the old code is refused and the new one pays;
/// 4. sweeps release holds past their time limit and record expiries (with a notification),
///    in batches of at most `limit` that say when more are due, and a second sweep changes
///    nothing;
/// 5. a sweep racing an authorisation on the same card: the expired hold is released once,
///    the new hold stands, the ledger proves the balance;
/// 6. pruning deletes idempotency records past the retention and guard windows that have
///    ended, in batches of at most `limit`, and keeps the rest;
/// 7. a [store budget](crate::redeem::GuardPolicy::with_store_budget) of 3 per 7 days spent,
///    then a prune two hours later (when the clients' hour-long windows have ended): the
///    budget still refuses a new client's lookup; a prune a day after the budget's 7 days
///    deletes every window and lookups are answered again;
/// 8. an order's cards issued, its record pruned 31 days later, and the order reported paid
///    again: refused with [`RedeemError::OrderAlreadyIssued`] naming the card, and no second
///    card.
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the check, what was expected and what happened.
pub fn check_upkeep<S, F>(mut factory: F) -> Result<(), ConformanceFailure>
where
    S: Store,
    F: FnMut() -> S,
{
    block_on(upkeep::<Redeemer<S>, _, _>(|| ready(factory())))
}

/// The same checks as [`check_upkeep`], run through an [`AsyncRedeemer`] over async stores
/// from `factory` (a future of a fresh, empty store, called once per check).
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the check, what was expected and what happened.
pub async fn check_async_upkeep<S, F, Fut>(factory: F) -> Result<(), ConformanceFailure>
where
    S: AsyncStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    upkeep::<AsyncRedeemer<S>, _, _>(factory).await
}

async fn upkeep<D, F, Fut>(mut factory: F) -> Result<(), ConformanceFailure>
where
    D: Driver,
    F: FnMut() -> Fut,
    Fut: Future<Output = D::Store>,
{
    a_new_code_is_checked_by_the_store::<D>(factory().await).await?;
    replacing_a_code_keeps_the_card::<D>(factory().await).await?;
    replacing_a_code_races_shoppers::<D>(factory().await).await?;
    sweeps_release_and_expire::<D>(factory().await).await?;
    sweeps_race_an_authorisation::<D>(factory().await).await?;
    pruning_keeps_what_is_current::<D>(factory().await).await?;
    a_store_budget_outlives_a_prune::<D>(factory().await).await?;
    an_order_issues_its_cards_once::<D>(factory().await).await
}

fn staff(check: &'static str) -> Result<Attribution, ConformanceFailure> {
    super::office::staff(check, "customer lost the e-mail")
}

/// The store's part, through commits the kit builds: a new code that another card has is
/// [`StoreError::DuplicateCode`], one without its card's update or on a stale version is a
/// conflict, and a refused commit leaves both codes where they were.
async fn a_new_code_is_checked_by_the_store<D: Driver>(
    store: D::Store,
) -> Result<(), ConformanceFailure> {
    const C: &str = CODE_WRITE;
    let driver = D::build(store, Protocol::default(), Arc::new(FixedClock::new(t0())));
    let (a, code_a) = issue_card(C, &driver, "issue-a", usd(1_000)).await?;
    let (b, code_b) = issue_card(C, &driver, "issue-b", usd(2_000)).await?;
    let parse = |text: &str| Code::parse(text).map_err(|e| fail(C, e.to_string()));
    let stored = driver
        .stored_card(a)
        .await
        .map_err(|e| fail(C, e.to_string()))?
        .ok_or_else(|| fail(C, "the card is gone"))?;
    let recode = |code: Code, version: u64, with_update: bool| Changes {
        cards: if with_update {
            vec![CardWrite::Update {
                card: stored.value.clone(),
                expected_version: version,
            }]
        } else {
            Vec::new()
        },
        codes: vec![CodeWrite { card: a, code }],
        ..Changes::default()
    };
    let taken = driver
        .commit(recode(parse(&code_b)?, stored.version, true))
        .await;
    ensure(
        C,
        matches!(taken, Err(StoreError::DuplicateCode { .. })),
        || format!("taking another card's code gave {taken:?}"),
    )?;
    let (_, fresh) = Protocol::default()
        .draw()
        .map_err(|e| fail(C, e.to_string()))?;
    let alone = driver
        .commit(recode(fresh.clone(), stored.version, false))
        .await;
    ensure(C, matches!(alone, Err(StoreError::Conflict { .. })), || {
        format!("a new code without its card's update gave {alone:?}")
    })?;
    let stale = driver
        .commit(recode(fresh.clone(), stored.version + 1, true))
        .await;
    ensure(C, matches!(stale, Err(StoreError::Conflict { .. })), || {
        format!("a new code on a stale version gave {stale:?}")
    })?;
    let client = reference(C, "shopper")?;
    for (card, code) in [(a, &code_a), (b, &code_b)] {
        let found = step(C, driver.check_balance(&client, code).await)?;
        ensure(C, found.card == card, || {
            format!("after the refused commits a code finds {}", found.card)
        })?;
    }
    // One commit giving two new cards the same code is refused, and neither card is made.
    let (one, shared) = Protocol::default()
        .draw()
        .map_err(|e| fail(C, e.to_string()))?;
    let (two, _) = Protocol::default()
        .draw()
        .map_err(|e| fail(C, e.to_string()))?;
    let (mut twins, mut entries) = (Vec::new(), Vec::new());
    for id in [one, two] {
        let (card, entry) = GiftCard::issue(id, &shared, CardSpec::new(usd(100)), t0())
            .map_err(|e| fail(C, e.to_string()))?;
        twins.push(CardWrite::Insert {
            card,
            code: shared.clone(),
        });
        entries.push(entry);
    }
    let doubled = driver
        .commit(Changes {
            cards: twins,
            entries,
            ..Changes::default()
        })
        .await;
    ensure(
        C,
        matches!(doubled, Err(StoreError::DuplicateCode { .. })),
        || format!("two new cards with one code gave {doubled:?}"),
    )?;
    for id in [one, two] {
        let made = driver
            .stored_card(id)
            .await
            .map_err(|e| fail(C, e.to_string()))?;
        ensure(C, made.is_none(), || {
            format!("a refused commit made card {id}")
        })?;
    }
    let unused = driver.check_balance(&client, fresh.expose_secret()).await;
    ensure(
        C,
        matches!(unused, Err(RedeemError::UnknownCode(_))),
        || format!("a code whose commit was refused gave {unused:?}"),
    )?;
    step(
        C,
        driver
            .commit(recode(fresh.clone(), stored.version, true))
            .await
            .map_err(RedeemError::from),
    )?;
    let moved = step(
        C,
        driver.check_balance(&client, fresh.expose_secret()).await,
    )?;
    let old = driver.check_balance(&client, &code_a).await;
    ensure(
        C,
        moved.card == a && matches!(old, Err(RedeemError::UnknownCode(_))),
        || {
            format!(
                "after the commit the new code finds {}, the old gives {old:?}",
                moved.card
            )
        },
    )
}

async fn replacing_a_code_keeps_the_card<D: Driver>(
    store: D::Store,
) -> Result<(), ConformanceFailure> {
    const C: &str = RECODE;
    let driver = D::build(store, Protocol::default(), Arc::new(FixedClock::new(t0())));
    let (card, old) = issue_card(C, &driver, "issue", usd(5_000)).await?;
    let (other, _) = issue_card(C, &driver, "issue-other", usd(100)).await?;
    let client = reference(C, "shopper")?;
    hold(C, &driver, &old, "c1", usd(1_000)).await?;
    let checkout = reference(C, "c1")?;
    let before = step(C, driver.card(card).await)?.ok_or_else(|| fail(C, "the card is gone"))?;
    let by = staff(C)?;

    let replaced = step(C, driver.replace_code(&key(C, "recode")?, card, &by).await)?;
    let new = match replaced.notifications.as_slice() {
        [Notification::CodeReplaced { card: c, code, .. }] if *c == card => code.clone(),
        other => return Err(fail(C, format!("the notifications were {other:?}"))),
    };
    let shown = format!("{:?}", replaced.notifications);
    ensure(
        C,
        !shown.contains(new.expose_secret()) && new.expose_secret() != old,
        || format!("the new code shows in {shown} or is the old one"),
    )?;
    ensure(C, replaced.outcome.code == new.masked().as_str(), || {
        format!(
            "the outcome shows {} for {}",
            replaced.outcome.code,
            new.masked()
        )
    })?;

    let refused = driver.check_balance(&client, &old).await;
    ensure(
        C,
        matches!(refused, Err(RedeemError::UnknownCode(_))),
        || format!("the old code after its replacement gave {refused:?}"),
    )?;
    let found = step(C, driver.check_balance(&client, new.expose_secret()).await)?;
    let after = step(C, driver.card(card).await)?.ok_or_else(|| fail(C, "the card is gone"))?;
    ensure(
        C,
        found.card == card
            && after.balance() == before.balance()
            && after.held() == before.held()
            && after.holds() == before.holds()
            && after.code_hint() == new.masked(),
        || format!("the card before {before:?}, after {after:?}, found {found:?}"),
    )?;
    // The hold placed under the old code is captured under the new one.
    let captured = step(C, driver.capture(&key(C, "c1/c")?, &checkout).await)?;
    ensure(C, captured.outcome.total == usd(1_000), || {
        format!("the hold captured {}", captured.outcome.total)
    })?;

    let again = step(C, driver.replace_code(&key(C, "recode")?, card, &by).await)?;
    ensure(
        C,
        again.replayed && again.notifications.is_empty() && again.outcome == replaced.outcome,
        || format!("the replay gave {again:?}"),
    )?;
    let still = step(C, driver.check_balance(&client, new.expose_secret()).await)?;
    ensure(C, still.card == card, || "the replay moved the code".into())?;
    let reused = driver.replace_code(&key(C, "recode")?, other, &by).await;
    ensure(
        C,
        matches!(reused, Err(RedeemError::IdempotencyConflict { .. })),
        || format!("the key reused for another card gave {reused:?}"),
    )?;
    let unknown = driver
        .replace_code(
            &key(C, "recode-unknown")?,
            crate::card::CardId::from_u128(7),
            &by,
        )
        .await;
    ensure(
        C,
        matches!(unknown, Err(RedeemError::UnknownCard(_))),
        || format!("replacing the code of an unknown card gave {unknown:?}"),
    )?;

    let stored = step(C, driver.card(card).await)?.ok_or_else(|| fail(C, "the card is gone"))?;
    let history = step(C, driver.history(card).await)?;
    verify_ledger(card, stored.balance(), &history)
        .map_err(|e| fail(C, format!("the ledger does not prove the balance: {e}")))?;
    let recoded: Vec<_> = history
        .iter()
        .filter(|e| e.kind() == EntryKind::CodeReplaced)
        .collect();
    ensure(
        C,
        recoded.len() == 1 && recoded[0].attribution() == Some(&by),
        || format!("the code-replaced entries are {recoded:?}"),
    )
}

async fn replacing_a_code_races_shoppers<D: Driver>(
    store: D::Store,
) -> Result<(), ConformanceFailure> {
    const C: &str = RECODE_RACE;
    let driver = D::build(store, Protocol::default(), Arc::new(FixedClock::new(t0())));
    let (card, old) = issue_card(C, &driver, "issue", usd(1_000)).await?;
    let by = staff(C)?;
    let new_code = std::sync::Mutex::new(None);
    let mut tasks: Vec<Task<'_>> = Vec::new();
    for i in 0..6 {
        let (driver, old) = (&driver, &old);
        tasks.push(Box::pin(async move {
            let checkout = reference(C, &format!("shop-{i}"))?;
            let client = reference(C, &format!("shopper-{i}"))?;
            let applied = driver
                .apply_code(&client, &checkout, Currency::USD, old)
                .await;
            match applied {
                Ok(_) => {}
                // Looked up after the replacement: the old code is unknown.
                Err(RedeemError::UnknownCode(_)) => return Ok(false),
                Err(e) => return Err(fail(C, format!("applying the old code: {e}"))),
            }
            let authorise = key(C, &format!("{checkout}/a"))?;
            step(C, driver.authorise(&authorise, &checkout, usd(100)).await)?;
            let capture = key(C, &format!("{checkout}/c"))?;
            step(C, driver.capture(&capture, &checkout).await)?;
            Ok(true)
        }));
    }
    let recode = key(C, "recode")?;
    let (driver_ref, by_ref) = (&driver, &by);
    let new_ref = &new_code;
    tasks.push(Box::pin(async move {
        let replaced = step(C, driver_ref.replace_code(&recode, card, by_ref).await)?;
        if let Some(Notification::CodeReplaced { code, .. }) = replaced.notifications.first() {
            *new_ref
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(code.expose_secret().to_owned());
        }
        Ok(false)
    }));
    let mut spent = 0;
    for result in driver.join_all(C, tasks).await {
        spent += i64::from(result?);
    }
    let new = new_code
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .ok_or_else(|| fail(C, "the replacement handed over no code"))?;
    let stored = step(C, driver.card(card).await)?.ok_or_else(|| fail(C, "the card is gone"))?;
    ensure(
        C,
        stored.balance() == usd(1_000 - 100 * spent) && stored.held() == usd(0),
        || {
            format!(
                "{spent} captures of 1.00 on 10.00 left {} ({} held)",
                stored.balance(),
                stored.held()
            )
        },
    )?;
    let history = step(C, driver.history(card).await)?;
    verify_ledger(card, stored.balance(), &history)
        .map_err(|e| fail(C, format!("the ledger does not prove the balance: {e}")))?;
    let client = reference(C, "after")?;
    let refused = driver.check_balance(&client, &old).await;
    ensure(
        C,
        matches!(refused, Err(RedeemError::UnknownCode(_))),
        || format!("the old code after the race gave {refused:?}"),
    )?;
    hold(C, &driver, &new, "after-new", usd(100)).await
}

async fn sweeps_release_and_expire<D: Driver>(store: D::Store) -> Result<(), ConformanceFailure> {
    const C: &str = SWEEP;
    let clock = Arc::new(FixedClock::new(t0()));
    let driver = D::build(store, Protocol::default(), clock.clone());
    let advance = |by: Duration| {
        clock
            .advance(by)
            .map(drop)
            .map_err(|e| fail(C, e.to_string()))
    };

    // Five cards expiring in ten days, one that never expires with a hold on it.
    let mut expiring = Vec::new();
    for i in 0..5 {
        let mut spec = CardSpec::new(usd(1_000 + i));
        spec.expires_at = Some(t0() + Duration::days(10));
        let issued = step(
            C,
            driver
                .issue(&key(C, &format!("issue-{i}"))?, vec![spec])
                .await,
        )?;
        expiring.extend(issued.outcome.cards.iter().map(|c| c.card));
    }
    let (held, code) = issue_card(C, &driver, "issue-held", usd(2_000)).await?;
    hold(C, &driver, &code, "c1", usd(500)).await?;
    let nothing = step(C, driver.sweep(10).await)?;
    ensure(C, nothing.cards.is_empty() && !nothing.more, || {
        format!("a sweep with nothing due gave {nothing:?}")
    })?;

    advance(Duration::hours(1))?;
    let released = step(C, driver.sweep(10).await)?;
    let ok = matches!(released.cards.as_slice(),
        [swept] if swept.card == held && swept.released.len() == 1
            && swept.released_amount == usd(500) && !swept.expired)
        && released.notifications.is_empty();
    ensure(C, ok, || {
        format!("the sweep an hour later gave {released:?}")
    })?;
    let card = step(C, driver.card(held).await)?.ok_or_else(|| fail(C, "the card is gone"))?;
    ensure(C, card.held() == usd(0) && card.holds().is_empty(), || {
        format!("the swept card still holds {}", card.held())
    })?;
    let again = step(C, driver.sweep(10).await)?;
    ensure(C, again.cards.is_empty(), || {
        format!("a second sweep gave {again:?}")
    })?;

    advance(Duration::days(10))?;
    let mut swept = Vec::new();
    let mut notified = 0;
    for batch in 0..3 {
        let sweep = step(C, driver.sweep(2).await)?;
        let expected_more = batch < 2;
        ensure(
            C,
            sweep.cards.len() == if batch < 2 { 2 } else { 1 } && sweep.more == expected_more,
            || format!("batch {batch} of 2 gave {sweep:?}"),
        )?;
        notified += sweep
            .notifications
            .iter()
            .filter(|n| matches!(n, Notification::CardExpired { .. }))
            .count();
        swept.extend(sweep.cards);
    }
    ensure(
        C,
        swept
            .iter()
            .all(|s| s.expired && s.status == CardStatus::Expired && expiring.contains(&s.card))
            && notified == 5,
        || format!("the expiry sweeps gave {swept:?} with {notified} notifications"),
    )?;
    let last = step(C, driver.sweep(2).await)?;
    ensure(C, last.cards.is_empty() && !last.more, || {
        format!("a sweep after the expiries gave {last:?}")
    })?;
    for &card in &expiring {
        let stored =
            step(C, driver.card(card).await)?.ok_or_else(|| fail(C, "the card is gone"))?;
        let history = step(C, driver.history(card).await)?;
        verify_ledger(card, stored.balance(), &history)
            .map_err(|e| fail(C, format!("the ledger does not prove the balance: {e}")))?;
        let expired = history
            .iter()
            .filter(|e| e.kind() == EntryKind::Expired)
            .count();
        ensure(
            C,
            expired == 1 && stored.status() == CardStatus::Expired,
            || {
                format!(
                    "card {card} has {expired} expiry entries, {:?}",
                    stored.status()
                )
            },
        )?;
    }
    Ok(())
}

async fn sweeps_race_an_authorisation<D: Driver>(
    store: D::Store,
) -> Result<(), ConformanceFailure> {
    const C: &str = SWEEP_RACE;
    let clock = Arc::new(FixedClock::new(t0()));
    let driver = D::build(store, Protocol::default(), clock.clone());
    let (card, code) = issue_card(C, &driver, "issue", usd(1_000)).await?;
    let client = reference(C, "shopper")?;
    for (checkout, amount) in [("c1", 500), ("c2", 300)] {
        let checkout = reference(C, checkout)?;
        step(
            C,
            driver
                .apply_code(&client, &checkout, Currency::USD, &code)
                .await,
        )?;
        if amount == 500 {
            step(
                C,
                driver
                    .authorise(&key(C, &format!("{checkout}/a"))?, &checkout, usd(amount))
                    .await,
            )?;
        }
    }
    clock
        .advance(Duration::hours(1))
        .map_err(|e| fail(C, e.to_string()))?;
    let mut tasks: Vec<Task<'_>> = Vec::new();
    for _ in 0..2 {
        let driver = &driver;
        tasks.push(Box::pin(async move {
            step(C, driver.sweep(10).await).map(|_| false)
        }));
    }
    let driver_ref = &driver;
    tasks.push(Box::pin(async move {
        let checkout = reference(C, "c2")?;
        step(
            C,
            driver_ref
                .authorise(&key(C, "c2/a")?, &checkout, usd(800))
                .await,
        )
        .map(|_| true)
    }));
    for result in driver.join_all(C, tasks).await {
        result?;
    }
    let stored = step(C, driver.card(card).await)?.ok_or_else(|| fail(C, "the card is gone"))?;
    ensure(
        C,
        stored.balance() == usd(1_000) && stored.held() == usd(800),
        || {
            format!(
                "after the race the card has {} with {} held, expected 10.00 with 8.00",
                stored.balance(),
                stored.held()
            )
        },
    )?;
    let history = step(C, driver.history(card).await)?;
    verify_ledger(card, stored.balance(), &history)
        .map_err(|e| fail(C, format!("the ledger does not prove the balance: {e}")))?;
    let released = history
        .iter()
        .filter(|e| {
            matches!(
                e.kind(),
                EntryKind::Released {
                    reason: ReleaseReason::Expired,
                    ..
                }
            )
        })
        .count();
    ensure(C, released == 1, || {
        format!("the expired hold was released {released} times")
    })
}

async fn pruning_keeps_what_is_current<D: Driver>(
    store: D::Store,
) -> Result<(), ConformanceFailure> {
    const C: &str = PRUNE;
    let clock = Arc::new(FixedClock::new(t0()));
    let protocol = Protocol::default();
    let driver = D::build(store, protocol.clone(), clock.clone());
    let advance = |by: Duration| {
        clock
            .advance(by)
            .map(drop)
            .map_err(|e| fail(C, e.to_string()))
    };
    for i in 0..12 {
        step(
            C,
            driver
                .issue(&key(C, &format!("old-{i}"))?, vec![CardSpec::new(usd(100))])
                .await,
        )?;
    }
    // Five clients each try a code no card has: five guard windows.
    for i in 0..5 {
        let client = reference(C, &format!("guesser-{i}"))?;
        let (_, unknown) = protocol.draw().map_err(|e| fail(C, e.to_string()))?;
        let guessed = driver.check_balance(&client, unknown.expose_secret()).await;
        ensure(
            C,
            matches!(guessed, Err(RedeemError::UnknownCode(_))),
            || format!("an unknown code gave {guessed:?}"),
        )?;
    }
    let early = step(C, driver.prune(100).await)?;
    ensure(C, early.records == 0 && early.guards == 0, || {
        format!("a prune with nothing old gave {early:?}")
    })?;

    // The windows (an hour) have ended; the records (30 days) are kept.
    advance(Duration::hours(2))?;
    let windows = step(C, driver.prune(3).await)?;
    let rest = step(C, driver.prune(100).await)?;
    ensure(
        C,
        windows.guards == 3 && rest.guards == 2 && windows.records + rest.records == 0,
        || format!("pruning ended windows gave {windows:?} then {rest:?}"),
    )?;

    advance(Duration::days(30))?;
    step(
        C,
        driver
            .issue(&key(C, "new")?, vec![CardSpec::new(usd(100))])
            .await,
    )?;
    let first = step(C, driver.prune(5).await)?;
    let second = step(C, driver.prune(100).await)?;
    let third = step(C, driver.prune(100).await)?;
    ensure(
        C,
        first.records == 5 && second.records == 7 && third.records == 0,
        || format!("pruning 12 old records by 5 gave {first:?}, {second:?}, {third:?}"),
    )?;
    for i in 0..12 {
        let record = step(
            C,
            driver
                .idempotency(&key(C, &format!("old-{i}"))?)
                .await
                .map_err(RedeemError::from),
        )?;
        ensure(C, record.is_none(), || format!("record old-{i} was kept"))?;
    }
    let kept = step(
        C,
        driver
            .idempotency(&key(C, "new")?)
            .await
            .map_err(RedeemError::from),
    )?;
    ensure(C, kept.is_some(), || "the new record was pruned".into())
}

async fn a_store_budget_outlives_a_prune<D: Driver>(
    store: D::Store,
) -> Result<(), ConformanceFailure> {
    const C: &str = PRUNE_BUDGET;
    let clock = Arc::new(FixedClock::new(t0()));
    let guard = GuardPolicy::new(20, Duration::hours(1)).with_store_budget(3, Duration::days(7));
    let protocol = Protocol::default().with_guard(guard);
    let driver = D::build(store, protocol.clone(), clock.clone());
    let advance = |by: Duration| {
        clock
            .advance(by)
            .map(drop)
            .map_err(|e| fail(C, e.to_string()))
    };
    let guess = |n: usize| {
        let (driver, protocol) = (&driver, &protocol);
        async move {
            let client = reference(C, &format!("guesser-{n}"))?;
            let (_, unknown) = protocol.draw().map_err(|e| fail(C, e.to_string()))?;
            Ok::<_, ConformanceFailure>(
                driver.check_balance(&client, unknown.expose_secret()).await,
            )
        }
    };
    for n in 0..3 {
        let guessed = guess(n).await?;
        ensure(
            C,
            matches!(guessed, Err(RedeemError::UnknownCode(_))),
            || format!("guess {n} within the budget gave {guessed:?}"),
        )?;
    }

    advance(Duration::hours(2))?;
    step(C, driver.prune(100).await)?;
    let refused = guess(3).await?;
    ensure(
        C,
        matches!(refused, Err(RedeemError::TooManyAttempts(_))),
        || format!("a new client's guess after a prune with the budget spent gave {refused:?}"),
    )?;

    advance(Duration::days(8))?;
    let pruned = step(C, driver.prune(100).await)?;
    ensure(C, pruned.guards == 5, || {
        format!("a prune after the budget's window gave {pruned:?}, expected 5 windows")
    })?;
    let answered = guess(4).await?;
    ensure(
        C,
        matches!(answered, Err(RedeemError::UnknownCode(_))),
        || format!("a guess after the budget's window gave {answered:?}"),
    )
}

async fn an_order_issues_its_cards_once<D: Driver>(
    store: D::Store,
) -> Result<(), ConformanceFailure> {
    const C: &str = ORDER_ONCE;
    let clock = Arc::new(FixedClock::new(t0()));
    let driver = D::build(store, Protocol::default(), clock.clone());
    let order: crate::card::Reference = reference(C, "order-kit-1")?;
    let paid = || {
        let mut spec = CardSpec::new(usd(2_500));
        spec.order = Some(order.clone());
        Request::IssueForOrder {
            order: order.clone(),
            specs: vec![spec],
        }
    };
    let first = match driver.run(paid()).await {
        Ok(Answer::IssueForOrder(issued)) => issued.outcome,
        other => return Err(fail(C, format!("issuing for an order gave {other:?}"))),
    };
    let [card] = &first.cards[..] else {
        return Err(fail(C, format!("one card expected, issued {first:?}")));
    };
    clock
        .advance(Duration::days(31))
        .map_err(|e| fail(C, e.to_string()))?;
    let pruned = step(C, driver.prune(100).await)?;
    ensure(C, pruned.records == 1, || {
        format!("a prune 31 days on gave {pruned:?}")
    })?;
    let again = driver.run(paid()).await;
    ensure(
        C,
        matches!(&again, Err(RedeemError::OrderAlreadyIssued { order: o, cards }) if *o == order && cards.contains(&card.card)),
        || format!("the order reported paid again after its record was pruned gave {again:?}"),
    )?;
    let query = CardQuery::new().by_order(order.clone());
    let page = driver
        .search(&query)
        .await
        .map_err(|e| fail(C, e.to_string()))?;
    ensure(C, page.items.len() == 1, || {
        format!("the order has {} cards", page.items.len())
    })
}
