//! Totals from the checkout are the totals of the same input computed by hand.

use giftcert::{
    CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, PriceBasis, Redeemer,
    Selection, SelectionPolicy, TaxRate, Totals, TotalsSettings, shop::ProductLine,
};
use giftcert::{CheckoutId, ClientId};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn cents(n: i64) -> Money {
    Money::from_minor(n, Currency::USD).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For any cart and any cards applied to its checkout, the totals the driver gives from
    /// the checkout equal [`Totals::compute`] on the same cart with each card's masked code
    /// and balance (lowest first, the default), and authorising their amount to authorise
    /// holds on each card exactly what they say it pays.
    #[test]
    fn totals_from_the_checkout_equal_compute_on_the_same_input(
        included in any::<bool>(),
        products in prop::collection::vec((1_i64..=500_000, 1_u64..=3, 0_usize..3), 1..4),
        cards in prop::collection::vec(1_i64..=300_000, 0..4),
    ) {
        let redeemer = Redeemer::new(MemoryStore::new());
        let checkout = CheckoutId::new("c-1").unwrap();
        let client = ClientId::new("client").unwrap();
        for (i, value) in cards.iter().enumerate() {
            let issued = redeemer
                .issue(&IdempotencyKey::new(&format!("i-{i}")).unwrap(), vec![CardSpec::new(cents(*value))])
                .unwrap();
            let Notification::CardIssued { code, .. } = &issued.notifications[0] else {
                panic!("no card issued");
            };
            redeemer.apply_code(&client, &checkout, Currency::USD, code.expose_secret()).unwrap();
        }
        let prices = if included { PriceBasis::TaxIncluded } else { PriceBasis::TaxExcluded };
        let mut cart = Selection::new(Currency::USD, prices, SelectionPolicy::mixed());
        for (i, (price, quantity, rate)) in products.iter().enumerate() {
            let rate = TaxRate::new(Decimal::from([0, 12, 25][*rate])).unwrap();
            cart.add_product(ProductLine::new(&format!("p{i}"), cents(*price), *quantity, rate).unwrap()).unwrap();
        }
        let settings = TotalsSettings::default();
        let from_checkout = redeemer.checkout_totals(&checkout, &cart, &settings).unwrap();
        let read = redeemer.checkout_cards(&checkout).unwrap();
        prop_assert_eq!(read.cards.len(), cards.len());
        let by_hand = Totals::compute(
            &cart,
            read.cards.iter().map(|c| (c.card.to_string(), c.balance)),
            &settings,
        )
        .unwrap();
        prop_assert_eq!(from_checkout.grand_total(), by_hand.grand_total());
        prop_assert_eq!(from_checkout.tax_total(), by_hand.tax_total());
        prop_assert_eq!(from_checkout.taxes(), by_hand.taxes());
        prop_assert_eq!(from_checkout.lines(), by_hand.lines());
        prop_assert_eq!(from_checkout.amount_to_authorise(), by_hand.payable_with_gift_credit());
        prop_assert_eq!(from_checkout.outstanding_balance(), by_hand.outstanding_balance());
        let applied = from_checkout.gift_certificates().iter().zip(by_hand.gift_certificates());
        for ((ours, theirs), read) in applied.zip(&read.cards) {
            prop_assert_eq!(ours.card(), Some(read.card));
            prop_assert_eq!(ours.code(), read.code.as_str());
            prop_assert_eq!(theirs.code(), read.card.to_string());
            prop_assert_eq!((ours.balance(), ours.used(), ours.remaining()), (theirs.balance(), theirs.used(), theirs.remaining()));
        }

        if cards.is_empty() {
            // No code applied: there is no checkout to authorise.
            return Ok(());
        }
        let auth = redeemer
            .authorise(&IdempotencyKey::new("a-1").unwrap(), &checkout, from_checkout.amount_to_authorise())
            .unwrap();
        prop_assert_eq!(auth.outcome.credit, from_checkout.credit_used());
        for shown in from_checkout.gift_certificates() {
            let held = auth.outcome.cards.iter().find(|c| Some(c.card) == shown.card()).unwrap();
            prop_assert_eq!(held.used, shown.used());
        }
    }
}
