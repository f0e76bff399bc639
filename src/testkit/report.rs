//! The back office's reads on any store, written once over the kit's [`Driver`]: the card
//! search ([`check_search`], [`check_async_search`]) and the liability report
//! ([`check_liability`], [`check_async_liability`]).

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::driver::Driver;
use super::{ConformanceFailure, block_on, ensure, fail, key, reference, step, t0, usd};
use crate::card::Notification;
use crate::card::{
    Attribution, CardError, CardId, CardSpec, CardStatus, GiftCard, LedgerEntry, LiabilityReport,
    LiabilityTally, Reason, Recipient,
};
use crate::clock::{Clock, FixedClock};
use crate::money::{Currency, Money};
use crate::redeem::CardWrite;
use crate::redeem::{CardCommand, Changes, Need, Protocol, RedeemError, Reply};
use crate::store::{AsyncRedeemer, AsyncStore, CardQuery, Cursor, Redeemer, SearchError, Store};

const SEARCH: &str = "card search";
const LIABILITY: &str = "liability report";

/// Runs the search checks through a [`Redeemer`] over a store from `factory` (a fresh, empty
/// store):
///
/// 1. each filter (order, purchaser, recipient in any letter case, tag, status, currency,
///    expiring before a date) and two of them together select exactly the cards that pass
///    them ([`CardQuery::matches`]), in issue order then by id;
/// 2. paging two cards at a time while new cards are issued between pages returns every card
///    that existed at the start once, never one twice, in order;
/// 3. a page of 0 or more than [`CardQuery::MAX_LIMIT`] cards and a cursor the crate did not
///    write are typed errors, and no page shows a whole code.
///
/// # Errors
///
/// The first [`ConformanceFailure`]: the check, what was expected and what happened.
pub fn check_search<S, F>(mut factory: F) -> Result<(), ConformanceFailure>
where
    S: Store,
    F: FnMut() -> S,
{
    block_on(search::<Redeemer<S>>(factory()))
}

/// The same checks as [`check_search`], through an [`AsyncRedeemer`] over an async store from
/// `factory`.
///
/// # Errors
///
/// The first [`ConformanceFailure`].
pub async fn check_async_search<S, F, Fut>(mut factory: F) -> Result<(), ConformanceFailure>
where
    S: AsyncStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    search::<AsyncRedeemer<S>>(factory().await).await
}

/// Runs the report checks through a [`Redeemer`] over a store from `factory`: after cards are
/// issued, authorised, captured in part and in full, refunded, adjusted both ways, reloaded,
/// expired (one of them extended again) and held, in two currencies, the report
///
/// 1. has the figures those operations imply, and its identity holds;
/// 2. equals, now and at earlier instants, the report computed by loading every card's
///    history ([`LiabilityTally::add_history`]), and its `held` equals the cards' holds;
/// 3. is empty before the first entry.
///
/// # Errors
///
/// The first [`ConformanceFailure`].
pub fn check_liability<S, F>(mut factory: F) -> Result<(), ConformanceFailure>
where
    S: Store,
    F: FnMut() -> S,
{
    block_on(liability::<Redeemer<S>>(factory()))
}

/// The same checks as [`check_liability`], through an [`AsyncRedeemer`].
///
/// # Errors
///
/// The first [`ConformanceFailure`].
pub async fn check_async_liability<S, F, Fut>(mut factory: F) -> Result<(), ConformanceFailure>
where
    S: AsyncStore,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    liability::<AsyncRedeemer<S>>(factory().await).await
}

/// Issues `specs` under `name`, returning the cards and their codes.
pub(super) async fn issue<D: Driver>(
    check: &'static str,
    driver: &D,
    name: &str,
    specs: Vec<CardSpec>,
) -> Result<Vec<(CardId, String)>, ConformanceFailure> {
    let issued = step(check, driver.issue(&key(check, name)?, specs).await)?;
    Ok(issued
        .notifications
        .iter()
        .filter_map(|n| match n {
            Notification::CardIssued { card, code, .. } => {
                Some((*card, code.expose_secret().to_owned()))
            }
            _ => None,
        })
        .collect())
}

/// Changes a card as a sweep or a back office would, committed straight to the store.
async fn change<D: Driver>(
    check: &'static str,
    driver: &D,
    id: CardId,
    f: impl FnOnce(&mut GiftCard) -> Result<Vec<LedgerEntry>, CardError>,
) -> Result<(), ConformanceFailure> {
    let stored = driver
        .stored_card(id)
        .await
        .map_err(|e| fail(check, e.to_string()))?
        .ok_or_else(|| fail(check, format!("card {id} is missing")))?;
    let mut card = stored.value;
    let entries = f(&mut card).map_err(|e| fail(check, e.to_string()))?;
    driver
        .commit(Changes {
            cards: vec![CardWrite::Update {
                card,
                expected_version: stored.version,
            }],
            entries,
            ..Changes::default()
        })
        .await
        .map_err(|e| fail(check, format!("committing a change to card {id}: {e}")))
}

/// Every page of `query`; the cards in page order.
async fn all_pages<D: Driver>(
    driver: &D,
    query: &CardQuery,
) -> Result<Vec<GiftCard>, ConformanceFailure> {
    let mut cards = Vec::new();
    let mut query = query.clone();
    for _ in 0..10_000 {
        let page = step(SEARCH, driver.search(&query).await)?;
        ensure(SEARCH, page.items.len() <= query.limit(), || {
            format!("a page of {} holds {}", query.limit(), page.items.len())
        })?;
        cards.extend(page.items.into_iter().map(|c| c.value));
        match page.next {
            Some(next) => query = query.after(next),
            None => return Ok(cards),
        }
    }
    Err(fail(SEARCH, "paging never ended"))
}

fn in_order(cards: &[GiftCard]) -> bool {
    cards
        .windows(2)
        .all(|w| (w[0].issued_at(), w[0].id()) < (w[1].issued_at(), w[1].id()))
}

async fn search<D: Driver>(store: D::Store) -> Result<(), ConformanceFailure> {
    let clock = Arc::new(FixedClock::new(t0()));
    let driver = D::build(store, Protocol::default(), clock.clone());
    let tick = || {
        clock
            .advance(Duration::seconds(1))
            .map(drop)
            .map_err(|e| fail(SEARCH, e.to_string()))
    };
    let mut codes = Vec::new();
    for i in 0..12_i64 {
        let currency = if i % 4 == 3 {
            Currency::EUR
        } else {
            Currency::USD
        };
        let value =
            Money::from_minor(1_000 + i, currency).map_err(|e| fail(SEARCH, e.to_string()))?;
        let mut spec = CardSpec::new(value);
        spec.order = Some(reference(SEARCH, &format!("order-{}", i % 3))?);
        spec.purchaser = Some(reference(SEARCH, &format!("buyer-{}", i % 2))?);
        spec.recipient = Some(Recipient {
            name: None,
            email: Some(format!("Friend{}@Example.com", i % 5)),
        });
        spec.tags = match i % 3 {
            0 => vec!["xmas".into(), "b2b".into()],
            1 => vec!["xmas".into()],
            _ => Vec::new(),
        };
        spec.expires_at = (i % 2 == 0).then(|| t0() + Duration::days(30 + i));
        // Two cards in one request share an issue time: the id breaks the tie.
        let mut specs = vec![spec.clone()];
        if i % 6 == 0 {
            specs.push(spec);
        }
        codes.extend(issue(SEARCH, &driver, &format!("issue-{i}"), specs).await?);
        tick()?;
    }
    let by = Attribution::new(
        reference(SEARCH, "staff:kit")?,
        Reason::new("kit").map_err(|e| fail(SEARCH, e.to_string()))?,
    );
    for (n, (card, _)) in codes.iter().enumerate().take(3) {
        let k = key(SEARCH, &format!("disable-{n}"))?;
        step(
            SEARCH,
            driver.amend(&k, *card, CardCommand::Disable, &by).await,
        )?;
    }
    let mut all = Vec::new();
    for (card, _) in &codes {
        all.push(
            step(SEARCH, driver.card(*card).await)?
                .ok_or_else(|| fail(SEARCH, format!("card {card} is missing")))?,
        );
    }
    all.sort_by_key(|c| (c.issued_at(), c.id()));

    let queries: Vec<(&str, CardQuery, usize)> = vec![
        ("every card", CardQuery::new(), 14),
        (
            "order",
            CardQuery::new().by_order(reference(SEARCH, "order-1")?),
            4,
        ),
        (
            "purchaser",
            CardQuery::new().by_purchaser(reference(SEARCH, "buyer-0")?),
            8,
        ),
        (
            "recipient",
            CardQuery::new().by_recipient("friend2@EXAMPLE.com"),
            2,
        ),
        ("tag", CardQuery::new().by_tag("b2b"), 6),
        (
            "status",
            CardQuery::new().by_status(CardStatus::Disabled),
            3,
        ),
        ("currency", CardQuery::new().by_currency(Currency::EUR), 3),
        (
            "expiring before",
            CardQuery::new().expiring_before(t0() + Duration::days(36)),
            4,
        ),
        (
            "tag and currency",
            CardQuery::new().by_tag("xmas").by_currency(Currency::EUR),
            2,
        ),
        ("an unknown tag", CardQuery::new().by_tag("none"), 0),
    ];
    for (name, query, count) in queries {
        let expected: Vec<CardId> = all
            .iter()
            .filter(|c| query.matches(c))
            .map(GiftCard::id)
            .collect();
        for limit in [3, CardQuery::MAX_LIMIT] {
            let query = query
                .clone()
                .with_limit(limit)
                .map_err(|e| fail(SEARCH, e.to_string()))?;
            let found = all_pages(&driver, &query).await?;
            let ids: Vec<CardId> = found.iter().map(GiftCard::id).collect();
            ensure(SEARCH, ids == expected && ids.len() == count, || {
                format!(
                    "searching by {name} ({limit} a page) found {ids:?}, expected {count}: \
                     {expected:?}"
                )
            })?;
        }
    }

    // Paging while cards are issued between pages.
    let before: BTreeSet<CardId> = all.iter().map(GiftCard::id).collect();
    let mut query = CardQuery::new()
        .with_limit(2)
        .map_err(|e| fail(SEARCH, e.to_string()))?;
    let mut seen = Vec::new();
    for page_no in 0..100 {
        let page = step(SEARCH, driver.search(&query).await)?;
        seen.extend(page.items.into_iter().map(|c| c.value));
        // A card issued and another updated between pages: neither may disturb the pages.
        if page_no < 4 {
            tick()?;
            issue(
                SEARCH,
                &driver,
                &format!("during-{page_no}"),
                vec![CardSpec::new(usd(500))],
            )
            .await?;
            let k = key(SEARCH, &format!("during-disable-{page_no}"))?;
            let target = all[page_no * 3].id();
            let _ = driver.amend(&k, target, CardCommand::Enable, &by).await;
        }
        match page.next {
            Some(next) => query = query.after(next),
            None => break,
        }
    }
    let ids: Vec<CardId> = seen.iter().map(GiftCard::id).collect();
    let unique: BTreeSet<CardId> = ids.iter().copied().collect();
    ensure(SEARCH, unique.len() == ids.len(), || {
        format!("paging while cards were issued returned a card twice: {ids:?}")
    })?;
    ensure(SEARCH, before.is_subset(&unique), || {
        format!(
            "paging while cards were issued skipped {:?}",
            before.difference(&unique).collect::<Vec<_>>()
        )
    })?;
    ensure(
        SEARCH,
        unique.len() == before.len() + 4 && in_order(&seen),
        || {
            format!(
                "paging found {} cards (expected the {} there and the 4 issued after), in order: {}",
                unique.len(),
                before.len(),
                in_order(&seen)
            )
        },
    )?;

    // Bad limits and cursors are typed errors; pages show hints only.
    for bad in [0, CardQuery::MAX_LIMIT + 1] {
        let refused = CardQuery::new().with_limit(bad);
        ensure(
            SEARCH,
            matches!(refused, Err(SearchError::Limit { given, max }) if given == bad && max == CardQuery::MAX_LIMIT),
            || format!("a page of {bad} gave {refused:?}"),
        )?;
    }
    let bad = "not-a-cursor".parse::<Cursor>();
    ensure(
        SEARCH,
        matches!(bad, Err(SearchError::Cursor { .. })),
        || format!("a made-up cursor gave {bad:?}"),
    )?;
    let page = step(SEARCH, driver.search(&CardQuery::new()).await)?;
    let shown = format!("{page:?}");
    ensure(
        SEARCH,
        codes.iter().all(|(_, code)| !shown.contains(code.as_str())),
        || "a search page shows a whole code".into(),
    )?;
    far_expiry_dates(&driver).await
}

/// Expiry dates at the edges of the years a card may expire in are kept and ordered alike by
/// every store (a year past 9999 is refused before any store sees it): found by "expiring
/// before" queries from before year 1 to after year 9999, and by the sweep's due cards.
async fn far_expiry_dates<D: Driver>(driver: &D) -> Result<(), ConformanceFailure> {
    let at = |y, mo, d, h, mi, sec| {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, sec)
            .single()
            .ok_or_else(|| fail(SEARCH, "a date that exists"))
    };
    let (first, last) = (at(1, 1, 1, 0, 0, 0)?, at(9999, 12, 31, 23, 59, 59)?);
    let mut far = Vec::new();
    for (name, expires) in [("first-year", first), ("last-year", last)] {
        let mut spec = CardSpec::new(usd(700));
        spec.expires_at = Some(expires);
        let issued = issue(SEARCH, driver, name, vec![spec]).await?;
        far.extend(issued.into_iter().map(|(card, _)| card));
    }
    let mut spec = CardSpec::new(usd(700));
    spec.expires_at = Some(at(10_000, 1, 1, 0, 0, 0)?);
    let refused = driver
        .issue(&key(SEARCH, "past-the-last-year")?, vec![spec])
        .await;
    ensure(
        SEARCH,
        matches!(
            refused,
            Err(RedeemError::Card(CardError::ExpiryOutOfRange { .. }))
        ),
        || format!("an expiry in year 10000 gave {refused:?}"),
    )?;
    let [first_card, last_card] = far[..] else {
        return Err(fail(SEARCH, format!("issued {far:?}")));
    };
    let cases = [
        (at(0, 12, 31, 0, 0, 0)?, false, false),
        (first + Duration::seconds(1), true, false),
        (last, true, false),
        (last + Duration::seconds(1), true, true),
        (at(10_000, 6, 1, 0, 0, 0)?, true, true),
        (at(200_000, 1, 1, 0, 0, 0)?, true, true),
    ];
    for (before, has_first, has_last) in cases {
        let query = CardQuery::new()
            .expiring_before(before)
            .with_limit(CardQuery::MAX_LIMIT)
            .map_err(|e| fail(SEARCH, e.to_string()))?;
        let ids: Vec<CardId> = all_pages(driver, &query)
            .await?
            .iter()
            .map(GiftCard::id)
            .collect();
        ensure(
            SEARCH,
            ids.contains(&first_card) == has_first && ids.contains(&last_card) == has_last,
            || {
                format!(
                    "cards expiring before {before} are {ids:?} (first year {first_card}, last {last_card})"
                )
            },
        )?;
    }
    let due = driver
        .answer(Need::DueCards {
            at: t0(),
            limit: 1_000,
        })
        .await
        .map_err(|e| fail(SEARCH, e.to_string()))?;
    ensure(
        SEARCH,
        matches!(&due, Reply::DueCards(cards) if cards.contains(&first_card) && !cards.contains(&last_card)),
        || format!("the cards due at {} are {due:?}", t0()),
    )
}

/// The report computed by loading every card's whole history.
async fn loaded<D: Driver>(
    driver: &D,
    cards: &[CardId],
    at: DateTime<Utc>,
) -> Result<LiabilityReport, ConformanceFailure> {
    let mut tally = LiabilityTally::new(at);
    for card in cards {
        let history = step(LIABILITY, driver.history(*card).await)?;
        tally
            .add_history(&history)
            .map_err(|e| fail(LIABILITY, e.to_string()))?;
    }
    Ok(tally.finish())
}

async fn liability<D: Driver>(store: D::Store) -> Result<(), ConformanceFailure> {
    let clock = Arc::new(FixedClock::new(t0()));
    let driver = D::build(store, Protocol::default(), clock.clone());
    let advance = |days| {
        clock
            .advance(Duration::days(days))
            .map_err(|e| fail(LIABILITY, e.to_string()))
    };
    let client = reference(LIABILITY, "shopper")?;
    let by = Attribution::new(
        reference(LIABILITY, "staff:kit")?,
        Reason::new("kit").map_err(|e| fail(LIABILITY, e.to_string()))?,
    );
    let eur = |minor| Money::from_minor(minor, Currency::EUR).unwrap_or(Money::zero(Currency::EUR));

    // USD: a 100.00 card spent and refunded, a 50.00 card that expires, a 30.00 card held,
    // a 20.00 card expired and extended again; EUR: a 40.00 card adjusted and reloaded.
    let mut expiring = CardSpec::new(usd(5_000));
    expiring.expires_at = Some(t0() + Duration::days(10));
    let mut extended = CardSpec::new(usd(2_000));
    extended.expires_at = Some(t0() + Duration::days(10));
    let cards = issue(
        LIABILITY,
        &driver,
        "issue",
        vec![
            CardSpec::new(usd(10_000)),
            expiring,
            CardSpec::new(usd(3_000)),
            extended,
            CardSpec::new(eur(4_000)),
        ],
    )
    .await?;
    let [a, b, c, d, e] = cards.as_slice() else {
        return Err(fail(
            LIABILITY,
            format!("5 cards asked, {} issued", cards.len()),
        ));
    };
    let ids: Vec<CardId> = cards.iter().map(|(id, _)| *id).collect();
    let after_issue = t0();
    advance(1)?;

    // A: 60.00 authorised and captured, 15.00 refunded; then 25.00 authorised, captured in
    // part (10.00: 15.00 released).
    let c1 = reference(LIABILITY, "c1")?;
    step(
        LIABILITY,
        driver.apply_code(&client, &c1, Currency::USD, &a.1).await,
    )?;
    step(
        LIABILITY,
        driver
            .authorise(&key(LIABILITY, "c1/a")?, &c1, usd(6_000))
            .await,
    )?;
    step(
        LIABILITY,
        driver.capture(&key(LIABILITY, "c1/c")?, &c1).await,
    )?;
    step(
        LIABILITY,
        driver
            .refund(&key(LIABILITY, "c1/r")?, &c1, usd(1_500))
            .await,
    )?;
    let partial = clock.now();
    let c2 = reference(LIABILITY, "c2")?;
    change(LIABILITY, &driver, a.0, |card| {
        let hold = card.place_hold(usd(2_500), c2, None, partial, None)?;
        let mut entries = vec![hold.clone()];
        entries.extend(card.capture(hold.seq(), usd(1_000), partial)?);
        Ok(entries)
    })
    .await?;
    // C: 12.00 held and left open.
    let c3 = reference(LIABILITY, "c3")?;
    step(
        LIABILITY,
        driver.apply_code(&client, &c3, Currency::USD, &c.1).await,
    )?;
    step(
        LIABILITY,
        driver
            .authorise(&key(LIABILITY, "c3/a")?, &c3, usd(1_200))
            .await,
    )?;
    // E: +5.00, -2.00, reloaded 10.00.
    for (k, change) in [("e/up", eur(500)), ("e/down", eur(-200))] {
        let command = CardCommand::Adjust { change };
        step(
            LIABILITY,
            driver.amend(&key(LIABILITY, k)?, e.0, command, &by).await,
        )?;
    }
    let reload = CardCommand::Reload {
        amount: eur(1_000),
        bounds: None,
    };
    step(
        LIABILITY,
        driver
            .amend(&key(LIABILITY, "e/reload")?, e.0, reload, &by)
            .await,
    )?;
    let before_expiry = clock.now();

    // B and D pass their date and are marked expired; D's date then moves ahead.
    advance(10)?;
    let now = clock.now();
    for card in [b.0, d.0] {
        change(LIABILITY, &driver, card, |card| {
            Ok(card.mark_expired(now)?.into_iter().collect())
        })
        .await?;
    }
    advance(1)?;
    let later = CardCommand::ChangeExpiry {
        expires_at: Some(t0() + Duration::days(60)),
    };
    step(
        LIABILITY,
        driver
            .amend(&key(LIABILITY, "d/extend")?, d.0, later, &by)
            .await,
    )?;
    let now = clock.now();

    let report = step(LIABILITY, driver.liability(now).await)?;
    ensure(LIABILITY, report.discrepancies().is_empty(), || {
        format!("the report does not add up: {report}")
    })?;
    let line = |currency| {
        report.currency(currency).cloned().ok_or_else(|| {
            fail(
                LIABILITY,
                format!("the report has no {currency} line: {report}"),
            )
        })
    };
    let (dollars, euros) = (line(Currency::USD)?, line(Currency::EUR)?);
    let expected = [
        ("USD issued", dollars.issued, usd(20_000)),
        ("USD redeemed", dollars.redeemed, usd(7_000)),
        ("USD refunded", dollars.refunded, usd(1_500)),
        ("USD held", dollars.held, usd(1_200)),
        ("USD expired", dollars.expired, usd(5_000)),
        // A 100 - 60 + 15 - 10 = 45, C 30, D 20.
        ("USD outstanding", dollars.outstanding, usd(9_500)),
        ("EUR adjusted", euros.adjusted, eur(300)),
        ("EUR reloaded", euros.reloaded, eur(1_000)),
        ("EUR outstanding", euros.outstanding, eur(5_300)),
    ];
    for (name, found, wanted) in expected {
        ensure(LIABILITY, found == wanted, || {
            format!("{name} is {found}, expected {wanted}: {report}")
        })?;
    }
    ensure(
        LIABILITY,
        (
            dollars.outstanding_cards,
            dollars.expired_cards,
            euros.outstanding_cards,
        ) == (3, 1, 1),
        || format!("the report counts the wrong cards: {report}"),
    )?;

    let mut held = Money::zero(Currency::USD);
    for (card, _) in &cards[..4] {
        let card = step(LIABILITY, driver.card(*card).await)?
            .ok_or_else(|| fail(LIABILITY, "a card is missing"))?;
        held = held
            .checked_add(card.held())
            .map_err(|e| fail(LIABILITY, e.to_string()))?;
    }
    ensure(LIABILITY, held == dollars.held, || {
        format!("the cards hold {held}, the report says {}", dollars.held)
    })?;

    for at in [
        after_issue,
        partial,
        before_expiry,
        now - Duration::days(1),
        now,
    ] {
        let stored = step(LIABILITY, driver.liability(at).await)?;
        let computed = loaded(&driver, &ids, at).await?;
        ensure(LIABILITY, stored == computed, || {
            format!(
                "at {at} the store reports\n{stored}\nbut the cards' histories give\n{computed}"
            )
        })?;
    }
    let empty = step(LIABILITY, driver.liability(t0() - Duration::days(1)).await)?;
    ensure(LIABILITY, empty.lines().is_empty(), || {
        format!("before the first card the report is {empty}")
    })?;
    Ok(())
}
