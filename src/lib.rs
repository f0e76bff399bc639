//! Gift certificates for shops and checkout providers, as a library with no I/O of its own.
//!
//! `giftcert` models the whole life of a gift certificate (gift card): the catalogue a shop
//! sells from, a selection (cart) that keeps certificates apart from products, totals where tax
//! comes before gift credit, the paid order that finalises itself and issues a card, and the
//! card's redemption at checkout (lowest card first, authorise, capture, void, refund) under
//! the replacement or balance strategy for leftover value.
//!
//! A card is spent with its [`Code`], a secret that prints masked (`****-****-****-*KQ2-*`) and
//! compares in constant time. New codes come from a [`CodeGenerator`](code::CodeGenerator): by
//! default a [`RandomCodeGenerator`](code::RandomCodeGenerator) (80 random bits and a check
//! character that refuses a mistyped code before any store is asked), or Spryker's guessable
//! numbering `X-GC-{number}` ([`PatternCodeGenerator`](code::PatternCodeGenerator)); codes from
//! another platform come in through [`ImportRules`](code::ImportRules).
//!
//! Time comes in through a [`Clock`](clock::Clock) ([`SystemClock`](clock::SystemClock) in
//! production, [`FixedClock`](clock::FixedClock) in tests), never from a hidden call to the
//! system clock.
//!
//! # Example
//!
//! ```
//! use chrono::Utc;
//! use giftcert::{CheckoutId, ClientId, Catalogue, CertificateDefinition, Currency, EmailAddress, IdempotencyKey, MemoryStore, Money, Order, OrderId, PaymentDetails, PaymentKind, PaymentMethod, PaymentPolicy, PaymentResult, PriceBasis, Redeemer, Reference, Selection, SelectionPolicy, TaxRate, TotalsSettings, shop::ProductLine};
//! use rust_decimal::Decimal;
//!
//! let usd = |s: &str| Money::parse(s, Currency::USD);
//! let catalogue = Catalogue::new()
//!     .with(CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate")?)?;
//!
//! // The shopper puts a 100.00 certificate in a selection (Centra's exclusive rules) and pays.
//! let mut cart = Selection::new(Currency::USD, PriceBasis::TaxIncluded, SelectionPolicy::exclusive());
//! cart.add_certificate_from(&catalogue, "gift-1", Some(Decimal::from(100)), 1)?;
//! let card = PaymentMethod::new("card", PaymentKind::Card)?;
//! let payment = PaymentDetails::new(card, EmailAddress::new("buyer@example.com")?);
//! let mut order = Order::place(
//!     OrderId::new("o-1001")?, cart, payment, &PaymentPolicy::default(), &TotalsSettings::default(),
//! )?;
//! let _outcome = order.report_payment(PaymentResult::Paid, Utc::now()); // finalised, no shipping
//!
//! // The paid order becomes a card; the host e-mails the code from the notification.
//! let redeemer = Redeemer::new(MemoryStore::new());
//! let issued = redeemer.issue_for_order(&order)?;
//! let Some(giftcert::Notification::CardIssued { code, .. }) = issued.notifications.first() else {
//!     unreachable!()
//! };
//!
//! // Later the recipient fills a cart and pays part of it with the card. The totals come from
//! // the checkout's own cards (taxes on the original prices, credit as a payment) and say what
//! // to authorise; capture on completion. No figure is copied from one call into another.
//! let mut shop = Selection::new(Currency::USD, PriceBasis::TaxIncluded, SelectionPolicy::exclusive());
//! shop.add_product(ProductLine::new("lamp", usd("150")?, 1, "25".parse::<TaxRate>()?)?)?;
//! let checkout = CheckoutId::new("checkout-7")?;
//! redeemer.apply_code(&ClientId::new("client-1")?, &checkout, Currency::USD, code.expose_secret())?;
//! let totals = redeemer.checkout_totals(&checkout, &shop, &TotalsSettings::default())?;
//! assert_eq!(totals.tax_total(), usd("30")?); // credit never changes the tax
//! assert_eq!(totals.credit_used(), usd("100")?);
//! assert_eq!(totals.outstanding_balance(), usd("50")?); // for the shopper's other payment
//! redeemer.authorise(&IdempotencyKey::new("c7-auth")?, &checkout, totals.amount_to_authorise())?;
//! let captured = redeemer.capture(&IdempotencyKey::new("c7-capture")?, &checkout)?;
//! assert_eq!(captured.outcome.total, totals.credit_used());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Overview
//!
//! The root holds the types of the main flow above; each domain has a module of its own:
//!
//! | module | what it owns |
//! | --- | --- |
//! | [`money`] | [`Currency`] (every active ISO 4217 code and its minor units), [`Money`] (exact, never mixing currencies, splits that sum to the whole), rounding rules, formats, [`TaxRate`] |
//! | [`catalogue`] | [`CertificateDefinition`]s, predetermined or any-amount, resolved per currency; [`Catalogue::listing`] renders Centra's `GET /gift-certificates` |
//! | [`shop`] | [`Selection`] under a [`SelectionPolicy`] (Centra's exclusive rules, Spryker's mixed carts), [`Totals`] (taxes on the original prices, gift credit as a payment), [`PaymentPolicy`], the [`Order`] that finalises itself |
//! | [`code`] | [`Code`], generators, the check character, masking, imported codes |
//! | [`card`] | [`GiftCard`] with holds and a ledger that proves its balance, expiry, the balance and replacement strategies for leftover value, [`Notification`]s |
//! | [`redeem`] | lowest-first allocation, the checkout and the pure decisions (apply, authorise, capture, void, refund, issue), idempotency, the unknown-code guard |
//! | [`store`] | the [`Store`] contract, [`MemoryStore`], and the [`Redeemer`] that drives the decisions over a store |
//! | [`clock`] | the [`Clock`](clock::Clock) that gives `now` |
//!
//! # Scope
//!
//! No HTTP, no e-mail, no database of its own: hosts call the crate from their own handlers,
//! deliver the [`Notification`]s it returns, and keep data in a [`Store`] they choose. Time and
//! randomness enter only through [`Clock`](clock::Clock) and
//! [`CodeGenerator`](code::CodeGenerator).
//!
//! # Crate features
//!
//! - `proptest`: proptest strategies for the crate's types, for hosts' property tests.
//! - `testkit`: the conformance kit a host runs against its own [`Store`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

pub mod card;
pub mod catalogue;
pub mod clock;
pub mod code;
mod ident;
pub mod money;
pub mod redeem;
pub mod shop;
pub mod store;
#[cfg(feature = "proptest")]
pub mod strategies;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use card::{CardId, CardSpec, GiftCard, Notification, Reference};
pub use catalogue::{Catalogue, CertificateDefinition};
pub use code::Code;
pub use money::{Currency, Money, TaxRate};
pub use redeem::{CheckoutId, ClientId, IdempotencyKey, RedeemError, StoreError};
pub use shop::{
    EmailAddress, Order, OrderId, PaymentDetails, PaymentKind, PaymentMethod, PaymentPolicy,
    PaymentResult, PriceBasis, Selection, SelectionPolicy, Totals, TotalsSettings,
};
pub use store::{MemoryStore, Redeemer, Store};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
