//! Redemption: paying with gift cards, as pure decisions over values.
//!
//! - [`allocate`] spreads a payable amount over several cards, lowest first, the last one
//!   partly (the Nordic checkout provider's `usedAmount` and `totalAmount`).
//! - A [`Checkout`] records the cards applied to it (BigCommerce's
//!   `POST`/`DELETE .../gift-certificates`) and where its payment stands. [`apply`],
//!   [`remove`], [`authorise`] (holds at validation), [`capture`] (spending on completion),
//!   [`void`] (release on payment failure), [`refund`] and [`issue`] take values and `now` and
//!   return a [`Decision`]: the outcome, the [`Changes`] to write and the notifications.
//! - Requests that move money carry an [`IdempotencyKey`]: a repeated request returns its first
//!   outcome; the [`GuardPolicy`] limits unknown codes per client (BigCommerce's 20 an hour).
//!
//! Nothing here reads a clock, draws a random number or touches a store: the
//! [`Redeemer`](crate::store::Redeemer) drives these decisions over a
//! [`Store`](crate::store::Store).
//!
//! ```
//! use giftcert::redeem::allocate;
//! use giftcert::{Currency, Money};
//!
//! let sek = |s: &str| Money::parse(s, Currency::SEK);
//! let plan = allocate(sek("500")?, [("a", sek("400")?), ("b", sek("200")?)])?;
//! let used: Vec<_> = plan.cards().iter().map(|c| (c.key, c.used)).collect();
//! // "b" (the lower) gives all it has, then "a" gives the rest; cards stay in the order given.
//! assert_eq!(used, [("a", sek("300")?), ("b", sek("200")?)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod allocation;
mod changes;
mod checkout;
mod command;
mod decision;
mod error;
mod guard;
mod idempotency;
mod outcome;
mod protocol;
mod store_error;
mod upkeep;

pub use self::allocation::*;
pub use self::changes::*;
pub use self::checkout::*;
pub use self::command::*;
pub use self::decision::*;
pub use self::error::*;
pub use self::guard::*;
pub use self::idempotency::*;
pub use self::outcome::*;
pub use self::protocol::*;
pub use self::store_error::*;
pub use self::upkeep::*;
