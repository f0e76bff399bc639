//! Everything that can refuse a redemption request.

use super::CheckoutId;
use crate::card::ExpiryError;
use crate::card::Reference;
use crate::card::{CardError, CardId, CodeHint};
use crate::code::CodeError;
use crate::money::Currency;
use crate::money::{Money, MoneyError};
use crate::redeem::AllocationError;
use crate::redeem::CommandError;
use crate::redeem::GuardError;
use crate::redeem::StoreError;
use crate::redeem::{IdempotencyKey, RecordedRequest};
use chrono::{DateTime, Utc};
use std::fmt;

/// Everything that can refuse a redemption request.
///
/// Messages speak to the shopper who caused them, in their terms: a card by its masked code,
/// "this checkout" rather than the shop's reference for it, times to the second. The ids a
/// host needs (card ids, checkout references, keys) are in the variants' typed fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedeemError {
    /// The text is not a code, or its check character is wrong (a typo): no store was asked.
    #[error("invalid gift card code: {0}")]
    InvalidCode(#[source] CodeError),
    /// No card has this code.
    #[error("no gift card has code {0}")]
    UnknownCode(String),
    /// The client tried too many unknown codes.
    #[error(transparent)]
    TooManyAttempts(#[from] GuardError),
    /// The card refuses (disabled, expired, replaced, short of funds...).
    #[error(transparent)]
    Card(#[from] CardError),
    /// A card is used only in its own currency.
    #[error("gift card {code} is in {card_currency} and cannot pay in {checkout_currency}")]
    CardCurrency {
        /// The card.
        card: CardId,
        /// Its code, masked.
        code: CodeHint,
        /// Its currency.
        card_currency: Currency,
        /// The checkout.
        checkout: CheckoutId,
        /// The checkout's currency.
        checkout_currency: Currency,
    },
    /// The card has nothing left to give now: it is empty, or what is on it is held by other
    /// checkouts (then the message says until when).
    #[error("{0}")]
    EmptyCard(CardUnavailable),
    /// No checkout with this reference.
    #[error("this checkout does not exist")]
    UnknownCheckout(CheckoutId),
    /// An imported code too easy to guess for a store without the store-wide guess budget:
    /// below [`MIN_CODE_BITS`](crate::code::MIN_CODE_BITS).
    #[error(
        "imported code {code} has about {bits} bits of entropy, below the {min} a store without a guess budget takes"
    )]
    WeakImportedCode {
        /// The masked code.
        code: String,
        /// Its estimated entropy, in whole bits.
        bits: u32,
        /// The least taken.
        min: u32,
    },
    /// The configured code generator makes codes too easy to guess for a store without the
    /// store-wide guess budget: below [`MIN_CODE_BITS`](crate::code::MIN_CODE_BITS) (pattern
    /// codes such as `X-GC-41` have none to guess). Nothing was issued.
    #[error(
        "the code generator's codes have about {bits} bits of entropy, below the {min} a store without a guess budget takes"
    )]
    WeakCodeGenerator {
        /// The generator's stated entropy, in whole bits.
        bits: u32,
        /// The least taken.
        min: u32,
    },
    /// The order's cards were issued already, under a record since pruned: an order's cards
    /// are issued once for its whole life.
    #[error("order {order} already has its cards")]
    OrderAlreadyIssued {
        /// The order.
        order: Reference,
        /// Cards it bought (a page of them).
        cards: Vec<CardId>,
    },
    /// The code is not applied to the checkout.
    #[error("gift card {code} is not applied to this checkout")]
    NotApplied {
        /// The masked code.
        code: String,
        /// The checkout.
        checkout: CheckoutId,
    },
    /// The checkout is not in a state that allows the operation.
    #[error("this checkout is {state}; cannot {operation}")]
    InvalidState {
        /// The checkout.
        checkout: CheckoutId,
        /// Where it stands.
        state: &'static str,
        /// What was asked.
        operation: &'static str,
    },
    /// The holds ran out before the capture; authorise again.
    #[error("the authorisation of this checkout expired; authorise again")]
    AuthorisationExpired(CheckoutId),
    /// A refund asked for more than the checkout captured and has not yet refunded.
    #[error("this checkout can refund at most {refundable}, not {requested}")]
    RefundExceedsCapture {
        /// The checkout.
        checkout: CheckoutId,
        /// What it can still refund.
        refundable: Money,
        /// What was asked.
        requested: Money,
    },
    /// A partial capture asked for more than the checkout holds.
    #[error("this checkout holds {authorised}; cannot capture {requested}")]
    CaptureExceedsAuthorisation {
        /// The checkout.
        checkout: CheckoutId,
        /// What it holds.
        authorised: Money,
        /// What was asked.
        requested: Money,
    },
    /// An authorisation or capture of zero or less: a checkout holds and captures something
    /// or nothing at all (void it instead).
    #[error("cannot {operation} {amount}: the amount must be above zero")]
    NotPositive {
        /// What was asked (`authorise`, `capture`, `change the authorisation to`).
        operation: &'static str,
        /// The amount asked for.
        amount: Money,
    },
    /// The key was used before for a different request.
    ///
    /// The message names only the key: the request it was first used for may be another
    /// client's (its checkout and amount), so it is in `first` for the host and never in
    /// the text a host passes on.
    #[error("idempotency key {key} was used for another request")]
    IdempotencyConflict {
        /// The key.
        key: IdempotencyKey,
        /// The request it was first used for (boxed: an error stays small to move).
        first: Box<RecordedRequest>,
    },
    /// Other writers kept winning; the request changed nothing.
    #[error("gave up after {attempts} attempts: the cards kept changing underneath")]
    Contention {
        /// How many times it tried.
        attempts: u32,
    },
    /// No fresh code could be made.
    #[error("could not generate a gift card code: {0}")]
    CodeGeneration(#[source] CodeError),
    /// An amount could not be allocated.
    #[error(transparent)]
    Allocation(#[from] AllocationError),
    /// A card's expiry date could not be set.
    #[error(transparent)]
    Expiry(#[from] ExpiryError),
    /// Amounts in different currencies, or an overflow.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// A back-office command the shop's rules refuse.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// No card has this id.
    #[error("no gift card has id {0}")]
    UnknownCard(CardId),
    /// Cards were asked of an order that is not paid (awaiting its payment, or the payment
    /// failed): nothing was issued.
    #[error("order {order} is not paid ({status}), so it has no cards to issue")]
    OrderNotPaid {
        /// The order.
        order: Reference,
        /// Where it stands (`awaiting payment`, `payment failed`).
        status: String,
    },
    /// A purchase reversal for an order that bought no card (unpaid, failed, or another
    /// order's id): nothing was blocked.
    #[error("order {order} bought no gift card, so there is nothing to reverse")]
    NothingToReverse {
        /// The order.
        order: Reference,
    },
    /// A partial purchase reversal named a card the order did not buy.
    #[error("gift card {card} was not bought by order {order}")]
    NotOnOrder {
        /// The order.
        order: Reference,
        /// The card named.
        card: CardId,
    },
    /// The cards given to a decision lack one that the checkout uses (the caller read too
    /// few).
    #[error("card {0}, which the checkout uses, was not given")]
    MissingCard(CardId),
    /// A driver answered a need of the protocol with the wrong reply, or polled an operation
    /// out of turn: a bug in the driver.
    #[error("the driver answered {need} with {reply}")]
    Driver {
        /// What the operation needed.
        need: &'static str,
        /// What it got.
        reply: &'static str,
    },
    /// The idempotency record under this key holds the outcome of another kind of operation.
    #[error("idempotency record {key} holds another operation's outcome")]
    ReplayMismatch {
        /// The key.
        key: IdempotencyKey,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Codes that could not be generated (the generator failed, or every attempt collided).
impl From<CodeError> for RedeemError {
    fn from(e: CodeError) -> Self {
        RedeemError::CodeGeneration(e)
    }
}

/// Why a card cannot pay now, as a shopper is told: by its masked code, with the time other
/// checkouts hold its money until, to the second.
///
/// Shown as `gift card ****-****-****-*KQ2-* has no balance left` when it is empty,
/// `gift card ****-****-****-*KQ2-* is held by another checkout until 14:05:00 UTC` when other
/// checkouts hold all it has (the date is added when the hold runs past the day of the
/// attempt), or `... is held by another checkout until that checkout completes or is
/// cancelled` for holds without a time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CardUnavailable {
    /// The card.
    pub card: CardId,
    /// Its code, masked.
    pub code: CodeHint,
    /// What other checkouts hold on it (zero: the card is empty).
    pub held: crate::money::Money,
    /// When the last of those holds runs out, if they all have a time limit.
    pub held_until: Option<DateTime<Utc>>,
    /// When the card was asked to pay.
    pub at: DateTime<Utc>,
}

impl fmt::Display for CardUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gift card {} ", self.code)?;
        if !self.held.is_positive() {
            return f.write_str("has no balance left");
        }
        f.write_str("is held by another checkout until ")?;
        match self.held_until {
            Some(until) if until.date_naive() == self.at.date_naive() => {
                write!(f, "{} UTC", until.format("%H:%M:%S"))
            }
            Some(until) => write!(f, "{} UTC", until.format("%Y-%m-%d %H:%M:%S")),
            None => f.write_str("that checkout completes or is cancelled"),
        }
    }
}
