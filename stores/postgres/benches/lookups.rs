//! One card read by its code (`card_by_code`) and by its id (`card`, the balance read) on
//! `PostgresStore`, among 1,000 and among 1,000,000 cards: the target is flat, the larger
//! table within 2x of the smaller.
//!
//! ```text
//! GIFTCERT_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres \
//!     cargo bench -p giftcert-postgres --bench lookups
//! ```
//!
//! Each table is built on the server in one statement (`INSERT ... SELECT` over
//! `generate_series`, not a million round trips): one card issued through the store, whose
//! code and id the lookups use, and copies of it under made-up ids and digests, with every
//! index and trigger of the schema. The tables go to the schemas `giftcert_bench_lookups_<n>`,
//! dropped at the end (a million cards take about 1 GB).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use giftcert::{CardSpec, Code, Currency, IdempotencyKey, Money, Notification, Redeemer, Store};
use giftcert_postgres::PostgresStore;
use giftcert_store_support::CodeKey;

const SIZES: [i64; 2] = [1_000, 1_000_000];

fn key() -> CodeKey {
    CodeKey::new(b"giftcert-postgres benchmark key!").expect("a key")
}

fn schema(n: i64) -> String {
    format!("giftcert_bench_lookups_{n}")
}

/// A store over `n` cards and the code of the one issued through it.
fn table(url: &str, admin: &mut postgres::Client, n: i64) -> (PostgresStore, Code) {
    let schema = schema(n);
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .expect("a clean schema");
    let redeemer =
        Redeemer::new(PostgresStore::connect_in_schema(url, &schema, key()).expect("a store"));
    let value = Money::parse("50", Currency::USD).expect("an amount");
    let issued = redeemer
        .issue(
            &IdempotencyKey::new("lookup-card").expect("a key"),
            vec![CardSpec::new(value)],
        )
        .expect("issue");
    let code = match issued.notifications.first() {
        Some(Notification::CardIssued { code, .. }) => {
            Code::parse(code.expose_secret()).expect("a code")
        }
        _ => panic!("no card issued"),
    };
    admin
        .execute(
            &format!(
                "INSERT INTO {schema}.cards (id, code_digest, code_last4, currency, status, \
                 balance, held, version, card, issued_at) \
                 SELECT lpad(to_hex(i), 32, '0'), lpad(to_hex(i), 64, '0'), t.code_last4, \
                 t.currency, t.status, t.balance, t.held, 1, \
                 jsonb_set(t.card, '{{id}}', to_jsonb(lpad(to_hex(i), 32, '0'))), \
                 t.issued_at + i * interval '1 second' \
                 FROM generate_series(1, $1::bigint - 1) AS i, (SELECT * FROM {schema}.cards) AS t"
            ),
            &[&n],
        )
        .expect("the cards");
    admin
        .batch_execute(&format!("ANALYZE {schema}.cards"))
        .expect("analyze");
    let count: i64 = admin
        .query_one(&format!("SELECT count(*) FROM {schema}.cards"), &[])
        .expect("a count")
        .get(0);
    assert_eq!(count, n);
    let store = PostgresStore::connect_in_schema(url, &schema, key()).expect("a store");
    (store, code)
}

fn lookups(c: &mut Criterion) {
    let Ok(url) = std::env::var("GIFTCERT_POSTGRES_URL") else {
        eprintln!(
            "skipped: GIFTCERT_POSTGRES_URL is not set \
             (bash benches/pg_vs_pgbench.sh starts a throw-away server)"
        );
        return;
    };
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("a connection");
    let mut group = c.benchmark_group("lookups on PostgreSQL");
    group.warm_up_time(Duration::from_secs(1));
    for n in SIZES {
        let (store, code) = table(&url, &mut admin, n);
        let id = store
            .card_by_code(&code)
            .expect("read")
            .expect("a card")
            .value
            .id();
        group.bench_with_input(BenchmarkId::new("card_by_code", n), &n, |b, _| {
            b.iter(|| black_box(store.card_by_code(black_box(&code)).expect("read")));
        });
        group.bench_with_input(BenchmarkId::new("card (balance read)", n), &n, |b, _| {
            b.iter(|| black_box(store.card(black_box(id)).expect("read")));
        });
        drop(store);
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema(n)))
            .expect("the schema dropped");
    }
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
