//! Amounts in request bodies: a string (`"12.50"`) or a whole number (`100`), never a binary
//! float, which may already have lost the amount.

use std::fmt;
use std::str::FromStr;

use axum::http::StatusCode;
use giftcert::{Currency, Money};
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, money_code};

/// An amount as the client sent it, exact; written back as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Amount(pub(crate) Decimal);

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl Amount {
    /// The amount in `currency`.
    ///
    /// # Errors
    ///
    /// `422 too_many_decimals` when it has more decimals than the currency allows, and
    /// `422 amount_too_large` above the most any amount may be (one billion of the currency).
    pub(crate) fn in_currency(self, currency: Currency) -> Result<Money, ApiError> {
        Money::new(self.0, currency)
            .and_then(Money::within_maximum)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    money_code(&e),
                    e.to_string(),
                )
            })
    }
}

struct AmountVisitor;

const EXPECTED: &str = "an amount as a string like \"12.50\" or a whole number";

impl Visitor<'_> for AmountVisitor {
    type Value = Amount;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Amount, E> {
        // The text is not echoed: it came from the client.
        Decimal::from_str_exact(v.trim())
            .or_else(|_| Decimal::from_str(v.trim()))
            .map(Amount)
            .map_err(|_| E::custom(format!("expected {EXPECTED}")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Amount, E> {
        Ok(Amount(Decimal::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Amount, E> {
        Ok(Amount(Decimal::from(v)))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Amount, E> {
        Err(E::custom(format!(
            "expected {EXPECTED}: a fractional JSON number may already be rounded"
        )))
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AmountVisitor)
    }
}

/// `{"amount": "12.50", "currency": "USD"}`; the currency may be left out, and then is the
/// checkout's.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MoneyInput {
    /// The amount.
    pub(crate) amount: Amount,
    /// Its currency, if given.
    #[serde(default)]
    pub(crate) currency: Option<Currency>,
}

impl MoneyInput {
    /// The amount in `expected`.
    ///
    /// # Errors
    ///
    /// `422 wrong_currency` when another currency was given, and those of
    /// [`Amount::in_currency`].
    pub(crate) fn in_currency(self, expected: Currency) -> Result<Money, ApiError> {
        if let Some(given) = self.currency
            && given != expected
        {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "wrong_currency",
                format!("the checkout is in {expected}, not {given}"),
            ));
        }
        self.amount.in_currency(expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_strings_or_whole_numbers_never_floats() {
        let parse = |json: &str| serde_json::from_str::<Amount>(json);
        assert_eq!(parse("\"12.50\"").ok(), Some(Amount(Decimal::new(1250, 2))));
        assert_eq!(parse("100").ok(), Some(Amount(Decimal::from(100))));
        assert!(parse("12.5").is_err());
        let err = parse("\"twelve\"").err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| !e.contains("twelve")));
    }
}
