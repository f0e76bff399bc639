//! Currencies: ISO 4217 codes with their minor units, and currencies a host declares itself.
//!
//! Every amount in the crate carries one of these (see [`Money`](crate::money::Money)); the minor units
//! decide how many decimals an amount may have and where rounding lands.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::money::MoneyError;

/// The most minor units a currency may declare.
///
/// `Decimal` carries 28 significant digits; 18 decimals still leaves ten for the whole part.
pub const MAX_MINOR_UNITS: u8 = 18;

/// A currency: a three-letter code and the number of decimals its amounts may carry.
///
/// ISO 4217 currencies come from a built-in table (every active code, with its minor units) and
/// are looked up case-insensitively; a host selling in a currency outside the table declares it
/// with [`Currency::custom`].
///
/// ```
/// use giftcert::Currency;
///
/// let jpy: Currency = "jpy".parse()?;
/// assert_eq!(jpy.code(), "JPY");
/// assert_eq!(jpy.minor_units(), 0);
/// assert_eq!(Currency::KWD.minor_units(), 3);
/// assert!("XYZ".parse::<Currency>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Eq, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    minor_units: u8,
}

/// Field by field, as one four-byte word: every money operation compares currencies.
impl PartialEq for Currency {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        let word = |c: &Currency| {
            let [a, b, d] = c.code;
            u32::from_le_bytes([a, b, d, c.minor_units])
        };
        word(self) == word(other)
    }
}

/// The fields, as a derive would hash them (equal currencies hash alike).
impl std::hash::Hash for Currency {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.code.hash(state);
        self.minor_units.hash(state);
    }
}

macro_rules! iso_constants {
    ($($(#[$doc:meta])* $name:ident = $units:expr;)*) => {
        impl Currency {
            $(
                $(#[$doc])*
                pub const $name: Currency = Currency::iso(stringify!($name), $units);
            )*
        }
    };
}

iso_constants! {
    /// United States dollar (2 minor units).
    USD = 2;
    /// Euro (2 minor units).
    EUR = 2;
    /// Swedish krona (2 minor units).
    SEK = 2;
    /// Norwegian krone (2 minor units).
    NOK = 2;
    /// Danish krone (2 minor units).
    DKK = 2;
    /// Pound sterling (2 minor units).
    GBP = 2;
    /// Swiss franc (2 minor units).
    CHF = 2;
    /// Japanese yen (no minor units).
    JPY = 0;
    /// Chilean peso (no minor units).
    CLP = 0;
    /// Kuwaiti dinar (3 minor units).
    KWD = 3;
    /// Bahraini dinar (3 minor units).
    BHD = 3;
}

/// Active ISO 4217 currencies and their minor units, sorted by code.
///
/// Codes whose minor units ISO lists as "N.A." (precious metals, testing codes) are left out:
/// they are not currencies a shop sells gift certificates in.
const ISO_4217: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BOV", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHE", 2),
    ("CHF", 2),
    ("CHW", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("COU", 2),
    ("CRC", 2),
    ("CUC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MXV", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SLL", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("USN", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
    ("ZWL", 2),
];

impl Currency {
    const fn iso(code: &str, minor_units: u8) -> Currency {
        let b = code.as_bytes();
        Currency {
            code: [b[0], b[1], b[2]],
            minor_units,
        }
    }

    /// Looks up an ISO 4217 currency by its code, ignoring ASCII case.
    ///
    /// # Errors
    ///
    /// [`MoneyError::InvalidCurrencyCode`] when `code` is not three ASCII letters, and
    /// [`MoneyError::UnknownCurrency`] when it is not in the ISO 4217 table (declare such a
    /// currency with [`Currency::custom`]).
    pub fn from_code(code: &str) -> Result<Currency, MoneyError> {
        let upper = normalise_code(code)?;
        let text = std::str::from_utf8(&upper).unwrap_or_default();
        ISO_4217
            .binary_search_by(|(c, _)| (*c).cmp(text))
            .map(|i| Currency {
                code: upper,
                minor_units: ISO_4217[i].1,
            })
            .map_err(|_| MoneyError::UnknownCurrency {
                code: text.to_owned(),
            })
    }

    /// Declares a currency the ISO table does not have (a loyalty currency, a new code).
    ///
    /// # Errors
    ///
    /// [`MoneyError::InvalidCurrencyCode`] when `code` is not three ASCII letters or names an
    /// ISO 4217 currency (those come from [`Currency::from_code`], so one code never has two
    /// meanings), and [`MoneyError::TooManyMinorUnits`] above [`MAX_MINOR_UNITS`].
    ///
    /// ```
    /// use giftcert::Currency;
    ///
    /// let points = Currency::custom("pts", 0)?;
    /// assert_eq!(points.code(), "PTS");
    /// assert!(Currency::custom("USD", 2).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn custom(code: &str, minor_units: u8) -> Result<Currency, MoneyError> {
        let upper = normalise_code(code)?;
        let currency = Currency {
            code: upper,
            minor_units,
        };
        if currency.is_iso() {
            return Err(MoneyError::InvalidCurrencyCode {
                code: currency.code().to_owned(),
                reason: "it is an ISO 4217 code; use Currency::from_code",
            });
        }
        if minor_units > MAX_MINOR_UNITS {
            return Err(MoneyError::TooManyMinorUnits {
                code: currency.code().to_owned(),
                minor_units,
            });
        }
        Ok(currency)
    }

    /// The three-letter code, upper case.
    #[must_use]
    pub fn code(&self) -> &str {
        // The bytes are checked ASCII letters at construction.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// How many decimals an amount in this currency may carry (USD 2, JPY 0, KWD 3).
    #[must_use]
    pub const fn minor_units(&self) -> u32 {
        self.minor_units as u32
    }

    /// Whether this currency comes from the ISO 4217 table rather than [`Currency::custom`].
    #[must_use]
    pub fn is_iso(&self) -> bool {
        ISO_4217
            .binary_search_by(|(c, _)| (*c).cmp(self.code()))
            .is_ok()
    }

    /// Every ISO 4217 currency in the built-in table, in code order.
    pub fn iso_currencies() -> impl Iterator<Item = Currency> {
        ISO_4217
            .iter()
            .map(|(code, units)| Currency::iso(code, *units))
    }
}

fn normalise_code(code: &str) -> Result<[u8; 3], MoneyError> {
    let bytes = code.as_bytes();
    if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
        return Err(MoneyError::InvalidCurrencyCode {
            code: code.chars().take(16).collect(),
            reason: "expected three ASCII letters",
        });
    }
    Ok([
        bytes[0].to_ascii_uppercase(),
        bytes[1].to_ascii_uppercase(),
        bytes[2].to_ascii_uppercase(),
    ])
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.code(), self.minor_units)
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

/// ISO currencies serialise as their code (`"USD"`); custom ones as
/// `{"code": "PTS", "minorUnits": 0}`, so that both round-trip without a registry.
impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.is_iso() {
            serializer.serialize_str(self.code())
        } else {
            CustomRepr {
                code: self.code().to_owned(),
                minor_units: self.minor_units,
            }
            .serialize(serializer)
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomRepr {
    code: String,
    minor_units: u8,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CurrencyRepr {
    Code(String),
    Custom(CustomRepr),
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match CurrencyRepr::deserialize(deserializer)? {
            CurrencyRepr::Code(code) => Currency::from_code(&code),
            CurrencyRepr::Custom(c) => Currency::custom(&c.code, c.minor_units),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique_so_binary_search_finds_every_code() {
        for pair in ISO_4217.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (code, units) in ISO_4217 {
            assert_eq!(
                Currency::from_code(code).unwrap().minor_units(),
                u32::from(*units)
            );
        }
        assert!(ISO_4217.len() >= 150);
    }

    #[test]
    fn lookup_ignores_case_and_knows_the_seed_currencies() {
        assert_eq!(Currency::from_code("usd").unwrap(), Currency::USD);
        assert_eq!(Currency::from_code("Sek").unwrap().minor_units(), 2);
        assert_eq!(Currency::from_code("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::from_code("kwd").unwrap().minor_units(), 3);
        assert_eq!(Currency::from_code("BHD").unwrap().minor_units(), 3);
        assert_eq!(Currency::from_code("CLP").unwrap().minor_units(), 0);
    }

    #[test]
    fn unknown_and_malformed_codes_are_errors_that_say_which() {
        assert_eq!(
            Currency::from_code("XYZ").unwrap_err().to_string(),
            "unknown currency code \"XYZ\""
        );
        assert_eq!(
            Currency::from_code("US").unwrap_err().to_string(),
            "invalid currency code \"US\": expected three ASCII letters"
        );
        assert!(Currency::from_code("U$D").is_err());
        assert!(Currency::from_code("ÅÄÖ").is_err());
    }

    #[test]
    fn custom_currencies_cannot_shadow_iso_codes_or_exceed_precision() {
        assert!(Currency::custom("usd", 3).is_err());
        assert!(Currency::custom("PTS", MAX_MINOR_UNITS + 1).is_err());
        let pts = Currency::custom("pts", 0).unwrap();
        assert!(!pts.is_iso());
        assert!(Currency::USD.is_iso());
    }

    #[test]
    fn serde_uses_the_code_for_iso_and_an_object_for_custom() {
        assert_eq!(serde_json::to_string(&Currency::SEK).unwrap(), "\"SEK\"");
        let pts = Currency::custom("PTS", 1).unwrap();
        let json = serde_json::to_string(&pts).unwrap();
        assert_eq!(json, r#"{"code":"PTS","minorUnits":1}"#);
        assert_eq!(serde_json::from_str::<Currency>(&json).unwrap(), pts);
        assert_eq!(
            serde_json::from_str::<Currency>("\"eur\"").unwrap(),
            Currency::EUR
        );
        assert!(serde_json::from_str::<Currency>("\"ZZZ\"").is_err());
    }
}
