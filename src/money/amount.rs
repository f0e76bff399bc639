//! Exact amounts of money: a [`Decimal`] always paired with its [`Currency`].
//!
//! Amounts never pass through floating point. An amount carries at most its currency's minor
//! units; arithmetic between two currencies is an error ([`MoneyError::CurrencyMismatch`]), as
//! is overflow. Where an amount is split ([`Money::split_by_weights`]) the parts sum exactly to
//! the whole: the rounding remainder goes to one part, never lost.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Currency;

use super::*;

/// An exact amount in one currency, with at most the currency's minor units.
///
/// ```
/// use giftcert::{Currency, Money};
/// use rust_decimal::Decimal;
///
/// let price = Money::parse("5500", Currency::USD)?;
/// let credit = Money::parse("1000.00", Currency::USD)?;
/// assert_eq!(price.checked_sub(credit)?.to_string(), "4500.00 USD");
///
/// // 10.5 is not an amount of yen, and yen do not mix with dollars.
/// assert!(Money::new(Decimal::new(105, 1), Currency::JPY).is_err());
/// assert!(price.checked_add(Money::zero(Currency::EUR)).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "MoneyRepr", into = "MoneyRepr")]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// An amount in `currency`.
    ///
    /// # Errors
    ///
    /// [`MoneyError::TooManyDecimals`] when `amount` has more significant decimals than the
    /// currency's minor units (`10.50` is fine for USD, `10.5` is not for JPY); round first with
    /// [`Money::rounded`] when that is what you mean.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        let amount = amount.normalize();
        if amount.scale() > currency.minor_units() {
            return Err(MoneyError::TooManyDecimals {
                amount,
                currency,
                allowed: currency.minor_units(),
            });
        }
        Ok(Money { amount, currency })
    }

    /// Rounds `amount` to the currency's minor units under `rule`.
    #[must_use]
    pub fn rounded(amount: Decimal, currency: Currency, rule: RoundingRule) -> Money {
        Money {
            amount: rule.round(amount, currency.minor_units()).normalize(),
            currency,
        }
    }

    /// An amount already known to fit `currency`'s minor units (it came from arithmetic on
    /// amounts that do): no check, for the crate's hot paths.
    pub(crate) const fn trusted(amount: Decimal, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// Zero in `currency`.
    #[must_use]
    pub const fn zero(currency: Currency) -> Money {
        Money {
            amount: Decimal::ZERO,
            currency,
        }
    }

    /// An amount given in minor units (cents, öre): `from_minor(1050, USD)` is 10.50 USD.
    ///
    /// # Errors
    ///
    /// [`MoneyError::Overflow`] when the amount cannot be represented.
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Money, MoneyError> {
        let amount =
            Decimal::try_new(minor, currency.minor_units()).map_err(|_| MoneyError::Overflow {
                operation: "an amount from minor units",
            })?;
        Ok(Money {
            amount: amount.normalize(),
            currency,
        })
    }

    /// Parses a plain decimal amount (`"10.00"`, `"-3"`) in `currency`.
    ///
    /// # Errors
    ///
    /// - [`MoneyError::AmountTooLong`] when `text` has more than [`MAX_AMOUNT_TEXT_LEN`] (64)
    ///   characters, white space around it aside: checked before it is parsed;
    /// - [`MoneyError::InvalidAmount`] when `text` is not a decimal number;
    /// - the errors of [`Money::new`].
    ///
    /// ```
    /// use giftcert::money::{Currency, Money};
    ///
    /// assert_eq!(Money::parse(" 0010.50 ", Currency::USD)?.to_string(), "10.50 USD");
    /// let padded = format!("{}1", "0".repeat(8000));
    /// assert_eq!(
    ///     Money::parse(&padded, Currency::USD).unwrap_err().to_string(),
    ///     "amount text has 8001 characters, expected at most 64"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        Money::new(parse_decimal(text)?, currency)
    }

    /// The largest amount of `currency` a price, a line, a total, a gift certificate or a
    /// card's balance may reach: [`MAX_WHOLE_UNITS`] (one billion) whole units of it, for
    /// every currency. Sums over many cards (a liability report) may go beyond it.
    ///
    /// ```
    /// use giftcert::money::{Currency, Money, MoneyError};
    ///
    /// assert_eq!(Money::maximum(Currency::USD).to_string(), "1000000000.00 USD");
    /// let huge = Money::parse("99999999999999999999999", Currency::USD)?;
    /// assert!(matches!(huge.within_maximum(), Err(MoneyError::AboveMaximum { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn maximum(currency: Currency) -> Money {
        Money {
            amount: Decimal::from(MAX_WHOLE_UNITS),
            currency,
        }
    }

    /// `self`, when it is no further from zero than [`Money::maximum`] of its currency.
    ///
    /// # Errors
    ///
    /// [`MoneyError::AboveMaximum`], naming the maximum.
    pub fn within_maximum(self) -> Result<Money, MoneyError> {
        let max = Money::maximum(self.currency);
        if self.amount.abs() > max.amount {
            return Err(MoneyError::AboveMaximum { amount: self, max });
        }
        Ok(self)
    }

    /// The amount; its scale never exceeds the currency's minor units (equality and hashing
    /// are by value: `10.5` and `10.50` are the same amount).
    #[must_use]
    pub const fn amount(&self) -> Decimal {
        self.amount
    }

    /// The currency.
    #[must_use]
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the amount is zero.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    /// Whether the amount is above zero.
    #[must_use]
    pub fn is_positive(&self) -> bool {
        self.amount > Decimal::ZERO
    }

    /// Whether the amount is below zero.
    #[must_use]
    pub fn is_negative(&self) -> bool {
        self.amount < Decimal::ZERO
    }

    /// The same amount with the opposite sign.
    #[must_use]
    pub fn negated(&self) -> Money {
        Money {
            amount: -self.amount,
            currency: self.currency,
        }
    }

    /// The amount in minor units (1050 for 10.50 USD), when it fits in an `i64`.
    #[must_use]
    pub fn to_minor(&self) -> Option<i64> {
        let scaled = self.amount.checked_mul(Decimal::from(
            10_i64.checked_pow(self.currency.minor_units())?,
        ))?;
        i64::try_from(scaled).ok()
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                expected: self.currency,
                found: other.currency,
            })
        }
    }

    /// `self + other`.
    ///
    /// # Errors
    ///
    /// [`MoneyError::CurrencyMismatch`] and [`MoneyError::Overflow`].
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow { operation: "a sum" })?;
        // The sum of two amounts within the minor units stays within them: no rescaling.
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    /// `self - other`.
    ///
    /// # Errors
    ///
    /// [`MoneyError::CurrencyMismatch`] and [`MoneyError::Overflow`].
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.checked_add(other.negated())
    }

    /// `self × quantity` (a line's unit price times its quantity).
    ///
    /// # Errors
    ///
    /// [`MoneyError::Overflow`].
    pub fn checked_mul(self, quantity: u64) -> Result<Money, MoneyError> {
        let amount =
            self.amount
                .checked_mul(Decimal::from(quantity))
                .ok_or(MoneyError::Overflow {
                    operation: "a line amount",
                })?;
        Ok(Money {
            amount,
            currency: self.currency,
        })
    }

    /// Compares two amounts of the same currency.
    ///
    /// # Errors
    ///
    /// [`MoneyError::CurrencyMismatch`].
    pub fn checked_cmp(&self, other: &Money) -> Result<Ordering, MoneyError> {
        self.same_currency(other)?;
        Ok(self.amount.cmp(&other.amount))
    }

    /// The smaller of two amounts of the same currency.
    ///
    /// # Errors
    ///
    /// [`MoneyError::CurrencyMismatch`].
    pub fn checked_min(self, other: Money) -> Result<Money, MoneyError> {
        Ok(match self.checked_cmp(&other)? {
            Ordering::Greater => other,
            _ => self,
        })
    }

    /// Adds up `amounts`, all in `currency` (zero when there are none).
    ///
    /// # Errors
    ///
    /// [`MoneyError::CurrencyMismatch`] and [`MoneyError::Overflow`].
    pub fn sum<I>(currency: Currency, amounts: I) -> Result<Money, MoneyError>
    where
        I: IntoIterator<Item = Money>,
    {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    /// Splits this amount over `weights`, proportionally, into parts that sum exactly to it.
    ///
    /// Each part is rounded toward zero to the currency's minor units, then the remainder goes,
    /// one minor unit at a time, to the parts with the largest weight first (ties to the earlier
    /// part). Spreading an order discount over lines, or tax over rates, uses this.
    ///
    /// ```
    /// use giftcert::{Currency, Money};
    /// use rust_decimal::Decimal;
    ///
    /// let discount = Money::parse("10.00", Currency::USD)?;
    /// let parts = discount.split_by_weights(&[Decimal::ONE; 3])?;
    /// let shown: Vec<String> = parts.iter().map(|m| m.to_string()).collect();
    /// assert_eq!(shown, ["3.34 USD", "3.33 USD", "3.33 USD"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`MoneyError::InvalidSplit`] when there are no weights, a weight is negative, or they sum
    /// to zero while the amount is not zero; [`MoneyError::Overflow`].
    pub fn split_by_weights(&self, weights: &[Decimal]) -> Result<Vec<Money>, MoneyError> {
        let invalid = |reason| MoneyError::InvalidSplit {
            amount: *self,
            reason,
        };
        if weights.is_empty() {
            return Err(invalid("no parts to split over"));
        }
        if weights.iter().any(|w| w.is_sign_negative() && !w.is_zero()) {
            return Err(invalid("a weight is negative"));
        }
        let overflow = MoneyError::Overflow {
            operation: "a split",
        };
        let total_weight = weights
            .iter()
            .try_fold(Decimal::ZERO, |acc, w| acc.checked_add(*w))
            .ok_or(overflow.clone())?;
        if total_weight.is_zero() {
            if self.is_zero() {
                return Ok(vec![*self; weights.len()]);
            }
            return Err(invalid("the weights sum to zero"));
        }
        let units = self.currency.minor_units();
        let mut parts = Vec::with_capacity(weights.len());
        let mut given = Decimal::ZERO;
        for w in weights {
            let share = self
                .amount
                .checked_mul(*w)
                .and_then(|x| x.checked_div(total_weight))
                .ok_or(overflow.clone())?;
            let part = RoundingRule::TowardZero.round(share, units);
            given = given.checked_add(part).ok_or(overflow.clone())?;
            parts.push(part);
        }
        // What truncation left over: fewer than `parts.len()` minor units, same sign as self.
        let step = Decimal::new(1, units);
        let step = if self.is_negative() { -step } else { step };
        let mut remainder = self.amount - given;
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by(|&a, &b| weights[b].cmp(&weights[a]).then(a.cmp(&b)));
        for &i in order.iter().cycle() {
            if remainder.is_zero() {
                break;
            }
            parts[i] += step;
            remainder -= step;
        }
        Ok(parts
            .into_iter()
            .map(|amount| Money {
                amount: amount.normalize(),
                currency: self.currency,
            })
            .collect())
    }

    /// Formats this amount for display under `format` (see [`MoneyFormat`]).
    #[must_use]
    pub fn format(&self, format: &MoneyFormat) -> String {
        format.format(self)
    }
}

/// The most whole units of its currency any one amount the crate sells, issues or keeps on a
/// card may be: one billion ([`Money::maximum`]). It leaves every such amount, in any currency
/// the crate takes, exact in a `Decimal` and in 64 bits of minor units for currencies of up to
/// nine decimals, so that every store keeps what another keeps.
pub const MAX_WHOLE_UNITS: u64 = 1_000_000_000;

/// The most characters the text of an amount may have, white space around it aside: every
/// amount a `Decimal` holds fits in 32, so 64 leave room for a sign, an exponent and padding.
///
/// Longer text is refused ([`MoneyError::AmountTooLong`]) before it is parsed: `rust_decimal`
/// recurses once per leading zero, and about 8,000 of them overflow the stack of a debug build.
/// Every amount parser of the crate keeps this limit: [`Money::parse`], `Money`'s `FromStr`,
/// serde, and [`TaxRate`](crate::money::TaxRate)'s `FromStr`.
pub const MAX_AMOUNT_TEXT_LEN: usize = 64;

/// Parses decimal text exactly (no floating point); accepts a leading sign and scientific
/// notation (`1e3`).
pub(crate) fn parse_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let invalid = |reason| MoneyError::InvalidAmount {
        input: text.chars().take(40).collect(),
        reason,
    };
    let trimmed = text.trim();
    if trimmed.len() > MAX_AMOUNT_TEXT_LEN {
        return Err(MoneyError::AmountTooLong {
            length: trimmed.len(),
            max: MAX_AMOUNT_TEXT_LEN,
        });
    }
    if trimmed.is_empty() {
        return Err(invalid("expected a decimal number"));
    }
    let ok_chars = trimmed
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !ok_chars {
        return Err(invalid("expected a decimal number"));
    }
    if trimmed.contains(['e', 'E']) {
        Decimal::from_scientific(trimmed).map_err(|_| invalid("expected a decimal number"))
    } else {
        Decimal::from_str_exact(trimmed).map_err(|_| invalid("expected a decimal number"))
    }
}

/// `10.00 USD`: the amount with the currency's minor units, a space, the code.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Zero has no sign to show: `0 - 0` may carry one inside the decimal.
        let mut amount = self.amount;
        if amount.is_zero() {
            amount.set_sign_positive(true);
        }
        write!(
            f,
            "{:.*} {}",
            self.currency.minor_units() as usize,
            amount,
            self.currency
        )
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

/// Parses `"10.00 USD"` (amount, white space, currency code).
impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (amount, code) =
            s.trim()
                .rsplit_once(char::is_whitespace)
                .ok_or_else(|| MoneyError::InvalidAmount {
                    input: s.chars().take(40).collect(),
                    reason: "expected an amount and a currency code, as in \"10.00 USD\"",
                })?;
        Money::parse(amount, Currency::from_code(code)?)
    }
}

#[derive(Serialize, Deserialize)]
struct MoneyRepr {
    #[serde(with = "crate::money::serde_impl::decimal")]
    amount: Decimal,
    currency: Currency,
}

impl From<Money> for MoneyRepr {
    fn from(m: Money) -> Self {
        let mut amount = m.amount;
        if amount.is_zero() {
            amount.set_sign_positive(true);
        }
        amount.rescale(m.currency.minor_units());
        // Rescaling only fails to hold the value for amounts near Decimal's limit.
        let amount = if amount == m.amount { amount } else { m.amount };
        MoneyRepr {
            amount,
            currency: m.currency,
        }
    }
}

impl TryFrom<MoneyRepr> for Money {
    type Error = MoneyError;

    fn try_from(r: MoneyRepr) -> Result<Self, Self::Error> {
        Money::new(r.amount, r.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(text: &str) -> Money {
        Money::parse(text, Currency::USD).unwrap()
    }

    #[test]
    fn amounts_beyond_the_minor_units_are_refused_with_the_reason() {
        let err = Money::new(Decimal::new(105, 1), Currency::JPY).unwrap_err();
        assert_eq!(
            err.to_string(),
            "amount 10.5 has more decimals than JPY allows (0)"
        );
        assert!(Money::parse("1.001", Currency::USD).is_err());
        assert!(Money::parse("1.001", Currency::KWD).is_ok());
        // Trailing zeros are not decimals that matter.
        assert_eq!(
            Money::parse("1000.000", Currency::JPY).unwrap().to_string(),
            "1000 JPY"
        );
    }

    #[test]
    fn mixing_currencies_is_a_typed_error_not_a_panic() {
        let eur = Money::parse("1", Currency::EUR).unwrap();
        let err = usd("1").checked_add(eur).unwrap_err();
        assert_eq!(
            err,
            MoneyError::CurrencyMismatch {
                expected: Currency::USD,
                found: Currency::EUR
            }
        );
        assert_eq!(
            err.to_string(),
            "cannot combine EUR with USD: amounts are in different currencies"
        );
        assert!(usd("1").checked_cmp(&eur).is_err());
        assert!(Money::sum(Currency::USD, [usd("1"), eur]).is_err());
    }

    #[test]
    fn overflow_is_reported_instead_of_panicking() {
        let max = Money::new(Decimal::MAX, Currency::JPY).unwrap();
        assert!(matches!(
            max.checked_add(max),
            Err(MoneyError::Overflow { .. })
        ));
        assert!(max.checked_mul(2).is_err());
    }

    #[test]
    fn rounding_rules_differ_only_on_halves() {
        let x = Decimal::new(2345, 3);
        assert_eq!(
            Money::rounded(x, Currency::USD, RoundingRule::HalfAwayFromZero),
            usd("2.35")
        );
        assert_eq!(
            Money::rounded(x, Currency::USD, RoundingRule::HalfEven),
            usd("2.34")
        );
        assert_eq!(
            Money::rounded(-x, Currency::USD, RoundingRule::HalfAwayFromZero),
            usd("-2.35")
        );
        assert_eq!(
            Money::rounded(x, Currency::USD, RoundingRule::TowardZero),
            usd("2.34")
        );
        assert_eq!(RoundingRule::default(), RoundingRule::HalfAwayFromZero);
    }

    #[test]
    fn split_parts_sum_exactly_to_the_whole() {
        let total = usd("100.00");
        let weights = [Decimal::new(1, 0), Decimal::new(1, 0), Decimal::new(1, 0)];
        let parts = total.split_by_weights(&weights).unwrap();
        assert_eq!(Money::sum(Currency::USD, parts.clone()).unwrap(), total);
        assert_eq!(parts[0], usd("33.34"));

        let negative = usd("-0.05").split_by_weights(&[Decimal::ONE; 3]).unwrap();
        assert_eq!(
            Money::sum(Currency::USD, negative.clone()).unwrap(),
            usd("-0.05")
        );
        assert!(negative.iter().all(|p| !p.is_positive()));

        let weighted = Money::parse("7", Currency::JPY)
            .unwrap()
            .split_by_weights(&[Decimal::new(1, 0), Decimal::new(3, 0)])
            .unwrap();
        assert_eq!(weighted[0].to_string(), "1 JPY");
        assert_eq!(weighted[1].to_string(), "6 JPY");
    }

    #[test]
    fn split_refuses_weights_that_cannot_carry_the_amount() {
        assert!(usd("1").split_by_weights(&[]).is_err());
        assert!(usd("1").split_by_weights(&[Decimal::ZERO]).is_err());
        assert!(
            usd("1")
                .split_by_weights(&[Decimal::NEGATIVE_ONE, Decimal::TWO])
                .is_err()
        );
        assert_eq!(
            usd("0")
                .split_by_weights(&[Decimal::ZERO, Decimal::ZERO])
                .unwrap(),
            vec![usd("0"); 2]
        );
    }

    #[test]
    fn formatting_produces_each_seed_string() {
        let fmt = MoneyFormat::new();
        assert_eq!(usd("10").format(&fmt), "10.00 USD");
        let sek = Money::parse("100", Currency::SEK).unwrap();
        assert_eq!(
            sek.format(&MoneyFormat::new().decimals(ShownDecimals::WholeWhenExact)),
            "100 SEK"
        );
        let jpy = Money::parse("1000", Currency::JPY).unwrap();
        assert_eq!(
            jpy.format(&MoneyFormat::new().thousands_separator(' ')),
            "1 000 JPY"
        );
        let big = usd("-1234567.5");
        assert_eq!(
            big.format(&MoneyFormat::new().thousands_separator(',')),
            "-1,234,567.50 USD"
        );
        assert_eq!(
            Money::parse("100.5", Currency::SEK)
                .unwrap()
                .format(&MoneyFormat::new().decimals(ShownDecimals::WholeWhenExact)),
            "100.50 SEK"
        );
        assert_eq!(
            usd("2.5").format(
                &MoneyFormat::new()
                    .decimals(ShownDecimals::Fixed(0))
                    .decimal_separator(',')
            ),
            "3 USD"
        );
    }

    #[test]
    fn parsing_is_exact_and_rejects_garbage() {
        assert_eq!("10.00 USD".parse::<Money>().unwrap(), usd("10"));
        assert_eq!(
            Money::parse("1e3", Currency::JPY).unwrap().to_string(),
            "1000 JPY"
        );
        assert!(Money::parse("ten", Currency::USD).is_err());
        assert!(Money::parse("", Currency::USD).is_err());
        assert!("10.00".parse::<Money>().is_err());
        assert_eq!(
            Money::parse("0.1", Currency::USD).unwrap().amount() * Decimal::from(3),
            Decimal::new(3, 1)
        );
    }

    #[test]
    fn minor_units_convert_both_ways() {
        assert_eq!(
            Money::from_minor(1050, Currency::USD).unwrap(),
            usd("10.50")
        );
        assert_eq!(usd("10.50").to_minor(), Some(1050));
        assert_eq!(
            Money::from_minor(7, Currency::KWD).unwrap().to_string(),
            "0.007 KWD"
        );
    }

    #[test]
    fn serde_writes_amounts_as_strings_and_validates_on_the_way_in() {
        let json = serde_json::to_string(&usd("10.5")).unwrap();
        assert_eq!(json, r#"{"amount":"10.50","currency":"USD"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), usd("10.5"));
        assert!(serde_json::from_str::<Money>(r#"{"amount":"10.5","currency":"JPY"}"#).is_err());
        // Integers are exact, so they are accepted as JSON numbers.
        assert_eq!(
            serde_json::from_str::<Money>(r#"{"amount":10,"currency":"USD"}"#).unwrap(),
            usd("10")
        );
    }

    #[test]
    fn zero_never_shows_a_sign() {
        let mut minus_zero = Decimal::new(0, 2);
        minus_zero.set_sign_negative(true);
        let zero = Money::new(minus_zero, Currency::USD).unwrap();
        assert_eq!(zero.to_string(), "0.00 USD");
        let difference = Money::zero(Currency::USD)
            .checked_sub(Money::zero(Currency::USD))
            .unwrap();
        assert_eq!(difference.to_string(), "0.00 USD");
        assert_eq!(MoneyRepr::from(zero).amount.to_string(), "0.00");
    }
}
