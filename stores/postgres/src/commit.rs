//! A commit in one round trip: the changes as one jsonb document, written by the server-side
//! function `giftcert_commit` (migration 5) in one statement, and its errors turned back into
//! the [`StoreError`]s the store contract names.
//!
//! The function takes the steps in the order every SQL store takes them
//! ([`write_changes_async`](giftcert_store_support::write_changes_async)'s): the cards in id
//! order with their holds, the ledger entries once each follows its card's last, the checkout,
//! the idempotency record, the guard window. What it cannot do, the first checks
//! ([`Changes::check_codes`]) and the hashing of codes, is done here before anything is sent.

use giftcert::{
    CardId, Code, GiftCard, Reference, StoreError,
    card::LedgerEntry,
    redeem::{CardWrite, Changes, Record},
};
use giftcert_store_support::{
    CodeKey, SearchColumns, amount, hint_shown, json_and_tag, missed_write, sql_version, timestamp,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio_postgres::Error;

use crate::sql::{Exec, Sql, db_error, violates};

/// Writes `changes` in one statement (none when there is nothing to write).
///
/// # Errors
///
/// The first refusal, in the order of the steps: [`StoreError::Conflict`] for a write that
/// met another commit's (a moved version, an existing record, entries that do not follow the
/// stored ledger, or a transaction the server aborted to keep it apart from another),
/// [`StoreError::DuplicateCode`] for a taken code, [`StoreError::Backend`] for anything else.
pub(crate) async fn commit<E: Exec>(
    db: &mut E,
    key: &CodeKey,
    changes: &Changes,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    changes.check_codes()?;
    let cards = sorted_cards(changes)?;
    let document = document(key, changes, &cards)?.to_string();
    match db.execute(Sql::Commit, &[&document]).await {
        Ok(_) => Ok(()),
        Err(e) => Err(refusal(e, changes, &cards)),
    }
}

/// The written cards in id order, so two commits over the same cards lock them in the same
/// order and cannot deadlock.
fn sorted_cards(changes: &Changes) -> Result<Vec<&CardWrite>, StoreError> {
    let mut cards = Vec::with_capacity(changes.cards.len());
    for write in &changes.cards {
        match write {
            CardWrite::Insert { .. } | CardWrite::Update { .. } => cards.push(write),
            other => {
                return Err(StoreError::Backend {
                    reason: format!("this store cannot write {other:?}"),
                    source: None,
                });
            }
        }
    }
    cards.sort_by_key(|write| written_card(write).map(GiftCard::id));
    Ok(cards)
}

/// The card a write writes.
fn written_card(write: &CardWrite) -> Option<&GiftCard> {
    match write {
        CardWrite::Insert { card, .. } | CardWrite::Update { card, .. } => Some(card),
        _ => None,
    }
}

/// The code a card write gives its card, if any: an inserted card's, or the new code of an
/// updated one.
fn new_code<'c>(changes: &'c Changes, write: &'c CardWrite) -> Option<&'c Code> {
    match write {
        CardWrite::Insert { code, .. } => Some(code),
        CardWrite::Update { card, .. } => changes
            .codes
            .iter()
            .find(|w| w.card == card.id())
            .map(|w| &w.code),
        _ => None,
    }
}

/// A value as JSON, with the tag found at `path` (the status of a card, the kind of an entry)
/// as a JSON string for the commit document.
fn value_and_tag<T: Serialize>(value: &T, path: &[&str]) -> Result<(Value, Value), StoreError> {
    let (json, tag) = json_and_tag(value, path)?;
    Ok((json, Value::String(tag)))
}

/// Puts `value` under `key` unless it is `None`, which the function reads as SQL `NULL`.
fn put(object: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(value) = value {
        object.insert(key.to_owned(), Value::String(value));
    }
}

/// The document `giftcert_commit` reads: amounts and times as strings.
fn document(key: &CodeKey, changes: &Changes, cards: &[&CardWrite]) -> Result<Value, StoreError> {
    let mut document = Map::new();
    let mut written = Vec::with_capacity(cards.len());
    for write in cards {
        written.push(card_write(key, changes, write)?);
    }
    document.insert("cards".to_owned(), Value::Array(written));
    let mut entries = Vec::with_capacity(changes.entries.len());
    for entry in &changes.entries {
        entries.push(entry_row(entry)?);
    }
    document.insert("entries".to_owned(), Value::Array(entries));
    if let Some(write) = &changes.checkout {
        let checkout = &write.value;
        let (json, state) = value_and_tag(checkout, &["state", "state"])?;
        let mut row = Map::new();
        row.insert("id".to_owned(), json!(checkout.id().as_str()));
        row.insert("currency".to_owned(), json!(checkout.currency().code()));
        row.insert("state".to_owned(), state);
        row.insert("checkout".to_owned(), json);
        if let Some(v) = write.expected_version {
            row.insert("expectedVersion".to_owned(), json!(sql_version(v)));
        }
        document.insert("checkout".to_owned(), Value::Object(row));
    }
    if let Some(record) = &changes.idempotency {
        let (json, _) = value_and_tag(record, &[])?;
        document.insert(
            "record".to_owned(),
            json!({
                "key": record.key.as_str(),
                "request": record.request.to_string(),
                "recordedAt": timestamp(record.recorded_at),
                "record": json,
            }),
        );
    }
    if let Some(write) = &changes.guard {
        let window = &write.value;
        let (json, _) = value_and_tag(window, &[])?;
        let mut row = Map::new();
        row.insert("client".to_owned(), json!(window.client().as_str()));
        row.insert(
            "count".to_owned(),
            json!(i32::try_from(window.count()).unwrap_or(i32::MAX)),
        );
        row.insert("guard".to_owned(), json);
        row.insert(
            "startedAt".to_owned(),
            json!(timestamp(window.started_at())),
        );
        if let Some(v) = write.expected_version {
            row.insert("expectedVersion".to_owned(), json!(sql_version(v)));
        }
        document.insert("guard".to_owned(), Value::Object(row));
    }
    Ok(Value::Object(document))
}

/// One card write: its columns, its open holds, and for a new card its tags.
fn card_write(key: &CodeKey, changes: &Changes, write: &CardWrite) -> Result<Value, StoreError> {
    let card = written_card(write).ok_or_else(|| StoreError::Backend {
        reason: format!("this store cannot write {write:?}"),
        source: None,
    })?;
    let (json, status) = value_and_tag(card, &["status"])?;
    let search = SearchColumns::of(card);
    let mut row = Map::new();
    row.insert("id".to_owned(), json!(card.id().to_string()));
    match write {
        CardWrite::Update {
            expected_version, ..
        } => {
            row.insert("write".to_owned(), json!("update"));
            row.insert(
                "expectedVersion".to_owned(),
                json!(sql_version(*expected_version)),
            );
        }
        _ => {
            row.insert("write".to_owned(), json!("insert"));
            row.insert("currency".to_owned(), json!(card.currency().code()));
            row.insert("issuedAt".to_owned(), json!(search.issued_at));
            row.insert("tags".to_owned(), json!(card.tags()));
        }
    }
    put(
        &mut row,
        "digest",
        new_code(changes, write).map(|code| key.digest(code).to_string()),
    );
    row.insert("last4".to_owned(), json!(hint_shown(card)));
    row.insert("status".to_owned(), status);
    row.insert("balance".to_owned(), json!(amount(card.balance())?));
    row.insert("held".to_owned(), json!(amount(card.held())?));
    row.insert("card".to_owned(), json);
    put(&mut row, "expiresAt", search.expires_at);
    put(&mut row, "orderRef", search.order_ref);
    put(&mut row, "purchaser", search.purchaser);
    put(&mut row, "recipientEmail", search.recipient_email);
    put(&mut row, "sweepDueAt", card.sweep_at().map(timestamp));
    let mut holds = Vec::new();
    for hold in card.holds() {
        let id = i64::try_from(hold.id())
            .map_err(|_| StoreError::corrupt(format!("hold {} is out of range", hold.id())))?;
        let mut h = Map::new();
        h.insert("id".to_owned(), json!(id));
        h.insert("amount".to_owned(), json!(amount(hold.amount())?));
        h.insert("reference".to_owned(), json!(hold.reference().as_str()));
        h.insert("placedAt".to_owned(), json!(timestamp(hold.placed_at())));
        put(&mut h, "expiresAt", hold.expires_at().map(timestamp));
        holds.push(Value::Object(h));
    }
    row.insert("holds".to_owned(), Value::Array(holds));
    Ok(Value::Object(row))
}

/// One ledger entry's columns.
fn entry_row(entry: &LedgerEntry) -> Result<Value, StoreError> {
    let (json, kind) = value_and_tag(entry, &["kind", "type"])?;
    let seq = i64::try_from(entry.seq()).map_err(|_| {
        StoreError::conflict(
            Record::Entry {
                card: entry.card(),
                seq: entry.seq(),
            },
            "its number is out of range",
        )
    })?;
    let mut row = Map::new();
    row.insert("card".to_owned(), json!(entry.card().to_string()));
    row.insert("seq".to_owned(), json!(seq));
    row.insert("at".to_owned(), json!(timestamp(entry.at())));
    row.insert("kind".to_owned(), kind);
    row.insert("amount".to_owned(), json!(amount(entry.amount())?));
    row.insert(
        "balanceAfter".to_owned(),
        json!(amount(entry.balance_after())?),
    );
    put(
        &mut row,
        "reference",
        entry.reference().map(|r| Reference::as_str(r).to_owned()),
    );
    row.insert("entry".to_owned(), json);
    Ok(Value::Object(row))
}

/// The error `giftcert_commit` raised, as the store error the step that raised it returns.
fn refusal(e: Error, changes: &Changes, cards: &[&CardWrite]) -> StoreError {
    let (code, detail) = match e.as_db_error() {
        Some(db) => (
            db.code().code().to_owned(),
            db.detail().unwrap_or_default().to_owned(),
        ),
        None => return db_error("committing")(e),
    };
    // The card write the DETAIL names by its index.
    let card_at = || {
        detail
            .parse::<usize>()
            .ok()
            .and_then(|i| cards.get(i).copied())
    };
    let unexplained = || {
        StoreError::corrupt(format!(
            "the commit function refused with SQLSTATE {code} and an unknown DETAIL {detail:?}"
        ))
    };
    match code.as_str() {
        "ZG001" => match card_at() {
            Some(CardWrite::Update {
                card,
                expected_version,
            }) => missed_write(Record::Card(card.id()), Some(*expected_version)),
            _ => unexplained(),
        },
        "ZG002" => card_at()
            .and_then(written_card)
            .map_or_else(unexplained, |card| {
                StoreError::conflict(Record::Card(card.id()), "it already exists")
            }),
        "ZG003" => card_at()
            .and_then(|write| new_code(changes, write))
            .map_or_else(unexplained, StoreError::duplicate_code),
        "ZG004" => match next_seqs(&detail).map(|next| changes.check_entries(next)) {
            Some(Err(refused)) => refused,
            _ => unexplained(),
        },
        "ZG005" => changes.checkout.as_ref().map_or_else(unexplained, |write| {
            missed_write(
                Record::Checkout(write.value.id().clone()),
                write.expected_version,
            )
        }),
        "ZG006" => changes.idempotency.as_ref().map_or_else(unexplained, |r| {
            StoreError::conflict(Record::Idempotency(r.key.clone()), "it is recorded")
        }),
        "ZG007" => changes.guard.as_ref().map_or_else(unexplained, |write| {
            missed_write(
                Record::Guard(write.value.client().clone()),
                write.expected_version,
            )
        }),
        _ if violates(&e, "ledger_entries_pkey")
            || violates(&e, "a ledger entry must follow the last entry of its card") =>
        {
            // The function checks every entry against its card's last before inserting it,
            // under the card's row lock: a trigger refusing one means another writer bypassed
            // the store. The whole commit is retried from a fresh read.
            StoreError::conflict(
                Record::Transaction,
                "the stored ledger refused an entry it was checked to follow",
            )
        }
        _ => db_error("committing")(e),
    }
}

/// The next sequence number of each written card, as the DETAIL of `ZG004` lists them
/// (`[["<card id>", 3], ...]`).
fn next_seqs(detail: &str) -> Option<Vec<(CardId, u64)>> {
    let pairs: Vec<(String, u64)> = serde_json::from_str(detail).ok()?;
    pairs
        .into_iter()
        .map(|(id, next)| Some((id.parse().ok()?, next)))
        .collect()
}
