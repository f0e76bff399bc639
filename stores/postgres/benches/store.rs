//! One order paid by gift card (apply the code, authorise, capture) through both drivers of
//! the redemption protocol: the blocking `Redeemer` on `PostgresStore` and the
//! `AsyncRedeemer` on `AsyncPostgresStore`, beside the same order on `MemoryStore`.
//!
//! - `one order`: one caller, one order at a time. The async order runs on tokio's
//!   current-thread runtime (see `benches/async_store.rs` for why: on a multi-threaded runtime
//!   driven from outside, every round trip also pays a wake-up across threads).
//! - `8 concurrent orders`: eight callers, each spending its own card, at once: eight threads
//!   over one `Redeemer` (a pool of 16 connections), and eight tasks over one `AsyncRedeemer`
//!   on a two-worker runtime. One iteration is one order on each of the eight, so
//!   orders per second is eight over the time shown (criterion prints it as throughput).
//!
//! ```text
//! GIFTCERT_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres \
//!     cargo bench -p giftcert-postgres --bench store
//! ```
//!
//! The tables go to the schema `giftcert_bench`, emptied at the start of each run.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use giftcert::store::{AsyncRedeemer, AsyncStore};
use giftcert::{
    CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Reference,
    Store,
};
use giftcert_postgres::{AsyncPostgresStore, PostgresStore};
use giftcert_store_support::CodeKey;

const SCHEMA: &str = "giftcert_bench";
const TASKS: usize = 8;

fn cent() -> Money {
    Money::parse("0.01", Currency::USD).expect("an amount")
}

fn large() -> Vec<CardSpec> {
    vec![CardSpec::new(
        Money::parse("1000000", Currency::USD).expect("an amount"),
    )]
}

fn issued_code(notifications: &[Notification]) -> String {
    match notifications.first() {
        Some(Notification::CardIssued { code, .. }) => code.expose_secret().to_owned(),
        _ => panic!("no card issued"),
    }
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::new(text).expect("a key")
}

/// What one order of caller `who`, number `n`, is called by: checkout, client, and its keys.
struct Names {
    checkout: Reference,
    client: Reference,
    authorise: IdempotencyKey,
    capture: IdempotencyKey,
}

fn names(who: usize, n: u64) -> Names {
    let checkout = format!("order-{who}-{n}");
    Names {
        client: Reference::new(&format!("bench-{who}")).expect("a reference"),
        authorise: key(&format!("{checkout}-authorise")),
        capture: key(&format!("{checkout}-capture")),
        checkout: Reference::new(&checkout).expect("a reference"),
    }
}

/// Issues a card large enough for every iteration (each spends 0.01) and returns its code.
fn card<S: Store>(redeemer: &Redeemer<S>, who: usize) -> String {
    let issued = redeemer
        .issue(&key(&format!("bench-issue-{who}")), large())
        .expect("issue");
    issued_code(&issued.notifications)
}

async fn card_async<S: AsyncStore>(redeemer: &AsyncRedeemer<S>, who: usize) -> String {
    let issued = redeemer
        .issue(&key(&format!("bench-issue-{who}")), large())
        .await
        .expect("issue");
    issued_code(&issued.notifications)
}

/// Order `n` of caller `who`: apply the card's code, authorise 0.01, capture.
fn order<S: Store>(redeemer: &Redeemer<S>, code: &str, who: usize, n: u64) {
    let names = names(who, n);
    redeemer
        .apply_code(&names.client, &names.checkout, Currency::USD, code)
        .expect("apply");
    redeemer
        .authorise(&names.authorise, &names.checkout, cent())
        .expect("authorise");
    let captured = redeemer
        .capture(&names.capture, &names.checkout)
        .expect("capture");
    black_box(captured);
}

/// The same order through the async driver.
async fn order_async<S: AsyncStore>(redeemer: &AsyncRedeemer<S>, code: &str, who: usize, n: u64) {
    let names = names(who, n);
    redeemer
        .apply_code(&names.client, &names.checkout, Currency::USD, code)
        .await
        .expect("apply");
    redeemer
        .authorise(&names.authorise, &names.checkout, cent())
        .await
        .expect("authorise");
    let captured = redeemer
        .capture(&names.capture, &names.checkout)
        .await
        .expect("capture");
    black_box(captured);
}

/// `iters` rounds of one order by each of the eight callers, on eight threads.
fn eight_threads<S: Store>(
    redeemer: &Redeemer<S>,
    codes: &[String],
    round: &mut u64,
    iters: u64,
) -> Duration {
    let first = *round;
    *round += iters;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for (who, code) in codes.iter().enumerate() {
            scope.spawn(move || {
                for n in first..first + iters {
                    order(redeemer, code, who, n);
                }
            });
        }
    });
    start.elapsed()
}

/// `iters` rounds of one order by each of the eight callers, as eight tasks.
fn eight_tasks<S: AsyncStore + 'static>(
    runtime: &tokio::runtime::Runtime,
    redeemer: &Arc<AsyncRedeemer<S>>,
    codes: &[String],
    round: &mut u64,
    iters: u64,
) -> Duration {
    let first = *round;
    *round += iters;
    runtime.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = codes
            .iter()
            .enumerate()
            .map(|(who, code)| {
                let (redeemer, code) = (Arc::clone(redeemer), code.clone());
                tokio::spawn(async move {
                    for n in first..first + iters {
                        order_async(&redeemer, &code, who, n).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("the task finished");
        }
        start.elapsed()
    })
}

fn orders(c: &mut Criterion) {
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let workers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let memory = Redeemer::new(MemoryStore::new());
    let memory_code = card(&memory, 0);

    let url = std::env::var("GIFTCERT_POSTGRES_URL").ok();
    let stores = url.as_deref().map(|url| {
        let mut admin = postgres::Client::connect(url, postgres::NoTls).expect("a connection");
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            .expect("a clean schema");
        let key = || CodeKey::new(b"giftcert-postgres benchmark key!").expect("a key");
        let blocking =
            Redeemer::new(PostgresStore::connect_in_schema(url, SCHEMA, key()).expect("a store"));
        // Both runtimes' tasks use this store's connections: each connection's task lives on
        // the runtime that opened it, so the eight-task group gets a store of its own below.
        let single = current
            .block_on(AsyncPostgresStore::connect_in_schema(url, SCHEMA, key()))
            .map(AsyncRedeemer::new)
            .expect("a store");
        let multi = workers
            .block_on(AsyncPostgresStore::connect_in_schema(url, SCHEMA, key()))
            .map(|store| Arc::new(AsyncRedeemer::new(store)))
            .expect("a store");
        (admin, blocking, single, multi)
    });
    if stores.is_none() {
        eprintln!(
            "skipped the PostgreSQL stores: GIFTCERT_POSTGRES_URL is not set \
             (bash .ci/run starts a throw-away server)"
        );
    }

    let mut group = c.benchmark_group("one order");
    let mut n = 0;
    group.bench_function("MemoryStore", |b| {
        b.iter(|| {
            n += 1;
            order(&memory, &memory_code, 0, n);
        });
    });
    if let Some((_, blocking, single, _)) = &stores {
        let code = card(blocking, 1);
        group.bench_function("PostgresStore (Redeemer)", |b| {
            b.iter(|| {
                n += 1;
                order(blocking, &code, 1, n);
            });
        });
        let code = current.block_on(card_async(single, 2));
        group.bench_function("AsyncPostgresStore (AsyncRedeemer)", |b| {
            b.iter(|| {
                n += 1;
                current.block_on(order_async(single, &code, 2, n));
            });
        });
    }
    group.finish();

    let Some((mut admin, blocking, single, multi)) = stores else {
        return;
    };
    let mut group = c.benchmark_group("8 concurrent orders");
    group.throughput(Throughput::Elements(TASKS as u64));
    let codes: Vec<String> = (0..TASKS).map(|who| card(&blocking, 10 + who)).collect();
    let mut round = 0;
    group.bench_function("PostgresStore (8 threads)", |b| {
        b.iter_custom(|iters| eight_threads(&blocking, &codes, &mut round, iters));
    });
    let codes: Vec<String> = (0..TASKS)
        .map(|who| workers.block_on(card_async(&multi, 20 + who)))
        .collect();
    group.bench_function("AsyncPostgresStore (8 tasks)", |b| {
        b.iter_custom(|iters| eight_tasks(&workers, &multi, &codes, &mut round, iters));
    });
    group.finish();

    drop((blocking, single, multi));
    drop((current, workers));
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .expect("the schema dropped");
}

criterion_group!(benches, orders);
criterion_main!(benches);
