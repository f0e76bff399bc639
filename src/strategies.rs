//! Proptest strategies for the crate's types (feature `proptest`), for hosts' property tests.
//!
//! Every strategy builds its values through the crate's public constructors, so it only ever
//! produces values the crate would accept; the doc of each says what it covers.
//!
//! ```
//! use giftcert::strategies;
//! use giftcert::redeem::allocate;
//! use proptest::prelude::*;
//!
//! proptest!(|(payable in strategies::money_in(giftcert::Currency::JPY, 0..=100_000),
//!             cards in proptest::collection::vec(strategies::money_in(giftcert::Currency::JPY, 0..=50_000), 0..8))| {
//!     // A host's own rule on top of the crate: the cards never pay more than asked.
//!     let allocation = allocate(payable, cards.into_iter().enumerate()).unwrap();
//!     prop_assert!(allocation.used().amount() <= payable.amount());
//! });
//! ```

use std::ops::RangeInclusive;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::card::{CardId, CardSpec, GiftCard};
use crate::card::{LedgerEntry, Reference, ReleaseReason};
use crate::catalogue::{AmountBounds, CertificateDefinition};
use crate::code::Code;
use crate::money::Currency;
use crate::money::Money;
use crate::money::TaxRate;
use crate::shop::{PriceBasis, ProductLine, Selection, SelectionPolicy};

/// Currencies from the ISO table, always including the 0-decimal (JPY, CLP) and 3-decimal
/// (KWD, BHD) ones alongside the usual 2-decimal ones.
pub fn currency() -> impl Strategy<Value = Currency> {
    prop_oneof![
        Just(Currency::USD),
        Just(Currency::EUR),
        Just(Currency::SEK),
        Just(Currency::JPY),
        Just(Currency::CLP),
        Just(Currency::KWD),
        Just(Currency::BHD),
        proptest::sample::select(Currency::iso_currencies().collect::<Vec<_>>()),
    ]
}

/// Amounts in `currency` from `minor` minor units (cents, fils): always within the
/// currency's minor units.
pub fn money_in(currency: Currency, minor: RangeInclusive<i64>) -> impl Strategy<Value = Money> {
    minor.prop_map(move |m| Money::from_minor(m, currency).unwrap_or(Money::zero(currency)))
}

/// A currency and a non-negative amount in it, up to a million major units.
pub fn money() -> impl Strategy<Value = Money> {
    currency().prop_flat_map(|c| {
        let max = 1_000_000_i64 * 10_i64.pow(c.minor_units());
        money_in(c, 0..=max)
    })
}

/// Tax rates from 0 to 100 percent with up to two decimals, weighted towards common rates.
pub fn tax_rate() -> impl Strategy<Value = TaxRate> {
    prop_oneof![
        proptest::sample::select(vec![0_i64, 600, 1_200, 2_000, 2_500]),
        0_i64..=10_000,
    ]
    .prop_map(|hundredths| TaxRate::new(Decimal::new(hundredths, 2)).unwrap_or(TaxRate::ZERO))
}

/// Certificate definitions of both kinds: predetermined ones with one to three currencies,
/// any-amount ones with or without bounds in `currency`.
pub fn certificate_definition(currency: Currency) -> impl Strategy<Value = CertificateDefinition> {
    let unit = 10_i64.pow(currency.minor_units());
    let predetermined = (1_i64..=1_000, any::<bool>()).prop_map(move |(whole, sale_only)| {
        let value = Money::from_minor(whole * unit, currency).unwrap_or(Money::zero(currency));
        CertificateDefinition::predetermined("gift-fixed", "Fixed certificate", [value])
            .map(|d| d.with_currency_of_sale_only(sale_only))
    });
    let any_amount =
        (any::<bool>(), 1_i64..=100, 100_i64..=10_000).prop_map(move |(bounded, lo, hi)| {
            let def = CertificateDefinition::any_amount("gift-any", "Any-amount certificate")?;
            if !bounded {
                return Ok(def);
            }
            let min = Money::from_minor(lo * unit, currency)?;
            let max = Money::from_minor(hi * unit, currency)?;
            def.with_bounds(AmountBounds::new(currency, Some(min), Some(max))?)
        });
    prop_oneof![predetermined, any_amount].prop_filter_map("valid definition", Result::ok)
}

/// Selections in `currency`: one to six product lines with random prices, quantities and tax
/// rates, under the mixed policy, with prices tax-included or tax-excluded.
pub fn selection(currency: Currency) -> impl Strategy<Value = Selection> {
    let unit = 10_i64.pow(currency.minor_units());
    (
        any::<bool>(),
        proptest::collection::vec((1_i64..=100_000, 1_u64..=5, tax_rate()), 1..=6),
    )
        .prop_map(move |(included, lines)| {
            let prices = if included {
                PriceBasis::TaxIncluded
            } else {
                PriceBasis::TaxExcluded
            };
            let mut selection = Selection::new(currency, prices, SelectionPolicy::mixed());
            for (i, (price, quantity, rate)) in lines.into_iter().enumerate() {
                let price = Money::from_minor(price * unit / 100, currency)
                    .unwrap_or(Money::zero(currency));
                if let Ok(line) = ProductLine::new(&format!("sku-{i}"), price, quantity, rate) {
                    // A line the selection refuses is simply left out.
                    let _ = selection.add_product(line);
                }
            }
            selection
        })
}

/// Generated gift card codes: from the default [`RandomCodeGenerator`](crate::code::RandomCodeGenerator)
/// or one with a prefix, a different length or group size, each drawn from a seeded CSPRNG
/// (so failures replay). Every code passes its generator's check; the generator comes along
/// so that tests can check against it.
pub fn generated_code() -> impl Strategy<Value = (crate::code::RandomCodeGenerator, Code)> {
    use rand::SeedableRng;

    (
        any::<u64>(),
        13_usize..=24,
        3_usize..=6,
        proptest::option::of("[A-Z]{1,3}"),
    )
        .prop_filter_map(
            "a valid generator configuration",
            |(seed, length, group, prefix)| {
                let mut builder = crate::code::RandomCodeGenerator::builder()
                    .length(length)
                    .group_size(group);
                if let Some(prefix) = &prefix {
                    builder = builder.prefix(prefix);
                }
                let generator = builder.build().ok()?;
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let code = generator.generate_with(&mut rng).ok()?;
                Some((generator, code))
            },
        )
}

/// Text a person might type for a code: letters and digits with spaces and dashes anywhere
/// and any case; always a valid [`Code`] once normalised.
pub fn typed_code() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{4,40}".prop_flat_map(|core| {
        let len = core.len();
        proptest::collection::vec(
            prop_oneof![Just(""), Just(" "), Just("-"), Just(" - ")],
            len,
        )
        .prop_map(move |gaps| {
            core.chars()
                .zip(gaps)
                .map(|(c, g)| format!("{g}{c}"))
                .collect::<String>()
        })
    })
}

/// One step of a card's life, for [`card_with_history`] and state-machine tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardStep {
    /// Hold this many minor units (clamped to what is available).
    Hold(i64),
    /// Capture the oldest open hold, this share of it in percent (at least one minor unit).
    Capture(u8),
    /// Release the oldest open hold.
    Release,
    /// Refund this many minor units (at most what was spent and not yet refunded).
    Refund(i64),
}

fn card_step() -> impl Strategy<Value = CardStep> {
    prop_oneof![
        (1_i64..=50_000).prop_map(CardStep::Hold),
        (1_u8..=100).prop_map(CardStep::Capture),
        Just(CardStep::Release),
        (1_i64..=20_000).prop_map(CardStep::Refund),
    ]
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Applies `step` to `card` at `at` if the card allows it, returning the entries written.
pub fn apply_card_step(card: &mut GiftCard, step: CardStep, at: DateTime<Utc>) -> Vec<LedgerEntry> {
    let currency = card.currency();
    let minor = |m: i64| Money::from_minor(m, currency).unwrap_or(Money::zero(currency));
    let order = Reference::new("order").ok();
    let oldest = card.holds().first().map(|h| (h.id(), h.amount()));
    let result = match step {
        CardStep::Hold(m) => {
            let available = card.available();
            let amount = if minor(m).amount() > available.amount() {
                available
            } else {
                minor(m)
            };
            order
                .map(|o| card.place_hold(amount, o, None, at, None).map(|e| vec![e]))
                .unwrap_or(Ok(Vec::new()))
        }
        CardStep::Capture(percent) => match oldest {
            Some((hold, held)) => {
                let share = held.amount() * Decimal::from(percent) / Decimal::ONE_HUNDRED;
                let amount =
                    Money::rounded(share, currency, crate::money::RoundingRule::TowardZero);
                let amount = if amount.is_zero() { held } else { amount };
                card.capture(hold, amount, at)
            }
            None => Ok(Vec::new()),
        },
        CardStep::Release => match oldest {
            Some((hold, _)) => card
                .release(hold, ReleaseReason::Voided, at)
                .map(|e| vec![e]),
            None => Ok(Vec::new()),
        },
        CardStep::Refund(m) => {
            let refundable = card
                .spent()
                .checked_sub(card.refunded())
                .unwrap_or(minor(0));
            let amount = if minor(m).amount() > refundable.amount() {
                refundable
            } else {
                minor(m)
            };
            match order {
                Some(o) if amount.is_positive() => {
                    card.refund(amount, o, None, at).map(|e| vec![e])
                }
                _ => Ok(Vec::new()),
            }
        }
    };
    result.unwrap_or_default()
}

/// Gift cards in `currency` with a history: issued with a random value, then up to twenty
/// random holds, captures, releases and refunds (each only where the card allows it). Returns
/// the card and its whole ledger, which always proves its balance.
pub fn card_with_history(
    currency: Currency,
) -> impl Strategy<Value = (GiftCard, Vec<LedgerEntry>)> {
    (
        1_i64..=100_000,
        any::<u64>(),
        proptest::collection::vec(card_step(), 0..20),
    )
        .prop_filter_map("a card could be issued", move |(value, id, steps)| {
            let value = Money::from_minor(value, currency).ok()?;
            let code = Code::parse(&format!("PROP{id:016X}")).ok()?;
            let (mut card, issued) = GiftCard::issue(
                CardId::from_u128(u128::from(id)),
                &code,
                CardSpec::new(value),
                t0(),
            )
            .ok()?;
            let mut ledger = vec![issued];
            for (minute, step) in steps.into_iter().enumerate() {
                let at = t0() + Duration::minutes(minute as i64 + 1);
                ledger.extend(apply_card_step(&mut card, step, at));
            }
            Some((card, ledger))
        })
}

/// One request a shopper's checkout makes, for state-machine tests over the
/// [`Redeemer`](crate::store::Redeemer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckoutOp {
    /// Open checkout `checkout`, apply these cards (bit set over the card indices) and
    /// authorise this many minor units.
    Authorise {
        /// Which checkout (a small number: checkouts are reused).
        checkout: u8,
        /// Which cards, as bits.
        cards: u8,
        /// The amount payable, in minor units.
        payable: i64,
    },
    /// Capture the checkout's holds.
    Capture {
        /// Which checkout.
        checkout: u8,
    },
    /// Void the checkout's holds.
    Void {
        /// Which checkout.
        checkout: u8,
    },
    /// Refund this many minor units of what the checkout captured.
    Refund {
        /// Which checkout.
        checkout: u8,
        /// The amount, in minor units.
        amount: i64,
    },
    /// Let this many minutes pass (holds and cards may expire).
    Wait {
        /// Minutes.
        minutes: u16,
    },
}

/// Sequences of up to `max_len` checkout requests over `checkouts` checkouts and up to eight
/// cards.
pub fn checkout_ops(checkouts: u8, max_len: usize) -> impl Strategy<Value = Vec<CheckoutOp>> {
    let checkouts = checkouts.max(1);
    let op = prop_oneof![
        4 => (0..checkouts, 1_u8..=u8::MAX, 0_i64..=30_000)
            .prop_map(|(checkout, cards, payable)| CheckoutOp::Authorise { checkout, cards, payable }),
        3 => (0..checkouts).prop_map(|checkout| CheckoutOp::Capture { checkout }),
        2 => (0..checkouts).prop_map(|checkout| CheckoutOp::Void { checkout }),
        2 => (0..checkouts, 1_i64..=20_000).prop_map(|(checkout, amount)| CheckoutOp::Refund { checkout, amount }),
        1 => (1_u16..=120).prop_map(|minutes| CheckoutOp::Wait { minutes }),
    ];
    proptest::collection::vec(op, 0..=max_len)
}
