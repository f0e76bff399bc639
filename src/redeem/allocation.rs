//! Lowest-first allocation of a payable amount over gift cards (the Nordic checkout provider).
//!
//! Cards are used lowest amount first; cards with equal amounts keep the order in which they
//! were applied; each gives `min(its amount, what is still unpaid)`, so the last one used may be
//! used partly and the rest not at all. [`allocate_by`] takes the order as a policy
//! ([`AllocationOrder`]): lowest first, or the card expiring soonest first. Pure: values in,
//! values out.
//!
//! Money is conserved exactly: for each card `used + remaining = available`, and the sum used is
//! `min(payable, sum available)`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Currency;
use crate::money::{Money, MoneyError};

/// An allocation that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllocationError {
    /// The amount to pay is below zero.
    #[error("payable amount {0} is negative")]
    NegativePayable(Money),
    /// A card's amount is below zero.
    #[error("card {index} has a negative amount {amount}")]
    NegativeCard {
        /// The card's position in the input.
        index: usize,
        /// Its amount.
        amount: Money,
    },
    /// A card is in another currency than the payable amount, or the sums overflow.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// The order in which a checkout's cards pay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum AllocationOrder {
    /// Lowest amount first, equal amounts in the order applied (the Nordic checkout
    /// provider's rule).
    #[default]
    LowestFirst,
    /// The card expiring soonest first, cards that never expire last; then lowest first,
    /// then in the order applied. Value that would expire is spent before value that keeps.
    ExpiringFirst,
}

/// A card offered to [`allocate_by`]: what the caller knows it by, what it can give, and when
/// it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer<K> {
    /// What the caller identifies the card by.
    pub key: K,
    /// What the card can give.
    pub available: Money,
    /// When it expires, if ever (only [`AllocationOrder::ExpiringFirst`] looks at it).
    pub expires_at: Option<DateTime<Utc>>,
}

/// One card's share of an [`Allocation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocatedCard<K> {
    /// What the caller identifies the card by.
    pub key: K,
    /// What the card could give.
    pub available: Money,
    /// What it gives to this order (the Nordic checkout provider's `usedAmount`).
    pub used: Money,
    /// What it keeps: `available - used`.
    pub remaining: Money,
}

/// The result of [`allocate`]: every card in input order with what it gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Allocation<K> {
    payable: Money,
    cards: Vec<AllocatedCard<K>>,
    used: Money,
    available: Money,
    /// The positions of `cards` in the order they paid (empty: input order).
    #[serde(skip)]
    paid_in: Vec<usize>,
}

impl<K> Allocation<K> {
    /// Every card in the order it paid: the cards that gave something first, in the order
    /// they gave, then the others in input order.
    pub fn in_order_paid(&self) -> impl Iterator<Item = &AllocatedCard<K>> {
        let order = (self.paid_in.len() == self.cards.len()).then_some(&self.paid_in);
        (0..self.cards.len()).map(move |i| &self.cards[order.map_or(i, |o| o[i])])
    }

    /// The amount that was to be paid.
    #[must_use]
    pub const fn payable(&self) -> Money {
        self.payable
    }

    /// Every card, in the order given, with what it gives.
    #[must_use]
    pub fn cards(&self) -> &[AllocatedCard<K>] {
        &self.cards
    }

    /// Consumes the allocation, returning its cards in input order.
    #[must_use]
    pub fn into_cards(self) -> Vec<AllocatedCard<K>> {
        self.cards
    }

    /// What the cards pay together: `min(payable, sum available)`.
    #[must_use]
    pub const fn used(&self) -> Money {
        self.used
    }

    /// What the cards held together before this order.
    #[must_use]
    pub const fn available(&self) -> Money {
        self.available
    }

    /// What is left to pay by another method: `payable - used`, never below zero.
    #[must_use]
    pub fn outstanding(&self) -> Money {
        // Cannot fail: same currency, and used <= payable by construction.
        self.payable.checked_sub(self.used).unwrap_or(self.payable)
    }

    /// The Nordic checkout provider's `totalAmount`: `payable - sum available`, negative when the
    /// cards hold more than the order (then it is minus what the cards keep).
    #[must_use]
    pub fn total_amount(&self) -> Money {
        self.payable
            .checked_sub(self.available)
            .unwrap_or(self.payable)
    }
}

/// Allocates `payable` over `cards` (each with the amount it can give), lowest first.
///
/// ```
/// use giftcert::{Currency, Money, redeem::allocate};
///
/// let usd = |s: &str| Money::parse(s, Currency::USD);
/// let cards = [("10002", usd("50")?), ("10003", usd("100")?), ("10004", usd("100")?)];
/// let allocation = allocate(usd("95")?, cards)?;
/// let used: Vec<String> = allocation.cards().iter().map(|c| c.used.to_string()).collect();
/// assert_eq!(used, ["50.00 USD", "45.00 USD", "0.00 USD"]);
/// assert_eq!(allocation.total_amount(), usd("-155")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`AllocationError::NegativePayable`], [`AllocationError::NegativeCard`], and
/// [`AllocationError::Money`] when a card is in another currency or the sum overflows.
pub fn allocate<K, I>(payable: Money, cards: I) -> Result<Allocation<K>, AllocationError>
where
    I: IntoIterator<Item = (K, Money)>,
{
    allocate_by(
        payable,
        AllocationOrder::LowestFirst,
        cards.into_iter().map(|(key, available)| Offer {
            key,
            available,
            expires_at: None,
        }),
    )
}

/// Allocates `payable` over `cards` in `order`; as [`allocate`] otherwise (cards stay in input
/// order, each with what it gives; [`Allocation::in_order_paid`] lists them as they paid).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use giftcert::redeem::{AllocationOrder, Offer, allocate_by};
/// use giftcert::{Currency, Money};
///
/// let eur = |s: &str| Money::parse(s, Currency::EUR);
/// let june = Utc.with_ymd_and_hms(2027, 6, 30, 0, 0, 0).unwrap();
/// let cards = [
///     Offer { key: "keeps", available: eur("20")?, expires_at: None },
///     Offer { key: "june", available: eur("50")?, expires_at: Some(june) },
/// ];
/// let allocation = allocate_by(eur("30")?, AllocationOrder::ExpiringFirst, cards)?;
/// let paid: Vec<_> = allocation.in_order_paid().map(|c| (c.key, c.used)).collect();
/// assert_eq!(paid, [("june", eur("30")?), ("keeps", eur("0")?)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`allocate`].
pub fn allocate_by<K, I>(
    payable: Money,
    order: AllocationOrder,
    cards: I,
) -> Result<Allocation<K>, AllocationError>
where
    I: IntoIterator<Item = Offer<K>>,
{
    if payable.is_negative() {
        return Err(AllocationError::NegativePayable(payable));
    }
    let currency: Currency = payable.currency();
    let zero = Money::zero(currency);
    let cards = cards.into_iter();
    let mut out: Vec<AllocatedCard<K>> = Vec::with_capacity(cards.size_hint().0);
    let mut expiries: Vec<Option<DateTime<Utc>>> = Vec::new();
    // Currencies and signs are checked once per card; the arithmetic below is on plain
    // decimals of one currency, each within its minor units.
    let mut available = Decimal::ZERO;
    for (index, offer) in cards.enumerate() {
        let amount = offer.available;
        if amount.currency() != currency {
            return Err(MoneyError::CurrencyMismatch {
                expected: currency,
                found: amount.currency(),
            }
            .into());
        }
        if amount.is_negative() {
            return Err(AllocationError::NegativeCard { index, amount });
        }
        available = available
            .checked_add(amount.amount())
            .ok_or(MoneyError::Overflow {
                operation: "the cards' total",
            })?;
        if order == AllocationOrder::ExpiringFirst {
            expiries.push(offer.expires_at);
        }
        out.push(AllocatedCard {
            key: offer.key,
            available: amount,
            used: zero,
            remaining: amount,
        });
    }
    let mut unpaid = payable.amount();
    let mut paid_in = Vec::new();
    if out.len() == 1 {
        give(&mut out[0], &mut unpaid, currency);
    } else if !unpaid.is_zero() {
        paid_in = (0..out.len()).collect();
        // Stable sorts keep equal keys in the order applied.
        match order {
            AllocationOrder::LowestFirst => paid_in.sort_by_key(|&i| out[i].available.amount()),
            AllocationOrder::ExpiringFirst => paid_in.sort_by_key(|&i| {
                // `None` (never expires) after every date.
                (
                    expiries[i].is_none(),
                    expiries[i],
                    out[i].available.amount(),
                )
            }),
        }
        for &i in &paid_in {
            if unpaid.is_zero() {
                break;
            }
            give(&mut out[i], &mut unpaid, currency);
        }
        // Cards that gave nothing go last, in input order; the stable sort keeps the others
        // in the order they gave.
        paid_in.sort_by_key(|&i| {
            let gave = out[i].used.is_positive();
            (!gave, if gave { 0 } else { i })
        });
    }
    Ok(Allocation {
        payable,
        used: Money::trusted(payable.amount() - unpaid, currency),
        cards: out,
        available: Money::trusted(available, currency),
        paid_in,
    })
}

/// The card gives `min(its amount, unpaid)`.
fn give<K>(card: &mut AllocatedCard<K>, unpaid: &mut Decimal, currency: Currency) {
    let available = card.available.amount();
    let used = available.min(*unpaid);
    *unpaid -= used;
    card.used = Money::trusted(used, currency);
    card.remaining = Money::trusted(available - used, currency);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    #[test]
    fn seed_003_lowest_first_last_partly_rest_not_at_all() {
        let a = allocate(
            usd("95"),
            [(1, usd("50")), (2, usd("100")), (3, usd("100"))],
        )
        .unwrap();
        let used: Vec<Money> = a.cards().iter().map(|c| c.used).collect();
        assert_eq!(used, [usd("50"), usd("45"), usd("0")]);
        assert_eq!(a.total_amount(), usd("-155"));
        assert_eq!(a.outstanding(), usd("0"));
        assert_eq!(a.cards()[1].remaining, usd("55"));
    }

    #[test]
    fn equal_amounts_are_used_in_the_order_applied() {
        let a = allocate(usd("30"), [("first", usd("20")), ("second", usd("20"))]).unwrap();
        assert_eq!(a.cards()[0].used, usd("20"));
        assert_eq!(a.cards()[1].used, usd("10"));
    }

    #[test]
    fn smaller_cards_go_first_even_when_applied_later() {
        let a = allocate(usd("30"), [("big", usd("100")), ("small", usd("20"))]).unwrap();
        assert_eq!(a.cards()[0].used, usd("10"));
        assert_eq!(a.cards()[1].used, usd("20"));
    }

    #[test]
    fn cards_short_of_the_order_leave_an_outstanding_balance() {
        let a = allocate(usd("120"), [(0, usd("50")), (1, usd("25.5"))]).unwrap();
        assert_eq!(a.used(), usd("75.5"));
        assert_eq!(a.outstanding(), usd("44.5"));
        assert_eq!(a.total_amount(), usd("44.5"));
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        assert!(matches!(
            allocate::<u8, _>(usd("-1"), []),
            Err(AllocationError::NegativePayable(_))
        ));
        assert!(matches!(
            allocate(usd("1"), [(0, usd("-1"))]),
            Err(AllocationError::NegativeCard { index: 0, .. })
        ));
        let eur = Money::parse("1", Currency::EUR).unwrap();
        assert!(matches!(
            allocate(usd("1"), [(0, eur)]),
            Err(AllocationError::Money(MoneyError::CurrencyMismatch { .. }))
        ));
    }
}
