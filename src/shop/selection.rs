//! Selections (carts) that hold gift certificates under the host's rules (seeds 000, 001, 002).
//!
//! A [`Selection`] has one currency, product lines and gift-certificate lines. What may share a
//! selection is a [`SelectionPolicy`] the host picks:
//!
//! - [`SelectionPolicy::exclusive`] (Centra, the default): adding a gift certificate removes
//!   every product line; adding a product while a certificate is held is refused (or, if the
//!   host prefers, removes the certificate); one certificate at a time, a new one replacing the
//!   previous one.
//! - [`SelectionPolicy::mixed`] (Spryker): certificates and products share a selection; a
//!   certificate line has a quantity and a chosen variant, like a product.
//!
//! Every mutation returns a [`SelectionChange`] saying what it removed or replaced, so the host
//! can tell the shopper. Gift-certificate lines never carry a discount (Spryker: the price paid
//! must equal the card's value); an order-level discount is spread over product lines only when
//! totals are computed (see [`Totals`](crate::Totals)).

use crate::ident::text_newtype;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalogue::{
    Catalogue, CatalogueError, CertificateId, ResolvedCertificate, VoucherPurpose,
};
use crate::money::Currency;
use crate::money::TaxRate;
use crate::money::{Money, MoneyError};

/// The most gift-certificate units one selection may hold; each unit becomes one card.
pub const MAX_CERTIFICATE_UNITS: u64 = 1_000;

/// The longest SKU accepted, in characters.
const MAX_SKU_LEN: usize = 128;

/// Everything that can go wrong changing a selection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectionError {
    /// The SKU is empty, too long, padded with spaces or holds control characters.
    #[error("invalid sku \"{sku}\": {reason}")]
    InvalidSku {
        /// The SKU given (at most 128 characters of it).
        sku: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A price, discount or cost is below zero.
    #[error("{what} must not be negative, found {amount}")]
    Negative {
        /// What the amount is (`"unit price"`, `"order discount"`...).
        what: &'static str,
        /// The amount given.
        amount: Money,
    },
    /// A line discount is larger than the line it applies to.
    #[error("discount {discount} on product \"{sku}\" is larger than the line amount {amount}")]
    DiscountExceedsLine {
        /// The product.
        sku: Sku,
        /// The discount.
        discount: Money,
        /// The line amount (unit price times quantity).
        amount: Money,
    },
    /// The exclusive rule: a product cannot join a selection holding a gift certificate.
    #[error(
        "cannot add product \"{sku}\": the selection holds gift certificate \"{certificate}\", \
         and gift certificates are sold on their own"
    )]
    ProductWithCertificate {
        /// The product refused.
        sku: Sku,
        /// The certificate held.
        certificate: CertificateId,
    },
    /// The one-at-a-time rule: a certificate line holds exactly one unit.
    #[error("one gift certificate at a time: expected quantity 1, found {quantity}")]
    OneCertificateAtATime {
        /// The quantity asked for.
        quantity: u64,
    },
    /// A certificate line needs at least one unit.
    #[error("gift certificate \"{0}\" needs a quantity of at least 1, found 0")]
    ZeroQuantity(CertificateId),
    /// More certificate units than [`MAX_CERTIFICATE_UNITS`].
    #[error(
        "a selection may hold at most {MAX_CERTIFICATE_UNITS} gift certificate units, found {units}"
    )]
    TooManyCertificates {
        /// The units the change would leave in the selection.
        units: u64,
    },
    /// No product line has this SKU.
    #[error("no product \"{0}\" in the selection")]
    NoSuchProduct(String),
    /// No certificate line has this definition.
    #[error("no gift certificate \"{0}\" in the selection")]
    NoSuchCertificate(String),
    /// A variant change between two definitions of different families.
    #[error("gift certificate \"{to}\" is not a variant of \"{from}\": they are not in one family")]
    NotAVariant {
        /// The definition of the line being changed.
        from: CertificateId,
        /// The definition asked for.
        to: CertificateId,
    },
    /// A line breaks the selection's policy (found when reading a stored selection).
    #[error("selection breaks its policy: {0}")]
    PolicyBroken(&'static str),
    /// Two lines for the same product or certificate (found when reading a stored selection).
    #[error("selection lists \"{0}\" twice")]
    DuplicateLine(String),
    /// The certificate could not be resolved in the selection's currency.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// An amount in another currency than the selection's, or an overflow.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

text_newtype! {
    /// A product's stock-keeping unit: 1 to 128 characters, no control characters, no surrounding
    /// white space.
    ///
    /// Cheap to clone: totals name their lines by it without copying the text.
    pub struct Sku;
    error: SelectionError;
    /// Checks and wraps a SKU.
    ///
    /// # Errors
    ///
    /// [`SelectionError::InvalidSku`] when empty, longer than 128 characters, starting or ending
    /// with white space, or holding control characters.
    fn new(sku) {
        let invalid = |reason| SelectionError::InvalidSku {
            sku: sku.chars().take(MAX_SKU_LEN).collect(),
            reason,
        };
        if sku.is_empty() {
            return Err(invalid("it is empty"));
        }
        if sku.chars().count() > MAX_SKU_LEN {
            return Err(invalid("it is longer than 128 characters"));
        }
        if sku.trim() != sku {
            return Err(invalid("it starts or ends with white space"));
        }
        if sku.chars().any(char::is_control) {
            return Err(invalid("it holds control characters"));
        }
    }
}

/// Whether the selection's prices include tax (BigCommerce's `isTaxIncluded`).
///
/// Product prices, line discounts, the order discount, shipping and certificate prices are all
/// read on this basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum PriceBasis {
    /// Prices include tax: the tax is the part `A × r / (100 + r)` of an amount `A`.
    TaxIncluded,
    /// Prices exclude tax: the tax `A × r / 100` comes on top.
    TaxExcluded,
}

impl PriceBasis {
    /// Whether prices include tax.
    #[must_use]
    pub const fn tax_included(self) -> bool {
        matches!(self, PriceBasis::TaxIncluded)
    }
}

/// What happens when a product is added to a selection holding a gift certificate under the
/// exclusive rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ProductWithCertificate {
    /// The product is refused with [`SelectionError::ProductWithCertificate`] (the default).
    #[default]
    Refuse,
    /// The certificates are removed and the product added; the change reports the removal.
    RemoveCertificates,
}

/// The rules for what may share a selection, picked by the host.
///
/// ```
/// use giftcert::{SelectionPolicy, shop::ProductWithCertificate};
///
/// assert_eq!(SelectionPolicy::default(), SelectionPolicy::exclusive());
/// assert!(SelectionPolicy::exclusive().is_exclusive());
/// assert!(!SelectionPolicy::mixed().is_exclusive());
/// let lenient = SelectionPolicy::exclusive()
///     .with_product_with_certificate(ProductWithCertificate::RemoveCertificates);
/// assert_eq!(lenient.product_with_certificate(), ProductWithCertificate::RemoveCertificates);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SelectionPolicy {
    exclusive: bool,
    one_certificate_at_a_time: bool,
    product_with_certificate: ProductWithCertificate,
}

impl Default for SelectionPolicy {
    fn default() -> Self {
        SelectionPolicy::exclusive()
    }
}

impl SelectionPolicy {
    /// Centra's rules (seeds 000, 001): certificates are sold on their own, one at a time.
    /// Adding a certificate removes every product line (and the order discount and shipping
    /// that applied to them); adding a new certificate replaces the previous one; adding a
    /// product while a certificate is held is refused.
    #[must_use]
    pub const fn exclusive() -> SelectionPolicy {
        SelectionPolicy {
            exclusive: true,
            one_certificate_at_a_time: true,
            product_with_certificate: ProductWithCertificate::Refuse,
        }
    }

    /// Spryker's rules (seed 002): certificates are products that need no shipping; they share
    /// a selection with other products and have quantities and variants.
    #[must_use]
    pub const fn mixed() -> SelectionPolicy {
        SelectionPolicy {
            exclusive: false,
            one_certificate_at_a_time: false,
            product_with_certificate: ProductWithCertificate::Refuse,
        }
    }

    /// Sets what adding a product to an exclusive selection holding a certificate does.
    #[must_use]
    pub const fn with_product_with_certificate(
        mut self,
        choice: ProductWithCertificate,
    ) -> SelectionPolicy {
        self.product_with_certificate = choice;
        self
    }

    /// Limits the selection to one certificate unit (a new one replaces the previous one), or
    /// lifts the limit.
    #[must_use]
    pub const fn with_one_certificate_at_a_time(mut self, one: bool) -> SelectionPolicy {
        self.one_certificate_at_a_time = one;
        self
    }

    /// Whether certificates and products exclude each other.
    #[must_use]
    pub const fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    /// Whether a selection holds at most one certificate unit.
    #[must_use]
    pub const fn one_certificate_at_a_time(&self) -> bool {
        self.one_certificate_at_a_time
    }

    /// What adding a product to an exclusive selection holding a certificate does.
    #[must_use]
    pub const fn product_with_certificate(&self) -> ProductWithCertificate {
        self.product_with_certificate
    }
}

/// A product line: SKU, unit price, quantity, tax rate and an optional line discount.
///
/// ```
/// use giftcert::{Currency, Money, TaxRate, shop::ProductLine};
///
/// let usd = |s: &str| Money::parse(s, Currency::USD);
/// let line = ProductLine::new("shirt", usd("20")?, 3, "25".parse::<TaxRate>()?)?
///     .with_discount(usd("5")?)?;
/// assert_eq!(line.amount(), usd("60")?);
/// assert_eq!(line.net(), usd("55")?);
/// assert!(ProductLine::new("shirt", usd("20")?, 1, TaxRate::ZERO)?.with_discount(usd("21")?).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "ProductLineRepr")]
pub struct ProductLine {
    sku: Sku,
    unit_price: Money,
    quantity: u64,
    tax_rate: TaxRate,
    #[serde(skip_serializing_if = "Option::is_none")]
    discount: Option<Money>,
    #[serde(skip_serializing)]
    amount: Money,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductLineRepr {
    sku: Sku,
    unit_price: Money,
    quantity: u64,
    tax_rate: TaxRate,
    #[serde(default)]
    discount: Option<Money>,
}

impl TryFrom<ProductLineRepr> for ProductLine {
    type Error = SelectionError;

    fn try_from(r: ProductLineRepr) -> Result<Self, Self::Error> {
        let line = ProductLine::with_sku(r.sku, r.unit_price, r.quantity, r.tax_rate)?;
        match r.discount {
            Some(discount) => line.with_discount(discount),
            None => Ok(line),
        }
    }
}

impl ProductLine {
    /// A line of `quantity` units of `sku` at `unit_price` each, taxed at `tax_rate`.
    ///
    /// A quantity of zero is allowed (the line then counts for nothing).
    ///
    /// # Errors
    ///
    /// [`SelectionError::InvalidSku`], [`SelectionError::Negative`] for a negative unit price,
    /// and [`SelectionError::Money`] when the line amount overflows.
    pub fn new(
        sku: &str,
        unit_price: Money,
        quantity: u64,
        tax_rate: TaxRate,
    ) -> Result<ProductLine, SelectionError> {
        ProductLine::with_sku(Sku::new(sku)?, unit_price, quantity, tax_rate)
    }

    /// As [`ProductLine::new`], with a checked [`Sku`].
    ///
    /// # Errors
    ///
    /// As [`ProductLine::new`].
    pub fn with_sku(
        sku: Sku,
        unit_price: Money,
        quantity: u64,
        tax_rate: TaxRate,
    ) -> Result<ProductLine, SelectionError> {
        if unit_price.is_negative() {
            return Err(SelectionError::Negative {
                what: "unit price",
                amount: unit_price,
            });
        }
        let amount = unit_price.checked_mul(quantity)?;
        Ok(ProductLine {
            sku,
            unit_price,
            quantity,
            tax_rate,
            discount: None,
            amount,
        })
    }

    /// Takes `discount` off this line (an amount off the whole line, not per unit).
    ///
    /// # Errors
    ///
    /// [`SelectionError::Negative`], [`SelectionError::Money`] when the discount is in another
    /// currency, and [`SelectionError::DiscountExceedsLine`] when it is larger than the line.
    pub fn with_discount(mut self, discount: Money) -> Result<ProductLine, SelectionError> {
        check_discount(&self.sku, discount, self.amount)?;
        self.discount = Some(discount);
        Ok(self)
    }

    /// The SKU.
    #[must_use]
    pub fn sku(&self) -> &Sku {
        &self.sku
    }

    /// The price of one unit.
    #[must_use]
    pub const fn unit_price(&self) -> Money {
        self.unit_price
    }

    /// The number of units.
    #[must_use]
    pub const fn quantity(&self) -> u64 {
        self.quantity
    }

    /// The rate the line is taxed at.
    #[must_use]
    pub const fn tax_rate(&self) -> TaxRate {
        self.tax_rate
    }

    /// The line discount, if any.
    #[must_use]
    pub const fn discount(&self) -> Option<Money> {
        self.discount
    }

    /// Unit price times quantity, before any discount.
    #[must_use]
    pub const fn amount(&self) -> Money {
        self.amount
    }

    /// The amount after the line discount (before any order discount).
    #[must_use]
    pub fn net(&self) -> Money {
        match self.discount {
            // Cannot fail: same currency, and the discount is at most the amount.
            Some(d) => self.amount.checked_sub(d).unwrap_or(self.amount),
            None => self.amount,
        }
    }

    fn with_quantity(&self, quantity: u64) -> Result<ProductLine, SelectionError> {
        let line =
            ProductLine::with_sku(self.sku.clone(), self.unit_price, quantity, self.tax_rate)?;
        match self.discount {
            Some(d) => line.with_discount(d),
            None => Ok(line),
        }
    }
}

fn check_discount(sku: &Sku, discount: Money, amount: Money) -> Result<(), SelectionError> {
    if discount.is_negative() {
        return Err(SelectionError::Negative {
            what: "line discount",
            amount: discount,
        });
    }
    if discount.checked_cmp(&amount)?.is_gt() {
        return Err(SelectionError::DiscountExceedsLine {
            sku: sku.clone(),
            discount,
            amount,
        });
    }
    Ok(())
}

/// A gift-certificate line: a definition, the value each card will hold, the price of each,
/// and how many.
///
/// Certificate lines carry no discount: the price paid for a card is its value (Spryker).
/// Build one from a [`ResolvedCertificate`] so the value comes from the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "CertificateLineRepr")]
pub struct CertificateLine {
    definition: CertificateId,
    value: Money,
    price: Money,
    quantity: u64,
    purpose: VoucherPurpose,
    #[serde(skip_serializing)]
    amount: Money,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateLineRepr {
    definition: CertificateId,
    value: Money,
    price: Money,
    quantity: u64,
    #[serde(default)]
    purpose: VoucherPurpose,
}

impl TryFrom<CertificateLineRepr> for CertificateLine {
    type Error = SelectionError;

    fn try_from(r: CertificateLineRepr) -> Result<Self, Self::Error> {
        if r.price.currency() != r.value.currency() {
            return Err(MoneyError::CurrencyMismatch {
                expected: r.value.currency(),
                found: r.price.currency(),
            }
            .into());
        }
        for amount in [r.value, r.price] {
            if !amount.is_positive() {
                return Err(CatalogueError::NotPositive {
                    id: r.definition.clone(),
                    amount,
                }
                .into());
            }
        }
        CertificateLine::build(r.definition, r.value, r.price, r.purpose, r.quantity)
    }
}

impl CertificateLine {
    /// `quantity` cards of the resolved certificate.
    ///
    /// # Errors
    ///
    /// [`SelectionError::ZeroQuantity`], [`SelectionError::TooManyCertificates`] above
    /// [`MAX_CERTIFICATE_UNITS`], and [`SelectionError::Money`] when the line amount overflows.
    pub fn new(
        certificate: &ResolvedCertificate,
        quantity: u64,
    ) -> Result<CertificateLine, SelectionError> {
        CertificateLine::build(
            certificate.id().clone(),
            certificate.value(),
            certificate.price(),
            certificate.purpose(),
            quantity,
        )
    }

    fn build(
        definition: CertificateId,
        value: Money,
        price: Money,
        purpose: VoucherPurpose,
        quantity: u64,
    ) -> Result<CertificateLine, SelectionError> {
        if quantity == 0 {
            return Err(SelectionError::ZeroQuantity(definition));
        }
        if quantity > MAX_CERTIFICATE_UNITS {
            return Err(SelectionError::TooManyCertificates { units: quantity });
        }
        let amount = price.checked_mul(quantity)?;
        Ok(CertificateLine {
            definition,
            value,
            price,
            quantity,
            purpose,
            amount,
        })
    }

    /// The definition the cards come from.
    #[must_use]
    pub fn definition(&self) -> &CertificateId {
        &self.definition
    }

    /// What each card will hold.
    #[must_use]
    pub const fn value(&self) -> Money {
        self.value
    }

    /// What the buyer pays for each card (its value unless the host opted in otherwise).
    #[must_use]
    pub const fn price(&self) -> Money {
        self.price
    }

    /// How many cards.
    #[must_use]
    pub const fn quantity(&self) -> u64 {
        self.quantity
    }

    /// How the sale is taxed: multi-purpose vouchers are not taxed at sale.
    #[must_use]
    pub const fn purpose(&self) -> VoucherPurpose {
        self.purpose
    }

    /// Price times quantity (never discounted).
    #[must_use]
    pub const fn amount(&self) -> Money {
        self.amount
    }

    fn with_quantity(&self, quantity: u64) -> Result<CertificateLine, SelectionError> {
        CertificateLine::build(
            self.definition.clone(),
            self.value,
            self.price,
            self.purpose,
            quantity,
        )
    }
}

/// A line of either kind, as reported by a [`SelectionChange`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum SelectionLine {
    /// A product line.
    Product(ProductLine),
    /// A gift-certificate line.
    Certificate(CertificateLine),
}

/// Why a line left the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum RemovalReason {
    /// A product removed because a gift certificate was added (the exclusive rule).
    CertificateAdded,
    /// A certificate removed because a product was added (the exclusive rule, with
    /// [`ProductWithCertificate::RemoveCertificates`]).
    ProductAdded,
    /// A certificate replaced by a new one (the one-at-a-time rule).
    OneCertificateAtATime,
    /// A line replaced by a new line for the same product or certificate.
    Replaced,
    /// A certificate line whose variant changed.
    VariantChanged,
    /// A line the host asked to remove (or set to quantity zero).
    Requested,
}

/// One line that left the selection, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovedLine {
    /// The line as it was.
    pub line: SelectionLine,
    /// Why it went.
    pub reason: RemovalReason,
}

/// What a mutation took out of the selection, for the host to tell the shopper.
///
/// Empty when nothing was removed or replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectionChange {
    removed: Vec<RemovedLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cleared_order_discount: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cleared_shipping: Option<Shipping>,
}

impl SelectionChange {
    /// The lines removed or replaced, in the order they went.
    #[must_use]
    pub fn removed(&self) -> &[RemovedLine] {
        &self.removed
    }

    /// The order discount dropped because the products it applied to left (exclusive rule).
    #[must_use]
    pub const fn cleared_order_discount(&self) -> Option<Money> {
        self.cleared_order_discount
    }

    /// The shipping dropped because the products it carried left (exclusive rule).
    #[must_use]
    pub const fn cleared_shipping(&self) -> Option<Shipping> {
        self.cleared_shipping
    }

    /// Whether the mutation removed or replaced nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty()
            && self.cleared_order_discount.is_none()
            && self.cleared_shipping.is_none()
    }
}

/// The shipping charged on a selection: its cost and the tax rate it is taxed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "ShippingRepr")]
pub struct Shipping {
    cost: Money,
    tax_rate: TaxRate,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShippingRepr {
    cost: Money,
    tax_rate: TaxRate,
}

impl TryFrom<ShippingRepr> for Shipping {
    type Error = SelectionError;

    fn try_from(r: ShippingRepr) -> Result<Self, Self::Error> {
        Shipping::new(r.cost, r.tax_rate)
    }
}

impl Shipping {
    /// Shipping costing `cost` (on the selection's price basis), taxed at `tax_rate`.
    ///
    /// # Errors
    ///
    /// [`SelectionError::Negative`] for a negative cost.
    pub fn new(cost: Money, tax_rate: TaxRate) -> Result<Shipping, SelectionError> {
        if cost.is_negative() {
            return Err(SelectionError::Negative {
                what: "shipping cost",
                amount: cost,
            });
        }
        Ok(Shipping { cost, tax_rate })
    }

    /// The cost.
    #[must_use]
    pub const fn cost(&self) -> Money {
        self.cost
    }

    /// The rate shipping is taxed at.
    #[must_use]
    pub const fn tax_rate(&self) -> TaxRate {
        self.tax_rate
    }
}

/// A shopper's selection (cart): one currency, product and certificate lines, an optional
/// order discount and shipping, under a [`SelectionPolicy`].
///
/// ```
/// use giftcert::{Catalogue, CertificateDefinition, Currency, Money, PriceBasis, Selection, SelectionPolicy, TaxRate, shop::{ProductLine, RemovalReason}};
/// use rust_decimal::Decimal;
///
/// let catalogue = Catalogue::new()
///     .with(CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate")?)?;
/// let mut cart = Selection::new(Currency::USD, PriceBasis::TaxIncluded, SelectionPolicy::exclusive());
/// let shirt = ProductLine::new("shirt", Money::parse("20", Currency::USD)?, 1, TaxRate::ZERO)?;
/// cart.add_product(shirt)?;
///
/// // Centra: adding a certificate removes the products, and says so.
/// let change = cart.add_certificate_from(&catalogue, "gift-1", Some(Decimal::from(100)), 1)?;
/// assert_eq!(change.removed()[0].reason, RemovalReason::CertificateAdded);
/// assert!(cart.products().is_empty());
/// assert_eq!(cart.certificates()[0].value().to_string(), "100.00 USD");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "SelectionRepr")]
pub struct Selection {
    currency: Currency,
    prices: PriceBasis,
    policy: SelectionPolicy,
    products: Vec<ProductLine>,
    certificates: Vec<CertificateLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_discount: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shipping: Option<Shipping>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SelectionRepr {
    currency: Currency,
    prices: PriceBasis,
    #[serde(default)]
    policy: SelectionPolicy,
    #[serde(default)]
    products: Vec<ProductLine>,
    #[serde(default)]
    certificates: Vec<CertificateLine>,
    #[serde(default)]
    order_discount: Option<Money>,
    #[serde(default)]
    shipping: Option<Shipping>,
}

impl TryFrom<SelectionRepr> for Selection {
    type Error = SelectionError;

    fn try_from(r: SelectionRepr) -> Result<Self, Self::Error> {
        let mut selection = Selection::new(r.currency, r.prices, r.policy);
        for line in &r.products {
            selection.same_currency(line.unit_price)?;
            if r.products.iter().filter(|l| l.sku == line.sku).count() > 1 {
                return Err(SelectionError::DuplicateLine(line.sku.to_string()));
            }
        }
        for line in &r.certificates {
            selection.same_currency(line.price)?;
            selection.same_currency(line.value)?;
            if r.certificates
                .iter()
                .filter(|l| l.definition == line.definition)
                .count()
                > 1
            {
                return Err(SelectionError::DuplicateLine(line.definition.to_string()));
            }
        }
        if r.policy.exclusive && !r.products.is_empty() && !r.certificates.is_empty() {
            return Err(SelectionError::PolicyBroken(
                "products and gift certificates share an exclusive selection",
            ));
        }
        selection.check_units(&r.certificates)?;
        if r.policy.one_certificate_at_a_time {
            let units = certificate_units(&r.certificates)?;
            if units > 1 {
                return Err(SelectionError::OneCertificateAtATime { quantity: units });
            }
        }
        if let Some(discount) = r.order_discount {
            selection.set_order_discount(discount)?;
        }
        if let Some(shipping) = r.shipping {
            selection.set_shipping(shipping)?;
        }
        selection.products = r.products;
        selection.certificates = r.certificates;
        Ok(selection)
    }
}

fn certificate_units(lines: &[CertificateLine]) -> Result<u64, SelectionError> {
    lines.iter().try_fold(0_u64, |sum, l| {
        sum.checked_add(l.quantity)
            .ok_or(SelectionError::TooManyCertificates { units: u64::MAX })
    })
}

impl Selection {
    /// An empty selection in `currency`, with prices on the `prices` basis, under `policy`.
    #[must_use]
    pub const fn new(currency: Currency, prices: PriceBasis, policy: SelectionPolicy) -> Selection {
        Selection {
            currency,
            prices,
            policy,
            products: Vec::new(),
            certificates: Vec::new(),
            order_discount: None,
            shipping: None,
        }
    }

    /// The selection's currency: every amount in it is in this currency.
    #[must_use]
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether prices include tax.
    #[must_use]
    pub const fn prices(&self) -> PriceBasis {
        self.prices
    }

    /// The rules the selection follows.
    #[must_use]
    pub const fn policy(&self) -> SelectionPolicy {
        self.policy
    }

    /// The product lines, in the order added.
    #[must_use]
    pub fn products(&self) -> &[ProductLine] {
        &self.products
    }

    /// The gift-certificate lines, in the order added.
    #[must_use]
    pub fn certificates(&self) -> &[CertificateLine] {
        &self.certificates
    }

    /// The order-level discount, spread over product lines when totals are computed.
    #[must_use]
    pub const fn order_discount(&self) -> Option<Money> {
        self.order_discount
    }

    /// The shipping charged, if any.
    #[must_use]
    pub const fn shipping(&self) -> Option<Shipping> {
        self.shipping
    }

    /// Whether the selection has no lines.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.products.is_empty() && self.certificates.is_empty()
    }

    /// Whether the selection holds at least one gift certificate.
    #[must_use]
    pub fn holds_certificates(&self) -> bool {
        !self.certificates.is_empty()
    }

    /// The number of gift-certificate units (cards to issue once paid).
    #[must_use]
    pub fn certificate_units(&self) -> u64 {
        // Bounded by MAX_CERTIFICATE_UNITS; saturating all the same.
        self.certificates
            .iter()
            .fold(0_u64, |sum, l| sum.saturating_add(l.quantity))
    }

    fn same_currency(&self, amount: Money) -> Result<(), SelectionError> {
        if amount.currency() == self.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                expected: self.currency,
                found: amount.currency(),
            }
            .into())
        }
    }

    fn check_units(&self, lines: &[CertificateLine]) -> Result<(), SelectionError> {
        let units = certificate_units(lines)?;
        if units > MAX_CERTIFICATE_UNITS {
            return Err(SelectionError::TooManyCertificates { units });
        }
        Ok(())
    }

    /// Adds a product line; a line for the same SKU is replaced.
    ///
    /// Under the exclusive rule, a selection holding a certificate refuses the product, or
    /// removes its certificates first when the policy says
    /// [`ProductWithCertificate::RemoveCertificates`].
    ///
    /// # Errors
    ///
    /// [`SelectionError::ProductWithCertificate`] under the exclusive rule, and
    /// [`SelectionError::Money`] when the line is in another currency. Nothing changes on error.
    pub fn add_product(&mut self, line: ProductLine) -> Result<SelectionChange, SelectionError> {
        self.same_currency(line.unit_price)?;
        let mut change = SelectionChange::default();
        if self.policy.exclusive {
            if let Some(held) = self.certificates.first() {
                match self.policy.product_with_certificate {
                    ProductWithCertificate::Refuse => {
                        return Err(SelectionError::ProductWithCertificate {
                            sku: line.sku,
                            certificate: held.definition.clone(),
                        });
                    }
                    ProductWithCertificate::RemoveCertificates => {
                        for old in self.certificates.drain(..) {
                            change.removed.push(RemovedLine {
                                line: SelectionLine::Certificate(old),
                                reason: RemovalReason::ProductAdded,
                            });
                        }
                    }
                }
            }
        }
        match self.products.iter_mut().find(|l| l.sku == line.sku) {
            Some(slot) => {
                let old = std::mem::replace(slot, line);
                change.removed.push(RemovedLine {
                    line: SelectionLine::Product(old),
                    reason: RemovalReason::Replaced,
                });
            }
            None => self.products.push(line),
        }
        Ok(change)
    }

    /// Adds `quantity` cards of a resolved certificate; a line for the same definition is
    /// replaced.
    ///
    /// Under the exclusive rule every product line goes, with the order discount and shipping
    /// that applied to them; under the one-at-a-time rule the previous certificate goes. The
    /// change reports each.
    ///
    /// # Errors
    ///
    /// [`SelectionError::Money`] when the certificate was resolved in another currency,
    /// [`SelectionError::ZeroQuantity`], [`SelectionError::OneCertificateAtATime`] for a
    /// quantity above 1 under that rule, and [`SelectionError::TooManyCertificates`]. Nothing
    /// changes on error.
    pub fn add_certificate(
        &mut self,
        certificate: &ResolvedCertificate,
        quantity: u64,
    ) -> Result<SelectionChange, SelectionError> {
        self.same_currency(certificate.value())?;
        self.same_currency(certificate.price())?;
        let line = CertificateLine::new(certificate, quantity)?;
        if self.policy.one_certificate_at_a_time && quantity > 1 {
            return Err(SelectionError::OneCertificateAtATime { quantity });
        }
        if !self.policy.one_certificate_at_a_time {
            let others: Vec<CertificateLine> = self
                .certificates
                .iter()
                .filter(|l| l.definition != line.definition)
                .cloned()
                .chain(std::iter::once(line.clone()))
                .collect();
            self.check_units(&others)?;
        }

        let mut change = SelectionChange::default();
        if self.policy.exclusive {
            for old in self.products.drain(..) {
                change.removed.push(RemovedLine {
                    line: SelectionLine::Product(old),
                    reason: RemovalReason::CertificateAdded,
                });
            }
            change.cleared_order_discount = self.order_discount.take();
            change.cleared_shipping = self.shipping.take();
        }
        if self.policy.one_certificate_at_a_time {
            for old in self.certificates.drain(..) {
                change.removed.push(RemovedLine {
                    line: SelectionLine::Certificate(old),
                    reason: RemovalReason::OneCertificateAtATime,
                });
            }
        }
        match self
            .certificates
            .iter_mut()
            .find(|l| l.definition == line.definition)
        {
            Some(slot) => {
                let old = std::mem::replace(slot, line);
                change.removed.push(RemovedLine {
                    line: SelectionLine::Certificate(old),
                    reason: RemovalReason::Replaced,
                });
            }
            None => self.certificates.push(line),
        }
        Ok(change)
    }

    /// Resolves certificate `id` from `catalogue` in the selection's currency and adds it.
    ///
    /// `amount` is the buyer's choice for an any-amount certificate, always in the selection's
    /// currency (Centra's `"amount"` in the body or `/amount/{amount}`); a predetermined
    /// certificate takes its value for that currency and needs none.
    ///
    /// # Errors
    ///
    /// [`SelectionError::Catalogue`] when the certificate cannot be resolved (unknown, not
    /// offered in this currency, amount missing, not allowed or out of bounds), and those of
    /// [`Selection::add_certificate`].
    pub fn add_certificate_from(
        &mut self,
        catalogue: &Catalogue,
        id: &str,
        amount: Option<Decimal>,
        quantity: u64,
    ) -> Result<SelectionChange, SelectionError> {
        let resolved = catalogue.resolve(id, self.currency, amount)?;
        self.add_certificate(&resolved, quantity)
    }

    /// Sets the quantity of product `sku`; zero removes the line.
    ///
    /// # Errors
    ///
    /// [`SelectionError::NoSuchProduct`], [`SelectionError::DiscountExceedsLine`] when the
    /// line's discount would exceed the smaller line, and [`SelectionError::Money`] on overflow.
    pub fn set_product_quantity(
        &mut self,
        sku: &str,
        quantity: u64,
    ) -> Result<SelectionChange, SelectionError> {
        let index = self
            .products
            .iter()
            .position(|l| l.sku.as_str() == sku)
            .ok_or_else(|| SelectionError::NoSuchProduct(sku.to_owned()))?;
        if quantity == 0 {
            return self.remove_product(sku);
        }
        let Some(slot) = self.products.get_mut(index) else {
            return Err(SelectionError::NoSuchProduct(sku.to_owned()));
        };
        *slot = slot.with_quantity(quantity)?;
        Ok(SelectionChange::default())
    }

    /// Sets the quantity of certificate `id`; zero removes the line.
    ///
    /// # Errors
    ///
    /// [`SelectionError::NoSuchCertificate`], [`SelectionError::OneCertificateAtATime`] for a
    /// quantity above 1 under that rule, and [`SelectionError::TooManyCertificates`].
    pub fn set_certificate_quantity(
        &mut self,
        id: &str,
        quantity: u64,
    ) -> Result<SelectionChange, SelectionError> {
        let index = self.certificate_index(id)?;
        if quantity == 0 {
            return self.remove_certificate(id);
        }
        if self.policy.one_certificate_at_a_time && quantity > 1 {
            return Err(SelectionError::OneCertificateAtATime { quantity });
        }
        let mut lines = self.certificates.clone();
        let Some(slot) = lines.get_mut(index) else {
            return Err(SelectionError::NoSuchCertificate(id.to_owned()));
        };
        *slot = slot.with_quantity(quantity)?;
        self.check_units(&lines)?;
        self.certificates = lines;
        Ok(SelectionChange::default())
    }

    /// Removes product `sku`.
    ///
    /// # Errors
    ///
    /// [`SelectionError::NoSuchProduct`].
    pub fn remove_product(&mut self, sku: &str) -> Result<SelectionChange, SelectionError> {
        let index = self
            .products
            .iter()
            .position(|l| l.sku.as_str() == sku)
            .ok_or_else(|| SelectionError::NoSuchProduct(sku.to_owned()))?;
        let old = self.products.remove(index);
        Ok(SelectionChange {
            removed: vec![RemovedLine {
                line: SelectionLine::Product(old),
                reason: RemovalReason::Requested,
            }],
            ..SelectionChange::default()
        })
    }

    /// Removes certificate `id`.
    ///
    /// # Errors
    ///
    /// [`SelectionError::NoSuchCertificate`].
    pub fn remove_certificate(&mut self, id: &str) -> Result<SelectionChange, SelectionError> {
        let index = self.certificate_index(id)?;
        let old = self.certificates.remove(index);
        Ok(SelectionChange {
            removed: vec![RemovedLine {
                line: SelectionLine::Certificate(old),
                reason: RemovalReason::Requested,
            }],
            ..SelectionChange::default()
        })
    }

    fn certificate_index(&self, id: &str) -> Result<usize, SelectionError> {
        self.certificates
            .iter()
            .position(|l| l.definition.as_str() == id)
            .ok_or_else(|| SelectionError::NoSuchCertificate(id.to_owned()))
    }

    /// Changes the certificate line of definition `from` to its variant `to` (Spryker: a card
    /// family with values 50 EUR, 100 EUR...), keeping its quantity. Both definitions must be in
    /// one [family](crate::CertificateDefinition::family); `amount` is the buyer's choice when
    /// `to` is an any-amount certificate. When `to` already has a line, the quantities are added
    /// up there.
    ///
    /// # Errors
    ///
    /// [`SelectionError::NoSuchCertificate`], [`SelectionError::Catalogue`] when either
    /// definition is unknown or `to` cannot be resolved, [`SelectionError::NotAVariant`], and
    /// [`SelectionError::OneCertificateAtATime`] / [`SelectionError::TooManyCertificates`] when
    /// the merged quantity breaks those rules. Nothing changes on error.
    pub fn change_certificate_variant(
        &mut self,
        catalogue: &Catalogue,
        from: &str,
        to: &str,
        amount: Option<Decimal>,
    ) -> Result<SelectionChange, SelectionError> {
        let index = self.certificate_index(from)?;
        let from_def = catalogue.require(from)?;
        let to_def = catalogue.require(to)?;
        let same_family = match (from_def.family(), to_def.family()) {
            (Some(a), Some(b)) => a == b,
            _ => from_def.id() == to_def.id(),
        };
        if !same_family {
            return Err(SelectionError::NotAVariant {
                from: from_def.id().clone(),
                to: to_def.id().clone(),
            });
        }
        let resolved = to_def.resolve(self.currency, amount)?;
        let mut lines = self.certificates.clone();
        let old = lines.remove(index);
        let mut change = SelectionChange::default();
        let quantity = match lines.iter().position(|l| l.definition == *resolved.id()) {
            Some(existing) => {
                let merged = lines.remove(existing);
                let quantity = merged.quantity.saturating_add(old.quantity);
                change.removed.push(RemovedLine {
                    line: SelectionLine::Certificate(old),
                    reason: RemovalReason::VariantChanged,
                });
                change.removed.push(RemovedLine {
                    line: SelectionLine::Certificate(merged),
                    reason: RemovalReason::Replaced,
                });
                quantity
            }
            None => {
                let quantity = old.quantity;
                change.removed.push(RemovedLine {
                    line: SelectionLine::Certificate(old),
                    reason: RemovalReason::VariantChanged,
                });
                quantity
            }
        };
        if self.policy.one_certificate_at_a_time && quantity > 1 {
            return Err(SelectionError::OneCertificateAtATime { quantity });
        }
        let line = CertificateLine::new(&resolved, quantity)?;
        lines.insert(index.min(lines.len()), line);
        self.check_units(&lines)?;
        self.certificates = lines;
        Ok(change)
    }

    /// Sets the order-level discount (on the selection's price basis). It is spread over the
    /// product lines when totals are computed, never over certificate lines.
    ///
    /// Returns the discount it replaces.
    ///
    /// # Errors
    ///
    /// [`SelectionError::Negative`] and [`SelectionError::Money`] for another currency. Whether
    /// the discount fits the products is checked by [`Totals`](crate::Totals::compute).
    pub fn set_order_discount(&mut self, discount: Money) -> Result<Option<Money>, SelectionError> {
        self.same_currency(discount)?;
        if discount.is_negative() {
            return Err(SelectionError::Negative {
                what: "order discount",
                amount: discount,
            });
        }
        Ok(self.order_discount.replace(discount))
    }

    /// Removes the order-level discount, returning it.
    pub fn clear_order_discount(&mut self) -> Option<Money> {
        self.order_discount.take()
    }

    /// Sets the shipping charged. Returns the shipping it replaces.
    ///
    /// # Errors
    ///
    /// [`SelectionError::Money`] when the cost is in another currency.
    pub fn set_shipping(&mut self, shipping: Shipping) -> Result<Option<Shipping>, SelectionError> {
        self.same_currency(shipping.cost)?;
        Ok(self.shipping.replace(shipping))
    }

    /// Removes the shipping, returning it.
    pub fn clear_shipping(&mut self) -> Option<Shipping> {
        self.shipping.take()
    }
}
