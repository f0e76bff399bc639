//! Rounding rules: how an amount with more decimals than its currency allows is brought to its minor units.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// How an amount with too many decimals is brought to its currency's minor units.
///
/// The default, [`RoundingRule::HalfAwayFromZero`], is the commercial rule (2.345 → 2.35,
/// -2.345 → -2.35); [`RoundingRule::HalfEven`] is banker's rounding (2.345 → 2.34).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum RoundingRule {
    /// Halves round away from zero (2.5 → 3, -2.5 → -3).
    #[default]
    HalfAwayFromZero,
    /// Halves round to the even neighbour (2.5 → 2, 3.5 → 4).
    HalfEven,
    /// Everything rounds toward zero (truncation).
    TowardZero,
}

impl RoundingRule {
    fn strategy(self) -> RoundingStrategy {
        match self {
            RoundingRule::HalfAwayFromZero => RoundingStrategy::MidpointAwayFromZero,
            RoundingRule::HalfEven => RoundingStrategy::MidpointNearestEven,
            RoundingRule::TowardZero => RoundingStrategy::ToZero,
        }
    }

    /// Rounds `amount` to `decimals` places under this rule.
    #[must_use]
    pub fn round(self, amount: Decimal, decimals: u32) -> Decimal {
        amount.round_dp_with_strategy(decimals, self.strategy())
    }
}
