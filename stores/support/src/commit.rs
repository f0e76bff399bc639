//! The steps of a commit, in the order every SQL store takes them: the database-specific
//! statements are the store's ([`CommitSteps`], or [`AsyncCommitSteps`] for an async driver),
//! the order and the checks between them are here ([`write_changes_async`], which
//! [`write_changes`] drives for a blocking store).
//!
//! The order is written once, as an async function: a blocking store's steps become futures
//! that are ready at once, which [`run_ready`] finishes in one poll, so a blocking and an async
//! store cannot drift apart.

use std::future::{self, Future};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

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

/// [`CommitSteps`] for an async driver: the same steps, under the same rules, as `Send`
/// futures (so a multi-threaded runtime can move a commit between threads).
pub trait AsyncCommitSteps {
    /// As [`CommitSteps::insert_card`].
    fn insert_card(
        &mut self,
        card: &GiftCard,
        code: &Code,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// As [`CommitSteps::update_card`].
    fn update_card(
        &mut self,
        card: &GiftCard,
        expected_version: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// As [`CommitSteps::update_card_code`].
    fn update_card_code(
        &mut self,
        card: &GiftCard,
        code: &Code,
        expected_version: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// As [`CommitSteps::write_holds`].
    fn write_holds(
        &mut self,
        card: &GiftCard,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// As [`CommitSteps::insert_entry`].
    fn insert_entry(
        &mut self,
        entry: &LedgerEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// As [`CommitSteps::write_checkout`].
    fn write_checkout(
        &mut self,
        write: &RecordWrite<Checkout>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// As [`CommitSteps::insert_record`].
    fn insert_record(
        &mut self,
        record: &IdempotencyRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// As [`CommitSteps::write_guard`].
    fn write_guard(
        &mut self,
        write: &RecordWrite<GuardWindow>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A blocking store's steps as futures that are ready as soon as they are made: each step runs
/// when it is called.
struct Ready<'s, S>(&'s mut S);

impl<S: CommitSteps> AsyncCommitSteps for Ready<'_, S> {
    fn insert_card(
        &mut self,
        card: &GiftCard,
        code: &Code,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        future::ready(self.0.insert_card(card, code))
    }

    fn update_card(
        &mut self,
        card: &GiftCard,
        expected_version: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        future::ready(self.0.update_card(card, expected_version))
    }

    fn update_card_code(
        &mut self,
        card: &GiftCard,
        code: &Code,
        expected_version: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        future::ready(self.0.update_card_code(card, code, expected_version))
    }

    fn write_holds(
        &mut self,
        card: &GiftCard,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        future::ready(self.0.write_holds(card))
    }

    fn insert_entry(
        &mut self,
        entry: &LedgerEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        future::ready(self.0.insert_entry(entry))
    }

    fn write_checkout(
        &mut self,
        write: &RecordWrite<Checkout>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        future::ready(self.0.write_checkout(write))
    }

    fn insert_record(
        &mut self,
        record: &IdempotencyRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        future::ready(self.0.insert_record(record))
    }

    fn write_guard(
        &mut self,
        write: &RecordWrite<GuardWindow>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        future::ready(self.0.write_guard(write))
    }
}

/// Writes `changes` through a blocking store's `steps`, in the order of
/// [`write_changes_async`] (which it runs with steps that are ready at once).
///
/// # Errors
///
/// Those of [`write_changes_async`]; [`StoreError::Backend`] if a step's future waited (a
/// blocking step never does).
pub fn write_changes(steps: &mut impl CommitSteps, changes: &Changes) -> Result<(), StoreError> {
    run_ready(write_changes_async(&mut Ready(steps), changes)).unwrap_or_else(|| {
        Err(StoreError::Backend {
            reason: "a blocking store step waited, which it cannot".to_owned(),
            source: None,
        })
    })
}

/// Finishes `future` in one poll, on the calling thread: for futures that never wait, such as
/// async code driven by a blocking client (every `.await` meets a ready future). No runtime
/// is involved, so it is safe to call from any thread, inside an async runtime or not.
///
/// Returns `None` (and drops the future unfinished) if it was not ready after one poll: it
/// waited on something that a blocking driver cannot wake.
pub fn run_ready<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Writes `changes` through `steps`, the order every store follows: the new codes checked
/// ([`Changes::check_codes`]), the cards in id order (a card with a new code written with it) (so two commits over the same cards
/// lock them in the same order and cannot deadlock) with their holds, then the ledger entries
/// once [`Changes::check_entries`] has accepted them, then the checkout, the idempotency record
/// and the guard window.
///
/// # Errors
///
/// The first refusal of a step or of [`Changes::check_entries`]; [`StoreError::Backend`] for a
/// kind of card write this crate does not know.
pub async fn write_changes_async(
    steps: &mut impl AsyncCommitSteps,
    changes: &Changes,
) -> Result<(), StoreError> {
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
                steps.insert_card(card, code).await?;
                (card, 1)
            }
            CardWrite::Update {
                card,
                expected_version,
            } => {
                let code = changes.codes.iter().find(|w| w.card == card.id());
                let next = match code {
                    Some(write) => {
                        steps
                            .update_card_code(card, &write.code, *expected_version)
                            .await?
                    }
                    None => steps.update_card(card, *expected_version).await?,
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
        steps.write_holds(card).await?;
        next_seqs.push((card.id(), next));
    }
    changes.check_entries(next_seqs)?;
    for entry in &changes.entries {
        steps.insert_entry(entry).await?;
    }
    if let Some(checkout) = &changes.checkout {
        steps.write_checkout(checkout).await?;
    }
    if let Some(record) = &changes.idempotency {
        steps.insert_record(record).await?;
    }
    if let Some(guard) = &changes.guard {
        steps.write_guard(guard).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ready_finishes_a_future_that_never_waits() {
        let ready = async { future::ready(7).await + 1 };
        assert_eq!(run_ready(ready), Some(8));
    }

    #[test]
    fn run_ready_gives_up_on_a_future_that_waits() {
        assert_eq!(run_ready(future::pending::<()>()), None);
    }
}
