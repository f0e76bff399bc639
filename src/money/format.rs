//! Display formats for amounts: decimals shown, and the thousands, decimal and code separators.

use serde::{Deserialize, Serialize};

use super::*;

/// How many decimals a formatted amount shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ShownDecimals {
    /// Always the currency's minor units (`10.00 USD`).
    #[default]
    MinorUnits,
    /// None when the amount is whole (`100 SEK`), the minor units otherwise (`100.50 SEK`), so
    /// nothing is ever hidden.
    WholeWhenExact,
    /// Exactly this many; amounts with more decimals are rounded half away from zero for
    /// display only.
    Fixed(u32),
}

/// Display settings for amounts: decimals shown, and the thousands, decimal and code separators.
///
/// The strings `"10.00 USD"`, `"100 SEK"` and `"1 000 JPY"` each come from one setting
/// (Centra writes them with no-break spaces: add `.code_separator('\u{a0}')`):
///
/// ```
/// use giftcert::{Currency, Money, money::{ShownDecimals, MoneyFormat}};
///
/// let usd = Money::parse("10", Currency::USD)?;
/// let sek = Money::parse("100", Currency::SEK)?;
/// let jpy = Money::parse("1000", Currency::JPY)?;
/// assert_eq!(usd.format(&MoneyFormat::new()), "10.00 USD");
/// assert_eq!(sek.format(&MoneyFormat::new().decimals(ShownDecimals::WholeWhenExact)), "100 SEK");
/// assert_eq!(jpy.format(&MoneyFormat::new().thousands_separator(' ')), "1 000 JPY");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyFormat {
    decimals: ShownDecimals,
    thousands_separator: Option<char>,
    decimal_separator: char,
    code_separator: char,
}

impl Default for MoneyFormat {
    fn default() -> Self {
        MoneyFormat::new()
    }
}

impl MoneyFormat {
    /// The plain format: minor units, `.` for decimals, no grouping, the code after a space.
    #[must_use]
    pub const fn new() -> MoneyFormat {
        MoneyFormat {
            decimals: ShownDecimals::MinorUnits,
            thousands_separator: None,
            decimal_separator: '.',
            code_separator: ' ',
        }
    }

    /// Sets how many decimals are shown.
    #[must_use]
    pub const fn decimals(mut self, decimals: ShownDecimals) -> MoneyFormat {
        self.decimals = decimals;
        self
    }

    /// Groups the whole part by thousands with `separator` (`1 000`, `1,000`).
    #[must_use]
    pub const fn thousands_separator(mut self, separator: char) -> MoneyFormat {
        self.thousands_separator = Some(separator);
        self
    }

    /// Sets the decimal separator (`.` by default).
    #[must_use]
    pub const fn decimal_separator(mut self, separator: char) -> MoneyFormat {
        self.decimal_separator = separator;
        self
    }

    /// Sets what stands between the amount and the code (a space by default; Centra's
    /// listing in Centra uses a no-break space, U+00A0, so the code never wraps alone).
    #[must_use]
    pub const fn code_separator(mut self, separator: char) -> MoneyFormat {
        self.code_separator = separator;
        self
    }

    /// Formats `money` under these settings.
    #[must_use]
    pub fn format(&self, money: &Money) -> String {
        let units = money.currency().minor_units();
        let shown = match self.decimals {
            ShownDecimals::MinorUnits => units,
            ShownDecimals::WholeWhenExact if money.amount().fract().is_zero() => 0,
            ShownDecimals::WholeWhenExact => units,
            ShownDecimals::Fixed(n) => n,
        };
        let value = RoundingRule::HalfAwayFromZero.round(money.amount(), shown);
        let text = format!("{:.*}", shown as usize, value.abs());
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        let mut out = String::with_capacity(text.len() + 8);
        if value.is_sign_negative() && !value.is_zero() {
            out.push('-');
        }
        let digits = whole.len();
        for (i, c) in whole.chars().enumerate() {
            if let Some(sep) = self.thousands_separator {
                if i > 0 && (digits - i) % 3 == 0 {
                    out.push(sep);
                }
            }
            out.push(c);
        }
        if !fraction.is_empty() {
            out.push(self.decimal_separator);
            out.push_str(fraction);
        }
        out.push(self.code_separator);
        out.push_str(money.currency().code());
        out
    }
}
