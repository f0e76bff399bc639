//! The steps of a commit, in the order every SQL store takes them: the database-specific
//! statements are the store's ([`CommitSteps`]), the order and the checks between them are
//! here ([`write_changes`]).

use giftcert::{
    Code, GiftCard, StoreError,
    card::LedgerEntry,
    redeem::RecordWrite,
    redeem::{CardWrite, Changes, Checkout, GuardWindow, IdempotencyRecord},
};

/// The writes of one commit inside one database transaction, as a SQL store performs them.
///
/// Each step either writes or refuses with the error the [`Store`](giftcert::Store) contract
/// names; the caller rolls the transaction back on the first refusal.
pub trait CommitSteps {
    /// Inserts a new card, keeping `code` only as its digest and hint.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the card exists, [`StoreError::DuplicateCode`] when the
    /// code is taken.
    fn insert_card(&mut self, card: &GiftCard, code: &Code) -> Result<(), StoreError>;

    /// Updates a card read at `expected_version`; returns the sequence number its next ledger
    /// entry must have (one more than its last).
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the card is not at `expected_version`.
    fn update_card(&mut self, card: &GiftCard, expected_version: u64) -> Result<u64, StoreError>;

    /// Updates a card read at `expected_version` as [`CommitSteps::update_card`] does, in the
    /// same statement moving its code to `code` (its digest and hint replace the old ones, so
    /// the old code finds nothing); returns the sequence number its next entry must have.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the card is not at `expected_version`,
    /// [`StoreError::DuplicateCode`] when another card has `code`.
    fn update_card_code(
        &mut self,
        card: &GiftCard,
        code: &Code,
        expected_version: u64,
    ) -> Result<u64, StoreError>;

    /// Mirrors the card's open holds into the database's hold table.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn write_holds(&mut self, card: &GiftCard) -> Result<(), StoreError>;

    /// Appends a ledger entry (already checked to continue its card's sequence).
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the stored ledger refuses it.
    fn insert_entry(&mut self, entry: &LedgerEntry) -> Result<(), StoreError>;

    /// Inserts or updates the checkout.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when its stored version is not the expected one.
    fn write_checkout(&mut self, write: &RecordWrite<Checkout>) -> Result<(), StoreError>;

    /// Inserts the idempotency record.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when its key is recorded.
    fn insert_record(&mut self, record: &IdempotencyRecord) -> Result<(), StoreError>;

    /// Inserts or updates the guard window.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when its stored version is not the expected one.
    fn write_guard(&mut self, write: &RecordWrite<GuardWindow>) -> Result<(), StoreError>;
}

/// Writes `changes` through `steps`, in the order every store follows: the new codes checked
/// ([`Changes::check_codes`]), the cards in id order (so two commits over the same cards lock
/// them in the same order and cannot deadlock), a card with a new code written with it, each
/// with its holds, then the ledger entries once [`Changes::check_entries`] has accepted them,
/// then the checkout, the idempotency record and the guard window.
///
/// A store that makes these writes elsewhere (the PostgreSQL store's server-side function)
/// takes them in the same order.
///
/// # Errors
///
/// The first refusal of a step or of [`Changes::check_entries`]; [`StoreError::Backend`] for a
/// kind of card write this crate does not know.
pub fn write_changes(steps: &mut impl CommitSteps, changes: &Changes) -> Result<(), StoreError> {
    changes.check_codes()?;
    let mut cards: Vec<&CardWrite> = changes.cards.iter().collect();
    cards.sort_by_key(|write| match write {
        CardWrite::Insert { card, .. } | CardWrite::Update { card, .. } => Some(card.id()),
        _ => None,
    });
    // The sequence number each written card's next entry must have.
    let mut next_seqs = Vec::with_capacity(cards.len());
    for card_write in cards {
        let (card, next) = match card_write {
            CardWrite::Insert { card, code } => {
                steps.insert_card(card, code)?;
                (card, 1)
            }
            CardWrite::Update {
                card,
                expected_version,
            } => {
                let code = changes.codes.iter().find(|w| w.card == card.id());
                let next = match code {
                    Some(write) => steps.update_card_code(card, &write.code, *expected_version)?,
                    None => steps.update_card(card, *expected_version)?,
                };
                (card, next)
            }
            other => {
                return Err(StoreError::Backend {
                    reason: format!("this store cannot write {other:?}"),
                    source: None,
                });
            }
        };
        steps.write_holds(card)?;
        next_seqs.push((card.id(), next));
    }
    changes.check_entries(next_seqs)?;
    for entry in &changes.entries {
        steps.insert_entry(entry)?;
    }
    if let Some(checkout) = &changes.checkout {
        steps.write_checkout(checkout)?;
    }
    if let Some(record) = &changes.idempotency {
        steps.insert_record(record)?;
    }
    if let Some(guard) = &changes.guard {
        steps.write_guard(guard)?;
    }
    Ok(())
}
