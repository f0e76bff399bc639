//! The rules a selection keeps: whether prices include tax, and whether certificates share a cart
//! with products (Centra's exclusive rules or Spryker's mixed carts).

use serde::{Deserialize, Serialize};

use crate::shop::MAX_CERTIFICATE_UNITS;

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
    /// The product is refused with [`SelectionError::ProductWithCertificate`](crate::shop::SelectionError::ProductWithCertificate) (the default).
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
///
/// A selection holds at most [`max_lines`](SelectionPolicy::max_lines) lines (products and
/// certificates together, [`SelectionPolicy::DEFAULT_MAX_LINES`] unless the host sets another
/// limit), so that a shopper cannot make a cart that takes the host's memory and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SelectionPolicy {
    pub(super) exclusive: bool,
    pub(super) one_certificate_at_a_time: bool,
    pub(super) product_with_certificate: ProductWithCertificate,
    pub(super) max_lines: usize,
    pub(super) max_certificate_units: u64,
}

impl Default for SelectionPolicy {
    fn default() -> Self {
        SelectionPolicy::exclusive()
    }
}

impl SelectionPolicy {
    /// The most lines a selection holds unless the host sets another limit: far more than a
    /// shopper's cart, few enough that every operation on it stays quick.
    pub const DEFAULT_MAX_LINES: usize = 1_000;

    /// Centra's rules: certificates are sold on their own, one at a time.
    /// Adding a certificate removes every product line (and the order discount and shipping
    /// that applied to them); adding a new certificate replaces the previous one; adding a
    /// product while a certificate is held is refused.
    #[must_use]
    pub const fn exclusive() -> SelectionPolicy {
        SelectionPolicy {
            exclusive: true,
            one_certificate_at_a_time: true,
            product_with_certificate: ProductWithCertificate::Refuse,
            max_lines: SelectionPolicy::DEFAULT_MAX_LINES,
            max_certificate_units: MAX_CERTIFICATE_UNITS,
        }
    }

    /// Spryker's rules: certificates are products that need no shipping; they share
    /// a selection with other products and have quantities and variants.
    #[must_use]
    pub const fn mixed() -> SelectionPolicy {
        SelectionPolicy {
            exclusive: false,
            one_certificate_at_a_time: false,
            product_with_certificate: ProductWithCertificate::Refuse,
            max_lines: SelectionPolicy::DEFAULT_MAX_LINES,
            max_certificate_units: MAX_CERTIFICATE_UNITS,
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

    /// Sets the most lines (products and certificates together) a selection holds; a change
    /// that would leave more is refused with
    /// [`SelectionError::TooManyLines`](crate::shop::SelectionError::TooManyLines).
    ///
    /// ```
    /// use giftcert::SelectionPolicy;
    ///
    /// assert_eq!(SelectionPolicy::mixed().max_lines(), SelectionPolicy::DEFAULT_MAX_LINES);
    /// assert_eq!(SelectionPolicy::mixed().with_max_lines(20).max_lines(), 20);
    /// ```
    #[must_use]
    pub const fn with_max_lines(mut self, max: usize) -> SelectionPolicy {
        self.max_lines = max;
        self
    }

    /// Sets the most gift-certificate units (cards to issue once paid, over all certificate
    /// lines) a selection holds, [`MAX_CERTIFICATE_UNITS`] by default, which is also the
    /// ceiling: a larger `max` counts as [`MAX_CERTIFICATE_UNITS`]. A change that would leave
    /// more is refused with
    /// [`SelectionError::TooManyCertificates`](crate::shop::SelectionError::TooManyCertificates).
    /// Under [one certificate at a time](SelectionPolicy::with_one_certificate_at_a_time)
    /// (the exclusive rule's default) a selection holds one unit whatever this says.
    ///
    /// ```
    /// use giftcert::{SelectionPolicy, shop::MAX_CERTIFICATE_UNITS};
    ///
    /// assert_eq!(SelectionPolicy::mixed().max_certificate_units(), MAX_CERTIFICATE_UNITS);
    /// assert_eq!(SelectionPolicy::mixed().with_max_certificate_units(10).max_certificate_units(), 10);
    /// assert_eq!(
    ///     SelectionPolicy::mixed().with_max_certificate_units(u64::MAX).max_certificate_units(),
    ///     MAX_CERTIFICATE_UNITS
    /// );
    /// ```
    #[must_use]
    pub const fn with_max_certificate_units(mut self, max: u64) -> SelectionPolicy {
        self.max_certificate_units = max;
        self
    }

    /// The most gift-certificate units a selection holds (at most [`MAX_CERTIFICATE_UNITS`]).
    #[must_use]
    pub const fn max_certificate_units(&self) -> u64 {
        if self.max_certificate_units < MAX_CERTIFICATE_UNITS {
            self.max_certificate_units
        } else {
            MAX_CERTIFICATE_UNITS
        }
    }

    /// The most lines (products and certificates together) a selection holds.
    #[must_use]
    pub const fn max_lines(&self) -> usize {
        self.max_lines
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
