//! Storage traits the host implements, and the rules an implementation must keep (see
//! [`Store`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::card::{CardId, GiftCard};
use crate::code::Code;
use crate::guard::GuardWindow;
use crate::idempotency::{IdempotencyKey, IdempotencyRecord};
use crate::ledger::{LedgerEntry, Reference};
use crate::redemption::Checkout;

/// A stored value and the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version: 1 when inserted, one more at every write.
    pub version: u64,
}

/// What a store could not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A record changed since it was read, or a record to insert already exists: read again
    /// and retry.
    #[error("write conflict: {0}")]
    Conflict(String),
    /// A new card's code is already taken: generate another.
    #[error("a card with code {0} already exists")]
    DuplicateCode(String),
    /// The store holds something that breaks the crate's rules.
    #[error("store is inconsistent: {0}")]
    Corrupt(String),
    /// The database failed (its message).
    #[error("store failure: {0}")]
    Backend(String),
}

/// A card to write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardWrite {
    /// A new card: neither its id nor its code may exist. The code is given for the lookup
    /// index only: keep a keyed hash of it (and the card's hint), never the code itself.
    Insert {
        /// The new card.
        card: GiftCard,
        /// Its code.
        code: Code,
    },
    /// An existing card, read at `expected_version`.
    Update {
        /// The card's new state.
        card: GiftCard,
        /// The version it was read at.
        expected_version: u64,
    },
}

/// A record written with an optimistic version check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write<T> {
    /// The new value.
    pub value: T,
    /// The version it was read at; `None` to insert it.
    pub expected_version: Option<u64>,
}

/// Everything one request writes, committed atomically by [`Store::commit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Cards to insert or update.
    pub cards: Vec<CardWrite>,
    /// Ledger entries to append (each card's entries continue its sequence).
    pub entries: Vec<LedgerEntry>,
    /// The checkout, if it changed.
    pub checkout: Option<Write<Checkout>>,
    /// The idempotency record to insert, if the request had a key.
    pub idempotency: Option<IdempotencyRecord>,
    /// A guard window, if it changed.
    pub guard: Option<Write<GuardWindow>>,
}

impl Changes {
    /// Whether there is nothing to write.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
            && self.entries.is_empty()
            && self.checkout.is_none()
            && self.idempotency.is_none()
            && self.guard.is_none()
    }
}

/// Where cards, their ledgers, checkouts, idempotency records and guard windows live.
///
/// Reads return what was committed last.
///
/// # Design: a synchronous store, a pure core, and async hosts
///
/// Every decision (what to hold, capture, release, issue, write) comes from the pure functions
/// in [`redemption`](crate::redemption), as values. The crate's [`Redeemer`](crate::Redeemer)
/// drives them over this synchronous [`Store`] trait, which suits embedded stores (the
/// in-memory default, SQLite) and blocking drivers. An async host (axum with sqlx or
/// tokio-postgres) does not need an async version of the trait: it reads the checkout and cards
/// with its own async I/O, calls the same pure functions, and writes the returned
/// [`Decision`](crate::Decision) in one transaction with the version checks described below.
/// That keeps the crate free of any async runtime and keeps one implementation of the rules.
/// `examples/async_host.rs` shows the loop.
///
/// # The contract
///
/// Concurrency is the database's job, and optimistic versions make it safe:
///
/// - Every card, checkout and guard window is read with its version ([`Versioned`]).
/// - [`Store::commit`] writes a whole [`Changes`] atomically or not at all. It fails with
///   [`StoreError::Conflict`] when any record's stored version is not the version the change
///   was computed from, when a record to insert already exists, or when the idempotency key is
///   already recorded; and with [`StoreError::DuplicateCode`] when a new card's code is taken.
///   On success each written record's version is the expected version plus one (inserts get 1).
/// - In SQL: one transaction; `UPDATE cards SET ..., version = version + 1 WHERE id = $1 AND
///   version = $2` and a conflict when no row was updated; `INSERT` for new cards, ledger
///   entries and the idempotency record, relying on unique constraints (card id, code, key,
///   `(card, seq)`) and mapping their violations to the errors above.
/// - Ledger entries are append-only: an entry is never updated or deleted.
///
/// The service retries a conflicting request from a fresh read a bounded number of times, so a
/// store only has to refuse, never to merge.
pub trait Store: Send + Sync + fmt::Debug {
    /// The card with this id.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError>;

    /// The card with this code (codes are unique).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError>;

    /// A card's ledger entries with sequence numbers from `from_seq` on, in order, at most
    /// `limit` of them.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError>;

    /// The checkout with this reference.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn checkout(&self, id: &Reference) -> Result<Option<Versioned<Checkout>>, StoreError>;

    /// The record kept for an idempotency key.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// A client's current guard window.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn guard(&self, client: &Reference) -> Result<Option<Versioned<GuardWindow>>, StoreError>;

    /// Writes `changes` atomically, checking every version (see the contract above).
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`], [`StoreError::DuplicateCode`], [`StoreError::Backend`].
    fn commit(&self, changes: Changes) -> Result<(), StoreError>;
}

/// A number per card (the version it was read at, the sequence number it expects next) for
/// the cards one request touches.
///
/// A request touches a handful of cards, so the first few are kept inline and found by a
/// search from the front, without allocating; more move to a `Vec`, which [`seal`] sorts once
/// it is long (a bulk issue of thousands) so that lookups search by halves.
///
/// [`seal`]: CardNumbers::seal
#[derive(Debug, Clone)]
pub(crate) struct CardNumbers {
    inline: [(CardId, u64); CardNumbers::INLINE],
    len: usize,
    spilled: Vec<(CardId, u64)>,
    sorted: bool,
}

impl Default for CardNumbers {
    fn default() -> Self {
        CardNumbers {
            inline: [(CardId::from_u128(0), 0); CardNumbers::INLINE],
            len: 0,
            spilled: Vec::new(),
            sorted: false,
        }
    }
}

impl CardNumbers {
    /// How many cards are kept without allocating.
    const INLINE: usize = 4;
    /// Above this many cards, [`CardNumbers::seal`] sorts them.
    const LINEAR: usize = 16;

    /// Adds `card`'s number. A card added twice is found with its first number.
    pub(crate) fn push(&mut self, card: CardId, number: u64) {
        self.sorted = false;
        if self.spilled.is_empty() {
            if let Some(slot) = self.inline.get_mut(self.len) {
                *slot = (card, number);
                self.len += 1;
                return;
            }
            self.spilled.extend_from_slice(&self.inline);
        }
        self.spilled.push((card, number));
    }

    /// Sorts a long list, so that lookups search it by halves.
    pub(crate) fn seal(&mut self) {
        if self.spilled.len() > Self::LINEAR {
            // A stable sort keeps the first number of a card added twice first.
            self.spilled.sort_by_key(|(id, _)| *id);
            self.sorted = true;
        }
    }

    fn slots(&self) -> &[(CardId, u64)] {
        if self.spilled.is_empty() {
            self.inline.get(..self.len).unwrap_or_default()
        } else {
            &self.spilled
        }
    }

    fn position(&self, card: CardId) -> Option<usize> {
        let slots = self.slots();
        if self.sorted {
            // The first of equal ids.
            let start = slots.partition_point(|(id, _)| *id < card);
            slots
                .get(start)
                .filter(|(id, _)| *id == card)
                .map(|_| start)
        } else {
            slots.iter().position(|(id, _)| *id == card)
        }
    }

    /// `card`'s number.
    pub(crate) fn get(&self, card: CardId) -> Option<u64> {
        let index = self.position(card)?;
        self.slots().get(index).map(|(_, n)| *n)
    }

    /// `card`'s number, to change it.
    pub(crate) fn get_mut(&mut self, card: CardId) -> Option<&mut u64> {
        let index = self.position(card)?;
        let slots = if self.spilled.is_empty() {
            self.inline.get_mut(..self.len).unwrap_or_default()
        } else {
            &mut self.spilled
        };
        slots.get_mut(index).map(|(_, n)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_are_found_inline_spilled_and_sorted() {
        for count in [0u128, 3, 4, 5, 16, 17, 100] {
            let mut numbers = CardNumbers::default();
            // Pushed in descending id order, so that sorting matters.
            for i in (0..count).rev() {
                numbers.push(CardId::from_u128(i + 1), 10 * (i as u64));
            }
            if count > 0 {
                numbers.push(CardId::from_u128(1), 99);
            }
            numbers.seal();
            for i in 0..count {
                let expected = 10 * (i as u64);
                assert_eq!(
                    numbers.get(CardId::from_u128(i + 1)),
                    Some(expected),
                    "{count}"
                );
            }
            assert_eq!(numbers.get(CardId::from_u128(count + 1)), None);
            if let Some(n) = numbers.get_mut(CardId::from_u128(count)) {
                *n += 1;
            }
            if count > 0 {
                let bumped = 10 * (count as u64 - 1) + 1;
                assert_eq!(numbers.get(CardId::from_u128(count)), Some(bumped));
            }
        }
    }
}
