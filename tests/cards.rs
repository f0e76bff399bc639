//! Gift cards, their ledger, and the two leftover strategies (seed 002).

mod support;
use support::{reference, usd};

use chrono::{DateTime, Duration, TimeZone, Utc};
use giftcert::{
    CardId, CardSpec, Code, Currency, GiftCard, Money, Notification,
    card::{
        BalanceStrategy, CardError, CardStatus, EntryKind, ExpiryPolicy, LedgerEntry,
        LeftoverStrategy, Refunded, ReleaseReason, ReplacementStrategy, refund_to_card,
        settle_leftover, verify_ledger,
    },
    redeem::allocate,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

/// A new card `id` with `code` worth `value` USD, and its `Issued` entry.
fn issue(id: u128, code: &str, value: &str) -> (GiftCard, LedgerEntry) {
    GiftCard::issue(
        CardId::from_u128(id),
        &Code::parse(code).unwrap(),
        CardSpec::new(usd(value)),
        t0(),
    )
    .unwrap()
}

/// One card's life: its current state and every entry it ever wrote.
struct Wallet {
    cards: Vec<GiftCard>,
    codes: Vec<Code>,
    ledgers: Vec<Vec<LedgerEntry>>,
    next_code: u64,
}

impl Wallet {
    fn with_card(value: &str) -> Wallet {
        let (card, issued) = GiftCard::issue(
            CardId::from_u128(1),
            &Code::parse("X-GC-1").unwrap(),
            CardSpec::new(usd(value)),
            t0(),
        )
        .unwrap();
        Wallet {
            cards: vec![card],
            codes: vec![Code::parse("X-GC-1").unwrap()],
            ledgers: vec![vec![issued]],
            next_code: 2,
        }
    }

    fn current(&mut self) -> usize {
        self.cards.len() - 1
    }

    /// Pays `order_total` with the current card under `strategy`: allocate, hold, capture,
    /// settle the leftover. Returns what the card paid.
    fn pay(
        &mut self,
        strategy: &dyn LeftoverStrategy,
        order: &str,
        order_total: &str,
        at: DateTime<Utc>,
    ) -> Money {
        let i = self.current();
        let allocation = allocate(usd(order_total), [(i, self.cards[i].available())]).unwrap();
        let used = allocation.cards()[0].used;
        let card = &mut self.cards[i];
        let held = card
            .place_hold(
                used,
                reference(order),
                Some(reference("customer-7")),
                at,
                None,
            )
            .unwrap();
        let mut entries = vec![held.clone()];
        entries.extend(card.capture(held.seq(), used, at).unwrap());
        let next = self.next_code;
        let settled = settle_leftover::<CardError, _>(strategy, card, at, || {
            Ok((
                CardId::from_u128(u128::from(next)),
                Code::parse(&format!("X-GC-{next}")).unwrap(),
            ))
        })
        .unwrap();
        self.ledgers[i].extend(entries);
        if let Some((closed, new)) = settled {
            self.ledgers[i].push(closed);
            self.cards.push(new.card);
            self.codes.push(new.code);
            self.ledgers.push(vec![new.entry]);
            self.next_code += 1;
        }
        used
    }

    fn verify(&self) {
        for (card, ledger) in self.cards.iter().zip(&self.ledgers) {
            verify_ledger(card.id(), card.balance(), ledger).unwrap();
        }
    }
}

#[test]
fn balance_strategy_keeps_one_code_over_60_then_30_then_20() {
    let mut wallet = Wallet::with_card("100");
    let days = [t0(), t0() + Duration::days(1), t0() + Duration::days(2)];
    let paid: Vec<Money> = [("order-1", "60"), ("order-2", "30"), ("order-3", "20")]
        .iter()
        .zip(days)
        .map(|((order, total), at)| wallet.pay(&BalanceStrategy, order, total, at))
        .collect();
    // The third order asks 20 but the card only has 10 left: it pays 10, 10 stays unpaid.
    assert_eq!(paid, [usd("60"), usd("30"), usd("10")]);
    assert_eq!(
        wallet.cards.len(),
        1,
        "the balance strategy never issues a new code"
    );
    let card = &wallet.cards[0];
    assert_eq!(card.balance(), usd("0"));
    assert_eq!(card.status(), CardStatus::Depleted);
    assert_eq!(card.spent(), usd("100"));
    // The history shows date, customer, code and spent value for each use.
    let uses: Vec<(DateTime<Utc>, &str, Money)> = wallet.ledgers[0]
        .iter()
        .filter(|e| matches!(e.kind(), EntryKind::Captured { .. }))
        .map(|e| (e.at(), e.customer().unwrap().as_str(), e.amount()))
        .collect();
    assert_eq!(
        uses,
        [
            (days[0], "customer-7", usd("60")),
            (days[1], "customer-7", usd("30")),
            (days[2], "customer-7", usd("10")),
        ]
    );
    wallet.verify();
}

#[test]
fn replacement_strategy_issues_x_gc_2_then_x_gc_3_and_closes_the_old_codes() {
    let mut wallet = Wallet::with_card("100");
    let paid: Vec<Money> = [("order-1", "60"), ("order-2", "30"), ("order-3", "20")]
        .iter()
        .map(|(order, total)| wallet.pay(&ReplacementStrategy, order, total, t0()))
        .collect();
    assert_eq!(paid, [usd("60"), usd("30"), usd("10")]);
    let expected: Vec<Code> = ["X-GC-1", "X-GC-2", "X-GC-3"]
        .iter()
        .map(|c| Code::parse(c).unwrap())
        .collect();
    assert_eq!(wallet.codes, expected);
    let statuses: Vec<CardStatus> = wallet.cards.iter().map(GiftCard::status).collect();
    assert_eq!(
        statuses,
        [
            CardStatus::Replaced,
            CardStatus::Replaced,
            CardStatus::Depleted
        ]
    );
    assert_eq!(wallet.cards[1].initial_value(), usd("40"));
    assert_eq!(wallet.cards[2].initial_value(), usd("10"));
    assert_eq!(wallet.cards[1].replaces(), Some(wallet.cards[0].id()));
    // The old code no longer pays.
    let err = wallet.cards[0]
        .place_hold(usd("1"), reference("order-4"), None, t0(), None)
        .unwrap_err();
    assert!(matches!(err, CardError::Replaced { .. }), "{err}");
    wallet.verify();
}

#[test]
fn both_strategies_give_the_customer_the_same_money() {
    let mut balance = Wallet::with_card("100");
    let mut replacement = Wallet::with_card("100");
    for (order, total) in [("o1", "12.34"), ("o2", "50"), ("o3", "7.66"), ("o4", "99")] {
        let a = balance.pay(&BalanceStrategy, order, total, t0());
        let b = replacement.pay(&ReplacementStrategy, order, total, t0());
        assert_eq!(a, b);
    }
    let left =
        |w: &Wallet| Money::sum(Currency::USD, w.cards.iter().map(GiftCard::balance)).unwrap();
    assert_eq!(left(&balance), left(&replacement));
}

#[test]
fn replacement_notifies_the_owner_of_the_new_code() {
    let (mut card, _) = issue(9, "X-GC-1", "100");
    let hold = card
        .place_hold(usd("60"), reference("o"), None, t0(), None)
        .unwrap();
    card.capture(hold.seq(), usd("60"), t0()).unwrap();
    let (_, new) = settle_leftover::<CardError, _>(&ReplacementStrategy, &mut card, t0(), || {
        Ok((CardId::from_u128(10), Code::parse("X-GC-2").unwrap()))
    })
    .unwrap()
    .unwrap();
    match &new.notification {
        Notification::CardReplaced {
            code,
            value,
            old_card,
            ..
        } => {
            assert_eq!(code.expose_secret(), "XGC2");
            assert_eq!(*value, usd("40"));
            assert_eq!(*old_card, card.id());
        }
        other => panic!("unexpected notification {other:?}"),
    }
    let shown = format!("{:?}", new.notification);
    assert!(
        !shown.contains("XGC2"),
        "notification Debug leaks the code: {shown}"
    );
}

#[test]
fn refunds_go_back_to_the_card_under_balance_and_to_a_new_card_under_replacement() {
    let (mut card, _) = issue(1, "ABCD-2345", "50");
    let hold = card
        .place_hold(usd("50"), reference("o1"), None, t0(), None)
        .unwrap();
    card.capture(hold.seq(), usd("50"), t0()).unwrap();
    assert_eq!(card.status(), CardStatus::Depleted);

    let mut same = card.clone();
    let back = refund_to_card::<CardError, _>(
        &BalanceStrategy,
        &mut same,
        usd("20"),
        reference("o1"),
        t0(),
        || unreachable!("the balance strategy needs no new code"),
    )
    .unwrap();
    assert!(matches!(back, Refunded::SameCard(_)));
    assert_eq!(same.balance(), usd("20"));
    assert_eq!(same.status(), CardStatus::Active);

    let mut replaced = card.clone();
    let back = refund_to_card::<CardError, _>(
        &ReplacementStrategy,
        &mut replaced,
        usd("20"),
        reference("o1"),
        t0(),
        || Ok((CardId::from_u128(2), Code::parse("WXYZ-6789").unwrap())),
    )
    .unwrap();
    let Refunded::NewCard(new) = back else {
        panic!("replacement refunds to a new card")
    };
    assert_eq!(new.card.balance(), usd("20"));
    assert_eq!(new.entry.kind(), EntryKind::Refunded);
    assert_eq!(
        replaced.balance(),
        usd("0"),
        "the original card is untouched"
    );
    verify_ledger(new.card.id(), new.card.balance(), &[new.entry]).unwrap();
}

#[test]
fn an_expired_card_refuses_holds_naming_the_date() {
    let expires = ExpiryPolicy::after_days(30).expires_at(t0()).unwrap();
    let mut spec = CardSpec::new(usd("100"));
    spec.expires_at = expires;
    let (mut card, _) = GiftCard::issue(
        CardId::from_u128(1),
        &Code::parse("ABCD-2345").unwrap(),
        spec,
        t0(),
    )
    .unwrap();
    let later = t0() + Duration::days(31);
    assert_eq!(card.status_at(later), CardStatus::Expired);
    let before = card.clone();
    let err = card
        .place_hold(usd("10"), reference("o"), None, later, None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "gift card {} expired on 2026-12-23 12:00:00 UTC",
            card.code_hint()
        )
    );
    assert_eq!(card, before, "a refused hold changes nothing");
    // Still usable the day before.
    assert!(
        card.place_hold(
            usd("10"),
            reference("o"),
            None,
            t0() + Duration::days(29),
            None
        )
        .is_ok()
    );
    // Marking it expired is an entry, and the balance stays on record.
    let mut marked = before.clone();
    let entry = marked.mark_expired(later).unwrap().unwrap();
    assert_eq!(entry.kind(), EntryKind::Expired);
    assert_eq!(marked.balance(), usd("100"));
    assert!(marked.mark_expired(later).unwrap().is_none());
}

#[test]
fn a_disabled_card_refuses_holds_until_enabled() {
    let (mut card, _) = issue(1, "ABCD-2345", "100");
    card.disable(t0()).unwrap();
    let err = card
        .place_hold(usd("10"), reference("o"), None, t0(), None)
        .unwrap_err();
    assert!(
        matches!(&err, CardError::Disabled { card: id, code } if *id == card.id() && code == card.code_hint()),
        "{err}"
    );
    assert!(card.disable(t0()).is_err());
    card.enable(t0()).unwrap();
    assert!(
        card.place_hold(usd("10"), reference("o"), None, t0(), None)
            .is_ok()
    );
}

#[test]
fn holds_count_against_the_available_amount_not_the_balance() {
    let (mut card, _) = issue(1, "ABCD-2345", "100");
    let a = card
        .place_hold(usd("70"), reference("checkout-a"), None, t0(), None)
        .unwrap();
    assert_eq!(card.balance(), usd("100"));
    assert_eq!(card.available(), usd("30"));
    // A second checkout cannot take the held money.
    let err = card
        .place_hold(usd("31"), reference("checkout-b"), None, t0(), None)
        .unwrap_err();
    assert!(matches!(err, CardError::InsufficientFunds { .. }));
    // Capturing less than held releases the rest.
    let entries = card.capture(a.seq(), usd("50"), t0()).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[1].kind(),
        EntryKind::Released {
            hold: a.seq(),
            reason: ReleaseReason::Remainder
        }
    );
    assert_eq!(card.balance(), usd("50"));
    assert_eq!(card.available(), usd("50"));
    assert!(
        card.capture(a.seq(), usd("1"), t0()).is_err(),
        "a hold is captured once"
    );
}

#[test]
fn a_void_releases_the_hold_and_expired_holds_release_themselves() {
    let (mut card, mut ledger) = GiftCard::issue(
        CardId::from_u128(1),
        &Code::parse("ABCD-2345").unwrap(),
        CardSpec::new(usd("100")),
        t0(),
    )
    .map(|(c, e)| (c, vec![e]))
    .unwrap();
    let voided = card
        .place_hold(usd("40"), reference("a"), None, t0(), None)
        .unwrap();
    let ttl = t0() + Duration::minutes(15);
    let lapsing = card
        .place_hold(usd("30"), reference("b"), None, t0(), Some(ttl))
        .unwrap();
    ledger.extend([voided.clone(), lapsing.clone()]);
    ledger.push(
        card.release(voided.seq(), ReleaseReason::Voided, t0())
            .unwrap(),
    );
    assert_eq!(card.available(), usd("70"));
    assert!(
        card.release_expired_holds(t0() + Duration::minutes(14))
            .is_empty()
    );
    let err = card.capture(lapsing.seq(), usd("30"), ttl).unwrap_err();
    assert!(matches!(err, CardError::HoldExpired { .. }));
    let released = card.release_expired_holds(ttl);
    assert_eq!(released.len(), 1);
    ledger.extend(released);
    assert_eq!(card.available(), usd("100"));
    assert_eq!(card.balance(), usd("100"));
    verify_ledger(card.id(), card.balance(), &ledger).unwrap();
}

#[test]
fn the_ledger_proves_the_balance_and_catches_tampering() {
    let (mut card, issued) = issue(1, "ABCD-2345", "100");
    let hold = card
        .place_hold(usd("25"), reference("o"), None, t0(), None)
        .unwrap();
    let mut ledger = vec![issued, hold.clone()];
    ledger.extend(card.capture(hold.seq(), usd("25"), t0()).unwrap());
    ledger.push(
        card.adjust(usd("-5"), Some(reference("correction-1")), t0())
            .unwrap(),
    );
    verify_ledger(card.id(), card.balance(), &ledger).unwrap();
    assert_eq!(card.balance(), usd("70"));

    let mut missing = ledger.clone();
    missing.remove(1);
    assert!(verify_ledger(card.id(), card.balance(), &missing).is_err());
    assert!(verify_ledger(card.id(), usd("71"), &ledger).is_err());
    assert!(verify_ledger(CardId::from_u128(2), card.balance(), &ledger).is_err());
    // Corrections cannot take the balance below zero.
    assert!(matches!(
        card.adjust(usd("-70.01"), None, t0()),
        Err(CardError::AdjustmentTooLarge { .. })
    ));
}

#[test]
fn bad_amounts_are_refused_and_change_nothing() {
    let (mut card, _) = issue(1, "ABCD-2345", "100");
    let before = card.clone();
    let eur = Money::parse("1", Currency::EUR).unwrap();
    assert!(
        card.place_hold(eur, reference("o"), None, t0(), None)
            .is_err()
    );
    assert!(
        card.place_hold(usd("0"), reference("o"), None, t0(), None)
            .is_err()
    );
    assert!(
        card.place_hold(usd("-1"), reference("o"), None, t0(), None)
            .is_err()
    );
    assert!(
        card.place_hold(usd("100.01"), reference("o"), None, t0(), None)
            .is_err()
    );
    assert!(card.capture(99, usd("1"), t0()).is_err());
    assert!(card.refund(usd("-1"), reference("o"), None, t0()).is_err());
    assert_eq!(card, before);
    assert!(
        GiftCard::issue(
            CardId::from_u128(2),
            &Code::parse("ABCD-2345").unwrap(),
            CardSpec::new(usd("0")),
            t0()
        )
        .is_err()
    );
}

#[test]
fn debug_output_masks_the_code() {
    let (card, _) = issue(1, "ABCD-EFGH-JKMN-PQR7", "100");
    let shown = format!("{card:?}");
    assert!(!shown.contains("ABCDEFGHJKMNPQR7"), "{shown}");
    assert!(!shown.contains("ABCD"), "{shown}");
}

#[test]
fn cards_round_trip_through_serde_and_invalid_ones_are_refused() {
    let (mut card, _) = issue(7, "ABCD-2345", "100");
    card.place_hold(usd("30"), reference("o"), None, t0(), None)
        .unwrap();
    let json = serde_json::to_value(&card).unwrap();
    let back: GiftCard = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, card);
    let mut tampered = json.clone();
    tampered["held"]["amount"] = "0.00".into();
    assert!(serde_json::from_value::<GiftCard>(tampered).is_err());
    let mut negative = json;
    negative["balance"]["amount"] = "-1.00".into();
    assert!(serde_json::from_value::<GiftCard>(negative).is_err());
}

/// What a card was issued with (order, purchaser, recipient, message, tags, host data) is read
/// back, serialised as flat fields of the card, carried to a replacement without the message,
/// and left out of the JSON when absent.
#[test]
fn issue_details_round_trip_flat_and_replacements_keep_all_but_the_message() {
    let mut spec = CardSpec::new(usd("100"));
    spec.order = Some(reference("order-1"));
    spec.purchaser = Some(reference("buyer-1"));
    spec.recipient = Some(giftcert::card::Recipient {
        name: Some("Ann".to_owned()),
        email: Some("ann@example.com".to_owned()),
    });
    spec.message = Some("Happy birthday".to_owned());
    spec.tags = vec!["spring".to_owned()];
    spec.metadata.insert("batch".to_owned(), "7".to_owned());
    let code = Code::parse("ABCD-2345").unwrap();
    let (mut card, _) = GiftCard::issue(CardId::from_u128(1), &code, spec, t0()).unwrap();

    let json = serde_json::to_value(&card).unwrap();
    assert_eq!(json["order"], "order-1");
    assert_eq!(json["purchaser"], "buyer-1");
    assert_eq!(json["recipient"]["email"], "ann@example.com");
    assert_eq!(json["message"], "Happy birthday");
    assert_eq!(json["tags"][0], "spring");
    assert_eq!(json["metadata"]["batch"], "7");
    let back: GiftCard = serde_json::from_value(json).unwrap();
    assert_eq!(back, card);

    let (new, _) = card
        .replace(
            CardId::from_u128(2),
            &Code::parse("EFGH-6789").unwrap(),
            t0(),
        )
        .unwrap();
    assert_eq!(new.order(), card.order());
    assert_eq!(new.purchaser(), card.purchaser());
    assert_eq!(new.recipient(), card.recipient());
    assert_eq!(new.tags(), card.tags());
    assert_eq!(new.metadata(), card.metadata());
    assert_eq!(new.message(), None);

    let (plain, _) =
        GiftCard::issue(CardId::from_u128(3), &code, CardSpec::new(usd("5")), t0()).unwrap();
    let json = serde_json::to_value(&plain).unwrap();
    for absent in [
        "order",
        "purchaser",
        "recipient",
        "message",
        "tags",
        "metadata",
    ] {
        assert!(json.get(absent).is_none(), "{absent} in {json}");
    }
    assert!(plain.tags().is_empty() && plain.metadata().is_empty());
    assert_eq!(serde_json::from_value::<GiftCard>(json).unwrap(), plain);
}
