//! Money: currencies with their minor units, exact amounts, rounding, display formats and tax
//! rates.
//!
//! A [`Money`] is an exact [`rust_decimal::Decimal`] with its [`Currency`]: it never holds more
//! decimals than the currency allows, refuses to mix currencies ([`MoneyError::CurrencyMismatch`])
//! and splits an amount so that the parts always sum to the whole
//! ([`Money::split_by_weights`]). [`RoundingRule`] says how a computed amount comes back to the
//! currency's minor units (half away from zero unless the host picks another);
//! [`MoneyFormat`] says how it is shown; [`TaxRate`] is a percentage.
//!
//! ```
//! use giftcert::money::{Currency, Money, MoneyError};
//! use rust_decimal::Decimal;
//!
//! let total = Money::parse("100.00", Currency::USD)?;
//! let parts = total.split_by_weights(&[Decimal::ONE, Decimal::ONE, Decimal::ONE])?;
//! assert_eq!(Money::sum(Currency::USD, parts)?, total); // 33.34 + 33.33 + 33.33
//!
//! assert!(Money::parse("10.5", Currency::JPY).is_err()); // JPY has no minor units
//! let mixed = total.checked_add(Money::parse("1", Currency::EUR)?);
//! assert!(matches!(mixed, Err(MoneyError::CurrencyMismatch { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod amount;
mod currency;
mod error;
mod format;
mod rounding;
pub(crate) mod serde_impl;
mod tax;

pub(crate) use self::amount::parse_decimal;
pub use self::amount::{MAX_AMOUNT_TEXT_LEN, MAX_WHOLE_UNITS, Money};
pub use self::currency::{Currency, MAX_MINOR_UNITS};
pub use self::error::MoneyError;
pub use self::format::{MoneyFormat, ShownDecimals};
pub use self::rounding::RoundingRule;
pub use self::tax::{TaxRate, TaxRateError};
