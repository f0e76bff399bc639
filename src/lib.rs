//! Gift certificates for shops and checkout providers, as a library with no I/O of its own.
//!
//! `giftcert` models the whole life of a gift certificate (gift card): the catalogue a shop
//! sells from, money that always knows its currency, selections (carts) that hold certificates
//! under the host's rules, totals where tax comes before gift credit, the purchase flow from a
//! paid order to the cards to issue, and the lowest-first allocation of a payment over several
//! cards.
//!
//! # Example
//!
//! ```
//! use giftcert::{allocate, Catalogue, CertificateDefinition, Currency, Money};
//! use rust_decimal::Decimal;
//!
//! // The shop sells a fixed-value certificate and one whose value the buyer picks.
//! let catalogue = Catalogue::new()
//!     .with(CertificateDefinition::predetermined(
//!         "gift-2",
//!         "Pre-defined gift certificate",
//!         [Money::parse("10", Currency::USD)?],
//!     )?)?
//!     .with(CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate")?)?;
//! let sold = catalogue.resolve("gift-1", Currency::USD, Some(Decimal::from(100)))?;
//! assert_eq!(sold.value().to_string(), "100.00 USD");
//!
//! // Later, two cards pay for a 95.00 order: the smaller one first, the other partly.
//! let usd = |s: &str| Money::parse(s, Currency::USD);
//! let allocation = allocate(usd("95")?, [("A", usd("100")?), ("B", usd("50")?)])?;
//! assert_eq!(allocation.cards()[0].used, usd("45")?);
//! assert_eq!(allocation.cards()[1].used, usd("50")?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Scope of this crate
//!
//! No HTTP, no e-mail, no database of its own: hosts call the crate's functions from their own
//! handlers and deliver what it returns.
//!
//! # Crate features
//!
//! - `proptest`: proptest strategies for the crate's types, for hosts' property tests.
//! - `testkit`: the conformance kit a host runs against its own store.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod allocation;
mod card;
mod catalogue;
mod clock;
mod code;
mod currency;
mod expiry;
mod guard;
mod idempotency;
mod ledger;
mod memory;
mod money;
mod notification;
mod payment;
mod purchase;
pub mod redemption;
mod selection;
mod serde_impl;
mod service;
mod store;
mod strategy;
mod tax;
#[cfg(feature = "testkit")]
pub mod testkit;
mod totals;

pub use allocation::{AllocatedCard, Allocation, AllocationError, allocate};
pub use card::{
    CardError, CardId, CardIdError, CardSpec, CardStatus, CodeHint, GiftCard, GiftCertificateView,
    Hold, Recipient,
};
pub use catalogue::{
    AmountBounds, Catalogue, CatalogueError, CatalogueListing, CertificateDefinition,
    CertificateId, CertificateKind, CurrencyFormats, ListedAmount, ListedCertificate,
    ResolvedCertificate, VoucherPurpose,
};
pub use clock::{Clock, FixedClock, SystemClock};
pub use code::{Code, CodeError, CodeGenerator, RandomCodeGenerator};
pub use currency::{Currency, MAX_MINOR_UNITS};
pub use expiry::{ExpiryError, ExpiryPolicy, US_MINIMUM_YEARS};
pub use guard::{GuardError, GuardPolicy, GuardWindow};
pub use idempotency::{IdempotencyKey, IdempotencyKeyError, IdempotencyRecord, Request};
pub use ledger::{
    EntryKind, LedgerEntry, LedgerError, Reference, ReferenceError, ReleaseReason, verify_ledger,
};
pub use memory::MemoryStore;
pub use money::{Decimals, Money, MoneyError, MoneyFormat, RoundingRule};
pub use notification::Notification;
pub use payment::{PaymentError, PaymentKind, PaymentMethod, PaymentPolicy};
pub use purchase::{
    CardToIssue, CertificateNotification, EmailAddress, GiftCredit, GiftMessage,
    MAX_GIFT_MESSAGE_LEN, NO_SHIPMENT, Order, OrderId, OrderStatus, PaymentDetails, PaymentOutcome,
    PaymentResult, PurchaseError, Shipment, ShipmentContents,
};
pub use redemption::{
    Authorisation, Captured, CardAmount, CardUse, Checkout, CheckoutState, Decision, HoldRef,
    Issued, IssuedCard, Outcome, RedeemError, RefundOutcome, RefundPart, Replacement, Voided,
};
pub use selection::{
    CertificateLine, Line, MAX_CERTIFICATE_UNITS, Prices, ProductLine, ProductWithCertificate,
    RemovalReason, RemovedLine, Selection, SelectionChange, SelectionError, SelectionPolicy,
    Shipping, Sku,
};
pub use service::{AppliedCode, Redeemed, Redeemer};
pub use store::{CardWrite, Changes, Store, StoreError, Versioned, Write};
pub use strategy::{
    BalanceStrategy, LeftoverDecision, LeftoverStrategy, NewCard, RefundTarget, Refunded,
    ReplacementStrategy, refund_to_card, settle_leftover,
};
pub use tax::{TaxRate, TaxRateError};
pub use totals::{
    AppliedCertificate, LineKind, LineTotal, TaxGranularity, TaxLine, Totals, TotalsError,
    TotalsSettings,
};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
