//! Gift cards: identity, status, holds, the ledger, expiry, leftover strategies and
//! notifications.
//!
//! A [`GiftCard`] keeps a running balance and its open [`Hold`]s; every change to it is a
//! [`LedgerEntry`], appended and never edited, and [`verify_ledger`] proves the balance from
//! the entries. Holds count against [`GiftCard::available`], so two checkouts cannot spend the
//! same value. A card keeps only a masked [`CodeHint`] of its code. [`ExpiryPolicy`] dates new
//! cards (the US preset keeps at least five years, as 12 CFR 1005.20 requires);
//! [`LeftoverStrategy`] says what happens to value left after a purchase: Spryker's *balance*
//! strategy (the same code, a running balance) or its *replacement* strategy (a new code for
//! the rest). [`Notification`]s tell the host what to send to the card's owner. A
//! [`LiabilityReport`] sums what a shop owes on its cards and checks that the ledgers add up.
//!
//! ```
//! use chrono::Utc;
//! use giftcert::card::{CardId, CardSpec, GiftCard, verify_ledger};
//! use giftcert::{Code, Currency, Money, Reference};
//!
//! let now = Utc::now();
//! let code = Code::parse("GIFT-2026-ABCD")?;
//! let (mut card, issued) =
//!     GiftCard::issue(CardId::from_u128(1), &code, CardSpec::new(Money::parse("50", Currency::EUR)?), now)?;
//! let held = card.place_hold(Money::parse("20", Currency::EUR)?, Reference::new("checkout-1")?, None, now, None)?;
//! assert_eq!(card.available(), Money::parse("30", Currency::EUR)?);
//! assert_eq!(card.balance(), Money::parse("50", Currency::EUR)?);
//! verify_ledger(card.id(), card.balance(), &[issued, held])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod attribution;
mod error;
mod expiry;
mod gift_card;
mod hint;
mod hold;
mod id;
mod ledger;
mod leftover;
mod liability;
mod notification;
mod reversal;
mod spec;
mod status;

pub use self::attribution::{Attribution, MAX_REASON_LEN, Reason, ReasonError};
pub use self::error::CardError;
pub use self::expiry::{
    EARLIEST_EXPIRY_YEAR, ExpiryError, ExpiryPolicy, LATEST_EXPIRY_YEAR, US_MINIMUM_YEARS,
    expiry_in_range,
};
pub use self::gift_card::GiftCard;
pub use self::hint::CodeHint;
pub use self::hold::Hold;
pub use self::id::{CardId, CardIdError};
pub(crate) use self::ledger::check_reference;
pub use self::ledger::{
    EntryKind, LedgerEntry, LedgerError, Reference, ReferenceError, ReleaseReason, verify_ledger,
};
pub use self::leftover::{
    BalanceStrategy, LeftoverDecision, LeftoverStrategy, NewCard, RefundTarget, Refunded,
    ReplacementStrategy, refund_to_card, settle_leftover,
};
pub use self::liability::{
    Discrepancy, Liability, LiabilityReport, LiabilityTally, Standing, expiry_effect, standing_at,
};
pub use self::notification::Notification;
pub use self::reversal::ReversalReason;
pub use self::spec::{CardSpec, Recipient};
pub use self::status::CardStatus;
