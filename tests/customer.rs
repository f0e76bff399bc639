//! The customer the host knows is recorded on the checkout and on its cards' ledger entries.

mod support;
use support::{key, reference, usd};

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use giftcert::{
    CardSpec, Currency, MemoryStore, Notification, Redeemer,
    card::EntryKind,
    redeem::RefundTo,
    store::{AsyncRedeemer, Store},
};

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

#[test]
fn every_entry_of_the_checkout_names_its_customer() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let issued = redeemer
        .issue(&key("i"), vec![CardSpec::new(usd("100"))])
        .unwrap();
    let Notification::CardIssued { card, code, .. } = &issued.notifications[0] else {
        panic!()
    };
    let (checkout, customer) = (reference("c-1"), reference("customer:42"));
    redeemer
        .set_customer(&checkout, Currency::USD, &customer)
        .unwrap();
    // Recording the same customer again changes nothing.
    redeemer
        .set_customer(&checkout, Currency::USD, &customer)
        .unwrap();
    redeemer
        .apply_code(
            &reference("client"),
            &checkout,
            Currency::USD,
            code.expose_secret(),
        )
        .unwrap();
    let stored = redeemer.store().checkout(&checkout).unwrap().unwrap();
    assert_eq!(stored.value.customer(), Some(&customer));
    redeemer.authorise(&key("a"), &checkout, usd("60")).unwrap();
    redeemer
        .capture_part(&key("cap"), &checkout, usd("50"))
        .unwrap();
    redeemer.refund(&key("r1"), &checkout, usd("5")).unwrap();
    let onto = redeemer
        .refund_to(&key("r2"), &checkout, usd("5"), RefundTo::NewCard)
        .unwrap();
    let history = redeemer.history(*card).unwrap();
    let of_checkout: Vec<_> = history
        .iter()
        .filter(|e| e.reference() == Some(&checkout.reference()))
        .collect();
    let kinds: Vec<_> = of_checkout.iter().map(|e| e.kind()).collect();
    assert!(matches!(
        kinds.as_slice(),
        [
            EntryKind::Held { .. },
            EntryKind::Captured { .. },
            EntryKind::Released { .. },
            EntryKind::Refunded
        ]
    ));
    for entry in of_checkout {
        assert_eq!(entry.customer(), Some(&customer), "{:?}", entry.kind());
    }
    let new = redeemer.history(onto.outcome.parts[0].to_card).unwrap();
    assert_eq!(new[0].customer(), Some(&customer));
    // The checkout's cards read with it name the customer too.
    assert_eq!(
        redeemer.checkout_cards(&checkout).unwrap().customer,
        Some(customer)
    );
}

#[test]
fn the_customer_is_set_before_authorising_and_in_the_checkouts_currency() {
    let redeemer = Redeemer::new(MemoryStore::new());
    let issued = redeemer
        .issue(&key("i"), vec![CardSpec::new(usd("100"))])
        .unwrap();
    let Notification::CardIssued { code, .. } = &issued.notifications[0] else {
        panic!()
    };
    let checkout = reference("c-1");
    redeemer
        .apply_code(
            &reference("client"),
            &checkout,
            Currency::USD,
            code.expose_secret(),
        )
        .unwrap();
    let err = redeemer
        .set_customer(&checkout, Currency::EUR, &reference("customer:1"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot combine EUR with USD: amounts are in different currencies"
    );
    redeemer.authorise(&key("a"), &checkout, usd("10")).unwrap();
    let err = redeemer
        .set_customer(&checkout, Currency::USD, &reference("customer:1"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "this checkout is authorised; cannot set the customer"
    );
}

#[test]
fn the_async_driver_records_the_customer_too() {
    let redeemer = AsyncRedeemer::new(MemoryStore::new());
    let (checkout, customer) = (reference("c-1"), reference("customer:7"));
    block_on(redeemer.set_customer(&checkout, Currency::USD, &customer)).unwrap();
    let cards = block_on(redeemer.checkout_cards(&checkout)).unwrap();
    assert_eq!(cards.customer, Some(customer));
    assert_eq!(cards.currency, Some(Currency::USD));
    assert!(cards.cards.is_empty());
}
