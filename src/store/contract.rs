//! The store contract: the trait a host implements and the rules it must keep.

use crate::redeem::{CheckoutId, ClientId};
use std::fmt;

use chrono::{DateTime, Utc};

use crate::card::{CardId, GiftCard, LedgerEntry, LiabilityReport};
use crate::code::Code;
use crate::redeem::{
    Changes, Checkout, GuardWindow, IdempotencyKey, IdempotencyRecord, StoreError, Versioned,
};
use crate::store::{CardQuery, Page};

/// Where cards, their ledgers, checkouts, idempotency records and guard windows live.
///
/// Reads return what was committed last.
///
/// # Design: one protocol, two drivers
///
/// Every decision (what to hold, capture, release, issue, write) comes from the pure functions
/// in [`redeem`](crate::redeem), and every rule around them (replay, retry, guard, code
/// regeneration) from the sans-IO [`Protocol`](crate::redeem::Protocol). The sync
/// [`Redeemer`](crate::store::Redeemer) runs it over this trait, which suits embedded stores
/// (the in-memory default, SQLite) and blocking drivers; the
/// [`AsyncRedeemer`](crate::store::AsyncRedeemer) runs it over
/// [`AsyncStore`](crate::store::AsyncStore), the same contract as futures. Neither driver
/// holds a rule of its own, and the crate brings no async runtime.
///
/// # The contract
///
/// Concurrency is the database's job, and optimistic versions make it safe:
///
/// - Every card, checkout and guard window is read with its version ([`Versioned`]).
/// - [`Store::commit`] writes a whole [`Changes`] atomically or not at all. It fails with
///   [`StoreError::Conflict`] when any record's stored version is not the version the change
///   was computed from, when a record to insert already exists, or when the idempotency key is
///   already recorded; and with [`StoreError::DuplicateCode`] when a new card's code, or a
///   card's new code ([`CodeWrite`](crate::redeem::CodeWrite)), is taken.
///   On success each written record's version is the expected version plus one (inserts get 1).
/// - In SQL: one transaction; `UPDATE cards SET ..., version = version + 1 WHERE id = $1 AND
///   version = $2` and a conflict when no row was updated; `INSERT` for new cards, ledger
///   entries and the idempotency record, relying on unique constraints (card id, code, key,
///   `(card, seq)`) and mapping their violations to the errors above.
/// - Ledger entries are append-only: an entry is never updated or deleted.
/// - Every amount the core accepts is stored and read back exactly: up to 28 significant
///   digits, so 28 integer digits even for a currency with minor units (a column at the
///   currency's scale then holds 30 digits; the SQL stores write amounts as exact text, never
///   through a rescaled decimal).
///
/// The protocol retries a conflicting request from a fresh read a bounded number of times, so
/// a store only has to refuse, never to merge.
///
/// # A code that moves, cards that fall due, records that expire
///
/// - A lost code is replaced by a [`CodeWrite`](crate::redeem::CodeWrite) beside the card's
///   [`CardWrite::Update`](crate::redeem::CardWrite::Update) in one commit: the store moves
///   its code index with the update (in SQL, the new digest and hint in the same `UPDATE`, so
///   the version still moves by one), after which the new code finds the card and the old one
///   finds nothing. A new code that is taken is [`StoreError::DuplicateCode`] (the protocol
///   draws another), checked by [`Changes::check_codes`].
/// - Every card write keeps [`GiftCard::sweep_at`] where [`Store::due_cards`] finds it by an
///   index, so a sweep reads only the cards that are due.
/// - [`Store::prune_idempotency`] and [`Store::prune_guards`] delete in bounded batches by an
///   index on the record's time. The three have defaults that refuse, so a store written for
///   an earlier version still compiles; the conformance kit's `check_upkeep` fails on them.
///
/// # The guard: reserved before the lookup
///
/// The guard needs no store method of its own: it is the versioned guard-window commit above.
/// Before a typed code is looked up, the protocol reads the client's window, adds the code's
/// digest (refusing the client when the window is full) and commits the window with its
/// version; only after that commit succeeds does it ask for [`Store::card_by_code`]. A known
/// code's slot is given back by a second versioned commit. So the store's part is that a guard
/// write is a conditional update (in SQL, `UPDATE guard_windows ... WHERE client = $1 AND
/// version = $2`, a conflict when no row matched, and a unique client for the insert; in
/// memory, the check and the write under one lock): N parallel lookups from one client then
/// get at most the policy's limit of "unknown" answers, and a limit of 0 refuses every lookup.
/// A request that dies between the two commits leaves its slot taken until the window ends,
/// which only makes the guard stricter.
///
/// Hosts choose the client id: an authenticated principal, or a proxy-trusted IP address with
/// IPv6 folded to its /64 ([`client_ip`](crate::redeem::client_ip)); see the
/// [guard's docs](crate::redeem::GuardWindow).
///
/// # Contention: backoff, then the driver's turn
///
/// A request that loses a commit yields and tries again (the sync driver adds a short random
/// pause, so that racing requests spread out). After 4 lost commits it takes the pessimistic
/// path: its driver's turn, one request at a time. While a request has the turn, the driver's
/// other requests hold back their commits (they still read), and the holder waits for the
/// commits already under way to land before it reads again; so no other request of the same
/// driver can make it lose once more, and it commits at its next attempt. No request of a
/// driver fails with [`RedeemError::Contention`](crate::redeem::RedeemError::Contention) while
/// others make progress (the conformance kit's `check_contention` and
/// `check_async_contention` prove it on a store).
///
/// A read may fail with [`StoreError::Conflict`] too, when the database aborts it to keep it
/// apart from another transaction (a serialisation failure or a deadlock: serializable
/// PostgreSQL, CockroachDB and YugabyteDB do). The protocol counts that attempt as lost, like
/// a lost commit: it starts over from its reads after the same pause, under the same attempt
/// budget. A store maps such an abort to [`StoreError::Conflict`] on
/// [`Record::Transaction`](crate::redeem::Record::Transaction) on its reads as on its commits.
///
/// Its limits:
///
/// - The turn belongs to one driver instance ([`Redeemer`](crate::store::Redeemer) or
///   [`AsyncRedeemer`](crate::store::AsyncRedeemer)). Share one driver (and so one store,
///   with a pool of connections) between a host's threads or tasks to get it.
/// - Several drivers on one database (several processes, or one driver per connection) do
///   not see each other's turns: between them only backoff helps, and a request can still
///   give up after its attempts (64 by default, see
///   [`Protocol::with_attempts`](crate::redeem::Protocol::with_attempts)).
/// - The turn is one per driver, not one per card: while a request has it, the driver's
///   commits on other cards wait too (briefly: one read and one commit).
pub trait Store: Send + Sync + fmt::Debug {
    /// The card with this id.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Conflict`] when it
    /// aborted the read to keep it apart from another transaction (see [the contract's
    /// contention rules](Store#contention-backoff-then-the-drivers-turn)).
    fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError>;

    /// The card with this code (codes are unique).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Conflict`] when it
    /// aborted the read to keep it apart from another transaction (see [the contract's
    /// contention rules](Store#contention-backoff-then-the-drivers-turn)).
    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError>;

    /// A card's ledger entries with sequence numbers from `from_seq` on, in order, at most
    /// `limit` of them.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Conflict`] when it
    /// aborted the read to keep it apart from another transaction (see [the contract's
    /// contention rules](Store#contention-backoff-then-the-drivers-turn)).
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
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Conflict`] when it
    /// aborted the read to keep it apart from another transaction (see [the contract's
    /// contention rules](Store#contention-backoff-then-the-drivers-turn)).
    fn checkout(&self, id: &CheckoutId) -> Result<Option<Versioned<Checkout>>, StoreError>;

    /// The record kept for an idempotency key.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Conflict`] when it
    /// aborted the read to keep it apart from another transaction (see [the contract's
    /// contention rules](Store#contention-backoff-then-the-drivers-turn)).
    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// A client's current guard window.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Conflict`] when it
    /// aborted the read to keep it apart from another transaction (see [the contract's
    /// contention rules](Store#contention-backoff-then-the-drivers-turn)).
    fn guard(&self, client: &ClientId) -> Result<Option<Versioned<GuardWindow>>, StoreError>;

    /// Writes `changes` atomically, checking every version (see the contract above).
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`], [`StoreError::DuplicateCode`], [`StoreError::Backend`].
    fn commit(&self, changes: Changes) -> Result<(), StoreError>;

    /// The cards `query` selects: those passing every filter ([`CardQuery::matches`]) after
    /// its cursor, in issue order then by id, at most [`CardQuery::limit`] of them, with the
    /// cursor to the next page when more follow ([`Page::from_overfetch`] builds it from
    /// `limit + 1` cards).
    ///
    /// A store keeps the order stable (issue times never change), so paging never repeats or
    /// skips a card that exists throughout, whatever is written between pages. A database
    /// store indexes every filter, so that a page costs about the same at a thousand cards as
    /// at a million (see each store's docs for its costs).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn search(&self, query: &CardQuery) -> Result<Page<Versioned<GiftCard>>, StoreError>;

    /// The liability per currency at `at`, from the ledger entries stamped at or before it
    /// (see [`LiabilityReport`] for each figure and the identity it checks). A database store
    /// computes it with aggregates (sums and counts grouped by currency and entry kind, and
    /// per card for the balances), exactly, never by loading every card; build the report
    /// with a [`LiabilityTally`](crate::card::LiabilityTally).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails, [`StoreError::Corrupt`] for a stored
    /// amount it cannot read or a sum beyond what it can add exactly.
    fn liability(&self, at: DateTime<Utc>) -> Result<LiabilityReport, StoreError>;

    /// Up to `limit` cards a sweep has work on at `now`: those whose
    /// [`GiftCard::sweep_at`] is at or before `now`, earliest first. Indexed (in SQL, a column
    /// kept with every card write and an index on it), so a batch costs the same however many
    /// cards the store holds.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails; [`StoreError::Conflict`] when it
    /// aborted the read to keep it apart from another transaction (see [the contract's
    /// contention rules](Store#contention-backoff-then-the-drivers-turn)).
    fn due_cards(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<CardId>, StoreError>;

    /// Deletes up to `limit` idempotency records recorded before `before`; returns how many.
    /// The protocol chooses `before` from its [`Retention`](crate::redeem::Retention).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn prune_idempotency(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError>;

    /// Deletes up to `limit` guard windows started before `before` (they have ended: the
    /// protocol passes a whole window ago); returns how many. A window written meanwhile with
    /// a later start is kept (in SQL, the condition is part of the `DELETE`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the database fails.
    fn prune_guards(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError>;
}
