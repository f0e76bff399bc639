//! A commit on SQLite: one `BEGIN IMMEDIATE` transaction whose steps ([`CommitSteps`]) are
//! the statements below, taken in the order [`write_changes`] gives them. Each versioned write
//! is an `UPDATE ... WHERE version = ?`; a missed row or a unique violation is the
//! [`StoreError`] the store contract names.

use giftcert::{
    Code, GiftCard, Reference, StoreError,
    card::LedgerEntry,
    redeem::RecordWrite,
    redeem::{Changes, Checkout, GuardWindow, IdempotencyRecord, Record},
};
use giftcert_store_support::{
    CodeKey, CommitSteps, SearchColumns, amount, currency_column, hint_shown, missed_write,
    sql_version, timestamp, to_json, write_changes,
};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::sql::{db_error, violates};

/// Writes `changes` on `conn` in one `BEGIN IMMEDIATE` transaction, codes hashed with `key`.
///
/// # Errors
///
/// The first refusal of [`write_changes`]; a conflict on the whole transaction when the file
/// stayed busy; [`StoreError::Backend`] when SQLite fails.
pub(crate) fn commit(
    conn: &mut Connection,
    key: &CodeKey,
    changes: &Changes,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_error("starting a transaction"))?;
    write_changes(&mut Steps { tx: &tx, key }, changes)?;
    // Deferred foreign keys (holds to their ledger entries) are checked here.
    tx.commit().map_err(db_error("committing"))
}

/// A commit's steps on SQLite, inside `tx` (see [`write_changes`]).
struct Steps<'a> {
    tx: &'a Transaction<'a>,
    key: &'a CodeKey,
}

impl CommitSteps for Steps<'_> {
    fn insert_card(&mut self, card: &GiftCard, code: &Code) -> Result<(), StoreError> {
        insert_card(self.tx, self.key, card, code)
    }

    fn update_card(&mut self, card: &GiftCard, expected_version: u64) -> Result<u64, StoreError> {
        update_card(self.tx, card, None, expected_version)
    }

    fn update_card_code(
        &mut self,
        card: &GiftCard,
        code: &Code,
        expected_version: u64,
    ) -> Result<u64, StoreError> {
        update_card(self.tx, card, Some((self.key, code)), expected_version)
    }

    fn write_holds(&mut self, card: &GiftCard) -> Result<(), StoreError> {
        write_holds(self.tx, card)
    }

    fn insert_entry(&mut self, entry: &LedgerEntry) -> Result<(), StoreError> {
        insert_entry(self.tx, entry)
    }

    fn write_checkout(&mut self, write: &RecordWrite<Checkout>) -> Result<(), StoreError> {
        write_checkout(self.tx, write)
    }

    fn insert_record(&mut self, record: &IdempotencyRecord) -> Result<(), StoreError> {
        insert_record(self.tx, record)
    }

    fn write_guard(&mut self, write: &RecordWrite<GuardWindow>) -> Result<(), StoreError> {
        write_guard(self.tx, write)
    }
}

/// Inserts a new card.
fn insert_card(
    tx: &Transaction<'_>,
    key: &CodeKey,
    card: &GiftCard,
    code: &Code,
) -> Result<(), StoreError> {
    let db = db_error("inserting a card");
    let (json, status) = to_json(card, &["status"])?;
    let id = card.id().to_string();
    let search = SearchColumns::of(card);
    let inserted = tx
        .prepare_cached(
            "INSERT INTO cards \
             (id, code_digest, code_last4, currency, status, balance, held, version, card, \
              issued_at, expires_at, order_ref, purchaser, recipient_email, sweep_due_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .map_err(&db)?
        .execute(rusqlite::params![
            id,
            key.digest(code).to_string(),
            hint_shown(card),
            currency_column(card.currency()),
            status,
            amount(card.balance())?,
            amount(card.held())?,
            json,
            search.issued_at,
            search.expires_at,
            search.order_ref,
            search.purchaser,
            search.recipient_email,
            card.sweep_at().map(timestamp),
        ]);
    let exists = || StoreError::conflict(Record::Card(card.id()), "it already exists");
    match inserted {
        Ok(_) => {
            // Tags are fixed at issue: written once, with the card.
            let mut tag = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO card_tags (tag, issued_at, card_id) VALUES (?1, ?2, ?3)",
                )
                .map_err(&db)?;
            for t in card.tags() {
                tag.execute(rusqlite::params![t, search.issued_at, id])
                    .map_err(&db)?;
            }
            Ok(())
        }
        Err(e) if violates(&e, "cards.id") => Err(exists()),
        Err(e) if violates(&e, "cards.code_digest") => {
            // A card inserted twice is a conflict, whichever constraint SQLite checked first.
            let id_taken = tx
                .prepare_cached("SELECT 1 FROM cards WHERE id = ?1")
                .map_err(&db)?
                .exists([&id])
                .map_err(&db)?;
            Err(if id_taken {
                exists()
            } else {
                StoreError::duplicate_code(code)
            })
        }
        Err(e) => Err(db(e)),
    }
}

/// Updates a card read at `expected_version`, under a new code when one is given (with the
/// key its digest is made with); returns the sequence number its next entry must have.
fn update_card(
    tx: &Transaction<'_>,
    card: &GiftCard,
    code: Option<(&CodeKey, &Code)>,
    expected_version: u64,
) -> Result<u64, StoreError> {
    let db = db_error("updating a card");
    let (json, status) = to_json(card, &["status"])?;
    let id = card.id().to_string();
    let search = SearchColumns::of(card);
    let params = rusqlite::params![
        id,
        status,
        amount(card.balance())?,
        amount(card.held())?,
        json,
        sql_version(expected_version),
        hint_shown(card),
        search.expires_at,
        search.order_ref,
        search.purchaser,
        search.recipient_email,
        card.sweep_at().map(timestamp),
        code.map(|(key, code)| key.digest(code).to_string()),
    ];
    let updated = match code {
        None => tx
            .prepare_cached(
                "UPDATE cards SET status = ?2, balance = ?3, held = ?4, card = ?5, \
                 version = version + 1, code_last4 = ?7, expires_at = ?8, order_ref = ?9, \
                 purchaser = ?10, recipient_email = ?11, sweep_due_at = ?12 \
                 WHERE id = ?1 AND version = ?6",
            )
            .map_err(&db)?
            .execute(&params[..12])
            .map_err(&db),
        Some((_, new)) => tx
            .prepare_cached(
                "UPDATE cards SET status = ?2, balance = ?3, held = ?4, card = ?5, \
                 version = version + 1, code_last4 = ?7, expires_at = ?8, order_ref = ?9, \
                 purchaser = ?10, recipient_email = ?11, sweep_due_at = ?12, \
                 code_digest = ?13 WHERE id = ?1 AND version = ?6",
            )
            .map_err(&db)?
            .execute(params)
            .map_err(|e| {
                if violates(&e, "cards.code_digest") {
                    StoreError::duplicate_code(new)
                } else {
                    db(e)
                }
            }),
    }?;
    if updated == 0 {
        return Err(missed_write(
            Record::Card(card.id()),
            Some(expected_version),
        ));
    }
    let last: i64 = tx
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM ledger_entries WHERE card_id = ?1")
        .map_err(&db)?
        .query_row([&id], |row| row.get(0))
        .map_err(&db)?;
    u64::try_from(last)
        .ok()
        .and_then(|last| last.checked_add(1))
        .ok_or_else(|| StoreError::corrupt(format!("card {} has entry {last}", card.id())))
}

/// Mirrors the card's open holds into the `holds` table.
fn write_holds(tx: &Transaction<'_>, card: &GiftCard) -> Result<(), StoreError> {
    let db = db_error("writing a card's holds");
    let id = card.id().to_string();
    tx.prepare_cached("DELETE FROM holds WHERE card_id = ?1")
        .map_err(&db)?
        .execute([&id])
        .map_err(&db)?;
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO holds (card_id, hold_id, amount, reference, placed_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(&db)?;
    for hold in card.holds() {
        let hold_id = i64::try_from(hold.id())
            .map_err(|_| StoreError::corrupt(format!("hold {} is out of range", hold.id())))?;
        insert
            .execute(rusqlite::params![
                id,
                hold_id,
                amount(hold.amount())?,
                hold.reference().as_str(),
                timestamp(hold.placed_at()),
                hold.expires_at().map(timestamp),
            ])
            .map_err(&db)?;
    }
    Ok(())
}

fn insert_entry(tx: &Transaction<'_>, entry: &LedgerEntry) -> Result<(), StoreError> {
    let db = db_error("inserting a ledger entry");
    let record = || Record::Entry {
        card: entry.card(),
        seq: entry.seq(),
    };
    let (json, kind) = to_json(entry, &["kind", "type"])?;
    let seq = i64::try_from(entry.seq())
        .map_err(|_| StoreError::conflict(record(), "its number is out of range"))?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO ledger_entries \
             (card_id, seq, at, kind, amount, balance_after, reference, entry) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(&db)?
        .execute(rusqlite::params![
            entry.card().to_string(),
            seq,
            timestamp(entry.at()),
            kind,
            amount(entry.amount())?,
            amount(entry.balance_after())?,
            entry.reference().map(Reference::as_str),
            json,
        ]);
    match inserted {
        Ok(_) => Ok(()),
        Err(e)
            if violates(&e, "ledger_entries.card_id, ledger_entries.seq")
                || violates(&e, "must follow the last entry of its card") =>
        {
            Err(StoreError::conflict(
                record(),
                "it does not follow the stored ledger",
            ))
        }
        Err(e) => Err(db(e)),
    }
}

fn write_checkout(tx: &Transaction<'_>, write: &RecordWrite<Checkout>) -> Result<(), StoreError> {
    let db = db_error("writing a checkout");
    let checkout = &write.value;
    let (json, state) = to_json(checkout, &["state", "state"])?;
    let currency = checkout.currency();
    let params = rusqlite::params![
        checkout.id().as_str(),
        currency_column(currency),
        state,
        json,
        write.expected_version.map(sql_version),
    ];
    let written = match write.expected_version {
        None => tx
            .prepare_cached(
                "INSERT INTO checkouts (id, currency, state, checkout, version) \
                 VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT (id) DO NOTHING",
            )
            .map_err(&db)?
            .execute(&params[..4]),
        Some(_) => tx
            .prepare_cached(
                "UPDATE checkouts SET currency = ?2, state = ?3, checkout = ?4, \
                 version = version + 1 WHERE id = ?1 AND version = ?5",
            )
            .map_err(&db)?
            .execute(params),
    }
    .map_err(&db)?;
    if written == 0 {
        return Err(missed_write(
            Record::Checkout(checkout.id().clone()),
            write.expected_version,
        ));
    }
    Ok(())
}

fn insert_record(tx: &Transaction<'_>, record: &IdempotencyRecord) -> Result<(), StoreError> {
    let db = db_error("inserting an idempotency record");
    let (json, _) = to_json(record, &[])?;
    let written = tx
        .prepare_cached(
            "INSERT INTO idempotency_records (key, request, recorded_at, record) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key) DO NOTHING",
        )
        .map_err(&db)?
        .execute(rusqlite::params![
            record.key.as_str(),
            record.request.to_string(),
            timestamp(record.recorded_at),
            json,
        ])
        .map_err(&db)?;
    if written == 0 {
        return Err(StoreError::conflict(
            Record::Idempotency(record.key.clone()),
            "it is recorded",
        ));
    }
    Ok(())
}

fn write_guard(tx: &Transaction<'_>, write: &RecordWrite<GuardWindow>) -> Result<(), StoreError> {
    let db = db_error("writing a guard window");
    let window = &write.value;
    let (json, _) = to_json(window, &[])?;
    let count = i64::try_from(window.count()).unwrap_or(i64::MAX);
    let params = rusqlite::params![
        window.client().as_str(),
        count,
        json,
        timestamp(window.started_at()),
        write.expected_version.map(sql_version),
    ];
    let written = match write.expected_version {
        None => tx
            .prepare_cached(
                "INSERT INTO guard_windows (client, unknown_codes, guard, started_at, version) \
                 VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT (client) DO NOTHING",
            )
            .map_err(&db)?
            .execute(&params[..4]),
        Some(_) => tx
            .prepare_cached(
                "UPDATE guard_windows SET unknown_codes = ?2, guard = ?3, started_at = ?4, \
                 version = version + 1 WHERE client = ?1 AND version = ?5",
            )
            .map_err(&db)?
            .execute(params),
    }
    .map_err(&db)?;
    if written == 0 {
        return Err(missed_write(
            Record::Guard(window.client().clone()),
            write.expected_version,
        ));
    }
    Ok(())
}
