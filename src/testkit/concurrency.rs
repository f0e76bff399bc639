//! Requests racing for the same cards, written once over the kit's [`Driver`]: spending one
//! card until it is empty (no overspending), and the protocol's rule that no request fails
//! with contention while others make progress. The sync entry points race threads through a
//! [`Redeemer`]; the async ones race tasks through an [`AsyncRedeemer`], polled together inside
//! the future the caller awaits.

use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::Arc;

use super::driver::Driver;
use super::{ConformanceFailure, block_on, ensure, fail, key, reference, step, t0, usd};
use crate::card::{CardId, CardSpec, Notification, verify_ledger};
use crate::clock::FixedClock;
use crate::money::{Currency, Money};
use crate::redeem::{GuardPolicy, PESSIMISTIC_AFTER, Protocol, RedeemError};
use crate::store::{AsyncRedeemer, AsyncStore, Redeemer, Store};

/// Requests that race for one card.
const RACERS: usize = 8;
/// Enough rounds for the card to run out whatever the interleaving (100 are needed).
const MAX_ROUNDS: usize = 100;
/// Attempts the spending check allows each request: it is about never overspending, not about
/// contention.
const SPENDING_ATTEMPTS: u32 = 1_000;
/// Rounds each racer of the contention checks completes.
const CONTENTION_ROUNDS: usize = 20;
/// Attempts the contention checks allow each request: one past the lost commits after which
/// the protocol takes the pessimistic path, so that it is that path, not a long run of lucky
/// retries, that gets every request through: holding its driver's turn, a request must win at
/// once.
const CONTENTION_ATTEMPTS: u32 = PESSIMISTIC_AFTER + 1;
/// Cards in the big checkout of the contention check.
const BIG_CHECKOUT: usize = 16;

type Task<'a, T> = Pin<Box<dyn Future<Output = Result<T, ConformanceFailure>> + Send + 'a>>;

fn add(check: &'static str, a: Money, b: Money) -> Result<Money, ConformanceFailure> {
    a.checked_add(b).map_err(|e| fail(check, e.to_string()))
}

/// Issues one card of `value` under `name` and returns its id and code.
pub(super) async fn issue_card<D: Driver>(
    check: &'static str,
    driver: &D,
    name: &str,
    value: Money,
) -> Result<(CardId, String), ConformanceFailure> {
    let issued = driver
        .issue(&key(check, name)?, vec![CardSpec::new(value)])
        .await
        .map_err(|e| fail(check, format!("issue: {e}")))?;
    match issued.notifications.first() {
        Some(Notification::CardIssued { card, code, .. }) => {
            Ok((*card, code.expose_secret().to_owned()))
        }
        _ => Err(fail(check, "issue returned no card")),
    }
}

/// Applies `code` to `checkout` for the client `shopper` and authorises `amount` there under
/// the key `<checkout>/a`: a card with a hold, the set-up many checks start from.
pub(super) async fn hold<D: Driver>(
    check: &'static str,
    driver: &D,
    code: &str,
    checkout: &str,
    amount: Money,
) -> Result<(), ConformanceFailure> {
    let client = reference(check, "shopper")?;
    let id = reference(check, checkout)?;
    step(
        check,
        driver.apply_code(&client, &id, Currency::USD, code).await,
    )?;
    let authorise = key(check, &format!("{checkout}/a"))?;
    step(check, driver.authorise(&authorise, &id, amount).await).map(drop)
}

/// Eight threads spend one 100.00 USD card, 1.00 at a time, through a [`Redeemer`] over each
/// of `stores` in turn (one store shared by all threads, or one per thread: several
/// connections to one database), until the card is empty. Together they must capture exactly
/// 100.00, never more, leave nothing held, and leave a ledger of 201 entries (the issue, then a
/// hold and a capture per 1.00) that sums to the balance. Returns the card's id, for checks of
/// the database's own.
///
/// # Errors
///
/// A [`ConformanceFailure`] naming what went wrong; none when `stores` is empty.
pub fn check_concurrent_spending<S: Store>(stores: Vec<S>) -> Result<CardId, ConformanceFailure> {
    block_on(concurrent_spending::<Redeemer<S>>(stores))
}

/// The same check as [`check_concurrent_spending`], through an [`AsyncRedeemer`] over each of
/// `stores` in turn: eight tasks, polled together inside the returned future (so their store
/// I/O overlaps under the caller's runtime), spend one 100.00 USD card 1.00 at a time until it
/// is empty, capturing exactly 100.00 and leaving a ledger of 201 entries that sums to zero.
/// Returns the card's id.
///
/// The kit brings no runtime: await it in the host's (`#[tokio::test]`), or drive it with
/// [`block_on`] when the store's futures need none.
///
/// ```
/// use giftcert::MemoryStore;
/// use giftcert::testkit::{block_on, check_async_concurrent_spending};
///
/// block_on(check_async_concurrent_spending(vec![MemoryStore::new()]))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A [`ConformanceFailure`] naming what went wrong; none when `stores` is empty.
pub async fn check_async_concurrent_spending<S: AsyncStore>(
    stores: Vec<S>,
) -> Result<CardId, ConformanceFailure> {
    concurrent_spending::<AsyncRedeemer<S>>(stores).await
}

async fn concurrent_spending<D: Driver>(
    stores: Vec<D::Store>,
) -> Result<CardId, ConformanceFailure> {
    const CHECK: &str = "concurrent spending of one card never overspends";
    let clock = Arc::new(FixedClock::new(t0()));
    let protocol = Protocol::default().with_attempts(SPENDING_ATTEMPTS);
    let drivers: Vec<D> = stores
        .into_iter()
        .map(|store| D::build(store, protocol.clone(), clock.clone()))
        .collect();
    let first = drivers
        .first()
        .ok_or_else(|| fail(CHECK, "no store to spend through"))?;
    let (card, code) = issue_card(CHECK, first, "kit-issue", usd(10_000)).await?;
    let tasks: Vec<_> = (0..RACERS)
        .map(|t| spend_until_empty(CHECK, &drivers[t % drivers.len()], t, card, &code))
        .collect();
    let mut spent = Money::zero(Currency::USD);
    for result in first.join_all(CHECK, tasks).await {
        spent = add(CHECK, spent, result?)?;
    }
    let stored = first
        .card(card)
        .await
        .map_err(|e| fail(CHECK, e.to_string()))?
        .ok_or_else(|| fail(CHECK, "card vanished"))?;
    ensure(
        CHECK,
        spent == usd(10_000) && stored.balance().is_zero() && stored.held().is_zero(),
        || {
            format!(
                "the racers spent {spent} of a 100.00 USD card, which now holds {} with {} held",
                stored.balance(),
                stored.held()
            )
        },
    )?;
    let history = first
        .history(card)
        .await
        .map_err(|e| fail(CHECK, e.to_string()))?;
    verify_ledger(card, stored.balance(), &history).map_err(|e| fail(CHECK, e.to_string()))?;
    ensure(CHECK, history.len() == 201, || {
        format!("the ledger has {} entries, expected 201", history.len())
    })?;
    Ok(card)
}

/// Racer `t` spends 1.00 of `card` a round until it is empty; returns what it captured.
async fn spend_until_empty<D: Driver>(
    check: &'static str,
    driver: &D,
    t: usize,
    card: CardId,
    code: &str,
) -> Result<Money, ConformanceFailure> {
    let mut spent = Money::zero(Currency::USD);
    let client = reference(check, "kit")?;
    for round in 0..MAX_ROUNDS {
        let left = driver
            .card(card)
            .await
            .map_err(|e| fail(check, e.to_string()))?
            .ok_or_else(|| fail(check, "card vanished"))?;
        if left.balance().is_zero() {
            break;
        }
        let name = format!("kit-{t}-{round}");
        let checkout = reference(check, &name)?;
        match driver
            .apply_code(&client, &checkout, Currency::USD, code)
            .await
        {
            Ok(_) => {}
            // What is left is held by other racers, which will capture it.
            Err(RedeemError::EmptyCard(_)) => continue,
            Err(e) => return Err(fail(check, format!("apply: {e}"))),
        }
        let auth = driver
            .authorise(&key(check, &format!("{name}-a"))?, &checkout, usd(100))
            .await
            .map_err(|e| fail(check, format!("authorise: {e}")))?;
        if auth.outcome.credit.is_zero() {
            continue;
        }
        let captured = driver
            .capture(&key(check, &format!("{name}-c"))?, &checkout)
            .await
            .map_err(|e| fail(check, format!("capture: {e}")))?;
        spent = add(check, spent, captured.outcome.total)?;
    }
    Ok(spent)
}

/// Checks the protocol's rule that no request fails with [`RedeemError::Contention`] while
/// others make progress, through one [`Redeemer`] shared by several threads, each scenario on a
/// fresh store from `factory`. Every request is allowed only 5 attempts: after 4 lost commits
/// the protocol takes its pessimistic path (see [`Need::Turn`](crate::redeem::Need::Turn)),
/// the driver's turn, and holding it a request must win at once; so it is that path, not a
/// long run of lucky retries, that gets every request through:
///
/// 1. eight threads spend one 1000.00 USD card for 20 rounds each (apply its code to a
///    checkout of their own, authorise 1.00, capture): every request succeeds, and the card
///    ends at 840.00 with nothing held and a ledger of 321 entries that sums to it;
/// 2. a checkout of sixteen 10.00 cards authorises 155.00 and voids it, 20 times, while
///    another thread authorises 0.10 of its last card and voids it, 20 times: every request
///    succeeds, each big authorisation holds 155.00, and every card ends at 10.00 with
///    nothing held.
///
/// The turn that the pessimistic path takes belongs to the driver: the rule holds among the
/// requests of one [`Redeemer`]. Drivers in several processes sharing one database rely on
/// backoff alone (see [`Store`]'s contract).
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the request that failed, or the money that does not add
/// up.
pub fn check_contention<S, F>(mut factory: F) -> Result<(), ConformanceFailure>
where
    S: Store,
    F: FnMut() -> S,
{
    block_on(contention::<Redeemer<S>, _, _>(|| ready(factory())))
}

/// The same checks as [`check_contention`], through one [`AsyncRedeemer`] over each fresh
/// async store from `factory`: eight tasks spending one card, then a sixteen-card checkout
/// racing a spender of one of its cards, every request allowed 5 attempts and none failing.
///
/// The tasks are polled together inside the returned future: await it in the host's runtime
/// (a store doing real I/O needs one), or drive it with [`block_on`] when the store's futures
/// need none (then, each request running to its end when polled, they never collide).
///
/// ```
/// use giftcert::MemoryStore;
/// use giftcert::testkit::{block_on, check_async_contention};
///
/// block_on(check_async_contention(|| async { MemoryStore::new() }))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the request that failed, or the money that does not add
/// up.
pub async fn check_async_contention<S, F, Fut>(factory: F) -> Result<(), ConformanceFailure>
where
    S: AsyncStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    contention::<AsyncRedeemer<S>, _, _>(factory).await
}

async fn contention<D, F, Fut>(mut factory: F) -> Result<(), ConformanceFailure>
where
    D: Driver,
    F: FnMut() -> Fut,
    Fut: Future<Output = D::Store>,
{
    racers_on_one_card_finish_every_round::<D>(factory().await).await?;
    a_big_checkout_racing_a_spender_completes::<D>(factory().await).await
}

fn contention_driver<D: Driver>(store: D::Store) -> D {
    D::build(
        store,
        Protocol::default().with_attempts(CONTENTION_ATTEMPTS),
        Arc::new(FixedClock::new(t0())),
    )
}

async fn racers_on_one_card_finish_every_round<D: Driver>(
    store: D::Store,
) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "racers on one card finish every round without contention";
    let driver = contention_driver::<D>(store);
    let (card, code) = issue_card(CHECK, &driver, "kit-hot", usd(100_000)).await?;
    let racer = |t: usize| {
        let (driver, code) = (&driver, &code);
        async move {
            let client = reference(CHECK, "kit")?;
            for round in 0..CONTENTION_ROUNDS {
                let name = format!("hot-{t}-{round}");
                let checkout = reference(CHECK, &name)?;
                let at = |what: &str, e: RedeemError| {
                    fail(CHECK, format!("racer {t}, round {round}: {what}: {e}"))
                };
                driver
                    .apply_code(&client, &checkout, Currency::USD, code)
                    .await
                    .map_err(|e| at("apply", e))?;
                let auth = driver
                    .authorise(&key(CHECK, &format!("{name}/a"))?, &checkout, usd(100))
                    .await
                    .map_err(|e| at("authorise", e))?;
                ensure(CHECK, auth.outcome.credit == usd(100), || {
                    format!("racer {t}, round {round}: held {}", auth.outcome.credit)
                })?;
                let captured = driver
                    .capture(&key(CHECK, &format!("{name}/c"))?, &checkout)
                    .await
                    .map_err(|e| at("capture", e))?;
                ensure(CHECK, captured.outcome.total == usd(100), || {
                    format!(
                        "racer {t}, round {round}: captured {}",
                        captured.outcome.total
                    )
                })?;
            }
            Ok(())
        }
    };
    let tasks: Vec<_> = (0..RACERS).map(racer).collect();
    for result in driver.join_all(CHECK, tasks).await {
        result?;
    }
    let stored = driver
        .card(card)
        .await
        .map_err(|e| fail(CHECK, e.to_string()))?
        .ok_or_else(|| fail(CHECK, "card vanished"))?;
    let expected = usd(100_000 - 100 * (RACERS * CONTENTION_ROUNDS) as i64);
    ensure(
        CHECK,
        stored.balance() == expected && stored.held().is_zero(),
        || {
            format!(
                "the card holds {} with {} held, expected {expected} with nothing held",
                stored.balance(),
                stored.held()
            )
        },
    )?;
    let history = driver
        .history(card)
        .await
        .map_err(|e| fail(CHECK, e.to_string()))?;
    verify_ledger(card, stored.balance(), &history).map_err(|e| fail(CHECK, e.to_string()))?;
    let entries = 1 + 2 * RACERS * CONTENTION_ROUNDS;
    ensure(CHECK, history.len() == entries, || {
        format!(
            "the ledger has {} entries, expected {entries}",
            history.len()
        )
    })
}

async fn a_big_checkout_racing_a_spender_completes<D: Driver>(
    store: D::Store,
) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "a sixteen-card checkout racing a spender of one of its cards completes";
    let driver = contention_driver::<D>(store);
    let mut cards = Vec::with_capacity(BIG_CHECKOUT);
    for i in 0..BIG_CHECKOUT {
        cards.push(issue_card(CHECK, &driver, &format!("kit-big-{i}"), usd(1_000)).await?);
    }
    // The big checkout uses its cards in the order applied (equal amounts), so the last one
    // keeps 5.00 that the spender can always hold while both race on its version.
    let payable = usd(1_000 * (BIG_CHECKOUT as i64 - 1) + 500);
    let (_, shared_code) = &cards[BIG_CHECKOUT - 1];
    let (driver_ref, cards_ref) = (&driver, &cards);
    let big: Task<'_, ()> = Box::pin(async move {
        let client = reference(CHECK, "kit-big")?;
        for round in 0..CONTENTION_ROUNDS {
            let name = format!("big-{round}");
            let checkout = reference(CHECK, &name)?;
            let at = |what: &str, e: RedeemError| {
                fail(
                    CHECK,
                    format!("the big checkout, round {round}: {what}: {e}"),
                )
            };
            for (_, code) in cards_ref {
                driver_ref
                    .apply_code(&client, &checkout, Currency::USD, code)
                    .await
                    .map_err(|e| at("apply", e))?;
            }
            let auth = driver_ref
                .authorise(&key(CHECK, &format!("{name}/a"))?, &checkout, payable)
                .await
                .map_err(|e| at("authorise", e))?;
            ensure(CHECK, auth.outcome.credit == payable, || {
                format!(
                    "the big checkout, round {round}: held {} of {payable}",
                    auth.outcome.credit
                )
            })?;
            driver_ref
                .void(&key(CHECK, &format!("{name}/v"))?, &checkout)
                .await
                .map_err(|e| at("void", e))?;
        }
        Ok(())
    });
    let spender: Task<'_, ()> = Box::pin(async move {
        let client = reference(CHECK, "kit-spender")?;
        for round in 0..CONTENTION_ROUNDS {
            let name = format!("spender-{round}");
            let checkout = reference(CHECK, &name)?;
            let at = |what: &str, e: RedeemError| {
                fail(CHECK, format!("the spender, round {round}: {what}: {e}"))
            };
            driver_ref
                .apply_code(&client, &checkout, Currency::USD, shared_code)
                .await
                .map_err(|e| at("apply", e))?;
            let auth = driver_ref
                .authorise(&key(CHECK, &format!("{name}/a"))?, &checkout, usd(10))
                .await
                .map_err(|e| at("authorise", e))?;
            ensure(CHECK, auth.outcome.credit == usd(10), || {
                format!("the spender, round {round}: held {}", auth.outcome.credit)
            })?;
            driver_ref
                .void(&key(CHECK, &format!("{name}/v"))?, &checkout)
                .await
                .map_err(|e| at("void", e))?;
        }
        Ok(())
    });
    for result in driver.join_all(CHECK, vec![big, spender]).await {
        result?;
    }
    for (card, _) in &cards {
        let stored = driver
            .card(*card)
            .await
            .map_err(|e| fail(CHECK, e.to_string()))?
            .ok_or_else(|| fail(CHECK, "card vanished"))?;
        ensure(
            CHECK,
            stored.balance() == usd(1_000) && stored.held().is_zero(),
            || {
                format!(
                    "card {card} holds {} with {} held, expected 10.00 with nothing held",
                    stored.balance(),
                    stored.held()
                )
            },
        )?;
    }
    Ok(())
}

/// Eight threads from one client guess eight distinct unknown codes at once through a
/// [`Redeemer`] over each store from `factory`, `rounds` times: exactly the guard's limit (3)
/// of them are answered "unknown" and the others refused with too many attempts, because
/// each lookup reserves its slot (a versioned commit of the client's window) before the store
/// is asked. Then, each round on a fresh store, four threads of that client apply known codes
/// to checkouts of their own while two guess unknown codes: every answer is an applied code,
/// "unknown" or a refusal, each applied code is on its checkout, and the client's window holds
/// exactly the codes answered "unknown" (a known code's slot goes back in its checkout's
/// commit, which a racing reservation sends back to read the window again).
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the answers the racers got.
pub fn check_guard_race<S, F>(mut factory: F, rounds: usize) -> Result<(), ConformanceFailure>
where
    S: Store + 'static,
    F: FnMut() -> S,
{
    const CHECK: &str = "parallel guesses never get more than the guard's limit";
    const LIMIT: usize = 3;
    const RACERS: usize = 8;
    for _ in 0..rounds {
        let redeemer = Redeemer::new(factory())
            .with_clock(Arc::new(FixedClock::new(t0())))
            .with_guard(GuardPolicy::new(LIMIT as u32, chrono::Duration::hours(1)));
        let client: crate::redeem::ClientId = reference(CHECK, "ip:203.0.113.7")?;
        let lookups = unissued_codes(CHECK, RACERS)?
            .into_iter()
            .map(|code| (client.clone(), code))
            .collect::<Vec<_>>();
        let answers = race_lookups(CHECK, &redeemer, &lookups)?;
        expect_answers(CHECK, &answers, LIMIT, RACERS - LIMIT)?;
        race_known_and_unknown(CHECK, factory(), LIMIT as u32)?;
    }
    Ok(())
}

/// Known codes applied and unknown codes guessed at once by one client under a guard of
/// `limit`: see [`check_guard_race`].
fn race_known_and_unknown<S: Store + 'static>(
    check: &'static str,
    store: S,
    limit: u32,
) -> Result<(), ConformanceFailure> {
    const KNOWN: usize = 4;
    const GUESSES: usize = 2;
    let redeemer = Redeemer::new(store)
        .with_clock(Arc::new(FixedClock::new(t0())))
        .with_guard(GuardPolicy::new(limit, chrono::Duration::hours(1)));
    let client = reference(check, "ip:203.0.113.8")?;
    let mut known = Vec::new();
    for i in 0..KNOWN {
        let (card, code) = block_on(issue_card(check, &redeemer, &format!("known-{i}"), usd(10)))?;
        known.push((
            card,
            code,
            reference(check, &format!("known-checkout-{i}"))?,
        ));
    }
    let guesses = unissued_codes(check, GUESSES)?;
    let barrier = std::sync::Barrier::new(KNOWN + GUESSES);
    let (applied, guessed) = std::thread::scope(|scope| {
        let (redeemer, client, barrier) = (&redeemer, &client, &barrier);
        let applying: Vec<_> = known
            .iter()
            .map(|(_, code, checkout)| {
                scope.spawn(move || {
                    barrier.wait();
                    redeemer
                        .apply_code(client, checkout, Currency::USD, code)
                        .map(|_| ())
                })
            })
            .collect();
        let guessing: Vec<_> = guesses
            .iter()
            .map(|code| {
                scope.spawn(move || {
                    barrier.wait();
                    redeemer.check_balance(client, code).map(|_| ())
                })
            })
            .collect();
        let join = |t: std::thread::ScopedJoinHandle<'_, _>| {
            t.join().map_err(|_| fail(check, "a racer panicked"))
        };
        let applied = applying
            .into_iter()
            .map(join)
            .collect::<Result<Vec<_>, _>>()?;
        let guessed = guessing
            .into_iter()
            .map(join)
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, ConformanceFailure>((applied, guessed))
    })?;
    for ((card, _, checkout), answer) in known.iter().zip(&applied) {
        match answer {
            Ok(_) => {
                let on = redeemer
                    .store()
                    .checkout(checkout)
                    .map_err(|e| fail(check, format!("read a checkout: {e}")))?
                    .is_some_and(|c| c.value.applied().contains(card));
                ensure(check, on, || {
                    format!("a code applied to {checkout} is not on it")
                })?;
            }
            Err(RedeemError::TooManyAttempts(_)) => {}
            Err(other) => {
                return Err(fail(check, format!("a known code answered {other}")));
            }
        }
    }
    let mut unknown = 0;
    for answer in &guessed {
        match answer {
            Err(RedeemError::UnknownCode(_)) => unknown += 1,
            Err(RedeemError::TooManyAttempts(_)) => {}
            other => return Err(fail(check, format!("a guess answered {other:?}"))),
        }
    }
    let counted = redeemer
        .store()
        .guard(&client)
        .map_err(|e| fail(check, format!("read the guard window: {e}")))?
        .map_or(0, |w| w.value.count());
    ensure(check, counted == unknown, || {
        format!(
            "the window counts {counted} codes after {unknown} answered unknown (known codes: {applied:?})"
        )
    })
}

/// Eight threads, each for a client of its own, guess two distinct unknown codes each at once
/// through a [`Redeemer`] over each store from `factory` whose guard has a
/// [store-wide budget](GuardPolicy::with_store_budget) of 5 (and a per-client limit that
/// never binds), `rounds` times: exactly 5 of the 16 lookups are answered "unknown" and the
/// others refused, because each lookup also reserves a slot in the budget's window (a
/// versioned commit under the reserved client id) before the store is asked. Then, one at a
/// time on a fresh store with a budget of 1: a known code looked up again and again gives its
/// slot back, one unknown code spends the budget, and after that every lookup is refused, a
/// known code's from another client included.
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the answers the racers got.
pub fn check_store_budget_race<S, F>(
    mut factory: F,
    rounds: usize,
) -> Result<(), ConformanceFailure>
where
    S: Store + 'static,
    F: FnMut() -> S,
{
    const CHECK: &str = "guesses from many clients never get more than the store's budget";
    const BUDGET: usize = 5;
    const RACERS: usize = 8;
    const PER_RACER: usize = 2;
    let hour = chrono::Duration::hours(1);
    let policy = |budget: usize| GuardPolicy::new(100, hour).with_store_budget(budget as u32, hour);
    for _ in 0..rounds {
        let redeemer = Redeemer::new(factory())
            .with_clock(Arc::new(FixedClock::new(t0())))
            .with_guard(policy(BUDGET));
        let codes = unissued_codes(CHECK, RACERS * PER_RACER)?;
        let lookups = codes
            .iter()
            .enumerate()
            .map(|(i, code)| {
                let client = reference(CHECK, &format!("ip:203.0.113.{}", i / PER_RACER))?;
                Ok((client, code.clone()))
            })
            .collect::<Result<Vec<_>, ConformanceFailure>>()?;
        let answers = race_lookups(CHECK, &redeemer, &lookups)?;
        expect_answers(CHECK, &answers, BUDGET, RACERS * PER_RACER - BUDGET)?;
    }

    let redeemer = Redeemer::new(factory())
        .with_clock(Arc::new(FixedClock::new(t0())))
        .with_guard(policy(1));
    let (_, known) = block_on(issue_card(CHECK, &redeemer, "budget-card", usd(1_000)))?;
    let client = |n: u32| reference(CHECK, &format!("user:{n}"));
    for n in 0..3 {
        redeemer.check_balance(&client(n)?, &known).map_err(|e| {
            fail(
                CHECK,
                format!("a known code looked up with budget left: {e}"),
            )
        })?;
    }
    let [unknown, another] = <[String; 2]>::try_from(unissued_codes(CHECK, 2)?)
        .map_err(|_| fail(CHECK, "drew the wrong number of codes"))?;
    let answers = [
        redeemer.check_balance(&client(10)?, &unknown),
        redeemer.check_balance(&client(11)?, &another),
        redeemer.check_balance(&client(12)?, &known),
    ];
    ensure(
        CHECK,
        matches!(
            answers,
            [
                Err(RedeemError::UnknownCode(_)),
                Err(RedeemError::TooManyAttempts(_)),
                Err(RedeemError::TooManyAttempts(_)),
            ]
        ),
        || {
            format!(
                "with a budget of 1 after known codes, expected unknown, refused, refused: {answers:?}"
            )
        },
    )
}

/// `n` codes with a valid check character that no card has.
fn unissued_codes(check: &'static str, n: usize) -> Result<Vec<String>, ConformanceFailure> {
    let protocol = Protocol::default();
    (0..n)
        .map(|_| {
            protocol
                .draw()
                .map(|(_, code)| code.expose_secret().to_owned())
                .map_err(|e| fail(check, e.to_string()))
        })
        .collect()
}

type Answer = Result<crate::redeem::BalanceCheck, RedeemError>;

/// Looks each `(client, code)` up at once, one thread for each client's codes in turn.
fn race_lookups<S: Store>(
    check: &'static str,
    redeemer: &Redeemer<S>,
    lookups: &[(crate::redeem::ClientId, String)],
) -> Result<Vec<Answer>, ConformanceFailure> {
    let mut by_client: Vec<Vec<&(crate::redeem::ClientId, String)>> = Vec::new();
    for lookup in lookups {
        match by_client.iter_mut().find(|l| l[0].0 == lookup.0) {
            Some(list) => list.push(lookup),
            None => by_client.push(vec![lookup]),
        }
    }
    // One thread per lookup when a client has a single code (the one-client race spreads its
    // codes over threads too).
    let threads: Vec<Vec<&(crate::redeem::ClientId, String)>> = if by_client.len() == 1 {
        lookups.iter().map(|l| vec![l]).collect()
    } else {
        by_client
    };
    let barrier = std::sync::Barrier::new(threads.len());
    let answers = std::thread::scope(|scope| {
        let racing: Vec<_> = threads
            .iter()
            .map(|mine| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    mine.iter()
                        .map(|(client, code)| redeemer.check_balance(client, code))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        racing
            .into_iter()
            .map(|t| t.join().map_err(|_| fail(check, "a racer panicked")))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(answers.into_iter().flatten().collect())
}

/// Exactly `unknown` lookups answered "unknown" and `refused` refused by the guard.
fn expect_answers(
    check: &'static str,
    answers: &[Answer],
    unknown: usize,
    refused: usize,
) -> Result<(), ConformanceFailure> {
    let got_unknown = answers
        .iter()
        .filter(|a| matches!(a, Err(RedeemError::UnknownCode(_))))
        .count();
    let got_refused = answers
        .iter()
        .filter(|a| matches!(a, Err(RedeemError::TooManyAttempts(_))))
        .count();
    ensure(
        check,
        got_unknown == unknown && got_refused == refused,
        || {
            format!(
                "{got_unknown} answered unknown and {got_refused} refused, expected {unknown} and {refused}: {answers:?}"
            )
        },
    )
}
