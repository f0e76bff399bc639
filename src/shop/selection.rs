//! Selections (carts) that hold gift certificates under the host's rules (Centra and Spryker).
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
//! totals are computed (see [`Totals`](crate::shop::Totals)).

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalogue::{Catalogue, CatalogueError, CertificateId, ResolvedCertificate};
use crate::money::Currency;
use crate::money::{Money, MoneyError};

use super::*;

/// The most gift-certificate units one selection may hold; each unit becomes one card.
pub const MAX_CERTIFICATE_UNITS: u64 = 1_000;

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
    /// A product line of more units than [`MAX_PRODUCT_UNITS`].
    #[error("product \"{sku}\" may have at most {max} units on one line, found {quantity}")]
    TooManyUnits {
        /// The product.
        sku: Sku,
        /// The quantity asked for.
        quantity: u64,
        /// [`MAX_PRODUCT_UNITS`].
        max: u64,
    },
    /// A certificate line needs at least one unit.
    #[error("gift certificate \"{0}\" needs a quantity of at least 1, found 0")]
    ZeroQuantity(CertificateId),
    /// More certificate units than the policy's
    /// [`max_certificate_units`](SelectionPolicy::max_certificate_units) (at most
    /// [`MAX_CERTIFICATE_UNITS`], which also caps one line).
    #[error("a selection may hold at most {max} gift certificate units, found {units}")]
    TooManyCertificates {
        /// The units the change would leave in the selection (or put on one line).
        units: u64,
        /// The most it may hold.
        max: u64,
    },
    /// More lines than the policy's [`max_lines`](SelectionPolicy::max_lines).
    #[error("a selection may hold at most {max} lines, found {lines}")]
    TooManyLines {
        /// The lines the change would leave in the selection.
        lines: usize,
        /// The policy's limit.
        max: usize,
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
    /// Where each product's line is in `products`, so adding or finding a line by SKU costs
    /// the same in a cart of 50,000 lines as in one of ten. Kept in step with every change to
    /// `products`; derived, so never serialized.
    #[serde(skip)]
    product_at: HashMap<Sku, usize>,
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
        selection.check_lines(r.products.len().saturating_add(r.certificates.len()))?;
        let mut skus = HashSet::with_capacity(r.products.len());
        for line in &r.products {
            selection.same_currency(line.unit_price)?;
            if !skus.insert(&line.sku) {
                return Err(SelectionError::DuplicateLine(line.sku.to_string()));
            }
        }
        let mut definitions = HashSet::with_capacity(r.certificates.len());
        for line in &r.certificates {
            selection.same_currency(line.price)?;
            selection.same_currency(line.value)?;
            if !definitions.insert(&line.definition) {
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
        selection.product_at = r
            .products
            .iter()
            .enumerate()
            .map(|(i, line)| (line.sku.clone(), i))
            .collect();
        selection.products = r.products;
        selection.certificates = r.certificates;
        Ok(selection)
    }
}

fn certificate_units(lines: &[CertificateLine]) -> Result<u64, SelectionError> {
    lines.iter().try_fold(0_u64, |sum, l| {
        sum.checked_add(l.quantity)
            .ok_or(SelectionError::TooManyCertificates {
                units: u64::MAX,
                max: MAX_CERTIFICATE_UNITS,
            })
    })
}

impl Selection {
    /// An empty selection in `currency`, with prices on the `prices` basis, under `policy`.
    #[must_use]
    pub fn new(currency: Currency, prices: PriceBasis, policy: SelectionPolicy) -> Selection {
        Selection {
            currency,
            prices,
            policy,
            products: Vec::new(),
            certificates: Vec::new(),
            order_discount: None,
            shipping: None,
            product_at: HashMap::new(),
        }
    }

    /// Where product `sku`'s line is, in constant time.
    fn product_index(&self, sku: &str) -> Result<usize, SelectionError> {
        self.product_at
            .get(sku)
            .copied()
            .ok_or_else(|| SelectionError::NoSuchProduct(sku.to_owned()))
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
        // Bounded by the policy's max_certificate_units; saturating all the same.
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

    /// Refuses a change that would leave `lines` lines, more than the policy allows.
    fn check_lines(&self, lines: usize) -> Result<(), SelectionError> {
        if lines > self.policy.max_lines {
            return Err(SelectionError::TooManyLines {
                lines,
                max: self.policy.max_lines,
            });
        }
        Ok(())
    }

    fn check_units(&self, lines: &[CertificateLine]) -> Result<(), SelectionError> {
        let units = certificate_units(lines)?;
        let max = self.policy.max_certificate_units();
        if units > max {
            return Err(SelectionError::TooManyCertificates { units, max });
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
    /// [`SelectionError::ProductWithCertificate`] under the exclusive rule,
    /// [`SelectionError::TooManyLines`] when a new line would pass the policy's
    /// [`max_lines`](SelectionPolicy::max_lines), and [`SelectionError::Money`] when the line is
    /// in another currency. Nothing changes on error.
    pub fn add_product(&mut self, line: ProductLine) -> Result<SelectionChange, SelectionError> {
        self.same_currency(line.unit_price)?;
        let existing = self.product_at.get(&line.sku).copied();
        let certificates_left = if self.policy.exclusive
            && self.policy.product_with_certificate == ProductWithCertificate::RemoveCertificates
        {
            0
        } else {
            self.certificates.len()
        };
        let new_lines = usize::from(existing.is_none());
        self.check_lines(
            self.products
                .len()
                .saturating_add(new_lines)
                .saturating_add(certificates_left),
        )?;
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
        match existing.and_then(|i| self.products.get_mut(i)) {
            Some(slot) => {
                let old = std::mem::replace(slot, line);
                change.removed.push(RemovedLine {
                    line: SelectionLine::Product(old),
                    reason: RemovalReason::Replaced,
                });
            }
            None => {
                self.product_at
                    .insert(line.sku.clone(), self.products.len());
                self.products.push(line);
            }
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
    /// quantity above 1 under that rule, [`SelectionError::TooManyCertificates`], and
    /// [`SelectionError::TooManyLines`] when a new line would pass the policy's
    /// [`max_lines`](SelectionPolicy::max_lines). Nothing changes on error.
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
        let products_left = if self.policy.exclusive {
            0
        } else {
            self.products.len()
        };
        let certificates_after = if self.policy.one_certificate_at_a_time {
            1
        } else {
            let replacing = self
                .certificates
                .iter()
                .any(|l| l.definition == line.definition);
            self.certificates
                .len()
                .saturating_add(usize::from(!replacing))
        };
        self.check_lines(products_left.saturating_add(certificates_after))?;
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
            self.product_at.clear();
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
        let index = self.product_index(sku)?;
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
        let index = self.product_index(sku)?;
        let old = self.products.remove(index);
        self.product_at.remove(sku);
        // The lines after it moved up by one: one pass, as the removal itself.
        for line in self.products.get(index..).unwrap_or_default() {
            if let Some(at) = self.product_at.get_mut(&line.sku) {
                *at -= 1;
            }
        }
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
    /// one [family](crate::catalogue::CertificateDefinition::family); `amount` is the buyer's choice when
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
    /// the discount fits the products is checked by [`Totals`](crate::shop::Totals::compute).
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
