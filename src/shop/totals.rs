//! Totals of a selection: taxes first, credit later (Centra, Spryker, the Nordic checkout provider
//! and BigCommerce).
//!
//! [`Totals::compute`] works in this order:
//!
//! 1. `subtotal`: every line's unit price times quantity, as entered, before discounts
//!    (BigCommerce's `subtotal`).
//! 2. Discounts: each product line's own discount, then the order discount spread over the
//!    product lines in proportion to their discounted amounts with
//!    [`Money::split_by_weights`], so the shares sum exactly to it. Gift-certificate lines are
//!    never discounted (Spryker).
//! 3. Tax per rate, on the summed discounted amounts at that rate, shipping counted at its own
//!    rate, rounded once per rate ([`TotalsSettings`] holds the rule and the granularity).
//!    Multi-purpose certificate lines are not taxed at sale (the Nordic checkout provider);
//!    single-purpose ones are, at their rate.
//! 4. `grandTotal`: `subtotal - discount + shipping`, plus the tax when prices exclude it: what
//!    is payable before any credit.
//! 5. Gift credit, as a payment and never a discount: the applied certificates pay, lowest
//!    balance first ([`allocate`](crate::redeem::allocate)) or in the checkout's
//!    [`AllocationOrder`] ([`Totals::with_checkout`], [`Totals::for_grand_total`]), the part of
//!    `grandTotal` gift credit may pay, which is the product part only (a gift certificate
//!    cannot be paid for with a gift certificate). No tax figure changes. `outstandingBalance`
//!    is what is left to pay by another method.
//!
//! Centra's table comes out exactly:
//!
//! ```
//! use giftcert::{Currency, Money, PriceBasis, Selection, SelectionPolicy, TaxRate, Totals, TotalsSettings, shop::ProductLine};
//!
//! let usd = |s: &str| Money::parse(s, Currency::USD);
//! let mut order = Selection::new(Currency::USD, PriceBasis::TaxIncluded, SelectionPolicy::mixed());
//! order.add_product(ProductLine::new("a", usd("5500")?, 1, "25".parse::<TaxRate>()?)?)?;
//! let totals = Totals::compute(&order, [("GC1", usd("1000")?)], &TotalsSettings::default())?;
//! assert_eq!(totals.grand_total(), usd("5500")?);
//! assert_eq!(totals.tax_total(), usd("1100")?);
//! assert_eq!(totals.gift_certificates()[0].used(), usd("1000")?);
//! assert_eq!(totals.outstanding_balance(), usd("4500")?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::card::CardId;
use crate::catalogue::VoucherPurpose;
use crate::code::{mask_typed, normalised_chars};
use crate::money::Currency;
use crate::money::TaxRate;
use crate::money::{Money, MoneyError, RoundingRule};
use crate::redeem::{
    AllocationError, AllocationOrder, CheckoutCards, Offer, RedeemError, allocate_by,
};
use crate::shop::{CertificateLine, PriceBasis, ProductLine, Selection};
use chrono::{DateTime, Utc};

/// Everything that can go wrong computing totals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TotalsError {
    /// The order discount is larger than the product lines it is spread over.
    #[error("order discount {discount} is larger than the product subtotal {products}")]
    DiscountExceedsProducts {
        /// The order discount.
        discount: Money,
        /// The product lines after their own discounts.
        products: Money,
    },
    /// The same gift certificate code was applied twice (compared after normalising).
    #[error("gift certificate {masked} at position {index} is already applied")]
    DuplicateCode {
        /// The position of the repeat among the applied certificates.
        index: usize,
        /// The code, masked: typed text shows nothing of it (`****-****-****-****-*`).
        masked: String,
    },
    /// An applied gift certificate has an empty code.
    #[error("gift certificate code at position {index} is empty")]
    EmptyCode {
        /// Its position among the applied certificates.
        index: usize,
    },
    /// A rounding step that is not above zero.
    #[error("rounding step {0} must be above zero")]
    StepNotPositive(Decimal),
    /// A rounding step finer than the currency's minor units.
    #[error("rounding step {step} is finer than {currency} allows ({allowed} decimals)")]
    StepTooFine {
        /// The step.
        step: Decimal,
        /// The selection's currency.
        currency: Currency,
        /// The currency's minor units.
        allowed: u32,
    },
    /// A grand total below zero ([`Totals::for_grand_total`]).
    #[error("grand total {0} is negative")]
    NegativeGrandTotal(Money),
    /// Totals read from JSON that do not add up.
    #[error("totals do not add up: {0}")]
    Inconsistent(&'static str),
    /// A gift certificate balance is negative.
    #[error(transparent)]
    Allocation(#[from] AllocationError),
    /// Amounts in another currency, or an overflow.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Why a checkout's totals could not be given
/// ([`Redeemer::checkout_totals`](crate::store::Redeemer::checkout_totals)): reading the
/// checkout failed, or the totals did not compute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckoutTotalsError {
    /// Reading the checkout and its cards failed.
    #[error(transparent)]
    Redeem(#[from] RedeemError),
    /// The totals did not compute.
    #[error(transparent)]
    Totals(#[from] TotalsError),
}

/// Where tax is rounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum TaxGranularity {
    /// Once per rate, on the summed discounted amounts at that rate (the default).
    #[default]
    PerRate,
    /// Once per line (and once for shipping), then summed per rate.
    PerLine,
}

/// How tax is rounded: the rule, where (per rate or per line), and to what step.
///
/// The default rounds once per rate to the currency's minor units, half away from zero.
///
/// ```
/// use giftcert::{TotalsSettings, money::RoundingRule, shop::TaxGranularity};
/// use rust_decimal::Decimal;
///
/// let swiss = TotalsSettings::default()
///     .with_rule(RoundingRule::HalfEven)
///     .with_granularity(TaxGranularity::PerLine)
///     .with_step(Decimal::new(5, 2))?;
/// assert_eq!(swiss.step(), Some(Decimal::new(5, 2)));
/// assert!(TotalsSettings::default().with_step(Decimal::ZERO).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "SettingsRepr")]
pub struct TotalsSettings {
    rule: RoundingRule,
    granularity: TaxGranularity,
    #[serde(
        with = "optional_decimal",
        skip_serializing_if = "Option::is_none",
        default
    )]
    step: Option<Decimal>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsRepr {
    #[serde(default)]
    rule: RoundingRule,
    #[serde(default)]
    granularity: TaxGranularity,
    #[serde(with = "optional_decimal", default)]
    step: Option<Decimal>,
}

impl TryFrom<SettingsRepr> for TotalsSettings {
    type Error = TotalsError;

    fn try_from(r: SettingsRepr) -> Result<Self, Self::Error> {
        let settings = TotalsSettings::default()
            .with_rule(r.rule)
            .with_granularity(r.granularity);
        match r.step {
            Some(step) => settings.with_step(step),
            None => Ok(settings),
        }
    }
}

mod optional_decimal {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(transparent)]
    struct Exact(#[serde(with = "crate::money::serde_impl::decimal")] Decimal);

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.collect_str(v),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        Ok(Option::<Exact>::deserialize(deserializer)?.map(|e| e.0))
    }
}

impl TotalsSettings {
    /// Sets the rounding rule (half away from zero by default).
    #[must_use]
    pub const fn with_rule(mut self, rule: RoundingRule) -> TotalsSettings {
        self.rule = rule;
        self
    }

    /// Sets where tax is rounded (once per rate by default).
    #[must_use]
    pub const fn with_granularity(mut self, granularity: TaxGranularity) -> TotalsSettings {
        self.granularity = granularity;
        self
    }

    /// Rounds tax to multiples of `step` (`0.05` for Swiss cash rounding, `1` for whole units)
    /// instead of the currency's minor unit. The step may not be finer than the selection's
    /// currency allows; [`Totals::compute`] checks that.
    ///
    /// # Errors
    ///
    /// [`TotalsError::StepNotPositive`].
    pub fn with_step(mut self, step: Decimal) -> Result<TotalsSettings, TotalsError> {
        if step <= Decimal::ZERO {
            return Err(TotalsError::StepNotPositive(step));
        }
        self.step = Some(step.normalize());
        Ok(self)
    }

    /// The rounding rule.
    #[must_use]
    pub const fn rule(&self) -> RoundingRule {
        self.rule
    }

    /// Where tax is rounded.
    #[must_use]
    pub const fn granularity(&self) -> TaxGranularity {
        self.granularity
    }

    /// The rounding step, when coarser than the currency's minor unit.
    #[must_use]
    pub const fn step(&self) -> Option<Decimal> {
        self.step
    }

    fn round(&self, tax: Decimal, currency: Currency) -> Result<Money, TotalsError> {
        let overflow = MoneyError::Overflow {
            operation: "a tax amount",
        };
        match self.step {
            None => Ok(Money::rounded(tax, currency, self.rule)),
            Some(step) => {
                let steps = tax.checked_div(step).ok_or(overflow.clone())?;
                let whole = self.rule.round(steps, 0);
                let amount = whole.checked_mul(step).ok_or(overflow)?;
                Ok(Money::new(amount, currency)?)
            }
        }
    }
}

/// The tax at one rate (an entry of BigCommerce's `taxes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaxLine {
    name: String,
    rate: TaxRate,
    base: Money,
    amount: Money,
}

impl TaxLine {
    /// The rate as shown to people: `"25%"`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rate.
    #[must_use]
    pub const fn rate(&self) -> TaxRate {
        self.rate
    }

    /// The discounted amount taxed at this rate, on the selection's price basis.
    #[must_use]
    pub const fn base(&self) -> Money {
        self.base
    }

    /// The tax, rounded.
    #[must_use]
    pub const fn amount(&self) -> Money {
        self.amount
    }
}

/// What a line comes to: amount, discount (its own and its share of the order discount) and
/// net.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineTotal {
    kind: LineKind,
    #[serde(with = "crate::money::serde_impl::shared_str")]
    id: Arc<str>,
    amount: Money,
    discount: Money,
    net: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    tax_rate: Option<TaxRate>,
}

/// Whether a [`LineTotal`] is a product or a gift certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum LineKind {
    /// A product line, identified by its SKU.
    Product,
    /// A gift-certificate line, identified by its definition id.
    GiftCertificate,
}

impl LineTotal {
    /// Product or gift certificate.
    #[must_use]
    pub const fn kind(&self) -> LineKind {
        self.kind
    }

    /// The SKU or the certificate definition id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Unit price times quantity.
    #[must_use]
    pub const fn amount(&self) -> Money {
        self.amount
    }

    /// The line's own discount plus its share of the order discount (zero for certificates).
    #[must_use]
    pub const fn discount(&self) -> Money {
        self.discount
    }

    /// `amount - discount`.
    #[must_use]
    pub const fn net(&self) -> Money {
        self.net
    }

    /// The rate the line is taxed at; `None` for a multi-purpose certificate (no tax at sale).
    #[must_use]
    pub const fn tax_rate(&self) -> Option<TaxRate> {
        self.tax_rate
    }
}

/// One gift certificate applied as a payment (an entry of BigCommerce's `giftCertificates`).
///
/// `Debug` masks the code: codes are secrets.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedCertificate {
    code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    card: Option<CardId>,
    balance: Money,
    used: Money,
    remaining: Money,
}

impl fmt::Debug for AppliedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppliedCertificate")
            .field("code", &mask_typed(&self.code))
            .field("card", &self.card)
            .field("balance", &self.balance)
            .field("used", &self.used)
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl AppliedCertificate {
    /// The code as the caller gave it to [`Totals::compute`], or the card's masked code in
    /// totals built from a checkout ([`Totals::with_checkout`]).
    #[must_use]
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The card, in totals built from a checkout ([`Totals::with_checkout`]); `None` in
    /// totals from [`Totals::compute`], where the caller names cards by their codes.
    #[must_use]
    pub const fn card(&self) -> Option<CardId> {
        self.card
    }

    /// What the card held.
    #[must_use]
    pub const fn balance(&self) -> Money {
        self.balance
    }

    /// What it pays on this order.
    #[must_use]
    pub const fn used(&self) -> Money {
        self.used
    }

    /// What it keeps: `balance - used`.
    #[must_use]
    pub const fn remaining(&self) -> Money {
        self.remaining
    }
}

/// A selection's totals, with BigCommerce's names.
///
/// Serialises as `subtotal`, `discountAmount`, `shippingCostTotal`, `taxTotal`, `taxes`,
/// `grandTotal`, `giftCertificates`, `outstandingBalance`, plus `currency`, `taxIncluded`,
/// `payableWithGiftCredit` and the per-line `lines`. Reading totals from JSON checks that they
/// add up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "TotalsRepr")]
pub struct Totals {
    currency: Currency,
    tax_included: bool,
    subtotal: Money,
    discount_amount: Money,
    shipping_cost_total: Money,
    tax_total: Money,
    taxes: Vec<TaxLine>,
    grand_total: Money,
    payable_with_gift_credit: Money,
    gift_certificates: Vec<AppliedCertificate>,
    outstanding_balance: Money,
    lines: Vec<LineTotal>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TotalsRepr {
    currency: Currency,
    tax_included: bool,
    subtotal: Money,
    discount_amount: Money,
    shipping_cost_total: Money,
    tax_total: Money,
    taxes: Vec<TaxLine>,
    grand_total: Money,
    payable_with_gift_credit: Money,
    gift_certificates: Vec<AppliedCertificate>,
    outstanding_balance: Money,
    lines: Vec<LineTotal>,
}

impl TryFrom<TotalsRepr> for Totals {
    type Error = TotalsError;

    fn try_from(r: TotalsRepr) -> Result<Self, Self::Error> {
        let t = Totals {
            currency: r.currency,
            tax_included: r.tax_included,
            subtotal: r.subtotal,
            discount_amount: r.discount_amount,
            shipping_cost_total: r.shipping_cost_total,
            tax_total: r.tax_total,
            taxes: r.taxes,
            grand_total: r.grand_total,
            payable_with_gift_credit: r.payable_with_gift_credit,
            gift_certificates: r.gift_certificates,
            outstanding_balance: r.outstanding_balance,
            lines: r.lines,
        };
        t.check()?;
        Ok(t)
    }
}

/// What one rate collects while totals are computed.
struct RateGroup {
    /// Everything taxed at this rate.
    base: Money,
    /// The part of `base` that is certificate lines.
    certificate_base: Money,
    /// Per-line mode: the sum of each line's rounded tax.
    line_taxes: Money,
    /// Per-line mode: the part of `line_taxes` from certificate lines.
    certificate_line_taxes: Money,
}

/// The rates of one computation with what each collects, by rate ascending.
///
/// A cart has a few rates, so a line finds its rate by a scan comparing exact representations
/// (rates are normalised, so equal rates are equal bit for bit); a new rate is inserted in
/// order. Past a handful of rates the lookup searches by halves.
#[derive(Default)]
struct RateGroups(Vec<(u128, TaxRate, RateGroup)>);

impl RateGroups {
    /// Rates scanned one by one below this many.
    const SCAN: usize = 8;

    #[inline]
    fn get(&mut self, rate: TaxRate, zero: Money) -> &mut RateGroup {
        let bits = rate.bits();
        let found = if self.0.len() <= Self::SCAN {
            match self.0.iter().position(|(b, ..)| *b == bits) {
                Some(i) => Ok(i),
                None => Err(self.0.partition_point(|(_, r, _)| *r < rate)),
            }
        } else {
            self.0.binary_search_by(|(_, r, _)| r.cmp(&rate))
        };
        let index = found.unwrap_or_else(|at| {
            let group = RateGroup {
                base: zero,
                certificate_base: zero,
                line_taxes: zero,
                certificate_line_taxes: zero,
            };
            self.0.insert(at, (bits, rate, group));
            at
        });
        // `index` was found or just inserted: it is in bounds.
        &mut self.0[index].2
    }
}

impl Totals {
    /// Computes the totals of `selection`, with `applied` gift certificates (each a code, as
    /// the caller identifies it, and the balance it can give) paying what gift credit may pay.
    ///
    /// # Errors
    ///
    /// - [`TotalsError::DiscountExceedsProducts`]: the order discount is larger than the
    ///   product lines after their own discounts;
    /// - [`TotalsError::EmptyCode`], [`TotalsError::DuplicateCode`]: codes are compared after
    ///   trimming, removing spaces and dashes and folding ASCII case;
    /// - [`TotalsError::StepTooFine`]: a rounding step finer than the currency's minor units;
    /// - [`TotalsError::Allocation`]: a negative balance;
    /// - [`TotalsError::Money`]: a balance in another currency, an overflow, or
    ///   ([`MoneyError::AboveMaximum`]) a grand total above [`Money::maximum`].
    pub fn compute<I, S>(
        selection: &Selection,
        applied: I,
        settings: &TotalsSettings,
    ) -> Result<Totals, TotalsError>
    where
        I: IntoIterator<Item = (S, Money)>,
        S: Into<String>,
    {
        let cards = checked_cards(applied)?;
        let cards = cards.into_iter().map(|(code, balance)| Applied {
            code,
            card: None,
            balance,
            expires_at: None,
        });
        Totals::compute_with(
            selection,
            cards.collect(),
            settings,
            AllocationOrder::LowestFirst,
        )
    }

    /// The totals of `selection` with the cards applied to its redemption checkout, as
    /// [`Redeemer::checkout_cards`](crate::store::Redeemer::checkout_cards) read them (the
    /// drivers' [`Redeemer::checkout_totals`](crate::store::Redeemer::checkout_totals) does
    /// both in one call): taxes on the original prices, each card's credit as a payment in
    /// the checkout's [`AllocationOrder`], each card named by its [`CardId`] and masked code.
    /// [`Totals::amount_to_authorise`] is then what to pass to
    /// [`Redeemer::authorise`](crate::store::Redeemer::authorise), which holds exactly the
    /// credit these totals show.
    ///
    /// With the default lowest-first order the figures are those of [`Totals::compute`] given
    /// each card's masked code and credit.
    ///
    /// # Errors
    ///
    /// [`TotalsError::Money`] when the checkout is in another currency than the selection,
    /// and the errors of [`Totals::compute`] but those about codes.
    pub fn with_checkout(
        selection: &Selection,
        checkout: &CheckoutCards,
        settings: &TotalsSettings,
    ) -> Result<Totals, TotalsError> {
        let cards = checkout_applied(checkout, selection.currency())?;
        Totals::compute_with(selection, cards, settings, checkout.order)
    }

    /// The totals of an order priced elsewhere, known only by its `grand_total` (BigCommerce's
    /// checkout with a bare `grandTotal`), with the cards applied to its redemption checkout:
    /// the whole grand total is payable with gift credit, the cards pay it in the checkout's
    /// [`AllocationOrder`] as in [`Totals::with_checkout`], and what they leave is the
    /// outstanding balance. No tax, discount or shipping is known, so those figures are zero
    /// and the subtotal is the grand total; there are no lines.
    ///
    /// ```
    /// use giftcert::{CheckoutId, ClientId, CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Reference, Totals};
    ///
    /// let usd = |s: &str| Money::parse(s, Currency::USD);
    /// let redeemer = Redeemer::new(MemoryStore::new());
    /// let issued = redeemer.issue(&IdempotencyKey::new("i-1")?, vec![CardSpec::new(usd("40")?)])?;
    /// let Some(Notification::CardIssued { code, .. }) = issued.notifications.first() else { unreachable!() };
    /// let checkout = CheckoutId::new("c-1")?;
    /// redeemer.apply_code(&ClientId::new("client-1")?, &checkout, Currency::USD, code.expose_secret())?;
    ///
    /// let cards = redeemer.checkout_cards(&checkout)?;
    /// let totals = Totals::for_grand_total(usd("150")?, &cards)?;
    /// assert_eq!(totals.gift_certificates()[0].used(), usd("40")?);
    /// assert_eq!(totals.outstanding_balance(), usd("110")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TotalsError::NegativeGrandTotal`] when `grand_total` is below zero;
    /// [`TotalsError::Money`] when the checkout is in another currency, on an overflow, or
    /// ([`MoneyError::AboveMaximum`]) when `grand_total` is above [`Money::maximum`].
    pub fn for_grand_total(
        grand_total: Money,
        checkout: &CheckoutCards,
    ) -> Result<Totals, TotalsError> {
        if grand_total.is_negative() {
            return Err(TotalsError::NegativeGrandTotal(grand_total));
        }
        let grand_total = grand_total.within_maximum()?;
        let currency = grand_total.currency();
        let zero = Money::zero(currency);
        let cards = checkout_applied(checkout, currency)?;
        let (gift_certificates, outstanding_balance) =
            pay_with_credit(grand_total, grand_total, cards, checkout.order)?;
        Ok(Totals {
            currency,
            tax_included: true,
            subtotal: grand_total,
            discount_amount: zero,
            shipping_cost_total: zero,
            tax_total: zero,
            taxes: Vec::new(),
            grand_total,
            payable_with_gift_credit: grand_total,
            gift_certificates,
            outstanding_balance,
            lines: Vec::new(),
        })
    }

    /// [`Totals::compute`] over checked cards, allocated in `order`.
    fn compute_with(
        selection: &Selection,
        cards: Vec<Applied>,
        settings: &TotalsSettings,
        order: AllocationOrder,
    ) -> Result<Totals, TotalsError> {
        let currency = selection.currency();
        let zero = Money::zero(currency);
        if let Some(step) = settings.step {
            if step.scale() > currency.minor_units() {
                return Err(TotalsError::StepTooFine {
                    step,
                    currency,
                    allowed: currency.minor_units(),
                });
            }
        }

        // 1 and 2. Subtotal, the products' own discounts, and the order discount spread over
        // the product lines. Without an order discount (the common case) the sums are taken
        // while the lines are built; with one they come first, as the discount needs them.
        let products = selection.products();
        let certificates = selection.certificates();
        let order_discount = selection.order_discount().unwrap_or(zero);
        let mut spread = None;
        if !order_discount.is_zero() {
            let nets: Vec<Money> = products.iter().map(ProductLine::net).collect();
            let products_net = Money::sum(currency, nets.iter().copied())?;
            let line_discounts =
                Money::sum(currency, products.iter().filter_map(ProductLine::discount))?;
            let subtotal = Money::sum(
                currency,
                products
                    .iter()
                    .map(ProductLine::amount)
                    .chain(certificates.iter().map(CertificateLine::amount)),
            )?;
            if order_discount.checked_cmp(&products_net)?.is_gt() {
                return Err(TotalsError::DiscountExceedsProducts {
                    discount: order_discount,
                    products: products_net,
                });
            }
            let weights: Vec<Decimal> = nets.iter().map(Money::amount).collect();
            let shares = order_discount.split_by_weights(&weights)?;
            spread = Some((shares, products_net, line_discounts, subtotal));
        }

        let mut lines = Vec::with_capacity(products.len() + certificates.len());
        let mut subtotal = zero;
        let mut line_discounts = zero;
        for (index, line) in products.iter().enumerate() {
            let amount = line.amount();
            let mut net = line.net();
            let discount = match &spread {
                Some((shares, products_net, ..)) => {
                    let share = shares.get(index).copied().unwrap_or(zero);
                    net = net.checked_sub(share)?;
                    if net.is_negative() {
                        return Err(TotalsError::DiscountExceedsProducts {
                            discount: order_discount,
                            products: *products_net,
                        });
                    }
                    amount.checked_sub(net)?
                }
                None => {
                    if net.is_zero() {
                        // The share subtracted is zero, and `0 - 0` is a negative zero in
                        // rust_decimal: subtract as before. Otherwise `net - 0` is `net`.
                        net = net.checked_sub(zero)?;
                    }
                    subtotal = subtotal.checked_add(amount)?;
                    if let Some(own) = line.discount() {
                        line_discounts = line_discounts.checked_add(own)?;
                    }
                    if line.discount().is_none() && !amount.is_zero() {
                        // What `amount - amount` gives, without the subtraction.
                        zero_like(amount)
                    } else {
                        amount.checked_sub(net)?
                    }
                }
            };
            lines.push(LineTotal {
                kind: LineKind::Product,
                id: line.sku().shared(),
                amount,
                discount,
                net,
                tax_rate: Some(line.tax_rate()),
            });
        }
        for line in certificates {
            if spread.is_none() {
                subtotal = subtotal.checked_add(line.amount())?;
            }
            lines.push(LineTotal {
                kind: LineKind::GiftCertificate,
                id: line.definition().shared(),
                amount: line.amount(),
                discount: zero,
                net: line.amount(),
                tax_rate: match line.purpose() {
                    VoucherPurpose::MultiPurpose => None,
                    VoucherPurpose::SinglePurpose { tax_rate } => Some(tax_rate),
                },
            });
        }
        if let Some((_, _, discounts, sum)) = spread {
            line_discounts = discounts;
            subtotal = sum;
        }

        // 3. Tax per rate; shipping counts at its own rate.
        let prices = selection.prices();
        let shipping = selection.shipping();
        let shipping_cost = shipping.map_or(zero, |s| s.cost());
        let mut groups = RateGroups::default();
        let taxed = lines
            .iter()
            .filter_map(|l| {
                l.tax_rate
                    .map(|r| (r, l.net, l.kind == LineKind::GiftCertificate))
            })
            .chain(shipping.map(|s| (s.tax_rate(), s.cost(), false)));
        for (rate, amount, is_certificate) in taxed {
            let group = groups.get(rate, zero);
            group.base = group.base.checked_add(amount)?;
            if settings.granularity == TaxGranularity::PerLine {
                let tax = settings.round(tax_in(amount, rate, prices)?, currency)?;
                group.line_taxes = group.line_taxes.checked_add(tax)?;
                if is_certificate {
                    group.certificate_line_taxes = group.certificate_line_taxes.checked_add(tax)?;
                }
            }
            if is_certificate {
                group.certificate_base = group.certificate_base.checked_add(amount)?;
            }
        }
        let mut taxes = Vec::with_capacity(groups.0.len());
        let mut certificate_tax = zero;
        for (_, rate, group) in groups.0 {
            if group.base.is_zero() {
                continue;
            }
            let amount = match settings.granularity {
                TaxGranularity::PerRate => {
                    settings.round(tax_in(group.base, rate, prices)?, currency)?
                }
                TaxGranularity::PerLine => group.line_taxes,
            };
            // The certificates' share of this rate's tax, exactly (used only when prices
            // exclude tax, to keep certificates out of what gift credit may pay).
            let share = match settings.granularity {
                TaxGranularity::PerLine => group.certificate_line_taxes,
                TaxGranularity::PerRate if group.certificate_base.is_zero() => zero,
                TaxGranularity::PerRate => {
                    let others = group.base.checked_sub(group.certificate_base)?;
                    let parts = amount
                        .split_by_weights(&[others.amount(), group.certificate_base.amount()])?;
                    parts.get(1).copied().unwrap_or(zero)
                }
            };
            certificate_tax = certificate_tax.checked_add(share)?;
            taxes.push(TaxLine {
                name: rate.name(),
                rate,
                base: group.base,
                amount,
            });
        }
        let tax_total = Money::sum(currency, taxes.iter().map(|t| t.amount))?;

        // 4. The grand total, payable before any credit.
        let discount_amount = line_discounts.checked_add(order_discount)?;
        let mut grand_total = subtotal
            .checked_sub(discount_amount)?
            .checked_add(shipping_cost)?;
        let mut certificate_part = Money::sum(
            currency,
            selection.certificates().iter().map(|l| l.amount()),
        )?;
        if !prices.tax_included() {
            grand_total = grand_total.checked_add(tax_total)?;
            certificate_part = certificate_part.checked_add(certificate_tax)?;
        }
        let grand_total = grand_total.within_maximum()?;

        // 5. Gift credit pays the product part only, in the allocation order.
        let payable_with_gift_credit = grand_total.checked_sub(certificate_part)?;
        let payable_with_gift_credit = if payable_with_gift_credit.is_negative() {
            zero
        } else {
            payable_with_gift_credit
        };
        let (gift_certificates, outstanding_balance) =
            pay_with_credit(grand_total, payable_with_gift_credit, cards, order)?;

        Ok(Totals {
            currency,
            tax_included: prices.tax_included(),
            subtotal,
            discount_amount,
            shipping_cost_total: shipping_cost,
            tax_total,
            taxes,
            grand_total,
            payable_with_gift_credit,
            gift_certificates,
            outstanding_balance,
            lines,
        })
    }

    fn check(&self) -> Result<(), TotalsError> {
        let c = self.currency;
        let inconsistent = TotalsError::Inconsistent;
        let all = [
            self.subtotal,
            self.discount_amount,
            self.shipping_cost_total,
            self.tax_total,
            self.grand_total,
            self.payable_with_gift_credit,
            self.outstanding_balance,
        ];
        let others = self
            .taxes
            .iter()
            .flat_map(|t| [t.base, t.amount])
            .chain(
                self.gift_certificates
                    .iter()
                    .flat_map(|g| [g.balance, g.used, g.remaining]),
            )
            .chain(
                self.lines
                    .iter()
                    .flat_map(|l| [l.amount, l.discount, l.net]),
            );
        for m in all.into_iter().chain(others) {
            if m.currency() != c {
                return Err(MoneyError::CurrencyMismatch {
                    expected: c,
                    found: m.currency(),
                }
                .into());
            }
        }
        if all.iter().any(Money::is_negative) {
            return Err(inconsistent("a total is negative"));
        }
        if Money::sum(c, self.taxes.iter().map(|t| t.amount))? != self.tax_total {
            return Err(inconsistent("taxTotal is not the sum of taxes"));
        }
        if self.taxes.iter().any(|t| t.name != t.rate.to_string()) {
            return Err(inconsistent("a tax name does not match its rate"));
        }
        let mut grand = self
            .subtotal
            .checked_sub(self.discount_amount)?
            .checked_add(self.shipping_cost_total)?;
        if !self.tax_included {
            grand = grand.checked_add(self.tax_total)?;
        }
        if grand != self.grand_total {
            return Err(inconsistent(
                "grandTotal is not subtotal - discountAmount + shippingCostTotal (+ taxTotal)",
            ));
        }
        if self
            .payable_with_gift_credit
            .checked_cmp(&self.grand_total)?
            .is_gt()
        {
            return Err(inconsistent("payableWithGiftCredit is above grandTotal"));
        }
        for g in &self.gift_certificates {
            if g.used.is_negative()
                || g.remaining.is_negative()
                || g.used.checked_add(g.remaining)? != g.balance
            {
                return Err(inconsistent(
                    "a gift certificate's used + remaining is not its balance",
                ));
            }
        }
        let used = Money::sum(c, self.gift_certificates.iter().map(|g| g.used))?;
        if used.checked_cmp(&self.payable_with_gift_credit)?.is_gt() {
            return Err(inconsistent("gift credit pays more than it may"));
        }
        if self.grand_total.checked_sub(used)? != self.outstanding_balance {
            return Err(inconsistent(
                "outstandingBalance is not grandTotal minus the credit used",
            ));
        }
        for l in &self.lines {
            if l.amount.checked_sub(l.discount)? != l.net || l.net.is_negative() {
                return Err(inconsistent("a line's net is not amount - discount"));
            }
        }
        Ok(())
    }

    /// The currency of every figure.
    #[must_use]
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the selection's prices include tax.
    #[must_use]
    pub const fn tax_included(&self) -> bool {
        self.tax_included
    }

    /// Every line's amount before discounts, as entered (BigCommerce's `subtotal`).
    #[must_use]
    pub const fn subtotal(&self) -> Money {
        self.subtotal
    }

    /// Line discounts plus the order discount (`discountAmount`).
    #[must_use]
    pub const fn discount_amount(&self) -> Money {
        self.discount_amount
    }

    /// The shipping cost (`shippingCostTotal`).
    #[must_use]
    pub const fn shipping_cost_total(&self) -> Money {
        self.shipping_cost_total
    }

    /// The tax, summed over rates (`taxTotal`). Credit never changes it.
    #[must_use]
    pub const fn tax_total(&self) -> Money {
        self.tax_total
    }

    /// The tax per rate, by rate ascending; a rate is listed when something is taxed at it.
    #[must_use]
    pub fn taxes(&self) -> &[TaxLine] {
        &self.taxes
    }

    /// What is payable before any credit (`grandTotal`).
    #[must_use]
    pub const fn grand_total(&self) -> Money {
        self.grand_total
    }

    /// The part of the grand total gift credit may pay: everything but the gift-certificate
    /// lines (and their tax).
    #[must_use]
    pub const fn payable_with_gift_credit(&self) -> Money {
        self.payable_with_gift_credit
    }

    /// What to authorise on the checkout's cards: [`Totals::payable_with_gift_credit`], the
    /// part of the grand total gift credit may pay. Authorising it holds on each card exactly
    /// what these totals say it pays ([`AppliedCertificate::used`]), and the rest
    /// ([`Totals::outstanding_balance`]) is for another payment method.
    #[must_use]
    pub const fn amount_to_authorise(&self) -> Money {
        self.payable_with_gift_credit
    }

    /// The applied gift certificates, in the order applied, with `balance`, `used` and
    /// `remaining`.
    #[must_use]
    pub fn gift_certificates(&self) -> &[AppliedCertificate] {
        &self.gift_certificates
    }

    /// The gift credit used on this order.
    #[must_use]
    pub fn credit_used(&self) -> Money {
        // Cannot fail: outstanding = grand - used by construction.
        self.grand_total
            .checked_sub(self.outstanding_balance)
            .unwrap_or(self.grand_total)
    }

    /// What is left to pay by another method: `grandTotal` minus the credit used
    /// (`outstandingBalance`).
    #[must_use]
    pub const fn outstanding_balance(&self) -> Money {
        self.outstanding_balance
    }

    /// Each line's amount, discount and net: products first, then certificates.
    #[must_use]
    pub fn lines(&self) -> &[LineTotal] {
        &self.lines
    }
}

/// A card as totals allocate over it.
struct Applied {
    code: String,
    card: Option<CardId>,
    balance: Money,
    expires_at: Option<DateTime<Utc>>,
}

/// A checkout's cards as totals in `currency` allocate over them, named by id and masked code.
fn checkout_applied(
    checkout: &CheckoutCards,
    currency: Currency,
) -> Result<Vec<Applied>, TotalsError> {
    if let Some(found) = checkout.currency {
        if found != currency {
            return Err(MoneyError::CurrencyMismatch {
                expected: currency,
                found,
            }
            .into());
        }
    }
    let cards = checkout.cards.iter().map(|c| Applied {
        code: c.code.as_str().to_owned(),
        card: Some(c.card),
        balance: c.balance,
        expires_at: c.expires_at,
    });
    Ok(cards.collect())
}

/// Step 5: `cards` pay `payable` (the part of `grand_total` gift credit may pay) in `order`;
/// each card's part, and what is left of the grand total for another method.
fn pay_with_credit(
    grand_total: Money,
    payable: Money,
    cards: Vec<Applied>,
    order: AllocationOrder,
) -> Result<(Vec<AppliedCertificate>, Money), TotalsError> {
    let offers = cards.into_iter().map(|c| Offer {
        available: c.balance,
        expires_at: c.expires_at,
        key: (c.code, c.card),
    });
    let allocation = allocate_by(payable, order, offers)?;
    let outstanding_balance = grand_total.checked_sub(allocation.used())?;
    let gift_certificates = allocation
        .into_cards()
        .into_iter()
        .map(|c| AppliedCertificate {
            code: c.key.0,
            card: c.key.1,
            balance: c.available,
            used: c.used,
            remaining: c.remaining,
        })
        .collect();
    Ok((gift_certificates, outstanding_balance))
}

/// The tax in `amount` at `rate`: `A × r / (100 + r)` when prices include tax, `A × r / 100`
/// when they exclude it; not yet rounded.
fn tax_in(amount: Money, rate: TaxRate, prices: PriceBasis) -> Result<Decimal, MoneyError> {
    let overflow = MoneyError::Overflow {
        operation: "a tax amount",
    };
    let r = rate.percent();
    let denominator = if prices.tax_included() {
        Decimal::ONE_HUNDRED
            .checked_add(r)
            .ok_or(overflow.clone())?
    } else {
        Decimal::ONE_HUNDRED
    };
    amount
        .amount()
        .checked_mul(r)
        .and_then(|x| x.checked_div(denominator))
        .ok_or(overflow)
}

/// The applied cards, refusing empty and repeated codes (compared as [`normalised_chars`]
/// keeps them), in one pass with a hash set.
fn checked_cards<I, S>(applied: I) -> Result<Vec<(String, Money)>, TotalsError>
where
    I: IntoIterator<Item = (S, Money)>,
    S: Into<String>,
{
    let applied = applied.into_iter();
    let mut cards: Vec<(String, Money)> = Vec::with_capacity(applied.size_hint().0);
    let mut seen: HashSet<String> = HashSet::with_capacity(applied.size_hint().0);
    for (index, (code, balance)) in applied.enumerate() {
        let code: String = code.into();
        let normalised: String = normalised_chars(&code).collect();
        if normalised.is_empty() {
            return Err(TotalsError::EmptyCode { index });
        }
        if !seen.insert(normalised) {
            return Err(TotalsError::DuplicateCode {
                index,
                masked: mask_typed(&code),
            });
        }
        cards.push((code, balance));
    }
    Ok(cards)
}

/// Zero as `amount - amount` gives it for a non-zero amount: in `amount`'s scale (an amount's
/// scale shows in [`Money::amount`], so a shortcut must not change it).
fn zero_like(amount: Money) -> Money {
    let scale = amount.amount().scale();
    Money::trusted(
        Decimal::from_parts(0, 0, 0, false, scale),
        amount.currency(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcuts in [`Totals::compute`] give the very decimals the operations they skip
    /// would: `x - 0` is `x`, and `x - x` is [`zero_like`], for every non-zero amount.
    #[test]
    fn skipped_subtractions_keep_the_exact_decimals() {
        let zero = Money::zero(Currency::USD);
        for minor in [1_i64, 5, 10, 99, 100, 12_345, 1_000_000, -1, -100] {
            // Sums keep trailing zeros (`10.50`), so every scale up to the minor units occurs.
            for scale in 0..=2 {
                let amount = Money::trusted(Decimal::new(minor, scale), Currency::USD);
                let bits = |m: Money| m.amount().serialize();
                assert_eq!(bits(amount.checked_sub(zero).unwrap()), bits(amount));
                assert_eq!(
                    bits(amount.checked_sub(amount).unwrap()),
                    bits(zero_like(amount)),
                    "{amount:?}"
                );
            }
        }
    }
}
