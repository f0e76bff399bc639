//! What the integration tests share: short constructors for the values every test names.
//!
//! Each test binary uses part of it.
#![allow(dead_code)]

use giftcert::card::ReferenceError;
use giftcert::{CheckoutId, Currency, IdempotencyKey, Money};

/// `s` in US dollars.
pub fn usd(s: &str) -> Money {
    Money::parse(s, Currency::USD).unwrap()
}

/// An idempotency key.
pub fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::new(s).unwrap()
}

/// An id of the kind its use asks for: a [`Reference`] (an order, a customer), a
/// [`CheckoutId`] or a [`ClientId`](giftcert::ClientId).
pub fn reference<T: std::str::FromStr<Err = ReferenceError>>(s: &str) -> T {
    s.parse().unwrap()
}

/// A checkout id.
pub fn checkout(s: &str) -> CheckoutId {
    reference(s)
}

/// Issues one card of each of `values` and applies them all, in that order, to `checkout`
/// for client "client"; returns their ids.
pub fn cards_on_checkout(
    redeemer: &giftcert::Redeemer<giftcert::MemoryStore>,
    checkout: &str,
    values: &[&str],
) -> Vec<giftcert::CardId> {
    let mut ids = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let (card, code) = issued(
            &redeemer
                .issue(
                    &key(&format!("i-{i}")),
                    vec![giftcert::CardSpec::new(usd(value))],
                )
                .unwrap(),
        );
        redeemer
            .apply_code(
                &reference("client"),
                &reference(checkout),
                Currency::USD,
                &code,
            )
            .unwrap();
        ids.push(card);
    }
    ids
}

/// As [`cards_on_checkout`], one card, through the async driver.
pub fn card_on_checkout_async(
    redeemer: &giftcert::store::AsyncRedeemer<giftcert::MemoryStore>,
    checkout: &str,
    value: &str,
) -> giftcert::CardId {
    use giftcert::testkit::block_on;

    let (card, code) = issued(
        &block_on(redeemer.issue(&key("i-0"), vec![giftcert::CardSpec::new(usd(value))])).unwrap(),
    );
    block_on(redeemer.apply_code(
        &reference("client"),
        &reference(checkout),
        Currency::USD,
        &code,
    ))
    .unwrap();
    card
}

/// The first card an issue made, and its code.
fn issued(
    done: &giftcert::redeem::Redeemed<giftcert::redeem::Issued>,
) -> (giftcert::CardId, String) {
    let giftcert::Notification::CardIssued { card, code, .. } = &done.notifications[0] else {
        panic!("no card issued")
    };
    (*card, code.expose_secret().to_owned())
}
