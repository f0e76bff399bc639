//! One spend at the store level on `AsyncPostgresStore`, beside the same spend on the blocking
//! `PostgresStore` and on `MemoryStore`: read the card with its version, then commit one
//! change that places a 0.01 hold and captures it (the card's update and two ledger entries,
//! in one transaction with its version check).
//!
//! It measures the store, not an order (`benches/store.rs` times the order through both
//! drivers): one iteration here is two round trips' worth of work (a read, a transaction),
//! with one task and a warm pool, so it shows the async client's and the pool's cost against
//! the blocking client's.
//!
//! The runtime is tokio's current-thread one, so the bench thread and the connections' tasks
//! are one thread, as in the blocking client (which runs its own current-thread runtime). On
//! a multi-threaded runtime driven from outside with `block_on`, each of the commit's round
//! trips also pays a wake-up across threads: on a 2-core machine that measured about 2.5 ms an
//! iteration against 1.0 to 1.4 ms here; a host's request task, already on a worker, pays less.
//!
//! ```text
//! GIFTCERT_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres \
//!     cargo bench -p giftcert-postgres --bench async_store
//! ```
//!
//! The tables go to the schema `giftcert_bench_async`, emptied at the start of each run.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use giftcert::store::AsyncStore;
use giftcert::{
    CardId, CardSpec, Code, Currency, GiftCard, MemoryStore, Money, Reference, Store,
    redeem::{CardWrite, Changes, Versioned},
};
use giftcert_postgres::{AsyncPostgresStore, PostgresStore};
use giftcert_store_support::CodeKey;

const SCHEMA: &str = "giftcert_bench_async";

fn cent() -> Money {
    Money::parse("0.01", Currency::USD).expect("an amount")
}

/// The changes that insert a card large enough for every iteration (each spends 0.01).
fn issue(id: u128) -> (CardId, Changes) {
    let code = Code::parse(&format!("BENC-HASY-NC00-{id:04}")).expect("a code");
    let value = Money::parse("1000000", Currency::USD).expect("an amount");
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let (card, entry) =
        GiftCard::issue(CardId::from_u128(id), &code, CardSpec::new(value), at).expect("a card");
    let changes = Changes {
        cards: vec![CardWrite::Insert {
            card: card.clone(),
            code,
        }],
        entries: vec![entry],
        ..Changes::default()
    };
    (card.id(), changes)
}

/// Spend `n`: a 0.01 hold on the card as read, captured, as one commit.
fn spend(read: Option<Versioned<GiftCard>>, n: u64) -> Changes {
    let read = read.expect("the card");
    let mut card = read.value;
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let reference = Reference::new(&format!("spend-{n}")).expect("a reference");
    let hold = card
        .place_hold(cent(), reference, None, at, None)
        .expect("a hold");
    let mut entries = vec![hold.clone()];
    entries.extend(card.capture(hold.seq(), cent(), at).expect("a capture"));
    Changes {
        cards: vec![CardWrite::Update {
            card,
            expected_version: read.version,
        }],
        entries,
        ..Changes::default()
    }
}

async fn spend_async<S: AsyncStore>(store: &S, card: CardId, n: u64) {
    let read = store.card(card).await.expect("a read");
    store.commit(spend(read, n)).await.expect("a commit");
}

fn spend_blocking<S: Store>(store: &S, card: CardId, n: u64) {
    let read = store.card(card).expect("a read");
    store.commit(spend(read, n)).expect("a commit");
}

fn read_and_commit_a_hold(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("read + commit a captured hold");

    let memory = MemoryStore::new();
    let (card, changes) = issue(1);
    Store::commit(&memory, changes).expect("issue");
    let mut n = 0;
    group.bench_function("MemoryStore (async)", |b| {
        b.iter(|| {
            n += 1;
            runtime.block_on(spend_async(&memory, card, n));
        });
    });

    let Ok(url) = std::env::var("GIFTCERT_POSTGRES_URL") else {
        eprintln!(
            "skipped the PostgreSQL stores: GIFTCERT_POSTGRES_URL is not set \
             (bash .ci/run starts a throw-away server)"
        );
        return;
    };
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("a connection");
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .expect("a clean schema");
    let key = || CodeKey::new(b"giftcert-postgres benchmark key!").expect("a key");

    let blocking = PostgresStore::connect_in_schema(&url, SCHEMA, key()).expect("a store");
    let (card, changes) = issue(2);
    blocking.commit(changes).expect("issue");
    group.bench_function("PostgresStore", |b| {
        b.iter(|| {
            n += 1;
            spend_blocking(&blocking, card, n);
        });
    });

    let store = runtime
        .block_on(AsyncPostgresStore::connect_in_schema(&url, SCHEMA, key()))
        .expect("a store");
    let (card, changes) = issue(3);
    runtime.block_on(store.commit(changes)).expect("issue");
    group.bench_function("AsyncPostgresStore", |b| {
        b.iter(|| {
            n += 1;
            runtime.block_on(spend_async(&store, card, n));
            black_box(&store);
        });
    });
    group.finish();
    drop(store);
    drop(runtime);
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .expect("the schema dropped");
}

criterion_group!(benches, read_and_commit_a_hold);
criterion_main!(benches);
