//! What can go wrong with an amount: a currency mismatch, too many decimals, an overflow, text that is not an amount.

use rust_decimal::Decimal;

use super::*;
use crate::money::Currency;

/// Everything that can go wrong building or combining amounts of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// The code is well formed but no ISO 4217 currency has it.
    #[error("unknown currency code \"{code}\"")]
    UnknownCurrency {
        /// The code asked for, upper case.
        code: String,
    },
    /// The code is not a usable currency code.
    #[error("invalid currency code \"{code}\": {reason}")]
    InvalidCurrencyCode {
        /// The code given (at most 16 characters of it).
        code: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A custom currency asked for more decimals than the crate supports.
    #[error(
        "currency {code} declares {minor_units} minor units, more than {max} allowed",
        max = crate::money::MAX_MINOR_UNITS
    )]
    TooManyMinorUnits {
        /// The currency's code.
        code: String,
        /// The minor units asked for.
        minor_units: u8,
    },
    /// An amount has more decimals than its currency's minor units.
    #[error("amount {amount} has more decimals than {currency} allows ({allowed})")]
    TooManyDecimals {
        /// The amount as given.
        amount: Decimal,
        /// Its currency.
        currency: Currency,
        /// The currency's minor units.
        allowed: u32,
    },
    /// Two amounts in different currencies were combined.
    #[error("cannot combine {found} with {expected}: amounts are in different currencies")]
    CurrencyMismatch {
        /// The currency of the left-hand amount.
        expected: Currency,
        /// The currency of the right-hand amount.
        found: Currency,
    },
    /// A result does not fit in a `Decimal`.
    #[error("amount overflow while computing {operation}")]
    Overflow {
        /// What was being computed.
        operation: &'static str,
    },
    /// An amount beyond the most a price, a total, a certificate or a card may be
    /// ([`Money::maximum`]).
    #[error("amount {amount} is above the maximum of {max}")]
    AboveMaximum {
        /// The amount refused.
        amount: Money,
        /// The maximum in its currency.
        max: Money,
    },
    /// Text that should hold an amount does not.
    #[error("invalid amount \"{input}\": {reason}")]
    InvalidAmount {
        /// The text given (at most 40 characters of it).
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The text of an amount is longer than any amount needs: refused before parsing.
    #[error("amount text has {length} characters, expected at most {max}")]
    AmountTooLong {
        /// The length of the text, in bytes, white space around it aside.
        length: usize,
        /// [`MAX_AMOUNT_TEXT_LEN`](crate::money::MAX_AMOUNT_TEXT_LEN).
        max: usize,
    },
    /// A split was asked for with no parts or weights that cannot split anything.
    #[error("cannot split {amount}: {reason}")]
    InvalidSplit {
        /// The amount to split.
        amount: Money,
        /// Why it cannot be split.
        reason: &'static str,
    },
}
