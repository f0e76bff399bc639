//! What both stores say to the server: the statements ([`Sql`]), the client they run on
//! ([`Exec`], [`ExecText`]: the blocking `postgres` client or a pooled `tokio-postgres` one),
//! and how the server's errors become store errors.
//!
//! `postgres` is a blocking wrapper around `tokio-postgres`: both share `Error`, `Row`,
//! `SqlState` and `ToSql`, so one implementation of the store's SQL serves both clients.

use std::future::Future;

use giftcert::StoreError;
use giftcert::redeem::Record;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row};

/// The parameters of one statement.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Every statement a store runs on its tables, prepared once per connection. Parameters are
/// text cast on the server (`$6::text::numeric`), so amounts and times travel as exact text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sql {
    Card,
    CardByDigest,
    Ledger,
    Checkout,
    Idempotency,
    Guard,
    Commit,
    DueCards,
    PruneRecords,
    PruneGuards,
    LiabilityFlows,
    LiabilityStocks,
}

impl Sql {
    /// Every statement, for a client that prepares them all when it connects.
    pub(crate) const ALL: [Sql; 12] = [
        Sql::Card,
        Sql::CardByDigest,
        Sql::Ledger,
        Sql::Checkout,
        Sql::Idempotency,
        Sql::Guard,
        Sql::Commit,
        Sql::DueCards,
        Sql::PruneRecords,
        Sql::PruneGuards,
        Sql::LiabilityFlows,
        Sql::LiabilityStocks,
    ];

    /// Its text.
    pub(crate) const fn text(self) -> &'static str {
        match self {
            Sql::Card => "SELECT version, card::text FROM cards WHERE id = $1",
            Sql::CardByDigest => "SELECT version, card::text FROM cards WHERE code_digest = $1",
            Sql::Ledger => {
                "SELECT entry::text FROM ledger_entries \
                 WHERE card_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3"
            }
            Sql::Checkout => "SELECT version, checkout::text FROM checkouts WHERE id = $1",
            Sql::Idempotency => "SELECT record::text FROM idempotency_records WHERE key = $1",
            Sql::Guard => "SELECT version, guard::text FROM guard_windows WHERE client = $1",
            // Every write of a commit, in one statement (migration 5; see `commit.rs`).
            Sql::Commit => "SELECT giftcert_commit($1::text::jsonb)",
            Sql::DueCards => {
                "SELECT card_id FROM card_sweeps WHERE due_at <= $1::text::timestamptz \
                 ORDER BY due_at LIMIT $2"
            }
            // A record or window another transaction holds is left for the next prune.
            Sql::PruneRecords => {
                "DELETE FROM idempotency_records WHERE key IN (SELECT key \
                 FROM idempotency_records WHERE recorded_at < $1::text::timestamptz \
                 ORDER BY recorded_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            }
            Sql::PruneGuards => {
                "DELETE FROM guard_windows WHERE started_at < $1::text::timestamptz \
                 AND client IN (SELECT client FROM guard_windows \
                 WHERE started_at < $1::text::timestamptz \
                 ORDER BY started_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            }
            // Per currency and kind, the sum of the entries' amounts by the instant: numeric,
            // exact at any size.
            Sql::LiabilityFlows => {
                "SELECT c.currency, e.kind, sum(e.amount)::text \
                 FROM ledger_entries e JOIN cards c ON c.id = e.card_id \
                 WHERE e.at <= $1::text::timestamptz AND e.kind IN ('issued', 'replacementOf', \
                 'held', 'captured', 'released', 'refunded', 'replacedBy', 'adjusted', \
                 'reloaded', 'clawedBack') GROUP BY c.currency, e.kind"
            }
            // Each card's last entry by the instant, and whether it had expired then (its last
            // `expired` entry after its last `expiryChanged` entry that moved the date past the
            // change); per currency and standing, the cards above zero and their balances.
            Sql::LiabilityStocks => {
                "WITH last AS ( \
                 SELECT card_id, max(seq) AS seq, \
                 coalesce(max(seq) FILTER (WHERE kind = 'expired'), 0) \
                 > coalesce(max(seq) FILTER (WHERE kind = 'expiryChanged' \
                 AND (entry->'kind'->>'to' IS NULL \
                 OR (entry->'kind'->>'to')::timestamptz > at)), 0) AS expired \
                 FROM ledger_entries WHERE at <= $1::text::timestamptz GROUP BY card_id) \
                 SELECT c.currency, l.expired, count(*) FILTER (WHERE e.balance_after > 0), \
                 sum(e.balance_after)::text \
                 FROM last l JOIN ledger_entries e ON e.card_id = l.card_id AND e.seq = l.seq \
                 JOIN cards c ON c.id = l.card_id GROUP BY c.currency, l.expired"
            }
        }
    }
}

/// A client (or a transaction) that runs the store's statements. The blocking client's
/// futures are ready when they are made; a pooled async client's wait on the server.
pub(crate) trait Exec {
    /// Runs `sql`; the number of rows it changed.
    fn execute(
        &mut self,
        sql: Sql,
        params: Params<'_>,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// The rows `sql` selects.
    fn query(
        &mut self,
        sql: Sql,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send;

    /// The row `sql` selects, if any (more than one is an error).
    fn query_opt(
        &mut self,
        sql: Sql,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Option<Row>, Error>> + Send;
}

/// A client that runs statements given as text, unprepared: the migrations, which run before
/// the tables the prepared statements name exist.
pub(crate) trait ExecText {
    /// Runs `sql`, which may hold several statements and takes no parameters.
    fn batch_execute(&mut self, sql: &str) -> impl Future<Output = Result<(), Error>> + Send;

    /// Runs one statement; the number of rows it changed.
    fn execute_text(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// The rows a statement selects.
    fn query_text(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send;

    /// The one row a statement selects.
    fn query_one_text(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Row, Error>> + Send;
}

/// The server's message and SQLSTATE, or the client's error.
pub(crate) fn describe(e: &Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Whether the server aborted a transaction to keep it apart from another (serialisation
/// failure `40001`, deadlock `40P01`, a lock not available `55P03`): the whole transaction
/// should be read again and retried. Serializable PostgreSQL and CockroachDB or
/// YugabyteDB-style engines report their conflicts this way.
pub(crate) fn is_transaction_conflict(e: &Error) -> bool {
    e.code().is_some_and(|code| {
        *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::LOCK_NOT_AVAILABLE
    })
}

/// A server error, met while `doing` something, as a store error: a transaction conflict
/// ([`is_transaction_conflict`]) on [`Record::Transaction`], anything else a backend failure
/// that keeps the driver's error as its source.
pub(crate) fn db_error(doing: &'static str) -> impl Fn(Error) -> StoreError + Send + Sync {
    move |e| {
        if is_transaction_conflict(&e) {
            StoreError::conflict(
                Record::Transaction,
                format!("the server refused it while {doing}: {}", describe(&e)),
            )
        } else {
            StoreError::backend(doing, e)
        }
    }
}

/// Whether `e` is a unique violation of `constraint`, or a violation raised with `message`.
pub(crate) fn violates(e: &Error, constraint: &str) -> bool {
    e.as_db_error().is_some_and(|db| {
        db.constraint() == Some(constraint)
            || (*db.code() == SqlState::CHECK_VIOLATION && db.message() == constraint)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blocking connection keeps its prepared statements in this order and finds each by
    /// its discriminant.
    #[test]
    fn every_statement_is_listed_at_the_index_of_its_discriminant() {
        for (index, sql) in Sql::ALL.iter().enumerate() {
            assert_eq!(*sql as usize, index, "{sql:?}");
        }
    }
}
