//! Property 1: allocation conserves money and uses the smallest cards first.

use giftcert::strategies::{currency, money_in};
use giftcert::{Currency, Money, redeem::allocate};
use proptest::prelude::*;

fn case() -> impl Strategy<Value = (Money, Vec<Money>)> {
    currency().prop_flat_map(|c| {
        let amount = move |max: i64| money_in(c, 0..=max);
        // Few distinct values make equal amounts (ties) common.
        let card = prop_oneof![
            amount(50_000),
            proptest::sample::select(vec![100_i64, 500, 2_000])
                .prop_flat_map(move |m| money_in(c, m..=m))
        ];
        (amount(200_000), proptest::collection::vec(card, 0..12))
    })
}

proptest! {
    #![proptest_config(giftcert_props::config("proptest-regressions/prop_allocation.txt"))]

    /// For every card used + remaining = available and no card gives more than it holds; the
    /// cards together pay min(payable, sum available); what is left to pay is the rest.
    #[test]
    fn allocation_conserves_money((payable, cards) in case()) {
        let c = payable.currency();
        let allocation = allocate(payable, cards.iter().copied().enumerate()).unwrap();
        let available = Money::sum(c, cards.iter().copied()).unwrap();
        for card in allocation.cards() {
            prop_assert_eq!(card.used.checked_add(card.remaining).unwrap(), card.available);
            prop_assert!(!card.used.is_negative() && card.used.amount() <= card.available.amount());
        }
        let used = Money::sum(c, allocation.cards().iter().map(|x| x.used)).unwrap();
        let expected = payable.checked_min(available).unwrap();
        prop_assert_eq!(used, expected);
        prop_assert_eq!(allocation.used(), expected);
        prop_assert_eq!(allocation.outstanding(), payable.checked_sub(expected).unwrap());
        prop_assert_eq!(allocation.total_amount(), payable.checked_sub(available).unwrap());
        // Cards come back in the order given.
        let keys: Vec<usize> = allocation.cards().iter().map(|x| x.key).collect();
        prop_assert_eq!(keys, (0..cards.len()).collect::<Vec<_>>());
    }

    /// A smaller card is never left with value while a larger one was used, and among equal
    /// cards the one applied earlier is used first.
    #[test]
    fn smaller_and_earlier_cards_go_first((payable, cards) in case()) {
        let allocation = allocate(payable, cards.iter().copied().enumerate()).unwrap();
        let parts = allocation.cards();
        for a in parts {
            for b in parts {
                let a_first = a.available.amount() < b.available.amount()
                    || (a.available == b.available && a.key < b.key);
                if a_first && b.used.is_positive() {
                    prop_assert!(a.remaining.is_zero(), "{:?} kept value while {:?} paid", a, b);
                }
            }
        }
    }

    /// Mixing currencies is refused, never allocated.
    #[test]
    fn a_card_in_another_currency_is_refused(minor in 0_i64..10_000) {
        let usd = Money::from_minor(minor, Currency::USD).unwrap();
        let eur = Money::from_minor(minor, Currency::EUR).unwrap();
        prop_assert!(allocate(usd, [(0, eur)]).is_err());
    }
}

/// Cards with an expiry from a few dates (ties are common) or none.
fn offers() -> impl Strategy<Value = (Money, Vec<(Money, Option<u8>)>)> {
    case().prop_flat_map(|(payable, cards)| {
        let n = cards.len();
        (
            Just(payable),
            Just(cards),
            proptest::collection::vec(proptest::option::of(0_u8..4), n),
        )
            .prop_map(|(payable, cards, days)| (payable, cards.into_iter().zip(days).collect()))
    })
}

proptest! {
    #![proptest_config(giftcert_props::config("proptest-regressions/prop_allocation.txt"))]

    /// Under either order money is conserved, a card pays only when every card before it in
    /// the order is used up, and `in_order_paid` lists the cards that paid first, in the order
    /// they paid, then the rest in input order.
    #[test]
    fn both_orders_conserve_money_and_pay_in_their_order((payable, cards) in offers()) {
        use chrono::{Duration, TimeZone, Utc};
        use giftcert::redeem::{AllocationOrder, Offer, allocate_by};
        let c = payable.currency();
        let day0 = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let at = |d: Option<u8>| d.map(|d| day0 + Duration::days(i64::from(d)));
        let available = Money::sum(c, cards.iter().map(|(m, _)| *m)).unwrap();
        for order in [AllocationOrder::LowestFirst, AllocationOrder::ExpiringFirst] {
            let allocation = allocate_by(
                payable,
                order,
                cards.iter().enumerate().map(|(i, (m, d))| Offer { key: i, available: *m, expires_at: at(*d) }),
            )
            .unwrap();
            let used = Money::sum(c, allocation.cards().iter().map(|x| x.used)).unwrap();
            prop_assert_eq!(used, payable.checked_min(available).unwrap());
            // The policy's sort key: ties keep the input order.
            let rank = |i: usize| {
                let (amount, days) = cards[i];
                match order {
                    AllocationOrder::LowestFirst => (false, 0, amount.amount(), i),
                    _ => (days.is_none(), days.unwrap_or(0), amount.amount(), i),
                }
            };
            for x in allocation.cards().iter().filter(|x| x.used.is_positive()) {
                for y in allocation.cards() {
                    if rank(y.key) < rank(x.key) {
                        prop_assert!(y.remaining.is_zero(), "{:?} paid before {:?} was used up", x, y);
                    }
                }
            }
            let listed: Vec<usize> = allocation.in_order_paid().map(|x| x.key).collect();
            let mut paid: Vec<usize> = allocation.cards().iter().filter(|x| x.used.is_positive()).map(|x| x.key).collect();
            paid.sort_by_key(|&i| rank(i));
            let rest: Vec<usize> = allocation.cards().iter().filter(|x| !x.used.is_positive()).map(|x| x.key).collect();
            prop_assert_eq!(listed, [paid, rest].concat());
        }
    }
}
