//! The liability report against random histories on `MemoryStore`.
//!
//! Invariants, for any sequence of issues, holds, captures (whole or in part), releases,
//! refunds, adjustments (both signs), reloads, expiries and expiry changes on a few cards in
//! two currencies, committed one by one an hour apart:
//!
//! - at every instant the report's identity holds (no discrepancy);
//! - at every instant each flow (issued, reloaded, redeemed, refunded, adjusted) equals the
//!   sum of the amounts the operations moved by then, tracked independently of the ledger;
//! - now, outstanding + expired equals the sum of the cards' balances, `held` the sum of their
//!   holds, and the expired value the balances of the cards whose stored status is expired.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use giftcert::card::{CardStatus, GiftCard, LedgerEntry, Reference};
use giftcert::redeem::{CardWrite, Changes};
use giftcert::{CardId, CardSpec, Code, Currency, MemoryStore, Money, Store};
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Issue { euro: bool, minor: i64 },
    Hold { card: usize, minor: i64 },
    Capture { card: usize, part: u8 },
    Release { card: usize },
    Refund { card: usize, minor: i64 },
    Adjust { card: usize, minor: i64 },
    Reload { card: usize, minor: i64 },
    Expire { card: usize },
    Extend { card: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), 1..100_000_i64).prop_map(|(euro, minor)| Op::Issue { euro, minor }),
        (0..6_usize, 1..50_000_i64).prop_map(|(card, minor)| Op::Hold { card, minor }),
        (0..6_usize, 1..=4_u8).prop_map(|(card, part)| Op::Capture { card, part }),
        (0..6_usize).prop_map(|card| Op::Release { card }),
        (0..6_usize, 1..20_000_i64).prop_map(|(card, minor)| Op::Refund { card, minor }),
        (0..6_usize, -20_000..20_000_i64).prop_map(|(card, minor)| Op::Adjust { card, minor }),
        (0..6_usize, 1..20_000_i64).prop_map(|(card, minor)| Op::Reload { card, minor }),
        (0..6_usize).prop_map(|card| Op::Expire { card }),
        (0..6_usize).prop_map(|card| Op::Extend { card }),
    ]
}

/// What the operations moved, per currency and flow, tracked apart from the ledger.
type Flows = BTreeMap<(Currency, &'static str), Money>;

fn add(flows: &mut Flows, flow: &'static str, amount: Money) {
    let sum = flows
        .entry((amount.currency(), flow))
        .or_insert(Money::zero(amount.currency()));
    *sum = sum.checked_add(amount).unwrap();
}

fn flow(flows: &Flows, currency: Currency, name: &'static str) -> Money {
    flows
        .get(&(currency, name))
        .copied()
        .unwrap_or(Money::zero(currency))
}

/// Applies `f` to the card and commits it with its entries; an operation the card refuses
/// changes nothing.
fn change(
    store: &MemoryStore,
    id: CardId,
    f: impl FnOnce(&mut GiftCard) -> Option<Vec<LedgerEntry>>,
) -> bool {
    let stored = store.card(id).unwrap().unwrap();
    let mut card = stored.value;
    let Some(entries) = f(&mut card) else {
        return false;
    };
    store
        .commit(Changes {
            cards: vec![CardWrite::Update {
                card,
                expected_version: stored.version,
            }],
            entries,
            ..Changes::default()
        })
        .unwrap();
    true
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_report_adds_up_and_matches_what_the_operations_moved(ops in prop::collection::vec(op(), 1..40)) {
        let store = MemoryStore::new();
        let order = Reference::new("order").unwrap();
        let mut cards: Vec<CardId> = Vec::new();
        let mut flows = Flows::new();
        let mut snapshots: Vec<(DateTime<Utc>, Flows)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let now = t0() + Duration::hours(i as i64);
            let pick = |card: usize| (!cards.is_empty()).then(|| cards[card % cards.len()]);
            match *op {
                Op::Issue { euro, minor } => {
                    let currency = if euro { Currency::EUR } else { Currency::USD };
                    let value = Money::from_minor(minor, currency).unwrap();
                    let id = CardId::from_u128(i as u128 + 1);
                    let code = Code::parse(&format!("LIAB-{i:04}-CODE")).unwrap();
                    let mut spec = CardSpec::new(value);
                    spec.expires_at = Some(now + Duration::days(365));
                    let (card, entry) = GiftCard::issue(id, &code, spec, now).unwrap();
                    store.commit(Changes {
                        cards: vec![CardWrite::Insert { card, code }],
                        entries: vec![entry],
                        ..Changes::default()
                    }).unwrap();
                    add(&mut flows, "issued", value);
                    cards.push(id);
                }
                Op::Hold { card, minor } => if let Some(id) = pick(card) {
                    change(&store, id, |c| {
                        let amount = Money::from_minor(minor, c.currency()).ok()?;
                        c.place_hold(amount, order.clone(), None, now, None).ok().map(|e| vec![e])
                    });
                },
                Op::Capture { card, part } => if let Some(id) = pick(card) {
                    let mut spent = None;
                    change(&store, id, |c| {
                        let hold = c.holds().first()?.clone();
                        let minor = (hold.amount().to_minor()? * i64::from(part) / 4).max(1);
                        let amount = Money::from_minor(minor, c.currency()).ok()?;
                        let entries = c.capture(hold.id(), amount, now).ok()?;
                        spent = Some(amount);
                        Some(entries)
                    });
                    if let Some(amount) = spent { add(&mut flows, "redeemed", amount); }
                },
                Op::Release { card } => if let Some(id) = pick(card) {
                    change(&store, id, |c| {
                        let hold = c.holds().first()?.id();
                        c.release(hold, giftcert::card::ReleaseReason::Voided, now).ok().map(|e| vec![e])
                    });
                },
                Op::Refund { card, minor } => if let Some(id) = pick(card) {
                    let mut back = None;
                    change(&store, id, |c| {
                        let amount = Money::from_minor(minor, c.currency()).ok()?;
                        let entry = c.refund(amount, order.clone(), None, now).ok()?;
                        back = Some(amount);
                        Some(vec![entry])
                    });
                    if let Some(amount) = back { add(&mut flows, "refunded", amount); }
                },
                Op::Adjust { card, minor } => if let Some(id) = pick(card) {
                    let mut moved = None;
                    change(&store, id, |c| {
                        let amount = Money::from_minor(minor, c.currency()).ok()?;
                        let entry = c.adjust(amount, None, now).ok()?;
                        moved = Some(amount);
                        Some(vec![entry])
                    });
                    if let Some(amount) = moved { add(&mut flows, "adjusted", amount); }
                },
                Op::Reload { card, minor } => if let Some(id) = pick(card) {
                    let mut loaded = None;
                    change(&store, id, |c| {
                        let amount = Money::from_minor(minor, c.currency()).ok()?;
                        let entry = c.reload(amount, now).ok()?;
                        loaded = Some(amount);
                        Some(vec![entry])
                    });
                    if let Some(amount) = loaded { add(&mut flows, "reloaded", amount); }
                },
                Op::Expire { card } => if let Some(id) = pick(card) {
                    // The date moves to now and a sweep marks the card.
                    change(&store, id, |c| {
                        let mut entries: Vec<_> = c.change_expiry(Some(now), now).ok()?.into_iter().collect();
                        entries.extend(c.mark_expired(now).ok()?);
                        (!entries.is_empty()).then_some(entries)
                    });
                },
                Op::Extend { card } => if let Some(id) = pick(card) {
                    change(&store, id, |c| {
                        c.change_expiry(Some(now + Duration::days(30)), now).ok()?.map(|e| vec![e])
                    });
                },
            }
            snapshots.push((now, flows.clone()));
        }

        for (at, flows) in &snapshots {
            let report = store.liability(*at).unwrap();
            prop_assert!(report.discrepancies().is_empty(), "{report}");
            for line in report.lines() {
                let c = line.currency;
                prop_assert_eq!(line.issued, flow(flows, c, "issued"));
                prop_assert_eq!(line.redeemed, flow(flows, c, "redeemed"));
                prop_assert_eq!(line.refunded, flow(flows, c, "refunded"));
                prop_assert_eq!(line.adjusted, flow(flows, c, "adjusted"));
                prop_assert_eq!(line.reloaded, flow(flows, c, "reloaded"));
            }
        }

        let now = snapshots.last().unwrap().0;
        let report = store.liability(now).unwrap();
        for line in report.lines() {
            let c = line.currency;
            let (mut balances, mut held, mut expired) = (Money::zero(c), Money::zero(c), Money::zero(c));
            for id in &cards {
                let card = store.card(*id).unwrap().unwrap().value;
                if card.currency() != c { continue; }
                balances = balances.checked_add(card.balance()).unwrap();
                held = held.checked_add(card.held()).unwrap();
                if card.status() == CardStatus::Expired {
                    expired = expired.checked_add(card.balance()).unwrap();
                }
            }
            prop_assert_eq!(line.outstanding.checked_add(line.expired).unwrap(), balances);
            prop_assert_eq!(line.held, held);
            prop_assert_eq!(line.expired, expired);
        }
    }
}
