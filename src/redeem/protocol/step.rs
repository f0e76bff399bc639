//! What passes between an operation and its driver: [`Need`]s and [`Reply`]s, the [`Step`]
//! a poll returns, and the [`Redeemed`] result a request answers with.

use crate::redeem::{CheckoutId, ClientId};
use chrono::{DateTime, Utc};

use super::TurnWait;
use crate::card::{CardId, CodeHint, GiftCard, LedgerEntry, Notification, Reference};
use crate::code::{Code, CodeError};
use crate::money::Money;
use crate::redeem::{
    Changes, Checkout, GuardWindow, IdempotencyKey, IdempotencyRecord, RedeemError, Versioned,
};

/// A request's result, with what to tell people.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Redeemed<T> {
    /// The result.
    pub outcome: T,
    /// Notifications for the host to deliver (empty on a replay: they were handed over with
    /// the first result).
    pub notifications: Vec<Notification>,
    /// Whether this is the recorded result of an earlier identical request.
    pub replayed: bool,
}

/// A code applied to a checkout, as the shopper sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedCode {
    /// The card.
    pub card: CardId,
    /// Its code, masked.
    pub code: CodeHint,
    /// What it can give now.
    pub balance: Money,
    /// When it expires, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What an operation needs from its driver before it can go on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Need {
    /// The current time: answer [`Reply::Now`].
    Now,
    /// The record kept for this key: answer [`Reply::Idempotency`].
    Idempotency(IdempotencyKey),
    /// The checkout, with its version: answer [`Reply::Checkout`].
    Checkout(CheckoutId),
    /// The card with this id, with its version: answer [`Reply::Card`].
    Card(CardId),
    /// The card with this code, with its version: answer [`Reply::Card`].
    CardByCode(Code),
    /// The client's guard window, with its version: answer [`Reply::Guard`].
    Guard(ClientId),
    /// A new card id and a candidate code ([`Protocol::draw`](super::Protocol::draw)): answer [`Reply::Fresh`].
    Fresh,
    /// A new card id alone ([`CardId::random`]), for a card whose code the host brings:
    /// answer [`Reply::CardId`].
    NewCardId,
    /// Write these changes atomically (see [`Store::commit`](crate::store::Store::commit)):
    /// answer [`Reply::Committed`], or the store's error. A conflict makes the operation read
    /// again and retry. Boxed: the changes are large beside the other needs.
    Commit(Box<Changes>),
    /// The last commit lost a race: pause this long before answering [`Reply::Resumed`] (the
    /// protocol chose the length, with jitter; zero asks for a yield). A sync driver sleeps,
    /// an async one awaits its timer.
    Wait(std::time::Duration),
    /// A random number to seed the pauses with: answer [`Reply::Seed`]. Asked once, by an
    /// operation that lost its first commit.
    Seed,
    /// The operation is on the pessimistic path and must wait for the turn to change hands or
    /// for the commits under way to land: block or park on the [`TurnWait`] until it is over,
    /// then answer [`Reply::Resumed`].
    Turn(TurnWait),
    /// Up to `limit` cards with something due at `at` ([`Store::due_cards`]): answer
    /// [`Reply::DueCards`].
    ///
    /// [`Store::due_cards`]: crate::store::Store::due_cards
    DueCards {
        /// The instant.
        at: DateTime<Utc>,
        /// The most ids wanted.
        limit: usize,
    },
    /// Delete up to `limit` idempotency records recorded before `before`
    /// ([`Store::prune_idempotency`]): answer [`Reply::Pruned`].
    ///
    /// [`Store::prune_idempotency`]: crate::store::Store::prune_idempotency
    PruneRecords {
        /// The cut-off.
        before: DateTime<Utc>,
        /// The most to delete.
        limit: usize,
    },
    /// Delete up to `limit` guard windows started before `before`
    /// ([`Store::prune_guards`]): answer [`Reply::Pruned`].
    ///
    /// [`Store::prune_guards`]: crate::store::Store::prune_guards
    PruneGuards {
        /// The cut-off.
        before: DateTime<Utc>,
        /// The most to delete.
        limit: usize,
    },
    /// Up to `limit` of a card's ledger entries from sequence number `from_seq` on
    /// ([`Store::ledger`]): answer [`Reply::Ledger`].
    ///
    /// [`Store::ledger`]: crate::store::Store::ledger
    Ledger {
        /// The card.
        card: CardId,
        /// The first sequence number wanted (entries count from 1).
        from_seq: u64,
        /// The most entries wanted.
        limit: usize,
    },
    /// The cards an order bought, a page of them ([`Store::search`] by order): answer
    /// [`Reply::OrderCards`].
    ///
    /// [`Store::search`]: crate::store::Store::search
    OrderCards(Reference),
}

impl Need {
    /// The need's name, as its variant is called.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Need::Now => "Now",
            Need::Idempotency(_) => "Idempotency",
            Need::Checkout(_) => "Checkout",
            Need::Card(_) => "Card",
            Need::CardByCode(_) => "CardByCode",
            Need::Guard(_) => "Guard",
            Need::Fresh => "Fresh",
            Need::NewCardId => "NewCardId",
            Need::Commit(_) => "Commit",
            Need::Wait(_) => "Wait",
            Need::Seed => "Seed",
            Need::Turn(_) => "Turn",
            Need::DueCards { .. } => "DueCards",
            Need::PruneRecords { .. } => "PruneRecords",
            Need::PruneGuards { .. } => "PruneGuards",
            Need::Ledger { .. } => "Ledger",
            Need::OrderCards(_) => "OrderCards",
        }
    }
}

/// A driver's answer to a [`Need`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Reply {
    /// For [`Need::Now`].
    Now(DateTime<Utc>),
    /// For [`Need::Idempotency`].
    Idempotency(Option<IdempotencyRecord>),
    /// For [`Need::Checkout`].
    Checkout(Option<Versioned<Checkout>>),
    /// For [`Need::Card`] and [`Need::CardByCode`].
    Card(Option<Versioned<GiftCard>>),
    /// For [`Need::Guard`].
    Guard(Option<Versioned<GuardWindow>>),
    /// For [`Need::Fresh`].
    Fresh(Result<(CardId, Code), CodeError>),
    /// For [`Need::NewCardId`].
    CardId(CardId),
    /// For [`Need::Commit`]: everything was written.
    Committed,
    /// For [`Need::Wait`] and [`Need::Turn`]: the wait is over.
    Resumed,
    /// For [`Need::Seed`].
    Seed(u64),
    /// For [`Need::DueCards`].
    DueCards(Vec<CardId>),
    /// For [`Need::PruneRecords`] and [`Need::PruneGuards`]: how many were deleted.
    Pruned(usize),
    /// For [`Need::Ledger`].
    Ledger(Vec<LedgerEntry>),
    /// For [`Need::OrderCards`]: the ids of the cards found.
    OrderCards(Vec<CardId>),
}

/// Where an operation stands after [`Operation::poll`](super::Operation::poll).
#[derive(Debug)]
pub enum Step<T> {
    /// It needs this answered with [`Operation::reply`](super::Operation::reply) before it is polled again.
    Need(Need),
    /// It is finished.
    Done(Result<T, RedeemError>),
}
