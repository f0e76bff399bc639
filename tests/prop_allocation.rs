//! Property 1: allocation conserves money and uses the smallest cards first.

mod common;

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
    #![proptest_config(common::config("proptest-regressions/prop_allocation.txt"))]

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
