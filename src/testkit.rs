//! A conformance kit for [`Store`] and [`AsyncStore`] implementations (feature `testkit`).
//!
//! A host that writes its own store calls [`check_store`] from a test with a factory that
//! returns an empty store each time (or [`check_async_store`], with an async factory, for an
//! [`AsyncStore`]: the same contract checks, written once over [`AsyncStore`]). The kit runs
//! the whole contract of the [`Store`] trait: versions, atomic commits, duplicate ids and
//! codes, the append-only ledger, checkouts, idempotency records, guard windows, and several
//! threads spending the same card at once through a [`Redeemer`](crate::store::Redeemer) without ever overspending
//! ([`check_concurrent_spending`], which a database store also runs over several connections).
//!
//! The redemption protocol's rules are checked through a driver, each check written once and
//! run through the driver its entry point names: the sync [`Redeemer`](crate::store::Redeemer) for a [`Store`], the
//! [`AsyncRedeemer`](crate::store::AsyncRedeemer) for an [`AsyncStore`]:
//!
//! | what | [`Store`] | [`AsyncStore`] |
//! | --- | --- | --- |
//! | expired holds, re-authorising, imports, errors naming the state | [`check_protocol_rules`] | [`check_async_protocol_rules`] |
//! | conflicts name their record | [`check_conflict_records`] | [`check_async_conflict_records`] |
//! | no overspending under concurrent spending | [`check_concurrent_spending`] | [`check_async_concurrent_spending`] |
//! | no request fails with contention while others make progress | [`check_contention`] | [`check_async_contention`] |
//! | back-office commands keep their entries and race shoppers exactly; purchase reversals block, claw back and race shoppers exactly | [`check_back_office`] | [`check_async_back_office`] |
//! | partial capture, changing an authorisation, refund targets, balance checks | [`check_checkout_flow`] | [`check_async_checkout_flow`] |
//! | a lost code replaced (alone and racing shoppers), sweeps (alone and racing an authorisation), pruning (a store budget outliving it) | [`check_upkeep`] | [`check_async_upkeep`] |
//! | parallel guesses from one client never get more than the guard's limit | [`check_guard_race`] | |
//! | parallel guesses from many clients never get more than the store-wide budget | [`check_store_budget_race`] | |
//! | the whole protocol under faults, seed by seed, with invariants after every step | [`sim`] (a third driver over a [`Store`]) | |
//!
//! The async checks bring no runtime: their tasks are polled together inside the future they
//! return, which the host awaits in its own runtime (or drives with [`block_on`] when its
//! store's futures need none).
//!
//! ```
//! use giftcert::MemoryStore;
//!
//! giftcert::testkit::check_store(MemoryStore::new)?;
//! giftcert::testkit::check_protocol_rules(MemoryStore::new)?;
//! giftcert::testkit::check_contention(MemoryStore::new)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkout;
mod concurrency;
mod driver;
mod hook;
mod office;
mod protocol;
mod races;
#[cfg(test)]
mod read_conflicts;
mod records;
mod report;
mod reversal;
pub mod sim;
mod upkeep;

pub use self::checkout::{check_async_checkout_flow, check_checkout_flow};
pub use self::concurrency::{
    check_async_concurrent_spending, check_async_contention, check_concurrent_spending,
    check_contention, check_guard_race, check_store_budget_race,
};
pub use self::hook::{CommitFn, CommitHook};
pub use self::office::{check_async_back_office, check_back_office};
pub use self::protocol::{check_async_protocol_rules, check_protocol_rules};
pub use self::races::{check_async_refusal_races, check_refusal_races};
pub use self::records::{check_async_conflict_records, check_conflict_records};
pub use self::report::{check_async_liability, check_async_search, check_liability, check_search};
pub use self::upkeep::{check_async_upkeep, check_upkeep};

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use chrono::{DateTime, TimeZone, Utc};

use crate::card::{CardId, CardSpec, GiftCard};
use crate::card::{LedgerEntry, Reference, verify_ledger};
use crate::code::Code;
use crate::money::Currency;
use crate::money::Money;
use crate::redeem::{CardWrite, Changes, RecordWrite, StoreError};
use crate::redeem::{Checkout, Issued, Outcome, RedeemError};
use crate::redeem::{GuardPolicy, GuardWindow};
use crate::redeem::{IdempotencyKey, IdempotencyRecord, RecordedRequest};
use crate::store::{AsyncStore, Store};

/// A rule of the store contract that the store under test broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store conformance check \"{check}\" failed: {detail}")]
pub struct ConformanceFailure {
    /// The check that failed.
    pub check: &'static str,
    /// What was expected and what happened.
    pub detail: String,
}

fn fail(check: &'static str, detail: impl Into<String>) -> ConformanceFailure {
    ConformanceFailure {
        check,
        detail: detail.into(),
    }
}

fn expect<T>(check: &'static str, result: Result<T, StoreError>) -> Result<T, ConformanceFailure> {
    result.map_err(|e| fail(check, format!("unexpected store error: {e}")))
}

fn ensure(
    check: &'static str,
    ok: bool,
    detail: impl FnOnce() -> String,
) -> Result<(), ConformanceFailure> {
    if ok {
        Ok(())
    } else {
        Err(fail(check, detail()))
    }
}

/// `text` as an idempotency key, or a failure of `check`.
fn key(check: &'static str, text: &str) -> Result<IdempotencyKey, ConformanceFailure> {
    IdempotencyKey::new(text).map_err(|e| fail(check, e.to_string()))
}

/// `text` as a reference, or a failure of `check`.
/// `text` as the id its use asks for: a [`Reference`], a
/// [`CheckoutId`](crate::redeem::CheckoutId) or a [`ClientId`](crate::redeem::ClientId).
fn reference<T>(check: &'static str, text: &str) -> Result<T, ConformanceFailure>
where
    T: std::str::FromStr<Err = crate::card::ReferenceError>,
{
    text.parse()
        .map_err(|e: crate::card::ReferenceError| fail(check, e.to_string()))
}

/// The result of a request that must succeed, or a failure of `check` naming the error.
fn step<T>(check: &'static str, result: Result<T, RedeemError>) -> Result<T, ConformanceFailure> {
    result.map_err(|e| fail(check, format!("unexpected error: {e}")))
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD).unwrap_or(Money::zero(Currency::USD))
}

fn new_card(
    id: u128,
    code: &str,
    value: Money,
) -> Result<(GiftCard, Code, LedgerEntry), ConformanceFailure> {
    let code = Code::parse(code).map_err(|e| fail("setup", e.to_string()))?;
    let (card, entry) = GiftCard::issue(CardId::from_u128(id), &code, CardSpec::new(value), t0())
        .map_err(|e| fail("setup", e.to_string()))?;
    Ok((card, code, entry))
}

fn insert(card: &GiftCard, code: &Code, entry: &LedgerEntry) -> Changes {
    Changes {
        cards: vec![CardWrite::Insert {
            card: card.clone(),
            code: code.clone(),
        }],
        entries: vec![entry.clone()],
        ..Changes::default()
    }
}

/// Runs every check against stores from `factory`, each check on a fresh, empty store.
///
/// The contract checks are those of [`check_async_store`], run on the calling thread over
/// `factory`'s blocking store (its calls wrapped in futures that are ready at once, driven by
/// [`block_on`]); then [`check_concurrent_spending`] spends one card from several threads.
///
/// # Errors
///
/// The first [`ConformanceFailure`], naming the rule broken.
pub fn check_store<S, F>(factory: F) -> Result<(), ConformanceFailure>
where
    S: Store + 'static,
    F: Fn() -> S,
{
    block_on(check_async_store(|| {
        std::future::ready(CommitHook::forward(factory()))
    }))?;
    check_concurrent_spending(vec![factory()])?;
    Ok(())
}

/// Runs the store contract's checks against [`AsyncStore`]s from `factory`, each check on a
/// fresh, empty store: the same checks as [`check_store`] (versions, atomic commits,
/// duplicate ids and codes, the append-only paged ledger, checkouts, idempotency records and
/// guard windows), written once.
///
/// The factory is async because async stores are opened with async I/O (a pool that
/// connects and migrates): it returns a future of an empty store, and is called once per
/// check. The kit brings no runtime: await it in the host's (`#[tokio::test]`), or drive it
/// with [`block_on`] when the store's futures need none.
///
/// Concurrent spending is not among these checks: [`check_async_concurrent_spending`] runs it,
/// over the stores (connections) the host chooses.
///
/// ```
/// use giftcert::MemoryStore;
/// use giftcert::testkit::{block_on, check_async_store};
///
/// block_on(check_async_store(|| async { MemoryStore::new() }))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The first [`ConformanceFailure`], naming the rule broken.
pub async fn check_async_store<S, F, Fut>(mut factory: F) -> Result<(), ConformanceFailure>
where
    S: AsyncStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    empty_store_finds_nothing(&factory().await).await?;
    inserts_start_at_version_one_and_refuse_duplicates(&factory().await).await?;
    updates_check_versions_and_commits_are_atomic(&factory().await).await?;
    ledger_is_append_only_and_paged(&factory().await).await?;
    checkouts_idempotency_and_guards_are_versioned(&factory().await).await?;
    Ok(())
}

/// Runs `future` to its end on the calling thread, parking the thread while the future waits
/// and unparking it when the future's waker is woken: enough for the kit's checks over a store
/// whose futures are ready at once or are woken from other threads, without a runtime.
///
/// Futures that need a runtime's reactor or timers (tokio's sockets) must run in that runtime
/// instead.
///
/// ```
/// let answer = giftcert::testkit::block_on(async { 6 * 7 });
/// assert_eq!(answer, 42);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            // A wake that came before the park leaves a token, so this never sleeps through it.
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Wakes [`block_on`]'s thread.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

async fn empty_store_finds_nothing<S: AsyncStore>(store: &S) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "an empty store finds nothing";
    let code = Code::parse("NOTHING-HERE").map_err(|e| fail(CHECK, e.to_string()))?;
    let key = IdempotencyKey::new("nothing").map_err(|e| fail(CHECK, e.to_string()))?;
    ensure(
        CHECK,
        expect(CHECK, store.card(CardId::from_u128(1)).await)?.is_none(),
        || "card found".into(),
    )?;
    ensure(
        CHECK,
        expect(CHECK, store.card_by_code(&code).await)?.is_none(),
        || "code found".into(),
    )?;
    ensure(
        CHECK,
        expect(CHECK, store.checkout(&reference(CHECK, "nothing")?).await)?.is_none(),
        || "checkout found".into(),
    )?;
    ensure(
        CHECK,
        expect(CHECK, store.idempotency(&key).await)?.is_none(),
        || "key found".into(),
    )?;
    ensure(
        CHECK,
        expect(CHECK, store.guard(&reference(CHECK, "nothing")?).await)?.is_none(),
        || "guard found".into(),
    )?;
    ensure(
        CHECK,
        expect(CHECK, store.ledger(CardId::from_u128(1), 1, 10).await)?.is_empty(),
        || "ledger found".into(),
    )
}

async fn inserts_start_at_version_one_and_refuse_duplicates<S: AsyncStore>(
    store: &S,
) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "inserts start at version 1 and refuse duplicate ids and codes";
    let (card, code, entry) = new_card(1, "AAAA-BBBB-CCCC-1111", usd(10_000))?;
    expect(CHECK, store.commit(insert(&card, &code, &entry)).await)?;
    let stored = expect(CHECK, store.card(card.id()).await)?
        .ok_or_else(|| fail(CHECK, "inserted card not found"))?;
    ensure(CHECK, stored.version == 1, || {
        format!("version {} after insert", stored.version)
    })?;
    ensure(CHECK, stored.value == card, || {
        "stored card differs from the one inserted".into()
    })?;
    let by_code = expect(CHECK, store.card_by_code(&code).await)?;
    ensure(
        CHECK,
        by_code.is_some_and(|c| c.value.id() == card.id()),
        || "lookup by code failed".into(),
    )?;

    let same_id = store.commit(insert(&card, &code, &entry)).await;
    ensure(
        CHECK,
        matches!(same_id, Err(StoreError::Conflict { .. })),
        || format!("inserting an existing id gave {same_id:?}, expected a conflict"),
    )?;
    let (other, other_code, other_entry) = new_card(2, "AAAA-BBBB-CCCC-1111", usd(500))?;
    let same_code = store
        .commit(insert(&other, &other_code, &other_entry))
        .await;
    ensure(
        CHECK,
        matches!(same_code, Err(StoreError::DuplicateCode { .. })),
        || format!("inserting a taken code gave {same_code:?}, expected DuplicateCode"),
    )?;
    ensure(
        CHECK,
        expect(CHECK, store.card(CardId::from_u128(2)).await)?.is_none(),
        || "a refused insert left a card behind".into(),
    )
}

async fn updates_check_versions_and_commits_are_atomic<S: AsyncStore>(
    store: &S,
) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "updates check versions and commits are all or nothing";
    let (mut a, a_code, a_issued) = new_card(1, "AAAA-0000-0000-0001", usd(10_000))?;
    let (mut b, b_code, b_issued) = new_card(2, "AAAA-0000-0000-0002", usd(10_000))?;
    expect(CHECK, store.commit(insert(&a, &a_code, &a_issued)).await)?;
    expect(CHECK, store.commit(insert(&b, &b_code, &b_issued)).await)?;
    let checkout = Reference::new("checkout-1").map_err(|e| fail(CHECK, e.to_string()))?;
    let held_a = a
        .place_hold(usd(1_000), checkout.clone(), None, t0(), None)
        .map_err(|e| fail(CHECK, e.to_string()))?;
    let held_b = b
        .place_hold(usd(2_000), checkout, None, t0(), None)
        .map_err(|e| fail(CHECK, e.to_string()))?;
    // One write at the right version, one at a stale version: nothing may be written.
    let mixed = Changes {
        cards: vec![
            CardWrite::Update {
                card: a.clone(),
                expected_version: 1,
            },
            CardWrite::Update {
                card: b.clone(),
                expected_version: 7,
            },
        ],
        entries: vec![held_a.clone(), held_b.clone()],
        ..Changes::default()
    };
    let result = store.commit(mixed).await;
    ensure(
        CHECK,
        matches!(result, Err(StoreError::Conflict { .. })),
        || format!("a stale version gave {result:?}, expected a conflict"),
    )?;
    let a_now =
        expect(CHECK, store.card(a.id()).await)?.ok_or_else(|| fail(CHECK, "card vanished"))?;
    ensure(
        CHECK,
        a_now.version == 1 && a_now.value.held().is_zero(),
        || "a refused commit wrote part of its changes".into(),
    )?;
    ensure(
        CHECK,
        expect(CHECK, store.ledger(a.id(), 1, 10).await)?.len() == 1,
        || "a refused commit appended ledger entries".into(),
    )?;
    let good = Changes {
        cards: vec![
            CardWrite::Update {
                card: a.clone(),
                expected_version: 1,
            },
            CardWrite::Update {
                card: b.clone(),
                expected_version: 1,
            },
        ],
        entries: vec![held_a, held_b],
        ..Changes::default()
    };
    expect(CHECK, store.commit(good).await)?;
    let a_now =
        expect(CHECK, store.card(a.id()).await)?.ok_or_else(|| fail(CHECK, "card vanished"))?;
    ensure(CHECK, a_now.version == 2 && a_now.value == a, || {
        format!(
            "after an update: version {}, card equal: {}",
            a_now.version,
            a_now.value == a
        )
    })?;
    let stale = store
        .commit(Changes {
            cards: vec![CardWrite::Update {
                card: a,
                expected_version: 1,
            }],
            ..Changes::default()
        })
        .await;
    ensure(
        CHECK,
        matches!(stale, Err(StoreError::Conflict { .. })),
        || format!("re-using version 1 gave {stale:?}, expected a conflict"),
    )
}

async fn ledger_is_append_only_and_paged<S: AsyncStore>(
    store: &S,
) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "the ledger keeps every entry in order and pages";
    let (mut card, code, issued) = new_card(1, "LEDG-ER00-0000-0001", usd(100_000))?;
    expect(CHECK, store.commit(insert(&card, &code, &issued)).await)?;
    let mut all = vec![issued];
    let reference = Reference::new("order").map_err(|e| fail(CHECK, e.to_string()))?;
    for version in 1..=5u64 {
        let hold = card
            .place_hold(usd(100), reference.clone(), None, t0(), None)
            .map_err(|e| fail(CHECK, e.to_string()))?;
        let mut entries = vec![hold.clone()];
        entries.extend(
            card.capture(hold.seq(), usd(100), t0())
                .map_err(|e| fail(CHECK, e.to_string()))?,
        );
        all.extend(entries.iter().cloned());
        expect(
            CHECK,
            store
                .commit(Changes {
                    cards: vec![CardWrite::Update {
                        card: card.clone(),
                        expected_version: version,
                    }],
                    entries,
                    ..Changes::default()
                })
                .await,
        )?;
    }
    let stored = expect(CHECK, store.ledger(card.id(), 1, 1000).await)?;
    ensure(CHECK, stored == all, || {
        format!("{} entries stored, {} written", stored.len(), all.len())
    })?;
    verify_ledger(card.id(), card.balance(), &stored).map_err(|e| fail(CHECK, e.to_string()))?;
    let page = expect(CHECK, store.ledger(card.id(), 3, 4).await)?;
    ensure(CHECK, page.as_slice() == &all[2..6], || {
        "ledger(from_seq 3, limit 4) returned the wrong page".into()
    })?;
    // An entry that does not continue the sequence is refused.
    let mut gap = all[1].clone();
    gap.seq = 99;
    let result = store
        .commit(Changes {
            cards: vec![CardWrite::Update {
                card,
                expected_version: 6,
            }],
            entries: vec![gap],
            ..Changes::default()
        })
        .await;
    ensure(
        CHECK,
        matches!(result, Err(StoreError::Conflict { .. })),
        || format!("an out-of-sequence entry gave {result:?}, expected a conflict"),
    )
}

async fn checkouts_idempotency_and_guards_are_versioned<S: AsyncStore>(
    store: &S,
) -> Result<(), ConformanceFailure> {
    const CHECK: &str = "checkouts, idempotency records and guard windows";
    let id: crate::redeem::CheckoutId = reference(CHECK, "checkout-9")?;
    let checkout = Checkout::new(id.clone(), Currency::USD, None);
    let write = |expected_version| Changes {
        checkout: Some(RecordWrite {
            value: checkout.clone(),
            expected_version,
        }),
        ..Changes::default()
    };
    expect(CHECK, store.commit(write(None)).await)?;
    ensure(
        CHECK,
        matches!(
            store.commit(write(None)).await,
            Err(StoreError::Conflict { .. })
        ),
        || "inserting an existing checkout was not a conflict".into(),
    )?;
    expect(CHECK, store.commit(write(Some(1))).await)?;
    ensure(
        CHECK,
        matches!(
            store.commit(write(Some(1))).await,
            Err(StoreError::Conflict { .. })
        ),
        || "a stale checkout version was not a conflict".into(),
    )?;
    let stored = expect(CHECK, store.checkout(&id).await)?
        .ok_or_else(|| fail(CHECK, "checkout not found"))?;
    ensure(
        CHECK,
        stored.version == 2 && stored.value == checkout,
        || format!("checkout at version {}", stored.version),
    )?;

    let key = IdempotencyKey::new("key-1").map_err(|e| fail(CHECK, e.to_string()))?;
    let record = IdempotencyRecord {
        key: key.clone(),
        request: RecordedRequest::Issue { fingerprint: 0 },
        outcome: Outcome::Issued(Issued { cards: Vec::new() }),
        recorded_at: t0(),
    };
    let with_record = || Changes {
        idempotency: Some(record.clone()),
        ..Changes::default()
    };
    expect(CHECK, store.commit(with_record()).await)?;
    ensure(
        CHECK,
        matches!(
            store.commit(with_record()).await,
            Err(StoreError::Conflict { .. })
        ),
        || "recording a key twice was not a conflict".into(),
    )?;
    ensure(
        CHECK,
        expect(CHECK, store.idempotency(&key).await)? == Some(record.clone()),
        || "record differs".into(),
    )?;

    let client: crate::redeem::ClientId = reference(CHECK, "client")?;
    let mut window = GuardWindow::new(client.clone(), t0());
    let code = Code::parse("WRONG-CODE").map_err(|e| fail(CHECK, e.to_string()))?;
    window.record_unknown(&GuardPolicy::default(), &code, t0());
    let guard = |expected_version| Changes {
        guard: Some(RecordWrite {
            value: window.clone(),
            expected_version,
        }),
        ..Changes::default()
    };
    expect(CHECK, store.commit(guard(None)).await)?;
    ensure(
        CHECK,
        matches!(
            store.commit(guard(None)).await,
            Err(StoreError::Conflict { .. })
        ),
        || "inserting an existing guard window was not a conflict".into(),
    )?;
    expect(CHECK, store.commit(guard(Some(1))).await)?;
    let stored =
        expect(CHECK, store.guard(&client).await)?.ok_or_else(|| fail(CHECK, "guard not found"))?;
    ensure(CHECK, stored.version == 2 && stored.value == window, || {
        "guard window differs".into()
    })
}
