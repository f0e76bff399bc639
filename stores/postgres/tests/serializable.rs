//! Both PostgreSQL stores on a database whose default isolation is `SERIALIZABLE` (as
//! CockroachDB and YugabyteDB run every transaction), where the server aborts reads as well as
//! commits with SQLSTATE `40001`: the conformance kit, and three stores standing for three host
//! processes, eight threads each, spending one card until it is empty.
//!
//! Each test makes a database of its own (`ALTER DATABASE ... SET
//! default_transaction_isolation = 'serializable'`, so every session opened on it afterwards
//! runs serializable), dropped when the test ends. The server comes from
//! `GIFTCERT_POSTGRES_URL` (`bash .ci/run` starts a throw-away one).

use giftcert::{CheckoutId, ClientId};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use giftcert::card::{LedgerEntry, LiabilityReport, verify_ledger};
use giftcert::redeem::{Changes, Checkout, GuardWindow, IdempotencyRecord, Versioned};
use giftcert::store::{CardQuery, Page};
use giftcert::{
    CardId, CardSpec, Code, Currency, GiftCard, IdempotencyKey, Money, Notification, RedeemError,
    Redeemer, Store, StoreError,
};
use giftcert_postgres::{AsyncPostgresStore, PostgresStore};
use postgres::{Client, NoTls};

// Only some of the shared helpers are needed here.
#[allow(dead_code)]
mod common;

use common::{Scratch, key, off_runtime, url};

/// A database of one test's own whose sessions run `SERIALIZABLE` by default, dropped (with
/// the connections still open on it) when the test ends.
struct SerializableDatabase {
    /// The server's URL, on its own database.
    server: String,
    name: String,
    /// The URL of this database, as `key=value` settings.
    url: String,
}

impl SerializableDatabase {
    fn new(server: &str) -> SerializableDatabase {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "giftcert_serializable_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (created, at) = (name.clone(), server.to_owned());
        off_runtime(move || {
            let mut client = Client::connect(&at, NoTls).unwrap();
            client
                .batch_execute(&format!("CREATE DATABASE {created}"))
                .unwrap();
            client
                .batch_execute(&format!(
                    "ALTER DATABASE {created} SET default_transaction_isolation = 'serializable'"
                ))
                .unwrap();
        });
        let url = common::on_database(server, &name);
        let database = SerializableDatabase {
            server: server.to_owned(),
            name,
            url,
        };
        // A session opened now (as the stores' pools open theirs) runs serializable.
        let check = database.url.clone();
        let isolation = off_runtime(move || {
            let mut client = Client::connect(&check, NoTls).unwrap();
            let row = client.query_one("SHOW transaction_isolation", &[]).unwrap();
            row.get::<_, String>(0)
        });
        assert_eq!(isolation, "serializable");
        database
    }
}

impl Drop for SerializableDatabase {
    fn drop(&mut self) {
        let (server, name) = (&self.server, &self.name);
        off_runtime(move || {
            if let Ok(mut client) = Client::connect(server, NoTls) {
                let _ =
                    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        });
    }
}

/// The blocking conformance kit (the contract, eight threads spending one card, the protocol's
/// rules, the checkout flows, contention and refusal races) on serializable PostgreSQL, each
/// check in a fresh schema.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn the_blocking_store_passes_the_kit_on_serializable_postgres() {
    let database = SerializableDatabase::new(&url());
    let scratch = Scratch::new(database.url.clone());
    let store =
        || PostgresStore::connect_in_schema(&scratch.url, &scratch.schema(), key()).unwrap();
    giftcert::testkit::check_store(store).unwrap();
    giftcert::testkit::check_protocol_rules(store).unwrap();
    giftcert::testkit::check_checkout_flow(store).unwrap();
    giftcert::testkit::check_contention(store).unwrap();
    giftcert::testkit::check_refusal_races(store, 50).unwrap();
    drop(scratch);
}

/// The async conformance kit on serializable PostgreSQL, each check in a fresh schema.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn the_async_store_passes_the_kit_on_serializable_postgres() {
    let database = SerializableDatabase::new(&url());
    let scratch = Scratch::new(database.url.clone());
    let store = || async {
        AsyncPostgresStore::connect_in_schema(&scratch.url, &scratch.schema(), key())
            .await
            .unwrap()
    };
    giftcert::testkit::check_async_store(store).await.unwrap();
    let schema = scratch.schema();
    let mut spenders = Vec::new();
    for _ in 0..8 {
        spenders.push(
            AsyncPostgresStore::connect_in_schema(&scratch.url, &schema, key())
                .await
                .unwrap(),
        );
    }
    giftcert::testkit::check_async_concurrent_spending(spenders)
        .await
        .unwrap();
    giftcert::testkit::check_async_protocol_rules(store)
        .await
        .unwrap();
    giftcert::testkit::check_async_checkout_flow(store)
        .await
        .unwrap();
    giftcert::testkit::check_async_contention(store)
        .await
        .unwrap();
    giftcert::testkit::check_async_refusal_races(store, 50)
        .await
        .unwrap();
    drop(scratch);
}

/// A store that forwards every call to a [`PostgresStore`] and counts the store conflicts
/// (serialisation failures, deadlocks) its reads and its commits met, which the protocol
/// retried.
#[derive(Debug)]
struct Counted {
    inner: PostgresStore,
    reads: AtomicUsize,
    commits: AtomicUsize,
}

impl Counted {
    fn new(inner: PostgresStore) -> Counted {
        Counted {
            inner,
            reads: AtomicUsize::new(0),
            commits: AtomicUsize::new(0),
        }
    }

    fn read<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.as_ref().is_err_and(StoreError::is_conflict) {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

impl Store for Counted {
    fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.read(self.inner.card(id))
    }

    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.read(self.inner.card_by_code(code))
    }

    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.read(self.inner.ledger(card, from_seq, limit))
    }

    fn checkout(&self, id: &CheckoutId) -> Result<Option<Versioned<Checkout>>, StoreError> {
        self.read(self.inner.checkout(id))
    }

    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.read(self.inner.idempotency(key))
    }

    fn guard(&self, client: &ClientId) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
        self.read(self.inner.guard(client))
    }

    fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        let result = self.inner.commit(changes);
        if result.as_ref().is_err_and(StoreError::is_conflict) {
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn search(&self, query: &CardQuery) -> Result<Page<Versioned<GiftCard>>, StoreError> {
        self.inner.search(query)
    }

    fn liability(&self, at: DateTime<Utc>) -> Result<LiabilityReport, StoreError> {
        self.inner.liability(at)
    }

    fn due_cards(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<CardId>, StoreError> {
        self.read(self.inner.due_cards(now, limit))
    }

    fn prune_idempotency(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.inner.prune_idempotency(before, limit)
    }

    fn prune_guards(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.inner.prune_guards(before, limit)
    }
}

const PROCESSES: usize = 3;
const THREADS: usize = 8;

fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::EUR).unwrap()
}

/// Three stores, each with its own pool and its own `Redeemer` (so no turn is shared: three
/// host processes), eight threads each, spend a 240.00 EUR card in 1.00 orders (apply the
/// code, authorise, capture) until it is empty, on serializable PostgreSQL. No request fails
/// with anything but an empty card's refusal (no `Conflict` left to the host, no
/// `Contention`), they capture exactly 240.00, the card ends empty with nothing held, and its
/// ledger sums to it.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn three_processes_spend_a_hot_card_exactly_on_serializable_postgres() {
    let database = SerializableDatabase::new(&url());
    let scratch = Scratch::new(database.url.clone());
    let schema = scratch.schema();
    let redeemers: Vec<Redeemer<Counted>> = (0..PROCESSES)
        .map(|_| {
            Redeemer::new(Counted::new(
                PostgresStore::connect_in_schema(&scratch.url, &schema, key()).unwrap(),
            ))
        })
        .collect();
    let issued = redeemers[0]
        .issue(
            &IdempotencyKey::new("hot-card").unwrap(),
            vec![CardSpec::new(eur("240"))],
        )
        .unwrap();
    let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else {
        panic!("no card issued");
    };
    let (card, code) = (*card, code.expose_secret().to_owned());

    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let orders = AtomicUsize::new(0);
    let started = Instant::now();
    let captured: Vec<Money> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..PROCESSES * THREADS)
            .map(|t| {
                let redeemer = &redeemers[t % PROCESSES];
                let (code, failures, orders) = (&code, &failures, &orders);
                scope.spawn(move || spend_until_empty(redeemer, t, card, code, failures, orders))
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();

    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {failures:#?}",
        failures.len(),
        orders.load(Ordering::Relaxed)
    );
    let mut total = Money::zero(Currency::EUR);
    for spent in captured {
        total = total.checked_add(spent).unwrap();
    }
    assert_eq!(total, eur("240"), "the orders captured exactly the card");
    let stored = redeemers[0].store().card(card).unwrap().unwrap().value;
    assert!(stored.balance().is_zero(), "left: {}", stored.balance());
    assert!(stored.held().is_zero(), "held: {}", stored.held());
    assert!(stored.holds().is_empty(), "holds: {:?}", stored.holds());
    let history = redeemers[PROCESSES - 1].history(card).unwrap();
    verify_ledger(card, stored.balance(), &history).unwrap();
    // Issued, then a hold and a capture for each of the 240 orders.
    assert_eq!(history.len(), 1 + 2 * 240);
    let met = |count: fn(&Counted) -> &AtomicUsize| {
        redeemers
            .iter()
            .map(|r| count(r.store()).load(Ordering::Relaxed))
            .sum::<usize>()
    };
    eprintln!(
        "{} orders by {} threads over {PROCESSES} stores in {elapsed:?}: {} reads and {} \
         commits met a conflict, and were retried",
        orders.load(Ordering::Relaxed),
        PROCESSES * THREADS,
        met(|c| &c.reads),
        met(|c| &c.commits),
    );
    drop(scratch);
}

/// Thread `t` places 1.00 orders on `card` until it is empty, recording every request that
/// fails with anything but an empty card's refusal; returns what it captured.
fn spend_until_empty(
    redeemer: &Redeemer<Counted>,
    t: usize,
    card: CardId,
    code: &str,
    failures: &Mutex<Vec<String>>,
    orders: &AtomicUsize,
) -> Money {
    let fail = |what: &str, e: RedeemError| failures.lock().unwrap().push(format!("{what}: {e:?}"));
    let client = ClientId::new(&format!("client-{t}")).unwrap();
    let mut spent = Money::zero(Currency::EUR);
    let mut round = 0_u32;
    loop {
        round += 1;
        // A read of the card may meet a serialisation failure too: outside the protocol, it is
        // the caller's to retry.
        let left = match redeemer.store().card(card) {
            Ok(found) => found.unwrap().value,
            Err(e) if e.is_conflict() => continue,
            Err(e) => panic!("reading the card: {e}"),
        };
        if left.balance().is_zero() {
            return spent;
        }
        assert!(round < 10_000, "thread {t} never saw the card empty");
        let checkout = CheckoutId::new(&format!("order-{t}-{round}")).unwrap();
        orders.fetch_add(1, Ordering::Relaxed);
        match redeemer.apply_code(&client, &checkout, Currency::EUR, code) {
            Ok(_) => {}
            // What is left is held by other orders, which will capture it.
            Err(RedeemError::EmptyCard(_)) => continue,
            Err(e) => {
                fail("apply", e);
                continue;
            }
        }
        let auth_key = IdempotencyKey::new(&format!("auth-{t}-{round}")).unwrap();
        let credit = match redeemer.authorise(&auth_key, &checkout, eur("1")) {
            Ok(auth) => auth.outcome.credit,
            Err(e) => {
                fail("authorise", e);
                continue;
            }
        };
        if credit.is_zero() {
            continue;
        }
        let capture_key = IdempotencyKey::new(&format!("capture-{t}-{round}")).unwrap();
        match redeemer.capture(&capture_key, &checkout) {
            Ok(captured) => spent = spent.checked_add(captured.outcome.total).unwrap(),
            Err(e) => fail("capture", e),
        }
    }
}
