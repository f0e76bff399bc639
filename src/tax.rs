//! Tax rates, as percentages.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::parse_decimal;

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
}

impl TaxRate {
    /// No tax: what a multi-purpose voucher carries (seed 003's `"vat": 0`).
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
        let value = parse_decimal(text)
            .map_err(|_| TaxRateError::NotANumber(s.chars().take(40).collect()))?;
        TaxRate::new(value)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct RateRepr(#[serde(with = "crate::serde_impl::decimal")] Decimal);

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
}
