//! The rules the redemption protocol keeps on any store, written once over the kit's
//! [`Driver`]: [`check_protocol_rules`] runs them through the sync [`Redeemer`],
//! [`check_async_protocol_rules`] through the [`AsyncRedeemer`], each check in a fresh store.

use std::future::{Future, ready};
use std::sync::Arc;

use chrono::Duration;

use super::driver::Driver;
use super::{ConformanceFailure, block_on, ensure, fail, key, reference, step, t0, usd};
use crate::card::{CardId, CardSpec, Notification};
use crate::clock::FixedClock;
use crate::code::ImportRules;
use crate::money::Currency;
use crate::redeem::StoreError;
use crate::redeem::{Protocol, RedeemError};
use crate::store::{AsyncRedeemer, AsyncStore, Redeemer, Store};

/// Runs the protocol's rules through a [`Redeemer`] over stores from `factory` (a fresh,
/// empty store each call):
///
/// 1. an expired hold never reduces what a card can give (a code applied, another checkout's
///    authorisation);
/// 2. after a capture is refused because its authorisation expired, the same checkout can be
///    authorised again without a void;
/// 3. an import repeated under its key replays its first result, and the key is refused for
///    another card, even one whose code shows nothing in its mask; a second import of the
///    code is a duplicate code;
/// 4. a capture after a void says voided.
///
/// The rule that no request fails with contention while others make progress is
/// [`check_contention`](super::check_contention)'s.
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the rule, what was expected and what happened.
pub fn check_protocol_rules<S, F>(mut factory: F) -> Result<(), ConformanceFailure>
where
    S: Store,
    F: FnMut() -> S,
{
    block_on(rules::<Redeemer<S>, _, _>(|| ready(factory())))
}

/// The same rules as [`check_protocol_rules`], the same checks, run through an
/// [`AsyncRedeemer`] over async stores from `factory` (a future of a fresh, empty store, called
/// once per check).
///
/// The kit brings no runtime: await it in the host's (`#[tokio::test]`), or drive it with
/// [`block_on`] when the store's futures need none.
///
/// ```
/// use giftcert::MemoryStore;
/// use giftcert::testkit::{block_on, check_async_protocol_rules};
///
/// block_on(check_async_protocol_rules(|| async { MemoryStore::new() }))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the rule, what was expected and what happened.
pub async fn check_async_protocol_rules<S, F, Fut>(factory: F) -> Result<(), ConformanceFailure>
where
    S: AsyncStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    rules::<AsyncRedeemer<S>, _, _>(factory).await
}

async fn rules<D, F, Fut>(mut factory: F) -> Result<(), ConformanceFailure>
where
    D: Driver,
    F: FnMut() -> Fut,
    Fut: Future<Output = D::Store>,
{
    expired_holds_never_count::<D>(factory().await).await?;
    an_expired_authorisation_authorises_again::<D>(factory().await).await?;
    imports_replay_under_their_key::<D>(factory().await).await?;
    a_capture_after_a_void_says_voided::<D>(factory().await).await?;
    Ok(())
}

/// A driver over `store` on a fixed clock with 15-minute holds, with a 100.00 card applied
/// to checkout `c1` and held there in full.
async fn held_card<D: Driver>(
    check: &'static str,
    store: D::Store,
) -> Result<(D, Arc<FixedClock>, CardId, String), ConformanceFailure> {
    let clock = Arc::new(FixedClock::new(t0()));
    let protocol = Protocol::default().with_hold_ttl(Some(Duration::minutes(15)));
    let driver = D::build(store, protocol, clock.clone());
    let issued = step(
        check,
        driver
            .issue(&key(check, "kit-held")?, vec![CardSpec::new(usd(10_000))])
            .await,
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
        driver.apply_code(&client, &c1, Currency::USD, &code).await,
    )?;
    step(
        check,
        driver
            .authorise(&key(check, "c1/a")?, &c1, usd(10_000))
            .await,
    )?;
    Ok((driver, clock, card, code))
}

async fn expired_holds_never_count<D: Driver>(store: D::Store) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "an expired hold never reduces what a card can give";
    let (driver, clock, card, code) = held_card::<D>(CHECK, store).await?;
    clock
        .advance(Duration::minutes(16))
        .map_err(|e| fail(CHECK, e.to_string()))?;
    let c2 = reference(CHECK, "c2")?;
    let applied = step(
        CHECK,
        driver
            .apply_code(&reference(CHECK, "kit")?, &c2, Currency::USD, &code)
            .await,
    )?;
    ensure(CHECK, applied.balance == usd(10_000), || {
        format!(
            "applied after the hold expired, the card showed {}",
            applied.balance
        )
    })?;
    let auth = step(
        CHECK,
        driver
            .authorise(&key(CHECK, "c2/a")?, &c2, usd(10_000))
            .await,
    )?;
    ensure(CHECK, auth.outcome.credit == usd(10_000), || {
        format!("another checkout could hold only {}", auth.outcome.credit)
    })?;
    let stored =
        step(CHECK, driver.card(card).await)?.ok_or_else(|| fail(CHECK, "card vanished"))?;
    ensure(CHECK, stored.held() == usd(10_000), || {
        format!(
            "the card holds {} after the new authorisation",
            stored.held()
        )
    })
}

async fn an_expired_authorisation_authorises_again<D: Driver>(
    store: D::Store,
) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "an expired authorisation can be authorised again without a void";
    let (driver, clock, card, _) = held_card::<D>(CHECK, store).await?;
    clock
        .advance(Duration::minutes(16))
        .map_err(|e| fail(CHECK, e.to_string()))?;
    let c1 = reference(CHECK, "c1")?;
    let refused = driver.capture(&key(CHECK, "c1/c")?, &c1).await;
    ensure(
        CHECK,
        matches!(refused, Err(RedeemError::AuthorisationExpired(_))),
        || format!("a capture after the holds expired gave {refused:?}"),
    )?;
    step(
        CHECK,
        driver
            .authorise(&key(CHECK, "c1/a2")?, &c1, usd(10_000))
            .await,
    )?;
    let captured = step(CHECK, driver.capture(&key(CHECK, "c1/c2")?, &c1).await)?;
    ensure(CHECK, captured.outcome.total == usd(10_000), || {
        format!("captured {}", captured.outcome.total)
    })?;
    let stored =
        step(CHECK, driver.card(card).await)?.ok_or_else(|| fail(CHECK, "card vanished"))?;
    ensure(
        CHECK,
        stored.balance().is_zero() && stored.held().is_zero(),
        || format!("left {} with {} held", stored.balance(), stored.held()),
    )?;
    let history = step(CHECK, driver.history(card).await)?;
    crate::card::verify_ledger(card, stored.balance(), &history)
        .map_err(|e| fail(CHECK, e.to_string()))
}

async fn imports_replay_under_their_key<D: Driver>(
    store: D::Store,
) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "an import replays under its key and refuses it for another card";
    let driver = D::build(store, Protocol::default(), Arc::new(FixedClock::new(t0())));
    let rules = ImportRules::new(8, 20).map_err(|e| fail(CHECK, e.to_string()))?;
    let import = |text: &str| rules.import(text).map_err(|e| fail(CHECK, e.to_string()));
    let k = key(CHECK, "kit-import")?;
    let first = step(
        CHECK,
        driver
            .import_card(&k, import("KITCODE-AB12CD34")?, CardSpec::new(usd(3_000)))
            .await,
    )?;
    let again = step(
        CHECK,
        driver
            .import_card(&k, import("KITCODE-AB12CD34")?, CardSpec::new(usd(3_000)))
            .await,
    )?;
    ensure(
        CHECK,
        again.replayed && again.outcome == first.outcome,
        || format!("the repeated import gave {again:?}"),
    )?;
    for (code, value) in [("KITCODE-AB12CD34", 3_100), ("KITCODE-ZZ99YY88", 3_000)] {
        let other = driver
            .import_card(&k, import(code)?, CardSpec::new(usd(value)))
            .await;
        ensure(
            CHECK,
            matches!(other, Err(RedeemError::IdempotencyConflict { .. })),
            || format!("the key reused for another card gave {other:?}"),
        )?;
    }
    // Codes so short that their masks show nothing, the same value: the key of one is still
    // refused for the other.
    let short = key(CHECK, "kit-import-short")?;
    step(
        CHECK,
        driver
            .import_card(&short, import("SHORT001")?, CardSpec::new(usd(3_000)))
            .await,
    )?;
    let other = driver
        .import_card(&short, import("SHORT002")?, CardSpec::new(usd(3_000)))
        .await;
    ensure(
        CHECK,
        matches!(other, Err(RedeemError::IdempotencyConflict { .. })),
        || format!("the key of one short code reused for another gave {other:?}"),
    )?;
    let duplicate = driver
        .import_card(
            &key(CHECK, "kit-import-2")?,
            import("KITCODE-AB12CD34")?,
            CardSpec::new(usd(3_000)),
        )
        .await;
    ensure(
        CHECK,
        matches!(
            duplicate,
            Err(RedeemError::Store(StoreError::DuplicateCode { .. }))
        ),
        || format!("a second import of the code gave {duplicate:?}"),
    )
}

async fn a_capture_after_a_void_says_voided<D: Driver>(
    store: D::Store,
) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "a capture that lost to a void says voided";
    let (driver, clock, _, _) = held_card::<D>(CHECK, store).await?;
    let c1 = reference(CHECK, "c1")?;
    step(CHECK, driver.void(&key(CHECK, "c1/v")?, &c1).await)?;
    clock
        .advance(Duration::minutes(16))
        .map_err(|e| fail(CHECK, e.to_string()))?;
    let err = driver.capture(&key(CHECK, "c1/c")?, &c1).await;
    ensure(
        CHECK,
        matches!(&err, Err(e) if e.to_string().contains("voided")),
        || format!("the capture gave {err:?}"),
    )
}
