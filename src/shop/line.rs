//! The lines of a selection: products, certificates and shipping, and what a change removed.

use serde::{Deserialize, Serialize};

use super::*;
use crate::catalogue::{CatalogueError, CertificateId, ResolvedCertificate, VoucherPurpose};
use crate::money::TaxRate;
use crate::money::{Money, MoneyError};

/// The most units one product line may hold.
pub const MAX_PRODUCT_UNITS: u64 = 1_000_000;

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
    pub(super) sku: Sku,
    pub(super) unit_price: Money,
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
    /// [`SelectionError::TooManyUnits`] for a quantity above [`MAX_PRODUCT_UNITS`], and
    /// [`SelectionError::Money`] when the unit price or the line amount is above
    /// [`Money::maximum`] ([`MoneyError::AboveMaximum`]).
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
        if quantity > MAX_PRODUCT_UNITS {
            return Err(SelectionError::TooManyUnits {
                sku,
                quantity,
                max: MAX_PRODUCT_UNITS,
            });
        }
        let unit_price = unit_price.within_maximum()?;
        let amount = unit_price.checked_mul(quantity)?.within_maximum()?;
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

    pub(super) fn with_quantity(&self, quantity: u64) -> Result<ProductLine, SelectionError> {
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
    pub(super) definition: CertificateId,
    pub(super) value: Money,
    pub(super) price: Money,
    pub(super) quantity: u64,
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
    /// [`MAX_CERTIFICATE_UNITS`], and [`SelectionError::Money`] when the line amount is above
    /// [`Money::maximum`] ([`MoneyError::AboveMaximum`]).
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
            return Err(SelectionError::TooManyCertificates {
                units: quantity,
                max: MAX_CERTIFICATE_UNITS,
            });
        }
        let amount = price.checked_mul(quantity)?.within_maximum()?;
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

    pub(super) fn with_quantity(&self, quantity: u64) -> Result<CertificateLine, SelectionError> {
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

/// The shipping charged on a selection: its cost and the tax rate it is taxed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "ShippingRepr")]
pub struct Shipping {
    pub(super) cost: Money,
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
