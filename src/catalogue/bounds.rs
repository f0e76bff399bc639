//! Bounds on what a buyer may pick for an any-amount certificate, per currency.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::*;
use crate::money::Currency;
use crate::money::{Money, MoneyError};

/// Inclusive limits on what a buyer may choose for an any-amount certificate in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "BoundsRepr")]
pub struct AmountBounds {
    pub(super) currency: Currency,
    pub(super) min: Option<Money>,
    pub(super) max: Option<Money>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BoundsRepr {
    currency: Currency,
    min: Option<Money>,
    max: Option<Money>,
}

impl TryFrom<BoundsRepr> for AmountBounds {
    type Error = CatalogueError;

    fn try_from(r: BoundsRepr) -> Result<Self, Self::Error> {
        let bounds = AmountBounds::new(r.currency, r.min, r.max)?;
        Ok(bounds)
    }
}

impl AmountBounds {
    /// Bounds in `currency`; either side may be open.
    ///
    /// # Errors
    ///
    /// [`CatalogueError::Money`] when a bound is in another currency, and
    /// [`CatalogueError::InvertedBounds`] when `min > max`.
    pub fn new(
        currency: Currency,
        min: Option<Money>,
        max: Option<Money>,
    ) -> Result<AmountBounds, CatalogueError> {
        for bound in min.iter().chain(max.iter()) {
            if bound.currency() != currency {
                return Err(MoneyError::CurrencyMismatch {
                    expected: currency,
                    found: bound.currency(),
                }
                .into());
            }
        }
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo.amount() > hi.amount() {
                return Err(CatalogueError::InvertedBounds { min: lo, max: hi });
            }
        }
        Ok(AmountBounds { currency, min, max })
    }

    /// The currency these bounds apply to.
    #[must_use]
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// The smallest value allowed, if any.
    #[must_use]
    pub const fn min(&self) -> Option<Money> {
        self.min
    }

    /// The largest value allowed, if any.
    #[must_use]
    pub const fn max(&self) -> Option<Money> {
        self.max
    }

    /// Whether `amount` (in the bounds' currency) lies within them.
    #[must_use]
    pub fn contains(&self, amount: &Money) -> bool {
        amount.currency() == self.currency
            && self.min.is_none_or(|lo| lo.amount() <= amount.amount())
            && self.max.is_none_or(|hi| amount.amount() <= hi.amount())
    }
}

impl fmt::Display for AmountBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => write!(f, "{lo} to {hi}"),
            (Some(lo), None) => write!(f, "at least {lo}"),
            (None, Some(hi)) => write!(f, "at most {hi}"),
            (None, None) => write!(f, "any amount in {}", self.currency),
        }
    }
}
