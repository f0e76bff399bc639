//! Purchase reversals on any store, written once over the kit's [`Driver`] and run with the
//! back-office checks ([`check_back_office`](super::check_back_office) and its async twin).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::Duration;

use super::concurrency::hold;
use super::driver::Driver;
use super::office::staff;
use super::report::issue;
use super::{ConformanceFailure, ensure, fail, key, reference, step, t0, usd};
use crate::card::{
    CardError, CardId, CardSpec, CardStatus, EntryKind, ReversalReason, verify_ledger,
};
use crate::clock::FixedClock;
use crate::money::Currency;
use crate::redeem::{CardCommand, Protocol, RedeemError, ReversalScope};

const CHECK: &str = "purchase reversals";
const RACE: &str = "a purchase reversal racing shoppers";

type Task<'a> = Pin<
    Box<dyn Future<Output = Result<Option<crate::money::Money>, ConformanceFailure>> + Send + 'a>,
>;

/// Why the kit's reversals are made, as their entries keep it.
const REASON: &str = "chargeback received";

/// Issues one card per value for `order`, under the key `name`: their ids and codes.
async fn issue_for<D: Driver>(
    check: &'static str,
    driver: &D,
    name: &str,
    order: &str,
    values: &[i64],
) -> Result<Vec<(CardId, String)>, ConformanceFailure> {
    let order: crate::card::Reference = reference(check, order)?;
    let specs = values
        .iter()
        .map(|cents| {
            let mut spec = CardSpec::new(usd(*cents));
            spec.order = Some(order.clone());
            spec
        })
        .collect();
    issue(check, driver, name, specs).await
}

/// Runs both reversal checks, each over a fresh store from `factory`.
pub(super) async fn reversals<D, F, Fut>(mut factory: F) -> Result<(), ConformanceFailure>
where
    D: Driver,
    F: FnMut() -> Fut,
    Fut: Future<Output = D::Store>,
{
    reversal_blocks_the_cards::<D>(factory().await).await?;
    reversal_races_shoppers::<D>(factory().await).await
}

async fn reversal_blocks_the_cards<D: Driver>(store: D::Store) -> Result<(), ConformanceFailure> {
    let clock = Arc::new(FixedClock::new(t0()));
    let driver = D::build(store, Protocol::default(), clock.clone());
    let cards = issue_for(CHECK, &driver, "issue", "kit-order", &[5_000, 3_000]).await?;
    let [(a, code_a), (b, code_b)] = cards.as_slice() else {
        return Err(fail(CHECK, format!("issuing two cards gave {cards:?}")));
    };
    let (a, b) = (*a, *b);
    let other = issue_for(CHECK, &driver, "issue-other", "kit-other-order", &[1_000]).await?;
    let client = reference(CHECK, "shopper")?;
    // 20.00 spent from A, 10.00 held on B by a checkout still open.
    hold(CHECK, &driver, code_a, "paid", usd(2_000)).await?;
    let paid = reference(CHECK, "paid")?;
    step(CHECK, driver.capture(&key(CHECK, "paid/c")?, &paid).await)?;
    hold(CHECK, &driver, code_b, "open", usd(1_000)).await?;
    let open = reference(CHECK, "open")?;

    let by = staff(CHECK, REASON)?;
    let order = reference(CHECK, "kit-order")?;
    let reverse = |k: &'static str, scope: ReversalScope| {
        let (driver, order, by) = (&driver, &order, &by);
        async move {
            let key = key(CHECK, k)?;
            Ok::<_, ConformanceFailure>(
                driver
                    .reverse_purchase(&key, order, scope, ReversalReason::ChargedBack, by)
                    .await,
            )
        }
    };
    let reversed = step(CHECK, reverse("reverse", ReversalScope::All).await?)?;
    let mut expected = vec![
        (a, usd(2_000), usd(3_000), usd(0)),
        (b, usd(0), usd(3_000), usd(1_000)),
    ];
    expected.sort_by_key(|(id, ..)| *id);
    let got: Vec<_> = reversed
        .outcome
        .cards
        .iter()
        .map(|c| (c.card, c.spent, c.clawed_back, c.released))
        .collect();
    ensure(CHECK, got == expected, || {
        format!(
            "the reversal reported (card, spent, clawed back, released) {got:?}, expected {expected:?}"
        )
    })?;
    ensure(
        CHECK,
        reversed
            .outcome
            .cards
            .iter()
            .all(|c| c.blocked && c.status == CardStatus::Blocked),
        || format!("the reversal left {:?}", reversed.outcome.cards),
    )?;
    for id in [a, b] {
        let card =
            step(CHECK, driver.card(id).await)?.ok_or_else(|| fail(CHECK, "a card is gone"))?;
        ensure(
            CHECK,
            card.status() == CardStatus::Blocked
                && card.blocked_for() == Some(ReversalReason::ChargedBack)
                && card.balance().is_zero()
                && card.holds().is_empty(),
            || format!("a reversed card reads back as {card:?}"),
        )?;
        let history = step(CHECK, driver.history(id).await)?;
        verify_ledger(id, card.balance(), &history)
            .map_err(|e| fail(CHECK, format!("the ledger does not prove the balance: {e}")))?;
        let kinds: Vec<EntryKind> = history
            .iter()
            .rev()
            .take(2)
            .filter(|e| e.attribution() == Some(&by))
            .map(|e| e.kind())
            .collect();
        let blocked = EntryKind::Blocked {
            reason: ReversalReason::ChargedBack,
        };
        ensure(CHECK, kinds == [EntryKind::ClawedBack, blocked], || {
            format!("a reversed card's last attributed entries are {kinds:?}")
        })?;
    }
    // Neither card pays any more: not applied, not captured.
    let later = reference(CHECK, "later")?;
    let applied = driver
        .apply_code(&client, &later, Currency::USD, code_a)
        .await;
    ensure(
        CHECK,
        matches!(applied, Err(RedeemError::Card(CardError::Blocked { .. }))),
        || format!("a blocked card was applied: {applied:?}"),
    )?;
    let captured = driver.capture(&key(CHECK, "open/c")?, &open).await;
    ensure(
        CHECK,
        matches!(captured, Err(RedeemError::Card(CardError::Blocked { .. }))),
        || format!("a hold released by a block was captured: {captured:?}"),
    )?;
    let refunded = driver.refund(&key(CHECK, "paid/r")?, &paid, usd(500)).await;
    ensure(
        CHECK,
        matches!(refunded, Err(RedeemError::Card(CardError::Blocked { .. }))),
        || format!("a refund went back onto a blocked card: {refunded:?}"),
    )?;

    // The same key replays; a new key changes nothing.
    let again = step(CHECK, reverse("reverse", ReversalScope::All).await?)?;
    ensure(
        CHECK,
        again.replayed && again.outcome == reversed.outcome,
        || format!("the replay answered {again:?}"),
    )?;
    let twice = step(CHECK, reverse("reverse-2", ReversalScope::All).await?)?;
    ensure(
        CHECK,
        twice
            .outcome
            .cards
            .iter()
            .all(|c| !c.blocked && c.clawed_back.is_zero()),
        || {
            format!(
                "reversing again under a new key gave {:?}",
                twice.outcome.cards
            )
        },
    )?;
    let stranger = other
        .first()
        .map(|(id, _)| *id)
        .ok_or_else(|| fail(CHECK, "no other card"))?;
    let named = reverse("named", ReversalScope::Cards(vec![stranger])).await?;
    ensure(
        CHECK,
        matches!(named, Err(RedeemError::NotOnOrder { .. })),
        || format!("naming another order's card gave {named:?}"),
    )?;
    let nobody = reference(CHECK, "kit-unpaid-order")?;
    let none = driver
        .reverse_purchase(
            &key(CHECK, "nobody")?,
            &nobody,
            ReversalScope::All,
            ReversalReason::Refunded,
            &by,
        )
        .await;
    ensure(
        CHECK,
        matches!(none, Err(RedeemError::NothingToReverse { .. })),
        || format!("reversing an order that bought nothing gave {none:?}"),
    )?;

    // The report: what was clawed back, and the identity still holds.
    let at = clock
        .advance(Duration::seconds(1))
        .map_err(|e| fail(CHECK, e.to_string()))?;
    let report = step(CHECK, driver.liability(at).await)?;
    let line = report
        .currency(Currency::USD)
        .ok_or_else(|| fail(CHECK, "the report has no USD line"))?;
    ensure(
        CHECK,
        line.clawed_back == usd(6_000) && line.outstanding == usd(1_000) && line.check().is_ok(),
        || format!("the liability report after the reversal: {report}"),
    )?;

    // Staff unblock A: it pays again with what is put back on it.
    let unblocked = step(
        CHECK,
        driver
            .amend(&key(CHECK, "unblock")?, a, CardCommand::Unblock, &by)
            .await,
    )?;
    ensure(
        CHECK,
        unblocked.outcome.status == CardStatus::Depleted,
        || format!("unblocking left the card {:?}", unblocked.outcome.status),
    )?;
    let reload = CardCommand::Reload {
        amount: usd(500),
        bounds: None,
    };
    step(
        CHECK,
        driver.amend(&key(CHECK, "reload")?, a, reload, &by).await,
    )?;
    step(
        CHECK,
        driver
            .apply_code(&client, &later, Currency::USD, code_a)
            .await,
    )
    .map(drop)
}

/// Eight shoppers each spend 1.00 of one 10.00 card while its purchase is charged back: every
/// cent is either spent by a capture that landed before the block or clawed back, never both,
/// and the card ends blocked with nothing held.
async fn reversal_races_shoppers<D: Driver>(store: D::Store) -> Result<(), ConformanceFailure> {
    let driver = D::build(store, Protocol::default(), Arc::new(FixedClock::new(t0())));
    let cards = issue_for(RACE, &driver, "issue", "race-order", &[1_000]).await?;
    let [(card, code)] = cards.as_slice() else {
        return Err(fail(RACE, format!("issuing one card gave {cards:?}")));
    };
    let card = *card;
    let by = staff(RACE, REASON)?;
    let order = reference(RACE, "race-order")?;
    let mut tasks: Vec<Task<'_>> = Vec::new();
    for i in 0..8 {
        let (driver, code) = (&driver, code.as_str());
        tasks.push(Box::pin(async move {
            let checkout = reference(RACE, &format!("shop-{i}"))?;
            let client = reference(RACE, "shopper")?;
            if driver
                .apply_code(&client, &checkout, Currency::USD, code)
                .await
                .is_err()
            {
                return Ok(None);
            }
            let authorise = key(RACE, &format!("shop-{i}/a"))?;
            if driver
                .authorise(&authorise, &checkout, usd(100))
                .await
                .is_err()
            {
                return Ok(None);
            }
            let capture = key(RACE, &format!("shop-{i}/c"))?;
            Ok(driver
                .capture(&capture, &checkout)
                .await
                .ok()
                .map(|c| c.outcome.total))
        }));
    }
    let (driver_ref, order_ref, by_ref) = (&driver, &order, &by);
    tasks.push(Box::pin(async move {
        let key = key(RACE, "chargeback")?;
        let reversed = step(
            RACE,
            driver_ref
                .reverse_purchase(
                    &key,
                    order_ref,
                    ReversalScope::All,
                    ReversalReason::ChargedBack,
                    by_ref,
                )
                .await,
        )?;
        Ok(reversed
            .outcome
            .cards
            .first()
            .map(|c| c.clawed_back.negated()))
    }));
    let mut spent = usd(0);
    let mut clawed = usd(0);
    for result in driver.join_all(RACE, tasks).await {
        match result? {
            Some(m) if m.is_negative() => clawed = m.negated(),
            Some(m) => {
                spent = spent
                    .checked_add(m)
                    .map_err(|e| fail(RACE, e.to_string()))?
            }
            None => {}
        }
    }
    let total = spent
        .checked_add(clawed)
        .map_err(|e| fail(RACE, e.to_string()))?;
    ensure(RACE, total == usd(1_000), || {
        format!("{spent} captured and {clawed} clawed back of a 10.00 card")
    })?;
    let stored =
        step(RACE, driver.card(card).await)?.ok_or_else(|| fail(RACE, "the card is gone"))?;
    ensure(
        RACE,
        stored.status() == CardStatus::Blocked
            && stored.balance().is_zero()
            && stored.holds().is_empty(),
        || format!("the card ends as {stored:?}"),
    )?;
    let history = step(RACE, driver.history(card).await)?;
    verify_ledger(card, stored.balance(), &history)
        .map_err(|e| fail(RACE, format!("the ledger does not prove the balance: {e}")))
}
