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
mod reversal;
mod store_error;
mod upkeep;

pub use self::allocation::{
    AllocatedCard, Allocation, AllocationError, AllocationOrder, Offer, allocate, allocate_by,
};
pub use self::changes::{CardWrite, Changes, CodeWrite, RecordWrite, Versioned};
pub use self::checkout::{CardAmount, Checkout, CheckoutId, CheckoutState, HoldRef, PaymentStage};
pub use self::command::{Amended, CardCommand, CodeReplaced, CommandError, amend, replace_code};
pub use self::decision::{
    Decision, RefundTo, apply, authorise, capture, capture_part, change_authorisation,
    checkout_cards, issue, refund, refund_to, remove, set_customer, void,
};
pub use self::error::{CardUnavailable, RedeemError};
pub(crate) use self::guard::store_budget_client;
pub use self::guard::{
    ClientId, GuardError, GuardPolicy, GuardWindow, STORE_BUDGET_CLIENT, client_ip,
};
#[cfg(test)]
pub(crate) use self::idempotency::fingerprint;
pub(crate) use self::idempotency::spec_fingerprint;
pub use self::idempotency::{
    IdempotencyKey, IdempotencyKeyError, IdempotencyRecord, RecordedRequest,
};
pub use self::outcome::{
    Authorisation, BalanceCheck, Captured, CardPayment, CardUse, CheckoutCards, Issued, IssuedCard,
    Outcome, RefundOutcome, RefundPart, Replacement, Voided,
};
#[cfg(feature = "testkit")]
pub(crate) use self::protocol::PESSIMISTIC_AFTER;
pub use self::protocol::{
    Answer, AppliedCode, Need, Operation, Protocol, Redeemed, Reply, Request, Step, TurnWait,
};
pub use self::reversal::{Reversal, ReversalScope, ReversedCard, reverse_purchase};
pub use self::store_error::{Record, StoreError, StoreSource};
pub use self::upkeep::{PruneBefore, Pruned, Retention, Sweep, Swept, sweep};
