//! The store contract's reads and upkeep in SQL, as functions of a connection: the records by
//! key, a card's ledger, the card search, the liability report, the cards due for a sweep
//! and the pruning of old records. [`SqliteStore`](crate::SqliteStore) runs each on a
//! connection from its pool.

use giftcert::redeem::{CheckoutId, ClientId};
use std::fmt;

use chrono::{DateTime, Utc};
use giftcert::{
    CardId, Code, GiftCard, IdempotencyKey, StoreError,
    card::{LedgerEntry, LiabilityReport, LiabilityTally, Standing},
    redeem::{Checkout, GuardWindow, IdempotencyRecord, Versioned},
    store::{CardQuery, Page},
};
use giftcert_store_support::{
    CodeKey, currency_column, from_json, from_minor, parse_amount, parse_currency, status_tag,
    timestamp, versioned,
};
use rusqlite::{Connection, OptionalExtension};

use crate::sql::db_error;

/// The one row `sql` selects with `key`, as a version and JSON text (`doing` says what it
/// reads, for errors).
fn versioned_row<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    key: &str,
    doing: &'static str,
    what: impl fmt::Display,
) -> Result<Option<Versioned<T>>, StoreError> {
    let db = db_error(doing);
    let row: Option<(i64, String)> = conn
        .prepare_cached(sql)
        .map_err(&db)?
        .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
        .map_err(&db)?;
    row.map(|(version, json)| versioned(version, &json, what))
        .transpose()
}

/// The card `id`.
pub(crate) fn card(
    conn: &Connection,
    id: CardId,
) -> Result<Option<Versioned<GiftCard>>, StoreError> {
    versioned_row(
        conn,
        "SELECT version, card FROM cards WHERE id = ?1",
        &id.to_string(),
        "reading a card",
        format_args!("card {id}"),
    )
}

/// The card whose code is `code` (looked up by its digest under `key`).
pub(crate) fn card_by_code(
    conn: &Connection,
    key: &CodeKey,
    code: &Code,
) -> Result<Option<Versioned<GiftCard>>, StoreError> {
    versioned_row(
        conn,
        "SELECT version, card FROM cards WHERE code_digest = ?1",
        &key.digest(code).to_string(),
        "reading a card by its code",
        format_args!("card with code {}", code.masked()),
    )
}

/// At most `limit` entries of `card`'s ledger, from number `from_seq` on.
pub(crate) fn ledger(
    conn: &Connection,
    card: CardId,
    from_seq: i64,
    limit: i64,
) -> Result<Vec<LedgerEntry>, StoreError> {
    let db = db_error("reading a ledger");
    let mut statement = conn
        .prepare_cached(
            "SELECT entry FROM ledger_entries WHERE card_id = ?1 AND seq >= ?2 \
             ORDER BY seq LIMIT ?3",
        )
        .map_err(&db)?;
    let rows = statement
        .query_map(
            rusqlite::params![card.to_string(), from_seq, limit],
            |row| row.get::<_, String>(0),
        )
        .map_err(&db)?;
    rows.map(|json| from_json(&json.map_err(&db)?, format_args!("an entry of card {card}")))
        .collect()
}

/// The checkout `id`.
pub(crate) fn checkout(
    conn: &Connection,
    id: &CheckoutId,
) -> Result<Option<Versioned<Checkout>>, StoreError> {
    versioned_row(
        conn,
        "SELECT version, checkout FROM checkouts WHERE id = ?1",
        id.as_str(),
        "reading a checkout",
        format_args!("checkout {id}"),
    )
}

/// The idempotency record of `key`.
pub(crate) fn idempotency(
    conn: &Connection,
    key: &IdempotencyKey,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let db = db_error("reading an idempotency record");
    let json: Option<String> = conn
        .prepare_cached("SELECT record FROM idempotency_records WHERE key = ?1")
        .map_err(&db)?
        .query_row([key.as_str()], |row| row.get(0))
        .optional()
        .map_err(&db)?;
    json.map(|json| from_json(&json, format_args!("idempotency record {key}")))
        .transpose()
}

/// The guard window of `client`.
pub(crate) fn guard(
    conn: &Connection,
    client: &ClientId,
) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
    versioned_row(
        conn,
        "SELECT version, guard FROM guard_windows WHERE client = ?1",
        client.as_str(),
        "reading a guard window",
        format_args!("guard window of {client}"),
    )
}

/// One page of a search: `sql` and `params` from [`search_sql`], for a query whose page holds
/// `limit` cards (the statement reads `limit + 1` rows off an index).
pub(crate) fn search(
    conn: &Connection,
    sql: &str,
    params: &[String],
    limit: usize,
) -> Result<Page<Versioned<GiftCard>>, StoreError> {
    let db = db_error("searching cards");
    let mut statement = conn.prepare_cached(sql).map_err(&db)?;
    let rows = statement
        .query_map(rusqlite::params_from_iter(params.iter()), |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(&db)?;
    let mut cards = Vec::new();
    for row in rows {
        let (version, json) = row.map_err(&db)?;
        cards.push(versioned(version, &json, "a card found by a search")?);
    }
    Ok(Page::from_overfetch(cards, limit))
}

/// The statement and parameters of one search page.
pub(crate) fn search_sql(query: &CardQuery) -> Result<(String, Vec<String>), StoreError> {
    let mut params: Vec<String> = Vec::new();
    let mut sql = String::from("SELECT c.version, c.card FROM ");
    // With a tag, the page reads off card_tags' (tag, issued_at, card_id) key.
    let (issued, id) = match query.tag() {
        Some(tag) => {
            params.push(tag.to_owned());
            sql.push_str("card_tags t CROSS JOIN cards c ON c.id = t.card_id WHERE t.tag = ?1");
            ("t.issued_at", "t.card_id")
        }
        None => {
            sql.push_str("cards c WHERE 1");
            ("c.issued_at", "c.id")
        }
    };
    let mut filter = |column: &str, op: &str, value: String| {
        params.push(value);
        sql.push_str(&format!(" AND {column} {op} ?{}", params.len()));
    };
    if let Some(order) = query.order() {
        filter("c.order_ref", "=", order.as_str().to_owned());
    }
    if let Some(purchaser) = query.purchaser() {
        filter("c.purchaser", "=", purchaser.as_str().to_owned());
    }
    if let Some(email) = query.recipient() {
        filter("c.recipient_email", "=", email.to_owned());
    }
    if let Some(status) = query.status() {
        filter("c.status", "=", status_tag(status)?);
    }
    if let Some(currency) = query.currency() {
        filter("c.currency", "=", currency_column(currency));
    }
    if let Some(at) = query.expires_before() {
        filter("c.expires_at", "<", timestamp(at));
    }
    if let Some(cursor) = query.cursor() {
        params.push(timestamp(cursor.issued_at()));
        params.push(cursor.card().to_string());
        let (a, b) = (params.len() - 1, params.len());
        sql.push_str(&format!(" AND ({issued}, {id}) > (?{a}, ?{b})"));
    }
    sql.push_str(&format!(
        " ORDER BY {issued}, {id} LIMIT {}",
        query.limit().saturating_add(1)
    ));
    Ok((sql, params))
}

/// The liability report at `at`: two grouped statements in one read transaction (the flows
/// per currency and entry kind, the balances per currency and standing). Amounts are summed as
/// integers of minor units, exactly; the rare amount too long for a 64-bit integer is summed
/// in Rust from its own rows.
pub(crate) fn liability(
    conn: &mut Connection,
    at: DateTime<Utc>,
) -> Result<LiabilityReport, StoreError> {
    let db = db_error("computing the liability report");
    let at_text = timestamp(at);
    let tx = conn.transaction().map_err(&db)?;
    let mut tally = LiabilityTally::new(at);
    let sum = |e: giftcert::money::MoneyError| {
        StoreError::corrupt(format!("the liability report cannot sum: {e}"))
    };
    let mut wide = false;
    {
        let mut flows = tx.prepare_cached(LIABILITY_FLOWS).map_err(&db)?;
        let mut rows = flows.query([&at_text]).map_err(&db)?;
        while let Some(row) = rows.next().map_err(&db)? {
            let currency = parse_currency(&row.get::<_, String>(0).map_err(&db)?)?;
            let kind: String = row.get(1).map_err(&db)?;
            let minor: Option<i64> = row.get(2).map_err(&db)?;
            wide |= row.get::<_, i64>(3).map_err(&db)? > 0;
            let total = from_minor(minor.unwrap_or(0), currency)?;
            tally.add_kind_total(&kind, total).map_err(sum)?;
        }
        let mut stocks = tx.prepare_cached(LIABILITY_STOCKS).map_err(&db)?;
        let mut rows = stocks.query([&at_text]).map_err(&db)?;
        while let Some(row) = rows.next().map_err(&db)? {
            let currency = parse_currency(&row.get::<_, String>(0).map_err(&db)?)?;
            let standing = if row.get::<_, i64>(1).map_err(&db)? != 0 {
                Standing::Expired
            } else {
                Standing::Outstanding
            };
            let cards = u64::try_from(row.get::<_, i64>(2).map_err(&db)?).unwrap_or(0);
            let minor: Option<i64> = row.get(3).map_err(&db)?;
            wide |= row.get::<_, i64>(4).map_err(&db)? > 0;
            let value = from_minor(minor.unwrap_or(0), currency)?;
            tally.add_cards(standing, cards, value).map_err(sum)?;
        }
    }
    if wide {
        let mut flows = tx.prepare_cached(WIDE_FLOWS).map_err(&db)?;
        let mut rows = flows.query([&at_text]).map_err(&db)?;
        while let Some(row) = rows.next().map_err(&db)? {
            let currency = parse_currency(&row.get::<_, String>(0).map_err(&db)?)?;
            let kind: String = row.get(1).map_err(&db)?;
            let amount = parse_amount(&row.get::<_, String>(2).map_err(&db)?, currency)?;
            tally.add_kind_total(&kind, amount).map_err(sum)?;
        }
        let mut stocks = tx.prepare_cached(WIDE_STOCKS).map_err(&db)?;
        let mut rows = stocks.query([&at_text]).map_err(&db)?;
        while let Some(row) = rows.next().map_err(&db)? {
            let currency = parse_currency(&row.get::<_, String>(0).map_err(&db)?)?;
            let standing = if row.get::<_, i64>(1).map_err(&db)? != 0 {
                Standing::Expired
            } else {
                Standing::Outstanding
            };
            let value = parse_amount(&row.get::<_, String>(2).map_err(&db)?, currency)?;
            // Counted already by the grouped statement: only the value is added.
            tally.add_cards(standing, 0, value).map_err(sum)?;
        }
    }
    tx.finish().map_err(&db)?;
    Ok(tally.finish())
}

/// An amount column as an integer of minor units when it fits one (18 digits or fewer; the
/// text is exact at the currency's scale, so dropping the point gives the minor units), NULL
/// otherwise: `SUM` over it is exact (SQLite sums integers exactly and fails on overflow,
/// never rounding), where `SUM` over the text would go through floating point.
macro_rules! minor_units {
    ($column:literal) => {
        concat!(
            "CASE WHEN length(",
            $column,
            ") <= 19 THEN CAST(replace(",
            $column,
            ", '.', '') AS INTEGER) END"
        )
    };
}

/// The kinds of entry whose amounts the report sums ([`LiabilityTally::COUNTED_KINDS`]).
macro_rules! counted_kinds {
    () => {
        "('issued', 'replacementOf', 'held', 'captured', 'released', 'refunded', 'replacedBy', \
         'adjusted', 'reloaded', 'clawedBack')"
    };
}

/// Per currency and kind, the entries' amounts by the instant `?1` (an aggregate over
/// `ledger_entries` joined to the card's currency): the sum of those that fit an integer, and
/// how many do not.
const LIABILITY_FLOWS: &str = concat!(
    "SELECT c.currency, e.kind, sum(",
    minor_units!("e.amount"),
    "), sum(length(e.amount) > 19) \
     FROM ledger_entries e JOIN cards c ON c.id = e.card_id \
     WHERE e.at <= ?1 AND e.kind IN ",
    counted_kinds!(),
    " GROUP BY c.currency, e.kind"
);

/// The entries whose amounts do not fit an integer, summed in Rust.
const WIDE_FLOWS: &str = concat!(
    "SELECT c.currency, e.kind, e.amount \
     FROM ledger_entries e JOIN cards c ON c.id = e.card_id \
     WHERE e.at <= ?1 AND length(e.amount) > 19 AND e.kind IN ",
    counted_kinds!()
);

/// Each card's last entry by the instant `?1`, and whether it had expired then: its last
/// `expired` entry comes after its last `expiryChanged` entry that moved the date past the
/// change ([`expiry_effect`](giftcert::card::expiry_effect); dates compared as Julian days,
/// to the millisecond). One pass over the ledger's primary key `(card_id, seq)`.
macro_rules! last_entries {
    () => {
        "WITH last AS ( \
         SELECT card_id, max(seq) AS seq, \
                coalesce(max(CASE WHEN kind = 'expired' THEN seq END), 0) \
                  > coalesce(max(CASE WHEN kind = 'expiryChanged' \
                      AND (json_extract(entry, '$.kind.to') IS NULL \
                           OR julianday(json_extract(entry, '$.kind.to')) > julianday(at)) \
                      THEN seq END), 0) AS expired \
         FROM ledger_entries WHERE at <= ?1 GROUP BY card_id) "
    };
}

/// Per currency and standing, the cards with a balance above zero and the sum of their
/// balances after their last entry by the instant.
const LIABILITY_STOCKS: &str = concat!(
    last_entries!(),
    "SELECT c.currency, l.expired, sum(e.balance_after GLOB '*[1-9]*'), sum(",
    minor_units!("e.balance_after"),
    "), sum(length(e.balance_after) > 19) \
     FROM last l JOIN ledger_entries e ON e.card_id = l.card_id AND e.seq = l.seq \
     JOIN cards c ON c.id = l.card_id GROUP BY c.currency, l.expired"
);

/// The balances that do not fit an integer, summed in Rust.
const WIDE_STOCKS: &str = concat!(
    last_entries!(),
    "SELECT c.currency, l.expired, e.balance_after \
     FROM last l JOIN ledger_entries e ON e.card_id = l.card_id AND e.seq = l.seq \
     JOIN cards c ON c.id = l.card_id WHERE length(e.balance_after) > 19"
);

/// At most `limit` cards a sweep has work on at `now`, the longest due first.
pub(crate) fn due_cards(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<CardId>, StoreError> {
    let db = db_error("listing the cards due for a sweep");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut statement = conn
        .prepare_cached(
            "SELECT id FROM cards WHERE sweep_due_at IS NOT NULL AND sweep_due_at <= ?1 \
             ORDER BY sweep_due_at LIMIT ?2",
        )
        .map_err(&db)?;
    let rows = statement
        .query_map(rusqlite::params![timestamp(now), limit], |row| {
            row.get::<_, String>(0)
        })
        .map_err(&db)?;
    rows.map(|id| {
        let id = id.map_err(&db)?;
        id.parse()
            .map_err(|_| StoreError::corrupt(format!("card id {id:?} is not an id")))
    })
    .collect()
}

/// Deletes at most `limit` idempotency records recorded before `before`, the oldest first;
/// the number deleted.
pub(crate) fn prune_idempotency(
    conn: &Connection,
    before: DateTime<Utc>,
    limit: usize,
) -> Result<usize, StoreError> {
    prune(
        conn,
        "DELETE FROM idempotency_records WHERE key IN (SELECT key FROM idempotency_records \
         WHERE recorded_at < ?1 ORDER BY recorded_at LIMIT ?2)",
        before,
        limit,
        "pruning idempotency records",
    )
}

/// Deletes at most `limit` guard windows started before `before`, the oldest first; the
/// number deleted.
pub(crate) fn prune_guards(
    conn: &Connection,
    before: DateTime<Utc>,
    limit: usize,
) -> Result<usize, StoreError> {
    prune(
        conn,
        "DELETE FROM guard_windows WHERE client IN (SELECT client FROM guard_windows \
         WHERE started_at < ?1 ORDER BY started_at LIMIT ?2)",
        before,
        limit,
        "pruning guard windows",
    )
}

/// Runs a prune statement with `before` and `limit`; the number of rows it deleted.
fn prune(
    conn: &Connection,
    sql: &str,
    before: DateTime<Utc>,
    limit: usize,
    doing: &'static str,
) -> Result<usize, StoreError> {
    let db = db_error(doing);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.prepare_cached(sql)
        .map_err(&db)?
        .execute(rusqlite::params![timestamp(before), limit])
        .map_err(&db)
}
