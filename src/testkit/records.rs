//! Conflicts name their record: the check every store runs, through either driver, returning
//! the reasons it saw so that a store's own tests can pin its wording.

use std::sync::Arc;

use super::driver::Driver;
use super::{ConformanceFailure, block_on, ensure, fail, t0, usd};
use crate::card::Notification;
use crate::clock::FixedClock;
use crate::code::Code;
use crate::money::Currency;
use crate::redeem::StoreError;
use crate::redeem::{CardWrite, Changes, IdempotencyKey, Protocol, Record, RecordWrite};
use crate::store::{AsyncRedeemer, AsyncStore, Redeemer, Store};

/// Refuses five commits on a fresh `store` and checks that each conflict names the record it
/// is about: a stale card, a card inserted twice, an entry that does not continue its card's
/// ledger, a checkout inserted twice, an idempotency key recorded already; and that nothing
/// refused was written. Returns each conflict's record and reason, in that order, for the
/// store's tests to pin its messages. The card is issued and applied through a [`Redeemer`].
///
/// # Errors
///
/// The first [`ConformanceFailure`].
pub fn check_conflict_records<S: Store>(
    store: S,
) -> Result<Vec<(Record, String)>, ConformanceFailure> {
    block_on(conflict_records::<Redeemer<S>>(store))
}

/// The same check as [`check_conflict_records`] on a fresh async `store`, the card issued and
/// applied through an [`AsyncRedeemer`], the refused commits sent to the store's own
/// [`AsyncStore::commit`].
///
/// ```
/// use giftcert::MemoryStore;
/// use giftcert::testkit::{block_on, check_async_conflict_records};
///
/// let seen = block_on(check_async_conflict_records(MemoryStore::new()))?;
/// assert_eq!(seen.len(), 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// The first [`ConformanceFailure`].
pub async fn check_async_conflict_records<S: AsyncStore>(
    store: S,
) -> Result<Vec<(Record, String)>, ConformanceFailure> {
    conflict_records::<AsyncRedeemer<S>>(store).await
}

async fn conflict_records<D: Driver>(
    store: D::Store,
) -> Result<Vec<(Record, String)>, ConformanceFailure> {
    const CHECK: &str = "conflicts name their record";
    let step = |e: &dyn std::fmt::Display| fail(CHECK, format!("unexpected error: {e}"));
    let driver = D::build(store, Protocol::default(), Arc::new(FixedClock::new(t0())));
    let issue = IdempotencyKey::new("kit-records").map_err(|e| step(&e))?;
    let issued = driver
        .issue(&issue, vec![crate::card::CardSpec::new(usd(10_000))])
        .await
        .map_err(|e| step(&e))?;
    let Some(Notification::CardIssued { card: id, code, .. }) = issued.notifications.first() else {
        return Err(fail(CHECK, "issue returned no card"));
    };
    let checkout = crate::redeem::CheckoutId::new("kit-checkout").map_err(|e| step(&e))?;
    let client = crate::redeem::ClientId::new("kit").map_err(|e| step(&e))?;
    driver
        .apply_code(&client, &checkout, Currency::USD, code.expose_secret())
        .await
        .map_err(|e| step(&e))?;
    let card = driver
        .stored_card(*id)
        .await
        .map_err(|e| step(&e))?
        .ok_or_else(|| fail(CHECK, "the issued card is missing"))?;
    let other_code = Code::parse("KITC-ODEA-BCDE-FGH7").map_err(|e| step(&e))?;
    let first_entry = driver.ledger(*id, 1, 1).await.map_err(|e| step(&e))?;
    let stored_checkout = driver
        .checkout(&checkout)
        .await
        .map_err(|e| step(&e))?
        .ok_or_else(|| fail(CHECK, "the checkout is missing"))?;
    let record = driver
        .idempotency(&issue)
        .await
        .map_err(|e| step(&e))?
        .ok_or_else(|| fail(CHECK, "the idempotency record is missing"))?;
    let update = |expected_version| CardWrite::Update {
        card: card.value.clone(),
        expected_version,
    };
    let cases: Vec<(Record, Changes)> = vec![
        (
            Record::Card(*id),
            Changes {
                cards: vec![update(card.version + 1)],
                ..Changes::default()
            },
        ),
        (
            Record::Card(*id),
            Changes {
                cards: vec![CardWrite::Insert {
                    card: card.value.clone(),
                    code: other_code,
                }],
                ..Changes::default()
            },
        ),
        (
            Record::Entry { card: *id, seq: 1 },
            Changes {
                cards: vec![update(card.version)],
                entries: first_entry,
                ..Changes::default()
            },
        ),
        (
            Record::Checkout(checkout),
            Changes {
                checkout: Some(RecordWrite {
                    value: stored_checkout.value,
                    expected_version: None,
                }),
                ..Changes::default()
            },
        ),
        (
            Record::Idempotency(issue),
            Changes {
                idempotency: Some(record),
                ..Changes::default()
            },
        ),
    ];
    let mut seen = Vec::with_capacity(cases.len());
    for (expected, changes) in cases {
        match driver.commit(changes).await {
            Err(StoreError::Conflict { record, reason }) => {
                ensure(CHECK, record == expected, || {
                    format!("a conflict on {expected} named {record} ({reason})")
                })?;
                seen.push((record, reason));
            }
            other => {
                return Err(fail(
                    CHECK,
                    format!("a commit that conflicts on {expected} gave {other:?}"),
                ));
            }
        }
    }
    let after = driver
        .stored_card(*id)
        .await
        .map_err(|e| step(&e))?
        .ok_or_else(|| fail(CHECK, "the card vanished"))?;
    ensure(CHECK, after == card, || {
        "a refused commit changed the card".to_owned()
    })?;
    Ok(seen)
}
