//! The shop: selections (carts), totals, payment policy and orders.
//!
//! - [`Selection`] holds product and certificate lines under a [`SelectionPolicy`]: Centra's
//!   exclusive rules (a certificate never shares a selection with products, one at a time, the
//!   newest replaces the previous) or Spryker's mixed carts. Certificates take no discount.
//! - [`Totals`] computes taxes on the original prices, then applies gift credit as a payment
//!   (BigCommerce's `grandTotal` and `outstandingBalance`).
//! - [`CheckoutView`] is what a checkout page shows of its gift certificates: per card what
//!   it pays, holds, captured and refunded, and the outstanding balance.
//! - [`PaymentPolicy`] bars the methods that may not pay for certificates (invoice, and gift
//!   credit itself); [`Order`] finalises a paid certificate order with a completed `noshipment`
//!   shipment and hands over the [`CardToIssue`]s.
//!
//! ```
//! use giftcert::shop::{PriceBasis, ProductLine, Selection, SelectionPolicy, Totals, TotalsSettings};
//! use giftcert::{Currency, Money, TaxRate};
//! use rust_decimal::Decimal;
//!
//! let usd = |s: &str| Money::parse(s, Currency::USD);
//! let mut cart = Selection::new(Currency::USD, PriceBasis::TaxExcluded, SelectionPolicy::exclusive());
//! cart.add_product(ProductLine::new("shoe", usd("5000")?, 1, TaxRate::new(Decimal::from(22))?)?)?;
//!
//! // A 1,000.00 gift card pays after tax: it changes no tax figure.
//! let totals = Totals::compute(&cart, [("card-1", usd("1000")?)], &TotalsSettings::default())?;
//! assert_eq!(totals.grand_total(), usd("6100")?);
//! assert_eq!(totals.outstanding_balance(), usd("5100")?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod contact;
mod issuing;
mod line;
mod order;
mod payment;
mod policy;
mod selection;
mod sku;
mod totals;
mod view;

pub use self::contact::{EmailAddress, GiftMessage, MAX_GIFT_MESSAGE_LEN};
pub use self::issuing::{CardToIssue, CertificateNotification};
pub use self::line::{
    CertificateLine, MAX_PRODUCT_UNITS, ProductLine, RemovalReason, RemovedLine, SelectionLine,
    Shipping,
};
pub use self::order::{
    GiftCredit, NO_SHIPMENT, Order, OrderId, OrderStatus, PaymentDetails, PaymentOutcome,
    PaymentResult, PurchaseError, Shipment, ShipmentContents,
};
pub use self::payment::{PaymentError, PaymentKind, PaymentMethod, PaymentPolicy};
pub use self::policy::{PriceBasis, ProductWithCertificate, SelectionPolicy};
pub use self::selection::{MAX_CERTIFICATE_UNITS, Selection, SelectionChange, SelectionError};
pub use self::sku::Sku;
pub use self::totals::{
    AppliedCertificate, CheckoutTotalsError, LineKind, LineTotal, TaxGranularity, TaxLine, Totals,
    TotalsError, TotalsSettings,
};
pub use self::view::{CheckoutView, GiftCertificateView};
