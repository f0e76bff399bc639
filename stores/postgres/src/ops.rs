//! The store contract in SQL, written once as async functions over [`Exec`]: the blocking
//! [`PostgresStore`](crate::PostgresStore) runs them with ready futures, the
//! [`AsyncPostgresStore`](crate::AsyncPostgresStore) on a pooled async client.

use chrono::{DateTime, Utc};
use giftcert::{
    CardId, Code, GiftCard, IdempotencyKey, Reference, StoreError,
    card::{LedgerEntry, LiabilityReport, LiabilityTally, Standing},
    redeem::RecordWrite,
    redeem::{Checkout, GuardWindow, IdempotencyRecord, Record, Versioned},
    store::{CardQuery, Page},
};
use giftcert_store_support::{
    AsyncCommitSteps, CodeKey, SearchColumns, amount, from_json, hint_shown, missed_write,
    parse_amount, parse_currency, sql_version, status_tag, timestamp, to_json, versioned,
};
use tokio_postgres::types::ToSql;

use crate::sql::{Exec, ExecText, Sql, db_error, violates};

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
    id: &Reference,
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
    client: &Reference,
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
        filter("c.currency", "=", "", currency.code().to_owned());
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

/// A commit's steps inside one transaction `db` (see
/// [`write_changes_async`](giftcert_store_support::write_changes_async)).
pub(crate) struct Steps<'a, E> {
    /// The transaction.
    pub(crate) db: &'a mut E,
    /// The key codes are hashed with.
    pub(crate) key: &'a CodeKey,
}

impl<E: Exec + Send> AsyncCommitSteps for Steps<'_, E> {
    /// Inserts a new card.
    async fn insert_card(&mut self, card: &GiftCard, code: &Code) -> Result<(), StoreError> {
        let db_error = db_error("inserting a card");
        let (json, status) = to_json(card, &["status"])?;
        let id = card.id().to_string();
        let currency = card.currency();
        let currency = currency.code();
        let (digest, last4) = (self.key.digest(code).to_string(), hint_shown(card));
        let (balance, held) = (amount(card.balance())?, amount(card.held())?);
        let search = SearchColumns::of(card);
        let due = card.sweep_at().map(timestamp);
        let params: [&(dyn ToSql + Sync); 14] = [
            &id,
            &digest,
            &last4,
            &currency,
            &status,
            &balance,
            &held,
            &json,
            &search.issued_at,
            &search.expires_at,
            &search.order_ref,
            &search.purchaser,
            &search.recipient_email,
            &due,
        ];
        let inserted = self
            .db
            .execute(Sql::InsertCard, &params)
            .await
            .map_err(&db_error)?;
        if inserted == 0 {
            // ON CONFLICT DO NOTHING: the id or the code is taken; the id decides which.
            let row = self
                .db
                .query_one(Sql::CardExists, &[&id])
                .await
                .map_err(&db_error)?;
            let exists: bool = row.try_get(0).map_err(&db_error)?;
            return Err(if exists {
                StoreError::conflict(Record::Card(card.id()), "it already exists")
            } else {
                StoreError::duplicate_code(code)
            });
        }
        // Tags are fixed at issue: written once, with the card.
        for tag in card.tags() {
            self.db
                .execute(Sql::InsertTag, &[tag, &search.issued_at, &id])
                .await
                .map_err(&db_error)?;
        }
        Ok(())
    }

    /// Updates a card read at `expected_version`; returns the sequence number its next entry
    /// must have.
    async fn update_card(
        &mut self,
        card: &GiftCard,
        expected_version: u64,
    ) -> Result<u64, StoreError> {
        self.update(card, None, expected_version).await
    }

    /// Updates a card read at `expected_version` under its new code.
    async fn update_card_code(
        &mut self,
        card: &GiftCard,
        code: &Code,
        expected_version: u64,
    ) -> Result<u64, StoreError> {
        self.update(card, Some(code), expected_version).await
    }

    /// Mirrors the card's open holds into the `holds` table.
    async fn write_holds(&mut self, card: &GiftCard) -> Result<(), StoreError> {
        let db_error = db_error("writing a card's holds");
        let id = card.id().to_string();
        self.db
            .execute(Sql::DeleteHolds, &[&id])
            .await
            .map_err(&db_error)?;
        for hold in card.holds() {
            let hold_id = i64::try_from(hold.id())
                .map_err(|_| StoreError::corrupt(format!("hold {} is out of range", hold.id())))?;
            let held = amount(hold.amount())?;
            let placed_at = timestamp(hold.placed_at());
            let expires_at = hold.expires_at().map(timestamp);
            let params: [&(dyn ToSql + Sync); 6] = [
                &id,
                &hold_id,
                &held,
                &hold.reference().as_str(),
                &placed_at,
                &expires_at,
            ];
            self.db
                .execute(Sql::InsertHold, &params)
                .await
                .map_err(&db_error)?;
        }
        Ok(())
    }

    async fn insert_entry(&mut self, entry: &LedgerEntry) -> Result<(), StoreError> {
        let record = || Record::Entry {
            card: entry.card(),
            seq: entry.seq(),
        };
        let (json, kind) = to_json(entry, &["kind", "type"])?;
        let seq = i64::try_from(entry.seq())
            .map_err(|_| StoreError::conflict(record(), "its number is out of range"))?;
        let card = entry.card().to_string();
        let at = timestamp(entry.at());
        let (moved, balance_after) = (amount(entry.amount())?, amount(entry.balance_after())?);
        let reference = entry.reference().map(Reference::as_str);
        let params: [&(dyn ToSql + Sync); 8] = [
            &card,
            &seq,
            &at,
            &kind,
            &moved,
            &balance_after,
            &reference,
            &json,
        ];
        match self.db.execute(Sql::InsertEntry, &params).await {
            Ok(_) => Ok(()),
            Err(e)
                if violates(&e, "ledger_entries_pkey")
                    || violates(&e, "a ledger entry must follow the last entry of its card") =>
            {
                Err(StoreError::conflict(
                    record(),
                    "it does not follow the stored ledger",
                ))
            }
            Err(e) => Err(db_error("inserting a ledger entry")(e)),
        }
    }

    async fn write_checkout(&mut self, write: &RecordWrite<Checkout>) -> Result<(), StoreError> {
        let checkout = &write.value;
        let (json, state) = to_json(checkout, &["state", "state"])?;
        let currency = checkout.currency();
        let (id, code) = (checkout.id().as_str(), currency.code());
        let written = match write.expected_version {
            None => {
                self.db
                    .execute(Sql::InsertCheckout, &[&id, &code, &state, &json])
                    .await
            }
            Some(v) => {
                let version = sql_version(v);
                self.db
                    .execute(Sql::UpdateCheckout, &[&id, &code, &state, &json, &version])
                    .await
            }
        }
        .map_err(db_error("writing a checkout"))?;
        if written == 0 {
            return Err(missed_write(
                Record::Checkout(checkout.id().clone()),
                write.expected_version,
            ));
        }
        Ok(())
    }

    async fn insert_record(&mut self, record: &IdempotencyRecord) -> Result<(), StoreError> {
        let (json, _) = to_json(record, &[])?;
        let (request, recorded_at) = (record.request.to_string(), timestamp(record.recorded_at));
        let written = self
            .db
            .execute(
                Sql::InsertRecord,
                &[&record.key.as_str(), &request, &recorded_at, &json],
            )
            .await
            .map_err(db_error("inserting an idempotency record"))?;
        if written == 0 {
            return Err(StoreError::conflict(
                Record::Idempotency(record.key.clone()),
                "it is recorded",
            ));
        }
        Ok(())
    }

    async fn write_guard(&mut self, write: &RecordWrite<GuardWindow>) -> Result<(), StoreError> {
        let window = &write.value;
        let (json, _) = to_json(window, &[])?;
        let count = i32::try_from(window.count()).unwrap_or(i32::MAX);
        let client = window.client().as_str();
        let started = timestamp(window.started_at());
        let written = match write.expected_version {
            None => {
                self.db
                    .execute(Sql::InsertGuard, &[&client, &count, &json, &started])
                    .await
            }
            Some(v) => {
                let version = sql_version(v);
                self.db
                    .execute(
                        Sql::UpdateGuard,
                        &[&client, &count, &json, &started, &version],
                    )
                    .await
            }
        }
        .map_err(db_error("writing a guard window"))?;
        if written == 0 {
            return Err(missed_write(
                Record::Guard(window.client().clone()),
                write.expected_version,
            ));
        }
        Ok(())
    }
}

impl<E: Exec + Send> Steps<'_, E> {
    /// Updates a card read at `expected_version`, under a new code when one is given; returns
    /// the sequence number its next entry must have.
    async fn update(
        &mut self,
        card: &GiftCard,
        code: Option<&Code>,
        expected_version: u64,
    ) -> Result<u64, StoreError> {
        let db_error = db_error("updating a card");
        let (json, status) = to_json(card, &["status"])?;
        let id = card.id().to_string();
        let (balance, held) = (amount(card.balance())?, amount(card.held())?);
        let version = sql_version(expected_version);
        let (last4, search) = (hint_shown(card), SearchColumns::of(card));
        let due = card.sweep_at().map(timestamp);
        let digest = code.map(|code| self.key.digest(code).to_string());
        let params: [&(dyn ToSql + Sync); 13] = [
            &id,
            &status,
            &balance,
            &held,
            &json,
            &version,
            &last4,
            &search.expires_at,
            &search.order_ref,
            &search.purchaser,
            &search.recipient_email,
            &due,
            &digest,
        ];
        let updated = match code {
            None => self.db.execute(Sql::UpdateCard, &params[..12]).await,
            Some(code) => match self.db.execute(Sql::UpdateCardCode, &params).await {
                Err(e) if violates(&e, "cards_code_digest_unique") => {
                    return Err(StoreError::duplicate_code(code));
                }
                other => other,
            },
        }
        .map_err(&db_error)?;
        if updated == 0 {
            return Err(missed_write(
                Record::Card(card.id()),
                Some(expected_version),
            ));
        }
        // The row is locked by the update: no other commit can append to this card until ours
        // ends.
        let row = self
            .db
            .query_one(Sql::LastSeq, &[&id])
            .await
            .map_err(&db_error)?;
        let last: i64 = row.try_get(0).map_err(&db_error)?;
        u64::try_from(last)
            .ok()
            .and_then(|last| last.checked_add(1))
            .ok_or_else(|| StoreError::corrupt(format!("card {} has entry {last}", card.id())))
    }
}
