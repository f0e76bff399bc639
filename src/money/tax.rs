//! Tax rates, as percentages.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{MoneyError, parse_decimal};

/// The most decimals a tax rate may carry (12.3456 %).
const MAX_RATE_DECIMALS: u32 = 4;

/// A tax rate in percent, from 0 to 100 inclusive (`25` is 25 %).
///
/// ```
/// use giftcert::TaxRate;
///
/// let vat: TaxRate = "25".parse()?;
/// assert_eq!(vat.to_string(), "25%");
/// assert!("-1".parse::<TaxRate>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RateRepr", into = "RateRepr")]
pub struct TaxRate(Decimal);

/// A tax rate that is not a percentage from 0 to 100.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaxRateError {
    /// The rate is below 0 or above 100.
    #[error("tax rate {0} is outside 0 to 100 percent")]
    OutOfRange(Decimal),
    /// The rate has more than four decimals.
    #[error("tax rate {0} has more than {MAX_RATE_DECIMALS} decimals")]
    TooPrecise(Decimal),
    /// The text is not a number.
    #[error("tax rate \"{0}\" is not a number")]
    NotANumber(String),
    /// The text is longer than any rate needs
    /// ([`MAX_AMOUNT_TEXT_LEN`](crate::money::MAX_AMOUNT_TEXT_LEN)): refused before parsing.
    #[error("tax rate text has {0} characters, expected at most {max}", max = crate::money::MAX_AMOUNT_TEXT_LEN)]
    TooLong(usize),
}

impl TaxRate {
    /// No tax: what a multi-purpose voucher carries (the Nordic checkout provider's `"vat": 0`).
    pub const ZERO: TaxRate = TaxRate(Decimal::ZERO);

    /// A rate of `percent` percent.
    ///
    /// # Errors
    ///
    /// [`TaxRateError::OutOfRange`] below 0 or above 100, [`TaxRateError::TooPrecise`] beyond
    /// four decimals.
    pub fn new(percent: Decimal) -> Result<TaxRate, TaxRateError> {
        let percent = percent.normalize();
        if percent.is_sign_negative() && !percent.is_zero() || percent > Decimal::ONE_HUNDRED {
            return Err(TaxRateError::OutOfRange(percent));
        }
        if percent.scale() > MAX_RATE_DECIMALS {
            return Err(TaxRateError::TooPrecise(percent));
        }
        Ok(TaxRate(percent.abs()))
    }

    /// The rate in percent.
    #[must_use]
    pub const fn percent(&self) -> Decimal {
        self.0
    }

    /// Whether this rate is zero.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// The rate as shown to people (`"25%"`, `"7.7%"`): the text of `Display`, written
    /// digit by digit, since totals name each rate they list.
    pub(crate) fn name(&self) -> String {
        let scale = self.0.scale();
        // A rate is at most 100 with four decimals; anything wider takes the formatter's path.
        let mantissa = u64::try_from(self.0.mantissa().unsigned_abs()).ok();
        let (Some(mantissa), Some(unit)) = (mantissa, 10_u64.checked_pow(scale)) else {
            return self.to_string();
        };
        let mut name = String::with_capacity(12);
        if self.0.is_sign_negative() {
            name.push('-');
        }
        push_digits(&mut name, mantissa / unit, 1);
        if scale > 0 {
            name.push('.');
            push_digits(&mut name, mantissa % unit, scale as usize);
        }
        name.push('%');
        name
    }

    /// The rate's exact representation: equal for equal rates, since rates are normalised.
    #[inline]
    pub(crate) fn bits(&self) -> u128 {
        u128::from_le_bytes(self.0.serialize())
    }
}

/// Appends `n` in decimal, padded with zeros to `width` digits.
fn push_digits(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 24];
    let mut len = 0;
    while n > 0 || len < width {
        if let Some(d) = digits.get_mut(len) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        len += 1;
    }
    for &d in digits.iter().take(len).rev() {
        out.push(char::from(d));
    }
}

impl fmt::Display for TaxRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl fmt::Debug for TaxRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaxRate({}%)", self.0)
    }
}

impl FromStr for TaxRate {
    type Err = TaxRateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim().trim_end_matches('%');
        let value = parse_decimal(text).map_err(|e| match e {
            MoneyError::AmountTooLong { length, .. } => TaxRateError::TooLong(length),
            _ => TaxRateError::NotANumber(s.chars().take(40).collect()),
        })?;
        TaxRate::new(value)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct RateRepr(#[serde(with = "crate::money::serde_impl::decimal")] Decimal);

impl From<TaxRate> for RateRepr {
    fn from(r: TaxRate) -> Self {
        RateRepr(r.0)
    }
}

impl TryFrom<RateRepr> for TaxRate {
    type Error = TaxRateError;

    fn try_from(r: RateRepr) -> Result<Self, Self::Error> {
        TaxRate::new(r.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_outside_zero_to_one_hundred_are_refused() {
        assert_eq!(
            TaxRate::new(Decimal::from(-1)).unwrap_err().to_string(),
            "tax rate -1 is outside 0 to 100 percent"
        );
        assert!(TaxRate::new(Decimal::from(101)).is_err());
        assert!(TaxRate::new(Decimal::new(123_456, 5)).is_err());
        assert_eq!(
            TaxRate::new(Decimal::new(125, 1)).unwrap().to_string(),
            "12.5%"
        );
        assert_eq!(
            "25%".parse::<TaxRate>().unwrap().percent(),
            Decimal::from(25)
        );
        assert!("abc".parse::<TaxRate>().is_err());
        assert!(TaxRate::new(Decimal::new(0, 0)).unwrap().is_zero());
    }

    #[test]
    fn names_are_the_display_text() {
        let mut rates: Vec<Decimal> = (0..=100).map(Decimal::from).collect();
        rates.extend((0..=1_000_000).step_by(37).map(|n| Decimal::new(n, 4)));
        rates.extend([
            Decimal::new(50, 1),
            Decimal::new(1000, 3),
            Decimal::new(-0, 2),
        ]);
        for percent in rates {
            let rate = TaxRate::new(percent).unwrap();
            assert_eq!(rate.name(), rate.to_string(), "{percent}");
            // Not normalised (as no constructor leaves it): still the Display text.
            let raw = TaxRate(percent);
            assert_eq!(raw.name(), raw.to_string(), "{percent}");
        }
    }
}
