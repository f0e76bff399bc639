//! What one request writes: the values a decision produces and a store commits atomically.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::card::{CardId, GiftCard, LedgerEntry};
use crate::code::Code;
use crate::redeem::{Checkout, GuardWindow, IdempotencyRecord, Record, StoreError};

/// A stored value and the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version: 1 when inserted, one more at every write.
    pub version: u64,
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

/// A new code for a card updated in the same commit (a lost code replaced).
///
/// The store moves its lookup index in that commit: from then on `code` finds the card and the
/// card's old code finds nothing. Like [`CardWrite::Insert`]'s, the code is given for the index
/// only: keep its keyed hash (and the card's hint, which the card carries), never the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeWrite {
    /// The card, which the same commit updates ([`CardWrite::Update`]).
    pub card: CardId,
    /// Its new code, which no card may have.
    pub code: Code,
}

/// A record written with an optimistic version check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordWrite<T> {
    /// The new value.
    pub value: T,
    /// The version it was read at; `None` to insert it.
    pub expected_version: Option<u64>,
}

/// Everything one request writes, committed atomically by [`Store::commit`](crate::store::Store::commit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Cards to insert or update.
    pub cards: Vec<CardWrite>,
    /// New codes for cards updated here ([`CodeWrite`]).
    pub codes: Vec<CodeWrite>,
    /// Ledger entries to append (each card's entries continue its sequence).
    pub entries: Vec<LedgerEntry>,
    /// The checkout, if it changed.
    pub checkout: Option<RecordWrite<Checkout>>,
    /// The idempotency record to insert, if the request had a key.
    pub idempotency: Option<IdempotencyRecord>,
    /// A guard window, if it changed.
    pub guard: Option<RecordWrite<GuardWindow>>,
}

impl Changes {
    /// Whether there is nothing to write.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
            && self.codes.is_empty()
            && self.entries.is_empty()
            && self.checkout.is_none()
            && self.idempotency.is_none()
            && self.guard.is_none()
    }

    /// Checks the ledger entries against the cards this commit writes: each entry belongs to
    /// a card inserted or updated in the same commit, and each card's entries continue its
    /// sequence without a gap. `next_seqs` gives, for each written card, the sequence number
    /// its next entry must have (1 for a new card, one more than its last entry otherwise); a
    /// card given twice keeps its first number.
    ///
    /// Every store makes this check (and [`Changes::check_codes`]) before it writes, so that
    /// it lives in one place.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] naming the first entry that breaks a rule.
    pub fn check_entries(
        &self,
        next_seqs: impl IntoIterator<Item = (CardId, u64)>,
    ) -> Result<(), StoreError> {
        let mut next: HashMap<CardId, u64> = HashMap::new();
        for (card, seq) in next_seqs {
            next.entry(card).or_insert(seq);
        }
        for entry in &self.entries {
            let record = || Record::Entry {
                card: entry.card(),
                seq: entry.seq(),
            };
            let expected = next.get_mut(&entry.card()).ok_or_else(|| {
                StoreError::conflict(record(), "an entry without its card in the same commit")
            })?;
            if entry.seq() != *expected {
                return Err(StoreError::conflict(
                    record(),
                    format!("it does not follow entry {}", *expected - 1),
                ));
            }
            *expected += 1;
        }
        Ok(())
    }

    /// Checks the new codes against the cards this commit writes: each [`CodeWrite`] names a
    /// card the commit updates ([`CardWrite::Update`]), at most once, and no two codes the
    /// commit gives (to new cards or as new codes) are the same.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] naming the first card that breaks a rule, and
    /// [`StoreError::DuplicateCode`] for a code given twice.
    pub fn check_codes(&self) -> Result<(), StoreError> {
        let mut given = HashSet::with_capacity(self.cards.len() + self.codes.len());
        let inserted = self.cards.iter().filter_map(|c| match c {
            CardWrite::Insert { code, .. } => Some(code),
            CardWrite::Update { .. } => None,
        });
        for code in inserted.chain(self.codes.iter().map(|w| &w.code)) {
            if !given.insert(code.expose_secret()) {
                return Err(StoreError::duplicate_code(code));
            }
        }
        for (i, write) in self.codes.iter().enumerate() {
            let updated = self
                .cards
                .iter()
                .any(|c| matches!(c, CardWrite::Update { card, .. } if card.id() == write.card));
            if !updated {
                return Err(StoreError::conflict(
                    Record::Card(write.card),
                    "a new code without its card updated in the same commit",
                ));
            }
            if self.codes[..i].iter().any(|w| w.card == write.card) {
                return Err(StoreError::conflict(
                    Record::Card(write.card),
                    "two new codes for one card",
                ));
            }
        }
        Ok(())
    }
}
