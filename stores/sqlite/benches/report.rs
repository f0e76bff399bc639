//! The back office's reads on `SqliteStore` at 10,000 and 1,000,000 cards: one search page
//! (by tag, by currency after a cursor half-way through, and every card expiring before a
//! date) and the liability report.
//!
//! ```text
//! cargo bench -p giftcert-sqlite --bench report
//! ```
//!
//! Beside them, the "lookups on SQLite" group reads one card by its code (`card_by_code`) and
//! by its id (`card`, the balance read) at 1,000 and 1,000,000 cards: the target is flat, the
//! larger file within 2x of the smaller.
//!
//! The files are built once with bulk inserts in one transaction (the rows a store would
//! write: each card issued, every fourth one also held and captured) and kept under the target
//! folder (`CARGO_TARGET_TMPDIR`), so a second run starts at once.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use giftcert::store::CardQuery;
use giftcert::{CardId, CardSpec, Code, Currency, GiftCard, Money, Reference, Store};
use giftcert_sqlite::SqliteStore;
use giftcert_store_support::{CodeKey, SearchColumns, amount, hint_shown, timestamp};
use rusqlite::Connection;

const SIZES: [u64; 2] = [10_000, 1_000_000];

/// The sizes of the lookups' files.
const LOOKUP_SIZES: [u64; 2] = [1_000, 1_000_000];

/// The code the lookups find: the files give every card a made-up digest, so the card in the
/// middle is given this code's real digest before the lookups run.
const LOOKUP_CODE: &str = "BENCH-CODE-0001";

fn key() -> CodeKey {
    CodeKey::new(b"giftcert-sqlite report bench key").expect("a key")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("an instant")
}

/// A file of `n` cards, built if it is not there yet.
fn file(n: u64) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-bench-{n}.db"));
    let built = SqliteStore::open(&path, key()).expect("open");
    let count: i64 = Connection::open(&path)
        .expect("open")
        .query_row("SELECT count(*) FROM cards", [], |row| row.get(0))
        .expect("count");
    drop(built);
    if u64::try_from(count) == Ok(n) {
        return path;
    }
    std::fs::remove_file(&path).ok();
    drop(SqliteStore::open(&path, key()).expect("create"));
    let mut conn = Connection::open(&path).expect("open");
    conn.pragma_update(None, "synchronous", "OFF")
        .expect("pragma");
    let tx = conn.transaction().expect("a transaction");
    {
        let mut card_row = tx
            .prepare(
                "INSERT INTO cards (id, code_digest, code_last4, currency, status, balance, held, \
                 version, card, issued_at, expires_at, order_ref, purchaser, recipient_email) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, '0.00', 1, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .expect("prepare");
        let mut entry_row = tx
            .prepare(
                "INSERT INTO ledger_entries (card_id, seq, at, kind, amount, balance_after, \
                 reference, entry) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .expect("prepare");
        let mut tag_row = tx
            .prepare("INSERT INTO card_tags (tag, issued_at, card_id) VALUES (?1, ?2, ?3)")
            .expect("prepare");
        let code = Code::parse("BENCH-CODE-0001").expect("a code");
        let order = Reference::new("bench-order").expect("a reference");
        for i in 0..n {
            let currency = if i % 5 == 0 {
                Currency::EUR
            } else {
                Currency::USD
            };
            let at = t0() + chrono::Duration::seconds(i64::try_from(i).expect("small"));
            let mut spec = CardSpec::new(Money::from_minor(5_000, currency).expect("money"));
            spec.tags = vec![format!("campaign-{}", i % 100)];
            spec.purchaser = Some(Reference::new(&format!("buyer-{}", i % 1000)).expect("ref"));
            spec.expires_at =
                Some(at + chrono::Duration::days(365 + i64::try_from(i % 730).expect("small")));
            let id = CardId::from_u128(u128::from(i) + 1);
            let (mut card, issued) = GiftCard::issue(id, &code, spec, at).expect("issue");
            let mut entries = vec![issued];
            if i % 4 == 0 {
                let amount = Money::from_minor(1_500, currency).expect("money");
                let held = card
                    .place_hold(amount, order.clone(), None, at, None)
                    .expect("hold");
                let hold = held.seq();
                entries.push(held);
                entries.extend(card.capture(hold, amount, at).expect("capture"));
            }
            let columns = SearchColumns::of(&card);
            let json = serde_json::to_value(&card).expect("json");
            let status = json["status"].as_str().unwrap_or("active").to_owned();
            let card_id = id.to_string();
            card_row
                .execute(rusqlite::params![
                    card_id,
                    format!("{:064x}", i + 1),
                    hint_shown(&card),
                    currency.code(),
                    status,
                    amount(card.balance()).expect("amount"),
                    json.to_string(),
                    columns.issued_at,
                    columns.expires_at,
                    columns.order_ref,
                    columns.purchaser,
                    columns.recipient_email,
                ])
                .expect("a card");
            for tag in card.tags() {
                tag_row
                    .execute(rusqlite::params![tag, columns.issued_at, card_id])
                    .expect("a tag");
            }
            for entry in &entries {
                let json = serde_json::to_value(entry).expect("json");
                entry_row
                    .execute(rusqlite::params![
                        card_id,
                        i64::try_from(entry.seq()).expect("small"),
                        timestamp(entry.at()),
                        json["kind"]["type"].as_str().unwrap_or_default(),
                        amount(entry.amount()).expect("amount"),
                        amount(entry.balance_after()).expect("amount"),
                        entry.reference().map(Reference::as_str),
                        json.to_string(),
                    ])
                    .expect("an entry");
            }
        }
    }
    tx.commit().expect("commit");
    conn.execute_batch("ANALYZE").expect("analyze");
    path
}

fn search_and_report(c: &mut Criterion) {
    let mut group = c.benchmark_group("back office on SQLite");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    for n in SIZES {
        let store = SqliteStore::open(file(n), key()).expect("open");
        let by_tag = CardQuery::new()
            .by_tag("campaign-7")
            .with_limit(50)
            .expect("a limit");
        group.bench_with_input(BenchmarkId::new("search page by tag", n), &n, |b, _| {
            b.iter(|| black_box(store.search(&by_tag).expect("search")));
        });
        // Half-way through the cards: the cursor of the card issued at n / 2 seconds.
        let middle = store
            .card(CardId::from_u128(u128::from(n / 2)))
            .expect("read")
            .expect("a card");
        let after = CardQuery::new()
            .by_currency(Currency::USD)
            .after(giftcert::store::Cursor::after(&middle.value))
            .with_limit(50)
            .expect("a limit");
        group.bench_with_input(
            BenchmarkId::new("search page by currency after a cursor", n),
            &n,
            |b, _| b.iter(|| black_box(store.search(&after).expect("search"))),
        );
        let expiring = CardQuery::new()
            .expiring_before(t0() + chrono::Duration::days(366))
            .with_limit(50)
            .expect("a limit");
        group.bench_with_input(
            BenchmarkId::new("search page expiring before a date", n),
            &n,
            |b, _| b.iter(|| black_box(store.search(&expiring).expect("search"))),
        );
        let now = t0() + chrono::Duration::days(4_000);
        group.bench_with_input(BenchmarkId::new("liability report", n), &n, |b, _| {
            b.iter(|| black_box(store.liability(now).expect("report")));
        });
    }
    group.finish();
}

/// One card read by its code and by its id, in the middle of files of 1,000 and 1,000,000.
fn lookups(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookups on SQLite");
    group.warm_up_time(Duration::from_secs(1));
    let code = Code::parse(LOOKUP_CODE).expect("a code");
    for n in LOOKUP_SIZES {
        let path = file(n);
        let id = CardId::from_u128(u128::from(n / 2));
        Connection::open(&path)
            .expect("open")
            .execute(
                "UPDATE cards SET code_digest = ?1, version = version + 1 WHERE id = ?2",
                rusqlite::params![key().digest(&code).to_string(), id.to_string()],
            )
            .expect("the code's digest");
        let store = SqliteStore::open(&path, key()).expect("open");
        let found = store.card_by_code(&code).expect("read").expect("a card");
        assert_eq!(found.value.id(), id);
        group.bench_with_input(BenchmarkId::new("card_by_code", n), &n, |b, _| {
            b.iter(|| black_box(store.card_by_code(black_box(&code)).expect("read")));
        });
        group.bench_with_input(BenchmarkId::new("card (balance read)", n), &n, |b, _| {
            b.iter(|| black_box(store.card(black_box(id)).expect("read")));
        });
    }
    group.finish();
}

criterion_group!(benches, search_and_report, lookups);
criterion_main!(benches);
