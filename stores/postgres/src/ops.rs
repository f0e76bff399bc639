//! The store contract in SQL, written once as async functions over [`Exec`]: the blocking
//! [`PostgresStore`](crate::PostgresStore) runs them with ready futures, the
//! [`AsyncPostgresStore`](crate::AsyncPostgresStore) on a pooled async client.

use chrono::{DateTime, Utc};
use giftcert::redeem::{CheckoutId, ClientId};
use giftcert::{
    CardId, Code, GiftCard, IdempotencyKey, StoreError,
    card::{LedgerEntry, LiabilityReport, LiabilityTally, Standing},
    redeem::{Checkout, GuardWindow, IdempotencyRecord, Versioned},
    store::{CardQuery, Page},
};
use giftcert_store_support::{
    CodeKey, currency_column, from_json, parse_amount, parse_currency, status_tag, timestamp,
    versioned,
};
use tokio_postgres::types::ToSql;

use crate::sql::{Exec, ExecText, Sql, db_error};

/// The one row `sql` selects with `key`, as a version and JSON text.
async fn versioned_row<E: Exec>(
    db: &mut E,
    sql: Sql,
    key: &str,
    doing: &'static str,
) -> Result<Option<(i64, String)>, StoreError> {
    let db_error = db_error(doing);
    let row = db.query_opt(sql, &[&key]).await.map_err(&db_error)?;
    row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .transpose()
        .map_err(db_error)
}

/// The card with this id.
pub(crate) async fn card<E: Exec>(
    db: &mut E,
    id: CardId,
) -> Result<Option<Versioned<GiftCard>>, StoreError> {
    let row = versioned_row(db, Sql::Card, &id.to_string(), "reading a card").await?;
    row.map(|(version, json)| versioned(version, &json, format_args!("card {id}")))
        .transpose()
}

/// The card with this code, found by its digest under `key`.
pub(crate) async fn card_by_code<E: Exec>(
    db: &mut E,
    key: &CodeKey,
    code: &Code,
) -> Result<Option<Versioned<GiftCard>>, StoreError> {
    let digest = key.digest(code).to_string();
    let row = versioned_row(db, Sql::CardByDigest, &digest, "reading a card by its code").await?;
    row.map(|(version, json)| {
        versioned(
            version,
            &json,
            format_args!("card with code {}", code.masked()),
        )
    })
    .transpose()
}

/// A card's ledger entries from `from_seq` on, at most `limit`.
pub(crate) async fn ledger<E: Exec>(
    db: &mut E,
    card: CardId,
    from_seq: u64,
    limit: usize,
) -> Result<Vec<LedgerEntry>, StoreError> {
    let (Ok(from_seq), limit) = (
        i64::try_from(from_seq),
        i64::try_from(limit).unwrap_or(i64::MAX),
    ) else {
        return Ok(Vec::new());
    };
    let db_error = db_error("reading a ledger");
    let rows = db
        .query(Sql::Ledger, &[&card.to_string(), &from_seq, &limit])
        .await
        .map_err(&db_error)?;
    rows.iter()
        .map(|row| {
            let json: String = row.try_get(0).map_err(&db_error)?;
            from_json(&json, format_args!("an entry of card {card}"))
        })
        .collect()
}

/// The checkout with this reference.
pub(crate) async fn checkout<E: Exec>(
    db: &mut E,
    id: &CheckoutId,
) -> Result<Option<Versioned<Checkout>>, StoreError> {
    let row = versioned_row(db, Sql::Checkout, id.as_str(), "reading a checkout").await?;
    row.map(|(version, json)| versioned(version, &json, format_args!("checkout {id}")))
        .transpose()
}

/// The record kept for an idempotency key.
pub(crate) async fn idempotency<E: Exec>(
    db: &mut E,
    key: &IdempotencyKey,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    let db_error = db_error("reading an idempotency record");
    let row = db
        .query_opt(Sql::Idempotency, &[&key.as_str()])
        .await
        .map_err(&db_error)?;
    row.map(|row| {
        let json: String = row.try_get(0).map_err(&db_error)?;
        from_json(&json, format_args!("idempotency record {key}"))
    })
    .transpose()
}

/// A client's current guard window.
pub(crate) async fn guard<E: Exec>(
    db: &mut E,
    client: &ClientId,
) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
    let row = versioned_row(db, Sql::Guard, client.as_str(), "reading a guard window").await?;
    row.map(|(version, json)| versioned(version, &json, format_args!("guard window of {client}")))
        .transpose()
}

/// Up to `limit` cards due for a sweep at `now`, earliest first.
pub(crate) async fn due_cards<E: Exec>(
    db: &mut E,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<CardId>, StoreError> {
    let db_error = db_error("listing the cards due for a sweep");
    let (now, limit) = (timestamp(now), i64::try_from(limit).unwrap_or(i64::MAX));
    let rows = db
        .query(Sql::DueCards, &[&now, &limit])
        .await
        .map_err(&db_error)?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0).map_err(&db_error)?;
            id.parse()
                .map_err(|_| StoreError::corrupt(format!("card id {id:?} is not an id")))
        })
        .collect()
}

/// Deletes up to `limit` rows older than `before` with a prune statement; how many.
pub(crate) async fn prune<E: Exec>(
    db: &mut E,
    sql: Sql,
    before: DateTime<Utc>,
    limit: usize,
) -> Result<usize, StoreError> {
    let (before, limit) = (timestamp(before), i64::try_from(limit).unwrap_or(i64::MAX));
    let deleted = db
        .execute(sql, &[&before, &limit])
        .await
        .map_err(db_error("pruning"))?;
    Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
}

/// One page of the cards `query` selects, read off the filter's `(column, issued_at, id)` index
/// (the tag's `card_tags` key for a tag), from the cursor on, `limit + 1` rows. The statement
/// is built for the filters given, so the planner sees each as it is.
pub(crate) async fn search<E: ExecText>(
    db: &mut E,
    query: &CardQuery,
) -> Result<Page<Versioned<GiftCard>>, StoreError> {
    let db_error = db_error("searching cards");
    let mut params: Vec<String> = Vec::new();
    let mut sql = String::from("SELECT c.version, c.card::text FROM ");
    let (issued, id) = match query.tag() {
        Some(tag) => {
            params.push(tag.to_owned());
            sql.push_str("card_tags t JOIN cards c ON c.id = t.card_id WHERE t.tag = $1");
            ("t.issued_at", "t.card_id")
        }
        None => {
            sql.push_str("cards c WHERE true");
            ("c.issued_at", "c.id")
        }
    };
    let mut filter = |column: &str, op: &str, cast: &str, value: String| {
        params.push(value);
        sql.push_str(&format!(" AND {column} {op} ${}{cast}", params.len()));
    };
    if let Some(order) = query.order() {
        filter("c.order_ref", "=", "", order.as_str().to_owned());
    }
    if let Some(purchaser) = query.purchaser() {
        filter("c.purchaser", "=", "", purchaser.as_str().to_owned());
    }
    if let Some(email) = query.recipient() {
        filter("c.recipient_email", "=", "", email.to_owned());
    }
    if let Some(status) = query.status() {
        filter("c.status", "=", "", status_tag(status)?);
    }
    if let Some(currency) = query.currency() {
        filter("c.currency", "=", "", currency_column(currency));
    }
    if let Some(at) = query.expires_before() {
        filter("c.expires_at", "<", "::text::timestamptz", timestamp(at));
    }
    if let Some(cursor) = query.cursor() {
        params.push(timestamp(cursor.issued_at()));
        params.push(cursor.card().to_string());
        let (a, b) = (params.len() - 1, params.len());
        sql.push_str(&format!(
            " AND ({issued}, {id}) > (${a}::text::timestamptz, ${b})"
        ));
    }
    sql.push_str(&format!(
        " ORDER BY {issued}, {id} LIMIT {}",
        query.limit().saturating_add(1)
    ));
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let rows = db.query_text(&sql, &refs).await.map_err(&db_error)?;
    let mut cards = Vec::with_capacity(rows.len());
    for row in rows {
        let version: i64 = row.try_get(0).map_err(&db_error)?;
        let json: String = row.try_get(1).map_err(&db_error)?;
        cards.push(versioned(version, &json, "a card found by a search")?);
    }
    Ok(Page::from_overfetch(cards, query.limit()))
}

/// The liability report from two grouped statements ([`Sql::LiabilityFlows`],
/// [`Sql::LiabilityStocks`]) summing `numeric` columns, exactly; run them in one snapshot.
pub(crate) async fn liability<E: Exec>(
    db: &mut E,
    at: DateTime<Utc>,
) -> Result<LiabilityReport, StoreError> {
    let db_error = db_error("computing the liability report");
    let sum = |e: giftcert::money::MoneyError| {
        StoreError::corrupt(format!("the liability report cannot sum: {e}"))
    };
    let at_text = timestamp(at);
    let mut tally = LiabilityTally::new(at);
    for row in db
        .query(Sql::LiabilityFlows, &[&at_text])
        .await
        .map_err(&db_error)?
    {
        let currency = parse_currency(row.try_get(0).map_err(&db_error)?)?;
        let kind: &str = row.try_get(1).map_err(&db_error)?;
        let total = parse_amount(row.try_get(2).map_err(&db_error)?, currency)?;
        tally.add_kind_total(kind, total).map_err(sum)?;
    }
    for row in db
        .query(Sql::LiabilityStocks, &[&at_text])
        .await
        .map_err(&db_error)?
    {
        let currency = parse_currency(row.try_get(0).map_err(&db_error)?)?;
        let standing = if row.try_get::<_, bool>(1).map_err(&db_error)? {
            Standing::Expired
        } else {
            Standing::Outstanding
        };
        let cards = u64::try_from(row.try_get::<_, i64>(2).map_err(&db_error)?).unwrap_or(0);
        let value = parse_amount(row.try_get(3).map_err(&db_error)?, currency)?;
        tally.add_cards(standing, cards, value).map_err(sum)?;
    }
    Ok(tally.finish())
}
