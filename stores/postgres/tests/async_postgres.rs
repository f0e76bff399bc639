//! `AsyncPostgresStore` against a real server, on tokio: the async conformance kit, eight
//! tasks on their own connections spending one card, the blocking and the async store reading
//! each other's writes, and a pool that times out.
//!
//! The server comes from `GIFTCERT_POSTGRES_URL` (`bash .ci/run` starts a throw-away one).
//! Every store here works in a schema of its own, dropped when the test ends.

use std::error::Error as _;
use std::io::Write as _;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use giftcert::store::AsyncStore;
use giftcert::{
    CardId, CardSpec, Code, Currency, GiftCard, Money, Reference, Store, StoreError,
    card::{LedgerEntry, verify_ledger},
    redeem::{CardWrite, Changes, Record},
};
use giftcert_postgres::{
    AsyncPostgresStore, ConnectError, NoTls, PoolOptions, PostgresStore, SCHEMA_VERSION, Tls,
};

mod common;

use common::{
    OwnedSchema, REFUSED_TO_THE_RUNTIME_ROLE, RUNTIME_RIGHTS, Scratch, key, off_runtime, sqlstate,
    t0, table_rights, url, usd,
};

/// The async store's ways into a scratch schema.
impl Scratch {
    /// An async store in `schema`, with a pool sized by `options`.
    async fn store_with(&self, schema: &str, options: PoolOptions) -> AsyncPostgresStore {
        AsyncPostgresStore::connect_with(&self.url, Some(schema), key(), Tls::default(), options)
            .await
            .unwrap()
    }

    /// An async store in a new schema, with a pool sized by `options`.
    async fn store_with_new_schema(&self, options: PoolOptions) -> AsyncPostgresStore {
        self.store_with(&self.schema(), options).await
    }

    /// An async store in a new schema.
    async fn store(&self) -> AsyncPostgresStore {
        AsyncPostgresStore::connect_in_schema(&self.url, &self.schema(), key())
            .await
            .unwrap()
    }

    /// An async client whose search path is `schema`, its connection driven by a task.
    async fn client(&self, schema: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!("SET search_path TO {schema}"))
            .await
            .unwrap();
        client
    }
}

/// A new card `id` worth `value` with code `code`, and the changes that insert it.
fn issue(id: u128, code: &str, value: Money) -> (GiftCard, Code, Changes) {
    let code = Code::parse(code).unwrap();
    let (card, entry) =
        GiftCard::issue(CardId::from_u128(id), &code, CardSpec::new(value), t0()).unwrap();
    let changes = Changes {
        cards: vec![CardWrite::Insert {
            card: card.clone(),
            code: code.clone(),
        }],
        entries: vec![entry],
        ..Changes::default()
    };
    (card, code, changes)
}

/// The kit's contract checks (the same as `check_store`'s), each in a fresh schema.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn async_postgres_store_passes_the_conformance_kit() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_async_store(|| scratch.store())
        .await
        .unwrap();
}

/// The protocol's rules hold through the async driver, each check in a fresh schema.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn async_postgres_store_keeps_the_protocol_rules() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_async_protocol_rules(|| scratch.store())
        .await
        .unwrap();
}

/// Back-office commands through the async driver, each check in a fresh schema.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn async_postgres_store_passes_the_back_office_checks() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_async_back_office(|| scratch.store())
        .await
        .unwrap();
}

/// The kit's forced races through the async driver: a capture or void that loses to another
/// request on its checkout answers the state it meets, a thousand times.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn async_postgres_refusals_under_a_race_name_the_state_met() {
    let scratch = Scratch::new(url());
    giftcert::testkit::check_async_refusal_races(|| scratch.store(), 1_000)
        .await
        .unwrap();
}

/// Partial capture, changed authorisations, refund targets and balance checks through the
/// async driver, each check in a fresh schema.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn async_postgres_store_passes_the_checkout_flow_checks() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_async_checkout_flow(|| scratch.store())
        .await
        .unwrap();
}

/// Replacing lost codes, sweeps and pruning through the async driver, each check in a fresh
/// schema.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn async_postgres_store_passes_the_upkeep_checks() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_async_upkeep(|| scratch.store())
        .await
        .unwrap();
}

/// The back office's search and liability report through the async driver, each check in a
/// fresh schema.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn async_postgres_store_passes_the_search_and_report_checks() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_async_search(|| scratch.store())
        .await
        .unwrap();
    giftcert::testkit::check_async_liability(|| scratch.store())
        .await
        .unwrap();
}

/// Through the async driver and store, conflicts name their record in the blocking store's
/// words (the SQL and its conflict mapping are shared).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn async_postgres_conflicts_name_their_record() {
    let url = url();
    let scratch = Scratch::new(url);
    let reasons: Vec<String> =
        giftcert::testkit::check_async_conflict_records(scratch.store().await)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, reason)| reason)
            .collect();
    assert_eq!(
        reasons,
        [
            "it does not exist at version 2",
            "it already exists",
            "it does not follow entry 1",
            "it already exists",
            "it is recorded",
        ]
    );
}

/// Eight tasks through one `AsyncRedeemer` over a pool of eight connections spend one 100.00
/// card 1.00 at a time until it is empty: together they capture exactly 100.00, and the
/// database's ledger proves the balance.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn eight_tasks_through_the_async_driver_never_overspend_a_card() {
    let url = url();
    let scratch = Scratch::new(url);
    let schema = scratch.schema();
    let eight = PoolOptions::new().with_max_size(NonZeroU32::new(8).unwrap());
    let store = scratch.store_with(&schema, eight).await;
    let card = giftcert::testkit::check_async_concurrent_spending(vec![store])
        .await
        .unwrap();
    let client = scratch.client(&schema).await;
    let row = client
        .query_one(
            "SELECT count(*), (SELECT balance::text FROM cards WHERE id = $1) \
             FROM ledger_entries WHERE card_id = $1",
            &[&card.to_string()],
        )
        .await
        .unwrap();
    let (entries, balance): (i64, String) = (row.get(0), row.get(1));
    assert_eq!((entries, balance.as_str()), (201, "0.00"));
}

/// No request fails with contention while others make progress, through the async driver:
/// eight tasks spending one card through one store with a pool of eight connections, and a
/// sixteen-card checkout racing a spender of one of its cards, each in a fresh schema.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn async_postgres_store_never_fails_a_request_with_contention() {
    let url = url();
    let scratch = Scratch::new(url);
    let eight = PoolOptions::new().with_max_size(NonZeroU32::new(8).unwrap());
    giftcert::testkit::check_async_contention(|| scratch.store_with_new_schema(eight))
        .await
        .unwrap();
}

/// Spends `cent` of card `id` through `store` until nothing is left: read the card with its
/// version, place a hold and capture it, commit; on a conflict, read again. Returns what it
/// captured and how many commits conflicted.
async fn spend_until_empty(
    store: Arc<AsyncPostgresStore>,
    id: CardId,
    task: usize,
    step: Money,
) -> (Money, usize) {
    let mut spent = Money::zero(Currency::USD);
    let mut conflicts = 0;
    for round in 0..10_000 {
        let read = store.card(id).await.unwrap().expect("the card");
        let mut card = read.value;
        if card.available().is_zero() {
            return (spent, conflicts);
        }
        let reference = Reference::new(&format!("task-{task}-{round}")).unwrap();
        let hold = card.place_hold(step, reference, None, t0(), None).unwrap();
        let mut entries: Vec<LedgerEntry> = vec![hold.clone()];
        entries.extend(card.capture(hold.seq(), step, t0()).unwrap());
        let changes = Changes {
            cards: vec![CardWrite::Update {
                card,
                expected_version: read.version,
            }],
            entries,
            ..Changes::default()
        };
        match store.commit(changes).await {
            Ok(()) => spent = spent.checked_add(step).unwrap(),
            Err(StoreError::Conflict { .. }) => conflicts += 1,
            Err(e) => panic!("task {task}: {e}"),
        }
    }
    panic!("task {task} did not empty the card in 10000 rounds");
}

/// Eight tokio tasks, each with a store of its own (a pool of one connection, so eight
/// connections; opened together, so their migrations race), spend one 100.00 card 1.00 at a
/// time at the store level until it is empty: together they capture exactly 100.00, the card
/// ends at zero with nothing held, and its ledger (the issue, then a hold and a capture per
/// 1.00) proves its balance.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn eight_tasks_on_their_own_connections_never_overspend_a_card() {
    let url = url();
    let scratch = Scratch::new(url);
    let schema = scratch.schema();
    let one = PoolOptions::new().with_max_size(NonZeroU32::MIN);
    let opening: Vec<_> = (0..8).map(|_| scratch.store_with(&schema, one)).collect();
    let mut stores = Vec::new();
    for store in opening {
        stores.push(Arc::new(store.await));
    }
    let (card, _, changes) = issue(1, "SPEN-DING-TASK-0001", usd("100"));
    stores[0].commit(changes).await.unwrap();

    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(task, store)| {
            tokio::spawn(spend_until_empty(
                Arc::clone(store),
                card.id(),
                task,
                usd("1"),
            ))
        })
        .collect();
    let mut spent = Money::zero(Currency::USD);
    let mut conflicts = 0;
    for task in tasks {
        let (by_task, conflicted) = task.await.unwrap();
        spent = spent.checked_add(by_task).unwrap();
        conflicts += conflicted;
    }
    let _ = writeln!(
        std::io::stderr(),
        "8 tasks spent {spent} with {conflicts} conflicting commits retried"
    );

    let stored = stores[0].card(card.id()).await.unwrap().unwrap();
    assert_eq!(spent, usd("100"));
    assert!(
        stored.value.balance().is_zero(),
        "{}",
        stored.value.balance()
    );
    assert!(stored.value.held().is_zero(), "{}", stored.value.held());
    let ledger = stores[0].ledger(card.id(), 1, 1_000).await.unwrap();
    assert_eq!(ledger.len(), 201);
    verify_ledger(card.id(), stored.value.balance(), &ledger).unwrap();
    assert_eq!(stored.version, 101, "one write for the issue, one per 1.00");
}

/// The blocking and the async store open the same schema (the async one creates it, the
/// blocking one finds it at its version) and each reads what the other wrote: by id, by code
/// (one digest under one key), the ledger, and the version an update moved.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn the_blocking_and_the_async_store_read_each_others_writes() {
    let url = url();
    let scratch = Scratch::new(url.clone());
    let schema = scratch.schema();
    let store = scratch.store_with(&schema, PoolOptions::default()).await;

    // Written by the async store, read by the blocking one.
    let (mine, my_code, changes) = issue(1, "ASYN-CWRO-TEIT-0001", usd("40"));
    store.commit(changes).await.unwrap();
    let (theirs, their_code, their_changes) = issue(2, "BLOC-KING-WROT-0002", usd("25"));
    let (read_by_blocking, by_code, ledger) = off_runtime(|| {
        let blocking = PostgresStore::connect_in_schema(&url, &schema, key()).unwrap();
        blocking.commit(their_changes).unwrap();
        (
            blocking.card(mine.id()).unwrap().unwrap(),
            blocking.card_by_code(&my_code).unwrap().unwrap(),
            blocking.ledger(mine.id(), 1, 10).unwrap(),
        )
    });
    assert_eq!(read_by_blocking.version, 1);
    assert_eq!(read_by_blocking.value, mine);
    assert_eq!(by_code.value.id(), mine.id());
    assert_eq!(ledger.len(), 1);
    verify_ledger(mine.id(), usd("40"), &ledger).unwrap();

    // Written by the blocking store, read and updated by the async one.
    let read = store.card_by_code(&their_code).await.unwrap().unwrap();
    assert_eq!(read.value, theirs);
    let mut card = read.value;
    let hold = card
        .place_hold(
            usd("10"),
            Reference::new("order-1").unwrap(),
            None,
            t0(),
            None,
        )
        .unwrap();
    store
        .commit(Changes {
            cards: vec![CardWrite::Update {
                card: card.clone(),
                expected_version: read.version,
            }],
            entries: vec![hold],
            ..Changes::default()
        })
        .await
        .unwrap();
    let after = off_runtime(|| {
        PostgresStore::connect_in_schema(&url, &schema, key())
            .unwrap()
            .card(theirs.id())
            .unwrap()
            .unwrap()
    });
    assert_eq!(after.version, 2);
    assert_eq!(after.value, card);
    assert_eq!(after.value.held(), usd("10"));
}

/// A pool of one whose connection is taken by a commit waiting on a row another client has
/// locked refuses a read with `Unavailable` after its wait timeout, and serves it once the
/// lock (and so the commit, and so the connection) is released.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn a_pool_of_one_refuses_a_second_request_until_its_connection_is_back() {
    let url = url();
    let scratch = Scratch::new(url);
    let schema = scratch.schema();
    let timeout = Duration::from_millis(200);
    let options = PoolOptions::new()
        .with_max_size(NonZeroU32::MIN)
        .with_checkout_timeout(timeout);
    let store = Arc::new(scratch.store_with(&schema, options).await);
    assert_eq!(store.pool_options(), options);
    let (card, _, changes) = issue(1, "POOL-OFON-EWAI-0001", usd("10"));
    store.commit(changes).await.unwrap();

    // Another client locks the card's row, so the store's update waits for it on the pool's
    // only connection.
    let mut other = scratch.client(&schema).await;
    let lock = other.transaction().await.unwrap();
    lock.execute(
        "SELECT 1 FROM cards WHERE id = $1 FOR UPDATE",
        &[&card.id().to_string()],
    )
    .await
    .unwrap();
    let writer = tokio::spawn({
        let (store, card) = (Arc::clone(&store), card.clone());
        async move {
            store
                .commit(Changes {
                    cards: vec![CardWrite::Update {
                        card,
                        expected_version: 1,
                    }],
                    ..Changes::default()
                })
                .await
        }
    });

    // Reads are served until the writer has taken the connection, then refused.
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        match store.card(card.id()).await {
            Err(error @ StoreError::Unavailable { .. }) => break error,
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => panic!("expected the pool to be exhausted, got {other:?}"),
        }
    };
    let StoreError::Unavailable { waited, .. } = &refused else {
        unreachable!()
    };
    assert!(*waited >= timeout, "waited only {waited:?}");
    assert!(*waited < Duration::from_secs(5), "waited {waited:?}");
    assert_eq!(
        refused.to_string(),
        format!(
            "no database connection was free within {} ms",
            waited.as_millis()
        )
    );
    assert!(refused.source().is_some(), "the pool's error is kept");

    lock.rollback().await.unwrap();
    writer.await.unwrap().unwrap();
    // The connection is back: the next request is served, and sees the commit.
    assert_eq!(store.card(card.id()).await.unwrap().unwrap().version, 2);
}

/// A transaction the server aborts to keep it apart from another (here SQLSTATE 40001 under
/// `SERIALIZABLE`, as CockroachDB-style engines report every conflict) is a conflict on the
/// whole transaction, to read again and retry, not a backend failure.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
async fn a_serialisation_failure_is_a_conflict_on_the_transaction() {
    let url = url();
    let scratch = Scratch::new(url.clone());
    let schema = scratch.schema();
    // Every transaction of this store runs SERIALIZABLE, and its sessions carry a name of
    // their own, so that this test can see them wait.
    let name = format!("giftcert_{schema}");
    let separator = if url.contains('?') { '&' } else { '?' };
    let serializable = format!(
        "{url}{separator}application_name={name}\
         &options=-c%20default_transaction_isolation%3Dserializable"
    );
    let store = AsyncPostgresStore::connect_in_schema(&serializable, &schema, key())
        .await
        .unwrap();
    let (card, _, changes) = issue(1, "SERI-ALIS-ABLE-0001", usd("10"));
    store.commit(changes).await.unwrap();

    // Another client updates the card and keeps its row locked; the store's update of the
    // same row waits for it, and finds it changed when it commits.
    let mut other = scratch.client(&schema).await;
    let first = other.transaction().await.unwrap();
    first
        .execute(
            "UPDATE cards SET version = version + 1 WHERE id = $1",
            &[&card.id().to_string()],
        )
        .await
        .unwrap();
    let store = Arc::new(store);
    let writer = tokio::spawn({
        let (store, card) = (Arc::clone(&store), card.clone());
        async move {
            store
                .commit(Changes {
                    cards: vec![CardWrite::Update {
                        card,
                        expected_version: 1,
                    }],
                    ..Changes::default()
                })
                .await
        }
    });
    let watcher = scratch.client(&schema).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = $1 AND wait_event_type = 'Lock'",
                &[&name],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the store's update never waited");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.commit().await.unwrap();

    let refused = writer.await.unwrap().unwrap_err();
    assert!(
        matches!(
            refused,
            StoreError::Conflict {
                record: Record::Transaction,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("SQLSTATE 40001"), "{refused}");
    // The store's transaction was rolled back: the card is at the other client's version.
    assert_eq!(store.card(card.id()).await.unwrap().unwrap().version, 2);
}

/// The async store as the runtime role: an owner migrates and grants (`migrate`,
/// `grant_runtime`), and `connect_migrated` connects the role that may create nothing. The
/// kit's contract checks, the checkout flow (authorise, capture, void, refund) and the upkeep
/// (sweeps, prunes) pass with its rights alone, which are exactly the documented ones; as
/// that role every edit to history and to the schema is refused with 42501, disabling the
/// append-only trigger included; and `connect_migrated` refuses a schema it would have to
/// migrate with `ConnectError::Unmigrated`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: GIFTCERT_POSTGRES_URL"]
async fn the_async_store_serves_as_the_runtime_role_which_cannot_edit_history() {
    let url = url();
    let scratch = Scratch::new(url.clone());
    let schemas = std::sync::Mutex::new(Vec::new());
    let factory = || async {
        let owned = OwnedSchema::new(&url, scratch.schema());
        let store = AsyncPostgresStore::connect_migrated(
            &owned.app.url(),
            Some(&owned.schema),
            key(),
            Tls::default(),
            PoolOptions::default(),
        )
        .await
        .unwrap();
        schemas.lock().unwrap().push(owned);
        store
    };
    giftcert::testkit::check_async_store(factory).await.unwrap();
    giftcert::testkit::check_async_checkout_flow(factory)
        .await
        .unwrap();
    giftcert::testkit::check_async_upkeep(factory)
        .await
        .unwrap();

    let owned = schemas.lock().unwrap().pop().unwrap();
    assert_eq!(
        table_rights(&url, &owned.schema, &owned.app.name),
        RUNTIME_RIGHTS
    );
    off_runtime(|| {
        let mut app = owned.app_client();
        let entries: i64 = app
            .query_one("SELECT count(*) FROM ledger_entries", &[])
            .unwrap()
            .get(0);
        assert!(entries > 0, "the checks wrote no history");
        for sql in REFUSED_TO_THE_RUNTIME_ROLE {
            assert_eq!(sqlstate(&mut app, sql), "42501", "{sql}");
        }
    });

    let missing = scratch.schema();
    let refused = AsyncPostgresStore::connect_migrated(
        &owned.app.url(),
        Some(&missing),
        key(),
        Tls::default(),
        PoolOptions::default(),
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(ConnectError::Unmigrated { found: 0, needed }) if needed == SCHEMA_VERSION
        ),
        "{:?}",
        refused.map(|_| ())
    );
    let refused = AsyncPostgresStore::connect_in_schema(&owned.app.url(), &owned.schema, key())
        .await
        .map(|_| ());
    assert!(
        matches!(&refused, Err(ConnectError::Database(e))
            if e.as_db_error().is_some_and(|db| db.code().code() == "42501")),
        "the runtime role migrated: {refused:?}"
    );
    drop(owned);
}

/// The async twins of the owner's steps: `migrate_async` and `grant_runtime_async` as the
/// owner give the runtime role exactly the documented rights, after which `connect_migrated`
/// opens the schema as that role (and refused it before). The owner itself and a role that
/// does not exist are refused.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a PostgreSQL server: GIFTCERT_POSTGRES_URL"]
async fn the_owners_steps_run_on_tokio_too() {
    let url = url();
    let scratch = Scratch::new(url.clone());
    let owned = OwnedSchema::roles(&url, scratch.schema());
    let (owner, schema) = (owned.owner.url(), Some(owned.schema.as_str()));
    let app = owned.app.url();
    let runtime = || {
        AsyncPostgresStore::connect_migrated(
            &app,
            schema,
            key(),
            Tls::default(),
            PoolOptions::default(),
        )
    };
    assert!(matches!(
        runtime().await,
        Err(ConnectError::Unmigrated { found: 0, .. })
    ));
    assert!(matches!(
        giftcert_postgres::grant_runtime_async(&owner, schema, &owned.app.name, Tls::default())
            .await,
        Err(ConnectError::Unmigrated { found: 0, .. })
    ));

    giftcert_postgres::migrate_async(&owner, schema, &key(), Tls::default())
        .await
        .unwrap();
    giftcert_postgres::grant_runtime_async(&owner, schema, &owned.app.name, Tls::default())
        .await
        .unwrap();
    assert_eq!(
        table_rights(&url, &owned.schema, &owned.app.name),
        RUNTIME_RIGHTS
    );
    let store = runtime().await.unwrap();
    let (_, code, changes) = issue(1, "POOL-OFON-EWAI-0001", usd("25"));
    store.commit(changes).await.unwrap();
    assert!(store.card_by_code(&code).await.unwrap().is_some());

    let refused =
        giftcert_postgres::grant_runtime_async(&owner, schema, &owned.owner.name, Tls::default())
            .await;
    assert!(
        matches!(refused, Err(ConnectError::Role { .. })),
        "{refused:?}"
    );
    let refused = giftcert_postgres::grant_runtime_async(
        &owner,
        schema,
        "giftcert_no_such_role",
        Tls::default(),
    )
    .await;
    assert!(
        matches!(&refused, Err(ConnectError::Database(e))
            if e.as_db_error().is_some_and(|db| db.code().code() == "42704")),
        "{refused:?}"
    );
    drop(store);
    drop(owned);
}
