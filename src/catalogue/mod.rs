//! The certificate catalogue: what a shop sells as gift certificates (seeds 000, 001, 002).
//!
//! A [`CertificateDefinition`] is either *predetermined* (Centra's `Priceoff`: one value per
//! currency) or *any-amount* (Centra's `Dynamic Priceoff`: the buyer picks the value in the
//! selection's currency, within optional bounds). Spryker's variants (one card family, values
//! 50 EUR, 100 EUR...) are definitions sharing a [`family`](CertificateDefinition::family).
//! [`CertificateDefinition::resolve`] answers "what does this certificate cost and give in this
//! currency, for this requested amount"; [`Catalogue::listing`] renders Centra's
//! `GET /gift-certificates` JSON.

use crate::ident::text_newtype;
use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};

use crate::money::Currency;
use crate::money::TaxRate;
use crate::money::{Money, MoneyError, MoneyFormat};

/// Everything that can go wrong defining or resolving a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// The id is empty, too long or has characters outside `A-Z a-z 0-9 - _ .`.
    #[error("invalid certificate id \"{id}\": {reason}")]
    InvalidId {
        /// The id given (at most 64 characters of it).
        id: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// No definition with this id is in the catalogue.
    #[error("no gift certificate \"{0}\" in the catalogue")]
    UnknownCertificate(CertificateId),
    /// Two definitions share an id.
    #[error("gift certificate \"{0}\" is already in the catalogue")]
    DuplicateCertificate(CertificateId),
    /// A predetermined certificate was defined with no value.
    #[error("gift certificate \"{0}\" has no value in any currency")]
    NoAmounts(CertificateId),
    /// A definition lists two values or bounds for one currency.
    #[error("gift certificate \"{id}\" lists {currency} twice")]
    DuplicateCurrency {
        /// The certificate.
        id: CertificateId,
        /// The repeated currency.
        currency: Currency,
    },
    /// The certificate is not sold in this currency.
    #[error("gift certificate \"{id}\" is not offered in {currency}")]
    CurrencyNotOffered {
        /// The certificate.
        id: CertificateId,
        /// The currency asked for.
        currency: Currency,
    },
    /// An any-amount certificate needs the buyer's amount.
    #[error("gift certificate \"{id}\" needs an amount in {currency}: the buyer chooses its value")]
    AmountRequired {
        /// The certificate.
        id: CertificateId,
        /// The selection's currency.
        currency: Currency,
    },
    /// A predetermined certificate was asked for a value it does not have.
    #[error("gift certificate \"{id}\" is worth {allowed}, not {requested}")]
    AmountNotAllowed {
        /// The certificate.
        id: CertificateId,
        /// The amount asked for.
        requested: Money,
        /// Its value in that currency.
        allowed: Money,
    },
    /// The amount is outside the certificate's bounds for the currency.
    #[error("amount {requested} for gift certificate \"{id}\" is outside {bounds}")]
    OutOfBounds {
        /// The certificate.
        id: CertificateId,
        /// The amount asked for.
        requested: Money,
        /// The bounds for that currency.
        bounds: AmountBounds,
    },
    /// A certificate value or price must be above zero.
    #[error("gift certificate \"{id}\" amount {amount} is not positive")]
    NotPositive {
        /// The certificate.
        id: CertificateId,
        /// The amount given.
        amount: Money,
    },
    /// Bounds whose minimum is above their maximum.
    #[error("bounds minimum {min} is above maximum {max}")]
    InvertedBounds {
        /// The minimum.
        min: Money,
        /// The maximum.
        max: Money,
    },
    /// Bounds were given to a certificate whose value is fixed.
    #[error(
        "gift certificate \"{0}\" has fixed values; bounds apply to any-amount certificates only"
    )]
    BoundsOnPredetermined(CertificateId),
    /// A selling price was given for a currency the certificate has no value in.
    #[error("gift certificate \"{id}\" has no value in {currency} to set a selling price beside")]
    PriceWithoutValue {
        /// The certificate.
        id: CertificateId,
        /// The price's currency.
        currency: Currency,
    },
    /// An amount could not be built (too many decimals for the currency, mixed currencies).
    #[error(transparent)]
    Money(#[from] MoneyError),
}

text_newtype! {
    /// A certificate definition's id (`"gift-2"`): 1 to 64 characters from `A-Z a-z 0-9 - _ .`.
    ///
    /// Cheap to clone: totals name their lines by it without copying the text.
    pub struct CertificateId;
    error: CatalogueError;
    /// Checks and wraps an id.
    ///
    /// # Errors
    ///
    /// [`CatalogueError::InvalidId`] when empty, longer than 64 characters, or using other
    /// characters than ASCII letters, digits, `-`, `_` and `.`.
    fn new(id) {
        if let Some(reason) = crate::ident::identifier_problem(id) {
            return Err(CatalogueError::InvalidId {
                id: crate::ident::shown(id),
                reason,
            });
        }
    }
}

/// Inclusive limits on what a buyer may choose for an any-amount certificate in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "BoundsRepr")]
pub struct AmountBounds {
    currency: Currency,
    min: Option<Money>,
    max: Option<Money>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BoundsRepr {
    currency: Currency,
    min: Option<Money>,
    max: Option<Money>,
}

impl TryFrom<BoundsRepr> for AmountBounds {
    type Error = CatalogueError;

    fn try_from(r: BoundsRepr) -> Result<Self, Self::Error> {
        let bounds = AmountBounds::new(r.currency, r.min, r.max)?;
        Ok(bounds)
    }
}

impl AmountBounds {
    /// Bounds in `currency`; either side may be open.
    ///
    /// # Errors
    ///
    /// [`CatalogueError::Money`] when a bound is in another currency, and
    /// [`CatalogueError::InvertedBounds`] when `min > max`.
    pub fn new(
        currency: Currency,
        min: Option<Money>,
        max: Option<Money>,
    ) -> Result<AmountBounds, CatalogueError> {
        for bound in min.iter().chain(max.iter()) {
            if bound.currency() != currency {
                return Err(MoneyError::CurrencyMismatch {
                    expected: currency,
                    found: bound.currency(),
                }
                .into());
            }
        }
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo.amount() > hi.amount() {
                return Err(CatalogueError::InvertedBounds { min: lo, max: hi });
            }
        }
        Ok(AmountBounds { currency, min, max })
    }

    /// The currency these bounds apply to.
    #[must_use]
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// The smallest value allowed, if any.
    #[must_use]
    pub const fn min(&self) -> Option<Money> {
        self.min
    }

    /// The largest value allowed, if any.
    #[must_use]
    pub const fn max(&self) -> Option<Money> {
        self.max
    }

    /// Whether `amount` (in the bounds' currency) lies within them.
    #[must_use]
    pub fn contains(&self, amount: &Money) -> bool {
        amount.currency() == self.currency
            && self.min.is_none_or(|lo| lo.amount() <= amount.amount())
            && self.max.is_none_or(|hi| amount.amount() <= hi.amount())
    }
}

impl fmt::Display for AmountBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => write!(f, "{lo} to {hi}"),
            (Some(lo), None) => write!(f, "at least {lo}"),
            (None, Some(hi)) => write!(f, "at most {hi}"),
            (None, None) => write!(f, "any amount in {}", self.currency),
        }
    }
}

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
/// Gift cards are usually *multi-purpose vouchers* (seed 003): nothing is known of what they
/// will buy, so there is no tax at sale and the tax falls on the goods when the card is spent.
/// Under EU VAT rules a *single-purpose* voucher (one tax rate, one place of supply) is taxed
/// when it is sold.
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
    id: CertificateId,
    name: String,
    #[serde(flatten)]
    kind: CertificateKind,
    currency_of_sale_only: bool,
    show_gift_amount: bool,
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

fn check_positive(id: &CertificateId, amount: Money) -> Result<(), CatalogueError> {
    if amount.is_positive() {
        Ok(())
    } else {
        Err(CatalogueError::NotPositive {
            id: id.clone(),
            amount,
        })
    }
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
                    check_positive(&id, *amount)?;
                }
            }
            CertificateKind::AnyAmount { bounds, .. } => {
                check_unique_currencies(&id, bounds.iter().map(|b| b.currency))?;
                for bound in bounds {
                    for limit in bound.min.iter().chain(bound.max.iter()) {
                        check_positive(&id, *limit)?;
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
    /// [`CatalogueError::NotPositive`] for a value of zero or less.
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

    /// A certificate whose value the buyer chooses, in any currency.
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
    /// [`CatalogueError::NotPositive`] for a bound of zero or less.
    pub fn with_bounds(
        mut self,
        bounds: AmountBounds,
    ) -> Result<CertificateDefinition, CatalogueError> {
        let id = self.id.clone();
        match &mut self.kind {
            CertificateKind::AnyAmount { bounds: all, .. } => {
                for limit in bounds.min.iter().chain(bounds.max.iter()) {
                    check_positive(&id, *limit)?;
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
    /// [`CatalogueError::NotPositive`], and [`CatalogueError::DuplicateCurrency`] when that
    /// currency already has a selling price.
    pub fn with_selling_price_differing_from_value(
        mut self,
        price: Money,
    ) -> Result<CertificateDefinition, CatalogueError> {
        check_positive(&self.id, price)?;
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
    /// - [`CatalogueError::Money`]: more decimals than `currency` allows.
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
            check_positive(&self.id, amount)?;
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

/// The certificates a shop sells, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "Vec<CertificateDefinition>",
    into = "Vec<CertificateDefinition>"
)]
pub struct Catalogue {
    definitions: Vec<CertificateDefinition>,
}

impl TryFrom<Vec<CertificateDefinition>> for Catalogue {
    type Error = CatalogueError;

    fn try_from(definitions: Vec<CertificateDefinition>) -> Result<Self, Self::Error> {
        let mut catalogue = Catalogue::new();
        for def in definitions {
            catalogue.add(def)?;
        }
        Ok(catalogue)
    }
}

impl From<Catalogue> for Vec<CertificateDefinition> {
    fn from(c: Catalogue) -> Self {
        c.definitions
    }
}

impl Catalogue {
    /// An empty catalogue.
    #[must_use]
    pub const fn new() -> Catalogue {
        Catalogue {
            definitions: Vec::new(),
        }
    }

    /// Adds a definition.
    ///
    /// # Errors
    ///
    /// [`CatalogueError::DuplicateCertificate`] when its id is taken.
    pub fn add(&mut self, definition: CertificateDefinition) -> Result<(), CatalogueError> {
        if self.get(definition.id.as_str()).is_some() {
            return Err(CatalogueError::DuplicateCertificate(definition.id));
        }
        self.definitions.push(definition);
        Ok(())
    }

    /// Adds a definition, builder style.
    ///
    /// # Errors
    ///
    /// As [`Catalogue::add`].
    pub fn with(mut self, definition: CertificateDefinition) -> Result<Catalogue, CatalogueError> {
        self.add(definition)?;
        Ok(self)
    }

    /// The definition with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&CertificateDefinition> {
        self.definitions.iter().find(|d| d.id.as_str() == id)
    }

    /// The definition with this id, or [`CatalogueError::UnknownCertificate`].
    ///
    /// # Errors
    ///
    /// [`CatalogueError::UnknownCertificate`], or [`CatalogueError::InvalidId`] when `id`
    /// could not be an id at all.
    pub fn require(&self, id: &str) -> Result<&CertificateDefinition, CatalogueError> {
        self.get(id).ok_or_else(|| match CertificateId::new(id) {
            Ok(id) => CatalogueError::UnknownCertificate(id),
            Err(e) => e,
        })
    }

    /// Every definition, in the order added.
    pub fn iter(&self) -> impl Iterator<Item = &CertificateDefinition> {
        self.definitions.iter()
    }

    /// Resolves certificate `id` in `currency` for `requested` (see
    /// [`CertificateDefinition::resolve`]).
    ///
    /// # Errors
    ///
    /// [`CatalogueError::UnknownCertificate`] and those of [`CertificateDefinition::resolve`].
    pub fn resolve(
        &self,
        id: &str,
        currency: Currency,
        requested: Option<Decimal>,
    ) -> Result<ResolvedCertificate, CatalogueError> {
        self.require(id)?.resolve(currency, requested)
    }

    /// Centra's `GET /gift-certificates` view: each certificate by id, predetermined ones with
    /// `amountByCurrency`, each amount formatted under `formats`.
    #[must_use]
    pub fn listing(&self, formats: &CurrencyFormats) -> CatalogueListing {
        CatalogueListing(
            self.definitions
                .iter()
                .map(|d| (d.id.to_string(), ListedCertificate::new(d, formats)))
                .collect(),
        )
    }
}

/// Display formats per currency, with a fallback for the others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyFormats {
    fallback: MoneyFormat,
    by_currency: Vec<(Currency, MoneyFormat)>,
}

impl CurrencyFormats {
    /// [`MoneyFormat::new`] for every currency.
    #[must_use]
    pub fn new() -> CurrencyFormats {
        CurrencyFormats::default()
    }

    /// Uses `format` for `currency`.
    #[must_use]
    pub fn with(mut self, currency: Currency, format: MoneyFormat) -> CurrencyFormats {
        self.by_currency.retain(|(c, _)| *c != currency);
        self.by_currency.push((currency, format));
        self
    }

    /// The format for `currency`.
    #[must_use]
    pub fn for_currency(&self, currency: Currency) -> &MoneyFormat {
        self.by_currency
            .iter()
            .find(|(c, _)| *c == currency)
            .map_or(&self.fallback, |(_, f)| f)
    }
}

/// Centra's `GET /gift-certificates` response: certificates by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CatalogueListing(BTreeMap<String, ListedCertificate>);

impl CatalogueListing {
    /// The listed certificate with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&ListedCertificate> {
        self.0.get(id)
    }
}

/// One entry of [`CatalogueListing`], in Centra's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedCertificate {
    gift_certificate: String,
    name: String,
    currency_of_sale_only: bool,
    show_gift_amount: bool,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_by_currency: Option<BTreeMap<String, ListedAmount>>,
}

impl ListedCertificate {
    fn new(def: &CertificateDefinition, formats: &CurrencyFormats) -> ListedCertificate {
        let (kind, amount_by_currency) = match &def.kind {
            CertificateKind::Predetermined { amounts } => (
                "predeterminedAmount",
                Some(
                    amounts
                        .iter()
                        .map(|m| {
                            (
                                m.currency().code().to_owned(),
                                ListedAmount {
                                    amount: m.format(formats.for_currency(m.currency())),
                                    amount_as_number: m.amount(),
                                },
                            )
                        })
                        .collect(),
                ),
            ),
            CertificateKind::AnyAmount { .. } => ("anyAmount", None),
        };
        ListedCertificate {
            gift_certificate: def.id.to_string(),
            name: def.name.clone(),
            currency_of_sale_only: def.currency_of_sale_only,
            show_gift_amount: def.show_gift_amount,
            kind,
            amount_by_currency,
        }
    }
}

/// An amount in Centra's listing: `{"amount": "10.00 USD", "amountAsNumber": 10}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedAmount {
    amount: String,
    #[serde(serialize_with = "whole_as_number")]
    amount_as_number: Decimal,
}

/// Writes a whole amount as a JSON integer (`10`), as Centra does. A fractional one is written
/// as a string (`"10.5"`): serde has no exact decimal number, and a binary float could change it.
fn whole_as_number<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    match i64::try_from(*value) {
        Ok(whole) if value.fract().is_zero() => serializer.serialize_i64(whole),
        _ => serializer.collect_str(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(s: &str, c: Currency) -> Money {
        Money::parse(s, c).unwrap()
    }

    fn gift2() -> CertificateDefinition {
        CertificateDefinition::predetermined(
            "gift-2",
            "Pre-defined gift certificate",
            [
                money("10", Currency::USD),
                money("100", Currency::SEK),
                money("1000", Currency::JPY),
            ],
        )
        .unwrap()
    }

    fn bounded_gift1() -> CertificateDefinition {
        CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate")
            .unwrap()
            .with_bounds(
                AmountBounds::new(
                    Currency::SEK,
                    Some(money("50", Currency::SEK)),
                    Some(money("5000", Currency::SEK)),
                )
                .unwrap(),
            )
            .unwrap()
    }

    #[test]
    fn predetermined_gives_its_value_in_each_currency_and_price_equals_value() {
        let sold = gift2().resolve(Currency::JPY, None).unwrap();
        assert_eq!(sold.value(), money("1000", Currency::JPY));
        assert_eq!(sold.price(), sold.value());
        // Asking for exactly the value is fine too.
        assert!(
            gift2()
                .resolve(Currency::USD, Some(Decimal::from(10)))
                .is_ok()
        );
    }

    #[test]
    fn currency_not_offered() {
        let err = gift2().resolve(Currency::EUR, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "gift certificate \"gift-2\" is not offered in EUR"
        );
        let only = bounded_gift1().with_bounded_currencies_only(true);
        assert!(matches!(
            only.resolve(Currency::USD, Some(Decimal::ONE)),
            Err(CatalogueError::CurrencyNotOffered { .. })
        ));
        // Without the restriction, an unbounded currency is fine.
        assert!(
            bounded_gift1()
                .resolve(Currency::USD, Some(Decimal::ONE))
                .is_ok()
        );
    }

    #[test]
    fn amount_required_for_any_amount() {
        let err = bounded_gift1().resolve(Currency::SEK, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "gift certificate \"gift-1\" needs an amount in SEK: the buyer chooses its value"
        );
    }

    #[test]
    fn amount_not_allowed_for_predetermined() {
        let err = gift2()
            .resolve(Currency::USD, Some(Decimal::from(20)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "gift certificate \"gift-2\" is worth 10.00 USD, not 20.00 USD"
        );
    }

    #[test]
    fn out_of_bounds() {
        let err = bounded_gift1()
            .resolve(Currency::SEK, Some(Decimal::from(10)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "amount 10.00 SEK for gift certificate \"gift-1\" is outside 50.00 SEK to 5000.00 SEK"
        );
        assert!(
            bounded_gift1()
                .resolve(Currency::SEK, Some(Decimal::from(5001)))
                .is_err()
        );
        assert!(
            bounded_gift1()
                .resolve(Currency::SEK, Some(Decimal::from(5000)))
                .is_ok()
        );
        assert!(
            bounded_gift1()
                .resolve(Currency::SEK, Some(Decimal::from(50)))
                .is_ok()
        );
    }

    #[test]
    fn not_positive() {
        for bad in [Decimal::ZERO, Decimal::NEGATIVE_ONE] {
            assert!(matches!(
                bounded_gift1().resolve(Currency::USD, Some(bad)),
                Err(CatalogueError::NotPositive { .. })
            ));
        }
        assert!(matches!(
            CertificateDefinition::predetermined("x", "x", [money("0", Currency::USD)]),
            Err(CatalogueError::NotPositive { .. })
        ));
    }

    #[test]
    fn too_many_decimals_for_the_currency() {
        let err = bounded_gift1()
            .resolve(Currency::JPY, Some(Decimal::new(105, 1)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "amount 10.5 has more decimals than JPY allows (0)"
        );
    }

    #[test]
    fn definitions_refuse_inconsistent_shapes() {
        assert!(matches!(
            CertificateDefinition::predetermined("x", "x", []),
            Err(CatalogueError::NoAmounts(_))
        ));
        assert!(matches!(
            CertificateDefinition::predetermined(
                "x",
                "x",
                [money("1", Currency::USD), money("2", Currency::USD)]
            ),
            Err(CatalogueError::DuplicateCurrency { .. })
        ));
        assert!(matches!(
            gift2().with_bounds(AmountBounds::new(Currency::USD, None, None).unwrap()),
            Err(CatalogueError::BoundsOnPredetermined(_))
        ));
        assert!(matches!(
            AmountBounds::new(
                Currency::USD,
                Some(money("2", Currency::USD)),
                Some(money("1", Currency::USD))
            ),
            Err(CatalogueError::InvertedBounds { .. })
        ));
        assert!(AmountBounds::new(Currency::USD, Some(money("2", Currency::EUR)), None).is_err());
        assert!(CertificateId::new("").is_err());
        assert!(CertificateId::new("has space").is_err());
        assert!(CertificateId::new(&"x".repeat(65)).is_err());
    }

    #[test]
    fn a_different_selling_price_needs_the_explicit_opt_in_and_a_value_beside_it() {
        let def = gift2();
        assert_eq!(
            def.resolve(Currency::USD, None).unwrap().price(),
            money("10", Currency::USD)
        );
        let discounted = def
            .clone()
            .with_selling_price_differing_from_value(money("8", Currency::USD))
            .unwrap();
        let sold = discounted.resolve(Currency::USD, None).unwrap();
        assert_eq!(sold.price(), money("8", Currency::USD));
        assert_eq!(sold.value(), money("10", Currency::USD));
        assert!(matches!(
            def.with_selling_price_differing_from_value(money("8", Currency::EUR)),
            Err(CatalogueError::PriceWithoutValue { .. })
        ));
    }

    #[test]
    fn variants_share_a_family() {
        let v50 = CertificateDefinition::predetermined(
            "ny-50",
            "New Year 50",
            [money("50", Currency::EUR)],
        )
        .unwrap()
        .with_family("new-year");
        let v100 = CertificateDefinition::predetermined(
            "ny-100",
            "New Year 100",
            [money("100", Currency::EUR)],
        )
        .unwrap()
        .with_family("new-year");
        let catalogue = Catalogue::new().with(v50).unwrap().with(v100).unwrap();
        let family: Vec<&str> = catalogue
            .iter()
            .filter(|d| d.family() == Some("new-year"))
            .map(|d| d.id().as_str())
            .collect();
        assert_eq!(family, ["ny-50", "ny-100"]);
    }

    #[test]
    fn catalogue_refuses_duplicates_and_names_unknown_ids() {
        let mut c = Catalogue::new();
        c.add(gift2()).unwrap();
        assert!(matches!(
            c.add(gift2()),
            Err(CatalogueError::DuplicateCertificate(_))
        ));
        assert_eq!(
            c.resolve("gift-9", Currency::USD, None)
                .unwrap_err()
                .to_string(),
            "no gift certificate \"gift-9\" in the catalogue"
        );
    }

    #[test]
    fn definitions_round_trip_through_serde_and_validate_on_the_way_in() {
        for def in [gift2(), bounded_gift1()] {
            let json = serde_json::to_string(&def).unwrap();
            assert_eq!(
                serde_json::from_str::<CertificateDefinition>(&json).unwrap(),
                def
            );
        }
        let bad = r#"{"giftCertificate":"x","name":"x","type":"predeterminedAmount","amounts":[]}"#;
        assert!(serde_json::from_str::<CertificateDefinition>(bad).is_err());
    }
}
