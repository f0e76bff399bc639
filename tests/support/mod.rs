//! What the integration tests share: short constructors for the values every test names.
//!
//! Each test binary uses part of it.
#![allow(dead_code)]

use giftcert::{Currency, IdempotencyKey, Money, Reference};

/// `s` in US dollars.
pub fn usd(s: &str) -> Money {
    Money::parse(s, Currency::USD).unwrap()
}

/// An idempotency key.
pub fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::new(s).unwrap()
}

/// A reference (a checkout, a client, an order).
pub fn reference(s: &str) -> Reference {
    Reference::new(s).unwrap()
}
