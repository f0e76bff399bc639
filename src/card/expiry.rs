//! When cards expire: never, after a fixed period, or under a jurisdiction's rule.
//!
//! The US preset follows 12 CFR 1005.20 (the CARD Act rule for gift cards): funds may not expire
//! earlier than five years after the card was issued or money was last loaded onto it, so a
//! load (a refund back onto the card) pushes the date out again.

use chrono::{DateTime, Datelike, Days, Months, Utc};
use serde::{Deserialize, Serialize};

/// The shortest validity 12 CFR 1005.20 allows, in years.
pub const US_MINIMUM_YEARS: u32 = 5;

/// The earliest year an expiry date may fall in.
pub const EARLIEST_EXPIRY_YEAR: i32 = 1;

/// The latest year an expiry date may fall in: four-digit years, the range in which every
/// store orders dates correctly (SQLite compares them as text).
pub const LATEST_EXPIRY_YEAR: i32 = 9999;

/// Whether `at` falls in the years an expiry date may (from [`EARLIEST_EXPIRY_YEAR`] to
/// [`LATEST_EXPIRY_YEAR`]).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use giftcert::card::expiry_in_range;
///
/// assert!(expiry_in_range(Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()));
/// assert!(!expiry_in_range(Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap()));
/// assert!(!expiry_in_range(Utc.with_ymd_and_hms(0, 12, 31, 0, 0, 0).unwrap()));
/// ```
#[must_use]
pub fn expiry_in_range(at: DateTime<Utc>) -> bool {
    (EARLIEST_EXPIRY_YEAR..=LATEST_EXPIRY_YEAR).contains(&at.year())
}

/// An expiry rule that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpiryError {
    /// A US rule shorter than the law allows.
    #[error("{years} years is shorter than the {US_MINIMUM_YEARS} years 12 CFR 1005.20 requires")]
    TooShortForUs {
        /// The years asked for.
        years: u32,
    },
    /// The date falls outside what can be represented.
    #[error("expiry date out of range")]
    OutOfRange,
}

/// How a card's expiry date is set when it is issued (and moved when money is loaded).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use giftcert::card::ExpiryPolicy;
///
/// let issued = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// let us = ExpiryPolicy::us_card_act();
/// assert_eq!(us.expires_at(issued)?, Some(Utc.with_ymd_and_hms(2031, 11, 23, 0, 0, 0).unwrap()));
/// assert_eq!(ExpiryPolicy::Never.expires_at(issued)?, None);
/// assert!(ExpiryPolicy::us_card_act_years(3).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    tag = "rule",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum ExpiryPolicy {
    /// Cards never expire (the default).
    #[default]
    Never,
    /// Cards expire a fixed period after issue.
    AfterIssue {
        /// Whole months.
        months: u32,
        /// Then days.
        days: u32,
    },
    /// 12 CFR 1005.20: at least `years` (five or more) after issue or the last load.
    UsCardAct {
        /// Years of validity, at least five.
        years: u32,
    },
}

impl ExpiryPolicy {
    /// Cards expire `months` months after issue.
    #[must_use]
    pub const fn after_months(months: u32) -> ExpiryPolicy {
        ExpiryPolicy::AfterIssue { months, days: 0 }
    }

    /// Cards expire `days` days after issue.
    #[must_use]
    pub const fn after_days(days: u32) -> ExpiryPolicy {
        ExpiryPolicy::AfterIssue { months: 0, days }
    }

    /// The US preset: five years from issue or last load (12 CFR 1005.20).
    #[must_use]
    pub const fn us_card_act() -> ExpiryPolicy {
        ExpiryPolicy::UsCardAct {
            years: US_MINIMUM_YEARS,
        }
    }

    /// The US rule with a longer validity.
    ///
    /// # Errors
    ///
    /// [`ExpiryError::TooShortForUs`] below five years.
    pub const fn us_card_act_years(years: u32) -> Result<ExpiryPolicy, ExpiryError> {
        if years < US_MINIMUM_YEARS {
            return Err(ExpiryError::TooShortForUs { years });
        }
        Ok(ExpiryPolicy::UsCardAct { years })
    }

    fn add(from: DateTime<Utc>, months: u32, days: u32) -> Result<DateTime<Utc>, ExpiryError> {
        from.checked_add_months(Months::new(months))
            .and_then(|d| d.checked_add_days(Days::new(u64::from(days))))
            .ok_or(ExpiryError::OutOfRange)
    }

    /// The expiry date of a card issued at `issued_at`.
    ///
    /// # Errors
    ///
    /// [`ExpiryError::TooShortForUs`] for a US rule built around its constructor with fewer than
    /// five years, and [`ExpiryError::OutOfRange`].
    pub fn expires_at(
        &self,
        issued_at: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, ExpiryError> {
        match *self {
            ExpiryPolicy::Never => Ok(None),
            ExpiryPolicy::AfterIssue { months, days } => {
                ExpiryPolicy::add(issued_at, months, days).map(Some)
            }
            ExpiryPolicy::UsCardAct { years } => {
                if years < US_MINIMUM_YEARS {
                    return Err(ExpiryError::TooShortForUs { years });
                }
                let months = years.checked_mul(12).ok_or(ExpiryError::OutOfRange)?;
                ExpiryPolicy::add(issued_at, months, 0).map(Some)
            }
        }
    }

    /// The expiry date after money is loaded onto a card at `loaded_at`: the US rule restarts
    /// the period from the load (never shortening it); the other rules keep `current`.
    ///
    /// # Errors
    ///
    /// As [`ExpiryPolicy::expires_at`].
    pub fn after_load(
        &self,
        current: Option<DateTime<Utc>>,
        loaded_at: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, ExpiryError> {
        match self {
            ExpiryPolicy::UsCardAct { .. } => {
                let restarted = self.expires_at(loaded_at)?;
                Ok(current.max(restarted))
            }
            _ => Ok(current),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn fixed_periods_count_from_issue() {
        assert_eq!(
            ExpiryPolicy::after_months(12)
                .expires_at(day(2026, 1, 31))
                .unwrap(),
            Some(day(2027, 1, 31))
        );
        assert_eq!(
            ExpiryPolicy::after_days(30)
                .expires_at(day(2026, 1, 1))
                .unwrap(),
            Some(day(2026, 1, 31))
        );
    }

    #[test]
    fn us_rule_is_at_least_five_years_from_issue_or_last_load() {
        let us = ExpiryPolicy::us_card_act();
        let first = us.expires_at(day(2026, 1, 1)).unwrap();
        assert_eq!(first, Some(day(2031, 1, 1)));
        assert_eq!(
            us.after_load(first, day(2028, 6, 1)).unwrap(),
            Some(day(2033, 6, 1))
        );
        // A fixed period is not extended by a load.
        let fixed = ExpiryPolicy::after_months(6);
        assert_eq!(
            fixed
                .after_load(Some(day(2026, 7, 1)), day(2026, 6, 1))
                .unwrap(),
            Some(day(2026, 7, 1))
        );
    }

    #[test]
    fn us_rule_refuses_less_than_five_years() {
        assert_eq!(
            ExpiryPolicy::us_card_act_years(4).unwrap_err().to_string(),
            "4 years is shorter than the 5 years 12 CFR 1005.20 requires"
        );
        let smuggled: ExpiryPolicy =
            serde_json::from_str(r#"{"rule":"usCardAct","years":2}"#).unwrap();
        assert!(smuggled.expires_at(day(2026, 1, 1)).is_err());
    }
}
