//! Certificate definitions: predetermined (a fixed value per currency) or any-amount (the buyer
//! picks within bounds), and a definition resolved for one currency.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::*;
use crate::money::Currency;
use crate::money::Money;
use crate::money::TaxRate;

/// How a certificate's value is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum CertificateKind {
    /// A fixed value in each currency it is sold in (Centra `Priceoff`).
    #[serde(rename = "predeterminedAmount")]
    Predetermined {
        /// One value per currency, each above zero.
        amounts: Vec<Money>,
    },
    /// The buyer picks the value, in the selection's currency (Centra `Dynamic Priceoff`).
    #[serde(rename = "anyAmount")]
    AnyAmount {
        /// Optional limits, at most one per currency.
        #[serde(default)]
        bounds: Vec<AmountBounds>,
        /// When true, only the currencies that have bounds are offered.
        #[serde(default)]
        bounded_currencies_only: bool,
    },
}

/// How a sold certificate is taxed.
///
/// Gift cards are usually *multi-purpose vouchers* (the Nordic checkout provider): nothing is known
/// of what they will buy, so there is no tax at sale and the tax falls on the goods when the card
/// is spent. Under EU VAT rules a *single-purpose* voucher (one tax rate, one place of supply) is
/// taxed when it is sold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    tag = "purpose",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum VoucherPurpose {
    /// No tax at sale (the default).
    #[default]
    MultiPurpose,
    /// Taxed at sale at this rate.
    SinglePurpose {
        /// The rate charged when the certificate is sold.
        tax_rate: TaxRate,
    },
}

impl VoucherPurpose {
    /// The rate charged when the certificate is sold (zero for multi-purpose vouchers).
    #[must_use]
    pub const fn tax_rate_at_sale(&self) -> TaxRate {
        match self {
            VoucherPurpose::MultiPurpose => TaxRate::ZERO,
            VoucherPurpose::SinglePurpose { tax_rate } => *tax_rate,
        }
    }
}

/// One gift certificate a shop sells.
///
/// Built in code with [`CertificateDefinition::predetermined`] or
/// [`CertificateDefinition::any_amount`], then refined with the `with_*` methods:
///
/// ```
/// use giftcert::{CertificateDefinition, Currency, Money};
///
/// let gift2 = CertificateDefinition::predetermined(
///     "gift-2",
///     "Pre-defined gift certificate",
///     [Money::parse("10", Currency::USD)?, Money::parse("100", Currency::SEK)?],
/// )?
/// .with_currency_of_sale_only(true);
///
/// let sold = gift2.resolve(Currency::SEK, None)?;
/// assert_eq!(sold.value().to_string(), "100.00 SEK");
/// assert_eq!(sold.price(), sold.value());
/// assert!(gift2.resolve(Currency::JPY, None).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "DefinitionRepr")]
pub struct CertificateDefinition {
    #[serde(rename = "giftCertificate")]
    pub(super) id: CertificateId,
    pub(super) name: String,
    #[serde(flatten)]
    pub(super) kind: CertificateKind,
    pub(super) currency_of_sale_only: bool,
    pub(super) show_gift_amount: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<String>,
    #[serde(default)]
    purpose: VoucherPurpose,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    selling_prices: Vec<Money>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefinitionRepr {
    #[serde(rename = "giftCertificate")]
    id: CertificateId,
    name: String,
    #[serde(flatten)]
    kind: CertificateKind,
    #[serde(default)]
    currency_of_sale_only: bool,
    #[serde(default)]
    show_gift_amount: bool,
    family: Option<String>,
    #[serde(default)]
    purpose: VoucherPurpose,
    #[serde(default)]
    selling_prices: Vec<Money>,
}

impl TryFrom<DefinitionRepr> for CertificateDefinition {
    type Error = CatalogueError;

    fn try_from(r: DefinitionRepr) -> Result<Self, Self::Error> {
        let mut def = CertificateDefinition::with_kind(r.id, r.name, r.kind)?;
        def.currency_of_sale_only = r.currency_of_sale_only;
        def.show_gift_amount = r.show_gift_amount;
        def.family = r.family;
        def.purpose = r.purpose;
        for price in r.selling_prices {
            def = def.with_selling_price_differing_from_value(price)?;
        }
        Ok(def)
    }
}

fn check_unique_currencies(
    id: &CertificateId,
    currencies: impl Iterator<Item = Currency>,
) -> Result<(), CatalogueError> {
    let mut seen = Vec::new();
    for c in currencies {
        if seen.contains(&c) {
            return Err(CatalogueError::DuplicateCurrency {
                id: id.clone(),
                currency: c,
            });
        }
        seen.push(c);
    }
    Ok(())
}

/// Every amount of a definition, and every amount a buyer picks, is above zero and at most
/// [`Money::maximum`].
fn check_amount(id: &CertificateId, amount: Money) -> Result<(), CatalogueError> {
    if !amount.is_positive() {
        return Err(CatalogueError::NotPositive {
            id: id.clone(),
            amount,
        });
    }
    amount.within_maximum()?;
    Ok(())
}

impl CertificateDefinition {
    fn with_kind(
        id: CertificateId,
        name: String,
        kind: CertificateKind,
    ) -> Result<CertificateDefinition, CatalogueError> {
        match &kind {
            CertificateKind::Predetermined { amounts } => {
                if amounts.is_empty() {
                    return Err(CatalogueError::NoAmounts(id));
                }
                check_unique_currencies(&id, amounts.iter().map(|m| m.currency()))?;
                for amount in amounts {
                    check_amount(&id, *amount)?;
                }
            }
            CertificateKind::AnyAmount { bounds, .. } => {
                check_unique_currencies(&id, bounds.iter().map(|b| b.currency))?;
                for bound in bounds {
                    for limit in bound.min.iter().chain(bound.max.iter()) {
                        check_amount(&id, *limit)?;
                    }
                }
            }
        }
        Ok(CertificateDefinition {
            id,
            name,
            kind,
            currency_of_sale_only: false,
            show_gift_amount: false,
            family: None,
            purpose: VoucherPurpose::MultiPurpose,
            selling_prices: Vec::new(),
        })
    }

    /// A certificate with a fixed value in each of the currencies it is sold in.
    ///
    /// # Errors
    ///
    /// [`CatalogueError::InvalidId`], [`CatalogueError::NoAmounts`] when `amounts` is empty,
    /// [`CatalogueError::DuplicateCurrency`] when a currency appears twice, and
    /// [`CatalogueError::NotPositive`] for a value of zero or less, and [`CatalogueError::Money`]
    /// for one above [`Money::maximum`].
    pub fn predetermined(
        id: &str,
        name: impl Into<String>,
        amounts: impl IntoIterator<Item = Money>,
    ) -> Result<CertificateDefinition, CatalogueError> {
        CertificateDefinition::with_kind(
            CertificateId::new(id)?,
            name.into(),
            CertificateKind::Predetermined {
                amounts: amounts.into_iter().collect(),
            },
        )
    }

    /// A certificate whose value the buyer chooses, in any currency, at most
    /// [`Money::maximum`] of it unless [bounds](CertificateDefinition::with_bounds) say less.
    ///
    /// # Errors
    ///
    /// [`CatalogueError::InvalidId`].
    pub fn any_amount(
        id: &str,
        name: impl Into<String>,
    ) -> Result<CertificateDefinition, CatalogueError> {
        CertificateDefinition::with_kind(
            CertificateId::new(id)?,
            name.into(),
            CertificateKind::AnyAmount {
                bounds: Vec::new(),
                bounded_currencies_only: false,
            },
        )
    }

    /// Adds bounds for one currency to an any-amount certificate.
    ///
    /// # Errors
    ///
    /// [`CatalogueError::BoundsOnPredetermined`] on a predetermined certificate,
    /// [`CatalogueError::DuplicateCurrency`] when that currency already has bounds, and
    /// [`CatalogueError::NotPositive`] for a bound of zero or less, and [`CatalogueError::Money`]
    /// for one above [`Money::maximum`].
    pub fn with_bounds(
        mut self,
        bounds: AmountBounds,
    ) -> Result<CertificateDefinition, CatalogueError> {
        let id = self.id.clone();
        match &mut self.kind {
            CertificateKind::AnyAmount { bounds: all, .. } => {
                for limit in bounds.min.iter().chain(bounds.max.iter()) {
                    check_amount(&id, *limit)?;
                }
                all.push(bounds);
                check_unique_currencies(&id, all.iter().map(|b| b.currency))?;
                Ok(self)
            }
            CertificateKind::Predetermined { .. } => Err(CatalogueError::BoundsOnPredetermined(id)),
        }
    }
}

impl CertificateDefinition {
    /// Only the currencies with bounds are offered (any-amount certificates).
    #[must_use]
    pub fn with_bounded_currencies_only(mut self, only: bool) -> CertificateDefinition {
        if let CertificateKind::AnyAmount {
            bounded_currencies_only,
            ..
        } = &mut self.kind
        {
            *bounded_currencies_only = only;
        }
        self
    }

    /// Centra's `currencyOfSaleOnly`: the card may only be spent in the currency it was bought in.
    #[must_use]
    pub fn with_currency_of_sale_only(mut self, only: bool) -> CertificateDefinition {
        self.currency_of_sale_only = only;
        self
    }

    /// Centra's `showGiftAmount`: whether the storefront shows the value to the recipient.
    #[must_use]
    pub fn with_show_gift_amount(mut self, show: bool) -> CertificateDefinition {
        self.show_gift_amount = show;
        self
    }

    /// Puts this definition in a family of variants (Spryker's abstract gift card product, with
    /// 50 EUR and 100 EUR as its variants).
    #[must_use]
    pub fn with_family(mut self, family: impl Into<String>) -> CertificateDefinition {
        self.family = Some(family.into());
        self
    }

    /// Declares the certificate a single- or multi-purpose voucher (see [`VoucherPurpose`]).
    #[must_use]
    pub fn with_purpose(mut self, purpose: VoucherPurpose) -> CertificateDefinition {
        self.purpose = purpose;
        self
    }

    /// Sells the certificate at `price` in the price's currency while it keeps its value there.
    ///
    /// By default a certificate costs exactly its value. Spryker warns that a price different
    /// from the value may be illegal where you sell: this method's name is the host's explicit
    /// opt-in. It applies to predetermined certificates; an any-amount certificate always costs
    /// what the buyer chose.
    ///
    /// # Errors
    ///
    /// [`CatalogueError::PriceWithoutValue`] when the certificate has no value in that currency,
    /// [`CatalogueError::NotPositive`], [`CatalogueError::Money`] for a price above
    /// [`Money::maximum`], and [`CatalogueError::DuplicateCurrency`] when that currency already
    /// has a selling price.
    pub fn with_selling_price_differing_from_value(
        mut self,
        price: Money,
    ) -> Result<CertificateDefinition, CatalogueError> {
        check_amount(&self.id, price)?;
        let has_value = match &self.kind {
            CertificateKind::Predetermined { amounts } => {
                amounts.iter().any(|a| a.currency() == price.currency())
            }
            CertificateKind::AnyAmount { .. } => false,
        };
        if !has_value {
            return Err(CatalogueError::PriceWithoutValue {
                id: self.id.clone(),
                currency: price.currency(),
            });
        }
        self.selling_prices.push(price);
        check_unique_currencies(&self.id, self.selling_prices.iter().map(|m| m.currency()))?;
        Ok(self)
    }

    /// The id (`"gift-2"`).
    #[must_use]
    pub fn id(&self) -> &CertificateId {
        &self.id
    }

    /// The display name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Predetermined or any-amount, with its values or bounds.
    #[must_use]
    pub fn kind(&self) -> &CertificateKind {
        &self.kind
    }

    /// Whether the card may only be spent in the currency it was bought in.
    #[must_use]
    pub fn currency_of_sale_only(&self) -> bool {
        self.currency_of_sale_only
    }

    /// Whether the storefront shows the value to the recipient.
    #[must_use]
    pub fn show_gift_amount(&self) -> bool {
        self.show_gift_amount
    }

    /// The family of variants this definition belongs to, if any.
    #[must_use]
    pub fn family(&self) -> Option<&str> {
        self.family.as_deref()
    }

    /// How the certificate is taxed when sold.
    #[must_use]
    pub fn purpose(&self) -> VoucherPurpose {
        self.purpose
    }

    /// What this certificate gives and costs in `currency` for the buyer's `requested` amount
    /// (the amount is always in the selection's currency, as in Centra).
    ///
    /// # Errors
    ///
    /// - [`CatalogueError::CurrencyNotOffered`]: a predetermined certificate with no value in
    ///   `currency`, or an any-amount one limited to its bounded currencies;
    /// - [`CatalogueError::AmountRequired`]: an any-amount certificate and no amount;
    /// - [`CatalogueError::AmountNotAllowed`]: a predetermined certificate and another amount
    ///   than its value;
    /// - [`CatalogueError::NotPositive`]: an amount of zero or less;
    /// - [`CatalogueError::OutOfBounds`]: outside the bounds for `currency`;
    /// - [`CatalogueError::Money`]: more decimals than `currency` allows, or an amount above
    ///   [`Money::maximum`] ([`MoneyError::AboveMaximum`](crate::money::MoneyError::AboveMaximum)).
    ///
    /// ```
    /// use giftcert::{CertificateDefinition, Currency, catalogue::CatalogueError};
    /// use rust_decimal::Decimal;
    ///
    /// let dynamic = CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate")?;
    /// let sold = dynamic.resolve(Currency::SEK, Some(Decimal::from(100)))?;
    /// assert_eq!(sold.value().to_string(), "100.00 SEK");
    /// assert!(matches!(
    ///     dynamic.resolve(Currency::SEK, None),
    ///     Err(CatalogueError::AmountRequired { .. })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve(
        &self,
        currency: Currency,
        requested: Option<Decimal>,
    ) -> Result<ResolvedCertificate, CatalogueError> {
        let requested = requested.map(|a| Money::new(a, currency)).transpose()?;
        if let Some(amount) = requested {
            check_amount(&self.id, amount)?;
        }
        let value = match &self.kind {
            CertificateKind::Predetermined { amounts } => {
                let value = *amounts
                    .iter()
                    .find(|a| a.currency() == currency)
                    .ok_or_else(|| CatalogueError::CurrencyNotOffered {
                        id: self.id.clone(),
                        currency,
                    })?;
                match requested {
                    Some(asked) if asked != value => {
                        return Err(CatalogueError::AmountNotAllowed {
                            id: self.id.clone(),
                            requested: asked,
                            allowed: value,
                        });
                    }
                    _ => value,
                }
            }
            CertificateKind::AnyAmount {
                bounds,
                bounded_currencies_only,
            } => {
                let bound = bounds.iter().find(|b| b.currency == currency);
                if bound.is_none() && *bounded_currencies_only {
                    return Err(CatalogueError::CurrencyNotOffered {
                        id: self.id.clone(),
                        currency,
                    });
                }
                let asked = requested.ok_or_else(|| CatalogueError::AmountRequired {
                    id: self.id.clone(),
                    currency,
                })?;
                if let Some(bound) = bound {
                    if !bound.contains(&asked) {
                        return Err(CatalogueError::OutOfBounds {
                            id: self.id.clone(),
                            requested: asked,
                            bounds: *bound,
                        });
                    }
                }
                asked
            }
        };
        let price = self
            .selling_prices
            .iter()
            .copied()
            .find(|p| p.currency() == currency)
            .unwrap_or(value);
        Ok(ResolvedCertificate {
            id: self.id.clone(),
            value,
            price,
            purpose: self.purpose,
        })
    }
}

/// A certificate priced in one currency: what the buyer pays and what the card will hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedCertificate {
    id: CertificateId,
    value: Money,
    price: Money,
    purpose: VoucherPurpose,
}

impl ResolvedCertificate {
    /// The definition it came from.
    #[must_use]
    pub fn id(&self) -> &CertificateId {
        &self.id
    }

    /// What the card will hold once issued.
    #[must_use]
    pub const fn value(&self) -> Money {
        self.value
    }

    /// What the buyer pays (equal to the value unless the host opted in otherwise).
    #[must_use]
    pub const fn price(&self) -> Money {
        self.price
    }

    /// How the sale is taxed.
    #[must_use]
    pub const fn purpose(&self) -> VoucherPurpose {
        self.purpose
    }
}
