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
//! - `round trips` (printed before the groups, when the server has `pg_stat_statements`
//!   loaded, as `benches/pg_vs_pgbench.sh` starts it): the statements the server ran for each
//!   request of one warm order, on each store. Neither client pipelines, so each statement is
//!   one round trip (the statements are prepared once per connection, before).
//! - `hot card` (printed after the groups): eight callers spending one card at once for
//!   `GIFTCERT_BENCH_HOT_SECONDS` (5 by default), eight threads on `PostgresStore` and eight
//!   tasks on `AsyncPostgresStore`: orders per second, the 50th and 99th percentile of an
//!   order's latency, and how many orders failed (the target is none).
//! - `HOT updates` (printed last): of each table's row updates in the run, how many
//!   PostgreSQL made in place, without writing an index (`pg_stat_user_tables`).
//!
//! ```text
//! GIFTCERT_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/postgres \
//!     cargo bench -p giftcert-postgres --bench store
//! ```
//!
//! The tables go to the schema `giftcert_bench`, emptied at the start of each run.

use giftcert::{CheckoutId, ClientId};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use giftcert::store::{AsyncRedeemer, AsyncStore};
use giftcert::{
    CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, RedeemError, Redeemer,
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
    checkout: CheckoutId,
    client: ClientId,
    authorise: IdempotencyKey,
    capture: IdempotencyKey,
}

fn names(who: usize, n: u64) -> Names {
    let checkout = format!("order-{who}-{n}");
    Names {
        client: ClientId::new(&format!("bench-{who}")).expect("a reference"),
        authorise: key(&format!("{checkout}-authorise")),
        capture: key(&format!("{checkout}-capture")),
        checkout: CheckoutId::new(&checkout).expect("a reference"),
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
    try_order(redeemer, code, who, n).expect("an order");
}

/// [`order`], its first error returned.
fn try_order<S: Store>(
    redeemer: &Redeemer<S>,
    code: &str,
    who: usize,
    n: u64,
) -> Result<(), RedeemError> {
    let names = names(who, n);
    redeemer.apply_code(&names.client, &names.checkout, Currency::USD, code)?;
    redeemer.authorise(&names.authorise, &names.checkout, cent())?;
    black_box(redeemer.capture(&names.capture, &names.checkout)?);
    Ok(())
}

/// The same order through the async driver.
async fn order_async<S: AsyncStore>(redeemer: &AsyncRedeemer<S>, code: &str, who: usize, n: u64) {
    try_order_async(redeemer, code, who, n)
        .await
        .expect("an order");
}

/// [`order_async`], its first error returned.
async fn try_order_async<S: AsyncStore>(
    redeemer: &AsyncRedeemer<S>,
    code: &str,
    who: usize,
    n: u64,
) -> Result<(), RedeemError> {
    let names = names(who, n);
    redeemer
        .apply_code(&names.client, &names.checkout, Currency::USD, code)
        .await?;
    redeemer
        .authorise(&names.authorise, &names.checkout, cent())
        .await?;
    black_box(redeemer.capture(&names.capture, &names.checkout).await?);
    Ok(())
}

/// Request `step` (0 apply, 1 authorise, 2 capture) of order `n` of a caller of its own.
fn request<S: Store>(redeemer: &Redeemer<S>, code: &str, step: usize, n: u64) {
    let names = names(90, n);
    match step {
        0 => drop(
            redeemer
                .apply_code(&names.client, &names.checkout, Currency::USD, code)
                .expect("apply"),
        ),
        1 => drop(
            redeemer
                .authorise(&names.authorise, &names.checkout, cent())
                .expect("authorise"),
        ),
        _ => drop(
            redeemer
                .capture(&names.capture, &names.checkout)
                .expect("capture"),
        ),
    }
}

/// [`request`] through the async driver.
async fn request_async<S: AsyncStore>(
    redeemer: &AsyncRedeemer<S>,
    code: &str,
    step: usize,
    n: u64,
) {
    let names = names(91, n);
    match step {
        0 => drop(
            redeemer
                .apply_code(&names.client, &names.checkout, Currency::USD, code)
                .await
                .expect("apply"),
        ),
        1 => drop(
            redeemer
                .authorise(&names.authorise, &names.checkout, cent())
                .await
                .expect("authorise"),
        ),
        _ => drop(
            redeemer
                .capture(&names.capture, &names.checkout)
                .await
                .expect("capture"),
        ),
    }
}

/// The statements the client sent since the last call (`pg_stat_statements`, which the server
/// must have loaded; not the foreign-key checks the server runs itself at commit), by text,
/// most frequent first, with the mean time the server spent on each; `None` without it.
fn statements(admin: &mut postgres::Client) -> Option<Vec<(i64, String, f64)>> {
    let rows = admin
        .query(
            "SELECT calls, query, mean_exec_time FROM pg_stat_statements \
             WHERE toplevel AND query NOT LIKE '%pg_stat_statements%' \
             AND query NOT LIKE 'SELECT 1 FROM ONLY %' \
             ORDER BY calls DESC, query",
            &[],
        )
        .ok()?;
    admin
        .batch_execute("SELECT pg_stat_statements_reset()")
        .ok()?;
    Some(
        rows.iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect(),
    )
}

/// Prints the round trips of each request of one order (`order` runs request `step` of
/// order `n`), counted by the server.
fn round_trips(admin: &mut postgres::Client, store: &str, mut order: impl FnMut(usize, u64)) {
    if admin
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .is_err()
        || statements(admin).is_none()
    {
        println!("round trips, {store}: not counted (the server has no pg_stat_statements)");
        return;
    }
    // A warm order first: connections open, statements prepared.
    for step in 0..3 {
        order(step, 0);
    }
    let mut total = 0;
    let mut lines = Vec::new();
    let mut counts = Vec::new();
    // The statements of commits (everything but the reads), and the commits.
    let (mut writes, mut commits) = (0, 0);
    for (step, request) in ["apply_code", "authorise", "capture"].iter().enumerate() {
        statements(admin);
        order(step, 1);
        let ran = statements(admin).unwrap_or_default();
        let count: i64 = ran.iter().map(|(calls, _, _)| calls).sum();
        total += count;
        counts.push(format!("{request} {count}"));
        for (calls, query, mean) in ran {
            let query: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
            let commit = query.contains("giftcert_commit") || query.eq_ignore_ascii_case("BEGIN");
            if commit || !query.starts_with("SELECT") {
                writes += calls;
            }
            if commit {
                commits += calls;
            }
            let short: String = query.chars().take(64).collect();
            lines.push(format!(
                "    {request}: {calls} x {short} ({mean:.3} ms on the server)"
            ));
        }
    }
    println!("round trips, {store}: {}, order {total}", counts.join(", "));
    for line in lines {
        println!("{line}");
    }
    if commits > 0 {
        println!(
            "round trips per commit, {store}: {:.2}",
            writes as f64 / commits as f64
        );
    }
}

/// Prints how many of the run's row updates PostgreSQL made in place (HOT, heap-only: no index
/// written), per table of the schema that was updated (`pg_stat_user_tables`; the stores'
/// connections are closed first, so their counts have reached the server). Indented, so that
/// `benches/pg_vs_pgbench.sh` shows it with the round trips.
fn hot_updates(admin: &mut postgres::Client) {
    // A closed connection reports its counts as it exits: give the last ones a moment.
    std::thread::sleep(Duration::from_secs(1));
    let Ok(rows) = admin.query(
        "SELECT relname::text, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables \
         WHERE schemaname = $1 AND n_tup_upd > 0 ORDER BY relname",
        &[&SCHEMA],
    ) else {
        return;
    };
    for row in rows {
        let (table, updates, hot): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
        println!(
            "    HOT updates, {table}: {hot} of {updates} ({:.1}%; pg_stat_user_tables)",
            100.0 * hot as f64 / updates.max(1) as f64
        );
    }
}

/// What eight callers spending one card reached: orders, failures, each order's latency.
#[derive(Default)]
struct HotCard {
    latencies: Vec<Duration>,
    failures: usize,
    elapsed: Duration,
}

impl HotCard {
    fn add(&mut self, other: HotCard) {
        self.latencies.extend(other.latencies);
        self.failures += other.failures;
    }

    fn print(mut self, store: &str) {
        self.latencies.sort();
        let at = |q: f64| {
            let n = self.latencies.len();
            let i = ((n as f64 * q).ceil() as usize).clamp(1, n.max(1)) - 1;
            self.latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        let orders = self.latencies.len();
        println!(
            "hot card, {store}: {:.0} orders/s, p50 {:.2} ms, p99 {:.2} ms, \
             failures {} of {}",
            orders as f64 / self.elapsed.as_secs_f64(),
            at(0.50),
            at(0.99),
            self.failures,
            orders + self.failures,
        );
    }
}

/// How long the hot card runs on each store.
fn hot_seconds() -> Duration {
    let seconds = std::env::var("GIFTCERT_BENCH_HOT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(seconds)
}

/// Eight threads spending the card of `code` until `run` has passed.
fn hot_card_threads<S: Store>(redeemer: &Redeemer<S>, code: &str, run: Duration) -> HotCard {
    let start = Instant::now();
    let mut hot = HotCard::default();
    let callers: Vec<HotCard> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..TASKS)
            .map(|who| {
                scope.spawn(move || {
                    let mut mine = HotCard::default();
                    let mut n = 0;
                    while start.elapsed() < run {
                        n += 1;
                        let began = Instant::now();
                        match try_order(redeemer, code, 100 + who, n) {
                            Ok(()) => mine.latencies.push(began.elapsed()),
                            Err(_) => mine.failures += 1,
                        }
                    }
                    mine
                })
            })
            .collect();
        callers
            .into_iter()
            .map(|caller| caller.join().expect("a caller"))
            .collect()
    });
    hot.elapsed = start.elapsed();
    for caller in callers {
        hot.add(caller);
    }
    hot
}

/// Eight tasks spending the card of `code` until `run` has passed.
fn hot_card_tasks<S: AsyncStore + 'static>(
    runtime: &tokio::runtime::Runtime,
    redeemer: &Arc<AsyncRedeemer<S>>,
    code: &str,
    run: Duration,
) -> HotCard {
    runtime.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|who| {
                let (redeemer, code) = (Arc::clone(redeemer), code.to_owned());
                tokio::spawn(async move {
                    let mut mine = HotCard::default();
                    let mut n = 0;
                    while start.elapsed() < run {
                        n += 1;
                        let began = Instant::now();
                        match try_order_async(&redeemer, &code, 200 + who, n).await {
                            Ok(()) => mine.latencies.push(began.elapsed()),
                            Err(_) => mine.failures += 1,
                        }
                    }
                    mine
                })
            })
            .collect();
        let mut hot = HotCard::default();
        for task in tasks {
            hot.add(task.await.expect("the task finished"));
        }
        hot.elapsed = start.elapsed();
        hot
    })
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
    let mut stores = url.as_deref().map(|url| {
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

    if let Some((admin, blocking, single, _)) = &mut stores {
        let code = card(blocking, 3);
        round_trips(admin, "PostgresStore", |step, n| {
            request(blocking, &code, step, n);
        });
        let code = current.block_on(card_async(single, 4));
        round_trips(admin, "AsyncPostgresStore", |step, n| {
            current.block_on(request_async(single, &code, step, n));
        });
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

    let run = hot_seconds();
    let code = card(&blocking, 30);
    hot_card_threads(&blocking, &code, run).print("PostgresStore (8 threads, one card)");
    let code = workers.block_on(card_async(&multi, 31));
    hot_card_tasks(&workers, &multi, &code, run).print("AsyncPostgresStore (8 tasks, one card)");

    drop((blocking, single, multi));
    drop((current, workers));
    hot_updates(&mut admin);
    admin
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        .expect("the schema dropped");
}

criterion_group!(benches, orders);
criterion_main!(benches);
