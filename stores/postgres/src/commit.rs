//! A commit in one round trip: the changes as one jsonb document ([`Document`]), written by the
//! server-side function `giftcert_commit` (`sql/commit_function.sql`) in one statement, and its
//! errors turned back into the [`StoreError`]s the store contract names.
//!
//! The function takes the steps in the order every SQL store takes them
//! ([`write_changes`](giftcert_store_support::write_changes)'s): the cards in id
//! order with their holds, the ledger entries once each follows its card's last, the checkout,
//! the idempotency record, the guard window. What it cannot do, the first checks
//! ([`Changes::check_codes`]) and the hashing of codes, is done here before anything is sent.

use giftcert::{
    CardId, Code, GiftCard, Reference, StoreError,
    card::LedgerEntry,
    redeem::{CardWrite, Changes, Record},
};
use giftcert_store_support::{
    CodeKey, SearchColumns, amount, currency_column, hint_shown, json_and_tag, missed_write,
    sql_version, timestamp,
};
use serde::Serialize;
use serde_json::Value;
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
    let document = serde_json::to_string(&document(key, changes, &cards)?)
        .map_err(|e| StoreError::corrupt_from("cannot write the commit document as JSON", e))?;
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

/// The document `giftcert_commit` reads ([`COMMIT_FUNCTION`](crate::schema::COMMIT_FUNCTION)):
/// amounts and times as strings, so nothing passes through a float. Its field names are the
/// keys the function reads (the test `the_document_has_the_keys_the_function_reads` compares
/// them); an absent field is one the function reads as SQL `NULL` or tests with `?`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    /// The card writes, in id order.
    cards: Vec<CardRow>,
    /// The ledger entries, in the order they are appended.
    entries: Vec<EntryRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkout: Option<CheckoutRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<RecordRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    guard: Option<GuardRow>,
}

/// One card write: its columns, its open holds, and what only an insert or an update carries.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CardRow {
    id: String,
    #[serde(flatten)]
    write: CardRowWrite,
    /// The digest of the code the write gives the card (a new card's, or an updated card's new
    /// one); absent when an update keeps the code.
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    last4: String,
    status: String,
    balance: String,
    held: String,
    card: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purchaser: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sweep_due_at: Option<String>,
    holds: Vec<HoldRow>,
}

/// Whether a card write inserts or updates (the key `write`), with the fields only that kind
/// carries.
#[derive(Debug, Serialize)]
#[serde(tag = "write", rename_all = "lowercase")]
enum CardRowWrite {
    /// A new card: its fixed columns and tags, written once.
    #[serde(rename_all = "camelCase")]
    Insert {
        currency: String,
        issued_at: String,
        tags: Vec<String>,
    },
    /// A card read at `expected_version`.
    #[serde(rename_all = "camelCase")]
    Update { expected_version: i64 },
}

/// One open hold of a written card.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HoldRow {
    id: i64,
    amount: String,
    reference: String,
    placed_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

/// One ledger entry's columns.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryRow {
    card: String,
    seq: i64,
    at: String,
    kind: String,
    amount: String,
    balance_after: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    entry: Value,
}

/// The checkout's columns; without an expected version, it is inserted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckoutRow {
    id: String,
    currency: String,
    state: String,
    checkout: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_version: Option<i64>,
}

/// The idempotency record's columns.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordRow {
    key: String,
    request: String,
    recorded_at: String,
    record: Value,
}

/// The guard window's columns; without an expected version, it is inserted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GuardRow {
    client: String,
    count: i32,
    guard: Value,
    started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_version: Option<i64>,
}

/// The document of `changes`, whose card writes are `cards`.
fn document(
    key: &CodeKey,
    changes: &Changes,
    cards: &[&CardWrite],
) -> Result<Document, StoreError> {
    let mut rows = Vec::with_capacity(cards.len());
    for write in cards {
        rows.push(card_row(key, changes, write)?);
    }
    let mut entries = Vec::with_capacity(changes.entries.len());
    for entry in &changes.entries {
        entries.push(entry_row(entry)?);
    }
    let checkout = match &changes.checkout {
        Some(write) => {
            let checkout = &write.value;
            let (json, state) = json_and_tag(checkout, &["state", "state"])?;
            Some(CheckoutRow {
                id: checkout.id().as_str().to_owned(),
                currency: currency_column(checkout.currency()),
                state,
                checkout: json,
                expected_version: write.expected_version.map(sql_version),
            })
        }
        None => None,
    };
    let record = match &changes.idempotency {
        Some(record) => Some(RecordRow {
            key: record.key.as_str().to_owned(),
            request: record.request.to_string(),
            recorded_at: timestamp(record.recorded_at),
            record: json_and_tag(record, &[])?.0,
        }),
        None => None,
    };
    let guard = match &changes.guard {
        Some(write) => {
            let window = &write.value;
            Some(GuardRow {
                client: window.client().as_str().to_owned(),
                count: i32::try_from(window.count()).unwrap_or(i32::MAX),
                guard: json_and_tag(window, &[])?.0,
                started_at: timestamp(window.started_at()),
                expected_version: write.expected_version.map(sql_version),
            })
        }
        None => None,
    };
    Ok(Document {
        cards: rows,
        entries,
        checkout,
        record,
        guard,
    })
}

/// One card write's row.
fn card_row(key: &CodeKey, changes: &Changes, write: &CardWrite) -> Result<CardRow, StoreError> {
    let card = written_card(write).ok_or_else(|| StoreError::Backend {
        reason: format!("this store cannot write {write:?}"),
        source: None,
    })?;
    let (json, status) = json_and_tag(card, &["status"])?;
    let search = SearchColumns::of(card);
    let kind = match write {
        CardWrite::Update {
            expected_version, ..
        } => CardRowWrite::Update {
            expected_version: sql_version(*expected_version),
        },
        _ => CardRowWrite::Insert {
            currency: currency_column(card.currency()),
            issued_at: search.issued_at,
            tags: card.tags().to_vec(),
        },
    };
    let mut holds = Vec::new();
    for hold in card.holds() {
        let id = i64::try_from(hold.id())
            .map_err(|_| StoreError::corrupt(format!("hold {} is out of range", hold.id())))?;
        holds.push(HoldRow {
            id,
            amount: amount(hold.amount())?,
            reference: hold.reference().as_str().to_owned(),
            placed_at: timestamp(hold.placed_at()),
            expires_at: hold.expires_at().map(timestamp),
        });
    }
    Ok(CardRow {
        id: card.id().to_string(),
        write: kind,
        digest: new_code(changes, write).map(|code| key.digest(code).to_string()),
        last4: hint_shown(card),
        status,
        balance: amount(card.balance())?,
        held: amount(card.held())?,
        card: json,
        expires_at: search.expires_at,
        order_ref: search.order_ref,
        purchaser: search.purchaser,
        recipient_email: search.recipient_email,
        sweep_due_at: card.sweep_at().map(timestamp),
        holds,
    })
}

/// One ledger entry's row.
fn entry_row(entry: &LedgerEntry) -> Result<EntryRow, StoreError> {
    let (json, kind) = json_and_tag(entry, &["kind", "type"])?;
    let seq = i64::try_from(entry.seq()).map_err(|_| {
        StoreError::conflict(
            Record::Entry {
                card: entry.card(),
                seq: entry.seq(),
            },
            "its number is out of range",
        )
    })?;
    Ok(EntryRow {
        card: entry.card().to_string(),
        seq,
        at: timestamp(entry.at()),
        kind,
        amount: amount(entry.amount())?,
        balance_after: amount(entry.balance_after())?,
        reference: entry.reference().map(|r| Reference::as_str(r).to_owned()),
        entry: json,
    })
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::schema::COMMIT_FUNCTION;

    /// The keys `sql` takes from each jsonb variable, by variable: `v->'key'`, `v->>'key'` and
    /// `v ? 'key'` (comments left out).
    fn keys_read(sql: &str) -> BTreeMap<String, BTreeSet<String>> {
        let code: Vec<char> = sql
            .lines()
            .map(|line| line.split("--").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
            .chars()
            .collect();
        let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut i = 0;
        while i < code.len() {
            if code[i] != '\'' {
                i += 1;
                continue;
            }
            // A string literal: up to the next quote that is not doubled.
            let mut end = i + 1;
            while end < code.len() {
                if code[end] == '\'' && code.get(end + 1) == Some(&'\'') {
                    end += 2;
                } else if code[end] == '\'' {
                    break;
                } else {
                    end += 1;
                }
            }
            let literal: String = code[i + 1..end].iter().collect();
            let before: String = code[..i].iter().collect();
            let before = before.trim_end();
            let operand = ["->>", "->", "?"]
                .iter()
                .find_map(|op| before.strip_suffix(op))
                .map(str::trim_end);
            if let Some(operand) = operand.filter(|_| literal.chars().all(is_name)) {
                let start = operand
                    .char_indices()
                    .rev()
                    .take_while(|&(_, c)| is_name(c))
                    .last()
                    .map_or(operand.len(), |(at, _)| at);
                keys.entry(operand[start..].to_owned())
                    .or_default()
                    .insert(literal);
            }
            i = end + 1;
        }
        keys
    }

    /// The keys of a JSON object.
    fn keys_of(value: &Value) -> BTreeSet<String> {
        value
            .as_object()
            .map(|object| object.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn text() -> String {
        "x".to_owned()
    }

    fn hold() -> HoldRow {
        HoldRow {
            id: 1,
            amount: text(),
            reference: text(),
            placed_at: text(),
            expires_at: Some(text()),
        }
    }

    fn card(write: CardRowWrite) -> CardRow {
        CardRow {
            id: text(),
            write,
            digest: Some(text()),
            last4: text(),
            status: text(),
            balance: text(),
            held: text(),
            card: Value::Null,
            expires_at: Some(text()),
            order_ref: Some(text()),
            purchaser: Some(text()),
            recipient_email: Some(text()),
            sweep_due_at: Some(text()),
            holds: vec![hold()],
        }
    }

    /// Every key the document can carry is one the function reads from the object it is in,
    /// and every key the function reads is one the document can carry: a field renamed on
    /// either side fails here, not in a commit that quietly writes `NULL`.
    #[test]
    fn the_document_has_the_keys_the_function_reads() {
        let document = Document {
            cards: vec![
                card(CardRowWrite::Insert {
                    currency: text(),
                    issued_at: text(),
                    tags: vec![text()],
                }),
                card(CardRowWrite::Update {
                    expected_version: 1,
                }),
            ],
            entries: vec![EntryRow {
                card: text(),
                seq: 1,
                at: text(),
                kind: text(),
                amount: text(),
                balance_after: text(),
                reference: Some(text()),
                entry: Value::Null,
            }],
            checkout: Some(CheckoutRow {
                id: text(),
                currency: text(),
                state: text(),
                checkout: Value::Null,
                expected_version: Some(1),
            }),
            record: Some(RecordRow {
                key: text(),
                request: text(),
                recorded_at: text(),
                record: Value::Null,
            }),
            guard: Some(GuardRow {
                client: text(),
                count: 1,
                guard: Value::Null,
                started_at: text(),
                expected_version: Some(1),
            }),
        };
        let json = serde_json::to_value(&document).unwrap();
        let cards = &json["cards"];
        let written: BTreeMap<String, BTreeSet<String>> = [
            ("changes", keys_of(&json)),
            (
                "card_doc",
                keys_of(&cards[0])
                    .union(&keys_of(&cards[1]))
                    .cloned()
                    .collect(),
            ),
            ("hold_doc", keys_of(&cards[0]["holds"][0])),
            ("entry_doc", keys_of(&json["entries"][0])),
            ("checkout_doc", keys_of(&json["checkout"])),
            ("record_doc", keys_of(&json["record"])),
            ("guard_doc", keys_of(&json["guard"])),
        ]
        .into_iter()
        .map(|(name, keys)| (name.to_owned(), keys))
        .collect();
        assert_eq!(keys_read(COMMIT_FUNCTION), written);
    }

    /// The reader of the function's text finds keys after each operator, and none in comments
    /// or in other literals.
    #[test]
    fn keys_read_finds_the_keys_after_each_operator() {
        let sql = "-- a->>'ignored'\n\
                   x := a->>'one' || (b -> 'two') || 'three';\n\
                   IF a ? 'four' THEN RAISE 'it''s a->>''no''' USING ERRCODE = 'ZG001'; END IF;";
        let found = keys_read(sql);
        let expected: BTreeMap<String, BTreeSet<String>> = [
            ("a".to_owned(), ["four", "one"].map(str::to_owned).into()),
            ("b".to_owned(), ["two"].map(str::to_owned).into()),
        ]
        .into();
        assert_eq!(found, expected);
    }
}
