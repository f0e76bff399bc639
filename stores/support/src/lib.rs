//! What every giftcert SQL store (`giftcert-sqlite`, `giftcert-postgres`) shares, in one
//! implementation:
//!
//! - how codes are kept at rest: [`CodeKey`] and its [`CodeDigest`]s (HMAC-SHA-256);
//! - how giftcert's values become SQL column values and back ([`amount`], [`to_json`],
//!   [`versioned`], ...);
//! - the order of a commit's steps and the checks between them ([`CommitSteps`],
//!   [`write_changes`]);
//! - how connections are pooled ([`PoolOptions`], [`checkout`]);
//! - how async SQL runs on a blocking client ([`run_ready`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod commit;
mod digest;
mod pool;
mod ready;

pub use commit::{CommitSteps, write_changes};
pub use digest::{CodeDigest, CodeDigestError, CodeKey, CodeKeyError};
pub use pool::{PoolOptions, checkout};
pub use ready::run_ready;

use std::fmt::Display;

use chrono::{DateTime, SecondsFormat, Utc};
use giftcert::{
    Code, Currency, GiftCard, Money, StoreError,
    card::CardStatus,
    redeem::{Record, Versioned},
    store::CardQuery,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// An amount as exact text at its currency's scale (`"100.00"`, `"-5.00"`, `"1000"` for JPY),
/// so that the schema's checks can compare amounts of one currency as text.
pub fn amount(money: Money) -> Result<String, StoreError> {
    let mut decimal = money.amount();
    decimal.rescale(money.currency().minor_units());
    if decimal != money.amount() {
        return Err(StoreError::corrupt(format!(
            "amount {money} cannot be written at its currency's scale"
        )));
    }
    if decimal.is_zero() {
        decimal.set_sign_positive(true);
    }
    // A decimal holds 28 significant digits at most, so a large amount (28 integer digits)
    // cannot be rescaled to its currency's scale: write the missing zeros as text instead,
    // so that every amount the core accepts is stored at its currency's scale.
    let mut text = decimal.to_string();
    let missing = money
        .currency()
        .minor_units()
        .saturating_sub(decimal.scale());
    if missing > 0 {
        if decimal.scale() == 0 {
            text.push('.');
        }
        text.extend(std::iter::repeat_n('0', missing as usize));
    }
    Ok(text)
}

/// RFC 3339 in UTC with microseconds and a `Z`: fixed width, so text order is time order.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The characters of a code a store may show: [`Code::last4`], at most the last four and at
/// most a quarter of the code (one for `X-GC-1`), all a store keeps of it besides its keyed
/// hash.
pub fn last4(code: &Code) -> String {
    code.last4().to_owned()
}

/// The characters a card's masked hint shows (`KQ2` of `****-****-****-*KQ2`; none for a hint
/// that shows nothing): what the `code_last4` column keeps, never more of the code than the
/// card itself shows.
pub fn hint_shown(card: &GiftCard) -> String {
    card.code_hint()
        .chars()
        .filter(|c| *c != '*' && *c != '-')
        .collect()
}

/// What a card's search columns hold (see [`CardQuery`]): written on every insert and update,
/// so that the columns never differ from the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchColumns {
    /// When it was issued, as [`timestamp`] writes it: with the id, the order of pages.
    pub issued_at: String,
    /// Its expiry date, as [`timestamp`] writes it.
    pub expires_at: Option<String>,
    /// The order that bought it.
    pub order_ref: Option<String>,
    /// Who bought it.
    pub purchaser: Option<String>,
    /// The recipient's e-mail, in lower case ([`CardQuery::recipient_key`]).
    pub recipient_email: Option<String>,
}

impl SearchColumns {
    /// The columns of `card`.
    #[must_use]
    pub fn of(card: &GiftCard) -> SearchColumns {
        SearchColumns {
            issued_at: timestamp(card.issued_at()),
            expires_at: card.expires_at().map(timestamp),
            order_ref: card.order().map(|r| r.as_str().to_owned()),
            purchaser: card.purchaser().map(|r| r.as_str().to_owned()),
            recipient_email: CardQuery::recipient_key(card),
        }
    }
}

/// A status as the `status` column keeps it (`"active"`, `"disabled"`...: its serde name).
///
/// # Errors
///
/// [`StoreError::Corrupt`] if it cannot be written (never, for the statuses the crate has).
pub fn status_tag(status: CardStatus) -> Result<String, StoreError> {
    match serde_json::to_value(status) {
        Ok(Value::String(tag)) => Ok(tag),
        _ => Err(StoreError::corrupt(format!("cannot write status {status}"))),
    }
}

/// A sum of minor units (an integer the SQL summed exactly) as money.
///
/// # Errors
///
/// [`StoreError::Corrupt`] when `minor` does not fit `currency`'s amounts.
pub fn from_minor(minor: i64, currency: Currency) -> Result<Money, StoreError> {
    Money::from_minor(minor, currency)
        .map_err(|e| StoreError::corrupt(format!("a sum of {minor} minor units: {e}")))
}

/// An amount a column keeps as exact text ([`amount`]'s), read back.
///
/// # Errors
///
/// [`StoreError::Corrupt`] when it is not an amount of `currency`.
pub fn parse_amount(text: &str, currency: Currency) -> Result<Money, StoreError> {
    // [`amount`] pads a 28-digit amount with zeros a decimal cannot hold: drop them again.
    let exact = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    };
    Money::parse(exact, currency)
        .map_err(|e| StoreError::corrupt(format!("stored amount \"{text}\": {e}")))
}

/// A currency as a column keeps it: an ISO currency by its code (`"USD"`), a custom one by its
/// code and minor units (`"PTS:0"`), so that a column alone names the currency and its scale
/// (the liability report reads nothing else).
pub fn currency_column(currency: Currency) -> String {
    if currency.is_iso() {
        currency.code().to_owned()
    } else {
        format!("{}:{}", currency.code(), currency.minor_units())
    }
}

/// A currency a column keeps ([`currency_column`]'s form).
///
/// # Errors
///
/// [`StoreError::Corrupt`] for a code the crate does not know.
pub fn parse_currency(text: &str) -> Result<Currency, StoreError> {
    let corrupt =
        |e: &dyn std::fmt::Display| StoreError::corrupt(format!("stored currency \"{text}\": {e}"));
    match text.split_once(':') {
        Some((code, units)) => {
            let units: u8 = units.parse().map_err(|e| corrupt(&e))?;
            Currency::custom(code, units).map_err(|e| corrupt(&e))
        }
        None => text.parse().map_err(|e| corrupt(&e)),
    }
}

/// A value as JSON, with the tag a mirrored column keeps (`path` leads to it).
pub fn to_json<T: Serialize>(value: &T, path: &[&str]) -> Result<(String, String), StoreError> {
    let (json, tag) = json_and_tag(value, path)?;
    Ok((json.to_string(), tag))
}

/// As [`to_json`], the JSON left as a [`Value`] (for a store that sends it inside a larger
/// document).
pub fn json_and_tag<T: Serialize>(value: &T, path: &[&str]) -> Result<(Value, String), StoreError> {
    let json = serde_json::to_value(value)
        .map_err(|e| StoreError::corrupt_from("cannot write a value as JSON", e))?;
    let tag = path
        .iter()
        .try_fold(&json, |v, key| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok((json, tag))
}

/// A stored JSON value, validated by its type's `Deserialize` (`what` names it in errors).
pub fn from_json<T: DeserializeOwned>(text: &str, what: impl Display) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::corrupt_from(format!("cannot read {what}"), e))
}

/// A stored value with its version.
pub fn versioned<T: DeserializeOwned>(
    version: i64,
    text: &str,
    what: impl Display,
) -> Result<Versioned<T>, StoreError> {
    let version = u64::try_from(version)
        .map_err(|_| StoreError::corrupt(format!("{what} has version {version}")))?;
    Ok(Versioned {
        value: from_json(text, what)?,
        version,
    })
}

/// A version as SQL keeps it; one too large to store matches nothing stored.
pub fn sql_version(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(-1)
}

/// The conflict for a versioned write that changed no row: an insert (`expected_version` is
/// `None`) whose record exists, or an update whose record is not at `expected_version`.
#[must_use]
pub fn missed_write(record: Record, expected_version: Option<u64>) -> StoreError {
    let reason = match expected_version {
        None => "it already exists".to_owned(),
        Some(v) => format!("it does not exist at version {v}"),
    };
    StoreError::conflict(record, reason)
}

#[cfg(test)]
mod tests {
    use giftcert::{Currency, Money};

    use super::amount;

    /// Before, an amount of 28 integer digits was written without its cents, which the SQL
    /// stores' checks refuse.
    #[test]
    fn amounts_too_wide_to_rescale_are_written_at_their_currencys_scale() {
        let big = "1234567890123456789012345678";
        let money = Money::parse(big, Currency::USD).unwrap();
        assert_eq!(amount(money).unwrap(), format!("{big}.00"));
        let money = Money::parse(&format!("{big}.0"), Currency::USD);
        if let Ok(money) = money {
            assert_eq!(amount(money).unwrap(), format!("{big}.00"));
        }
        assert_eq!(
            amount(Money::parse("5", Currency::USD).unwrap()).unwrap(),
            "5.00"
        );
        assert_eq!(
            amount(Money::parse("1000", Currency::JPY).unwrap()).unwrap(),
            "1000"
        );
    }
}
