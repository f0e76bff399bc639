//! `PostgresStore` against a real server: the conformance kit, eight connections spending one
//! card, migrations, the constraints the database enforces by itself, and codes kept only as
//! keyed hashes.
//!
//! The server comes from `GIFTCERT_POSTGRES_URL` (`bash .ci/run` starts a throw-away one).
//! Every store here works in a schema of its own, dropped when the test ends.

use giftcert::{CheckoutId, ClientId};
use std::error::Error as _;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use giftcert::{
    CardId, CardSpec, Code, Currency, IdempotencyKey, Money, Notification, Redeemer, Reference,
    Store, StoreError,
    card::verify_ledger,
    clock::FixedClock,
    redeem::{CardWrite, Changes},
};
use giftcert_postgres::{ConnectError, PoolOptions, PostgresStore, SCHEMA_VERSION, Tls};
use giftcert_store_support::CodeKey;
use postgres::{Client, NoTls};

mod common;

use common::{
    OwnedSchema, REFUSED_TO_THE_RUNTIME_ROLE, RUNTIME_RIGHTS, Scratch, key, sqlstate, t0,
    table_rights, url, usd,
};

/// The blocking store's ways into a scratch schema.
impl Scratch {
    /// A store in `schema`.
    fn store_in(&self, schema: &str) -> PostgresStore {
        PostgresStore::connect_in_schema(&self.url, schema, key()).unwrap()
    }

    /// A store in a new schema.
    fn store(&self) -> PostgresStore {
        self.store_in(&self.schema())
    }

    /// A plain client whose search path is `schema`.
    fn client(&self, schema: &str) -> Client {
        let mut client = Client::connect(&self.url, NoTls).unwrap();
        client
            .batch_execute(&format!("SET search_path TO {schema}"))
            .unwrap();
        client
    }
}

/// A schema holding one 100.00 USD card with a 60.00 hold on checkout `checkout-1`.
fn schema_with_a_held_card(scratch: &Scratch) -> (String, CardId, Code) {
    let schema = scratch.schema();
    let redeemer =
        Redeemer::new(scratch.store_in(&schema)).with_clock(Arc::new(FixedClock::new(t0())));
    let issued = redeemer
        .issue(
            &IdempotencyKey::new("issue").unwrap(),
            vec![CardSpec::new(usd("100"))],
        )
        .unwrap();
    let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else {
        panic!("no card issued");
    };
    let checkout = CheckoutId::new("checkout-1").unwrap();
    let client = ClientId::new("client").unwrap();
    redeemer
        .apply_code(&client, &checkout, Currency::USD, code.expose_secret())
        .unwrap();
    redeemer
        .authorise(&IdempotencyKey::new("auth").unwrap(), &checkout, usd("60"))
        .unwrap();
    (schema, *card, code.clone())
}

/// The server's message for `sql`, which must fail.
fn refused(client: &mut Client, sql: &str) -> String {
    let error = client
        .batch_execute(sql)
        .expect_err("the database accepted it");
    error
        .as_db_error()
        .map_or_else(|| error.to_string(), |db| db.message().to_owned())
}

/// The kit runs every check in a fresh schema, including 8 threads spending one card through
/// one store (and so through several of its connections).
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_store_passes_the_conformance_kit() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_store(|| scratch.store()).unwrap();
}

/// The protocol's rules hold on PostgreSQL, each check in a fresh schema.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_store_keeps_the_protocol_rules() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_protocol_rules(|| scratch.store()).unwrap();
}

/// Back-office commands keep their attributed entries in PostgreSQL, and adjustments racing
/// shoppers all land, each check in a fresh schema.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_store_passes_the_back_office_checks() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_back_office(|| scratch.store()).unwrap();
}

/// The deterministic simulator over PostgreSQL: a fixed set of seeds, each in a fresh schema,
/// keeps every invariant and every answer the reference model gives, with faults injected at
/// the store boundary, and runs exactly as it does over the in-memory store.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_keeps_every_simulated_invariant_seed_by_seed_as_the_model_does() {
    use giftcert::MemoryStore;
    use giftcert::testkit::sim::{SimConfig, Simulator};

    let scratch = Scratch::new(url());
    let postgres = Simulator::new(SimConfig::default(), || scratch.store());
    let model = Simulator::new(SimConfig::default(), MemoryStore::new);
    for seed in 0..60 {
        let run = match postgres.run(seed) {
            Ok(run) => run,
            Err(failure) => panic!("{}", postgres.shrink(seed).unwrap_or(failure)),
        };
        assert_eq!(run, model.run(seed).unwrap(), "seed {seed} ran differently");
    }
}

/// Partial capture, changed authorisations, refund targets and balance checks in PostgreSQL,
/// each check in a fresh schema.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_store_passes_the_checkout_flow_checks() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_checkout_flow(|| scratch.store()).unwrap();
}

/// Replacing lost codes, sweeps and pruning in PostgreSQL, alone and racing, each check in a
/// fresh schema.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_store_passes_the_upkeep_checks() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_upkeep(|| scratch.store()).unwrap();
}

/// The back office's search and liability report, each check in a fresh schema.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_store_passes_the_search_and_report_checks() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_search(|| scratch.store()).unwrap();
    giftcert::testkit::check_liability(|| scratch.store()).unwrap();
}

/// No request fails with contention while others make progress: eight threads spending one
/// card through one store (a pool of at least eight connections, so eight connections), and
/// a sixteen-card checkout racing a spender of one of its cards, each in a fresh schema.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_store_never_fails_a_request_with_contention() {
    let url = url();
    let scratch = Scratch::new(url);
    giftcert::testkit::check_contention(|| {
        let store = scratch.store();
        assert!(store.pool_options().max_size().get() >= 8);
        store
    })
    .unwrap();
}

/// Eight stores, opened at the same moment on one new schema (so their migrations race) and
/// each with its own connections, spend one 100.00 card 1.00 at a time from eight threads
/// until it is empty: together they capture exactly 100.00, never more, and the ledger sums
/// to the balance left (zero).
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn eight_connections_never_overspend_a_card() {
    let url = url();
    let scratch = Scratch::new(url);
    let schema = scratch.schema();
    // Eight connections opened at once, so their migrations race for the advisory lock too.
    let stores: Vec<PostgresStore> = std::thread::scope(|scope| {
        let opening: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| scratch.store_in(&schema)))
            .collect();
        opening.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let card = giftcert::testkit::check_concurrent_spending(stores).unwrap();
    // The database's own sum agrees: what was issued less what was captured.
    let mut client = scratch.client(&schema);
    let row = client
        .query_one(
            "SELECT sum(amount) FILTER (WHERE kind = 'issued')::text, \
                    sum(amount) FILTER (WHERE kind = 'captured')::text, \
                    (SELECT balance::text FROM cards WHERE id = $1) \
             FROM ledger_entries WHERE card_id = $1",
            &[&card.to_string()],
        )
        .unwrap();
    let sums: (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        sums,
        ("100.00".to_owned(), "100.00".to_owned(), "0.00".to_owned())
    );
}

#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn connecting_again_keeps_the_data_and_the_schema_version() {
    let url = url();
    let scratch = Scratch::new(url);
    let (schema, card, code) = schema_with_a_held_card(&scratch);
    let store = scratch.store_in(&schema);
    assert_eq!(store.schema(), Some(schema.as_str()));
    let versions: Vec<i32> = scratch
        .client(&schema)
        .query(
            "SELECT version FROM giftcert_schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(SCHEMA_VERSION, 6);
    let found = store.card_by_code(&code).unwrap().unwrap();
    assert_eq!(found.value.id(), card);
    assert_eq!(found.version, 2);
}

/// Connecting creates or replaces the commit function after the migrations, also in a schema
/// that is at the newest version already: a `giftcert_commit` that is not this crate's (here
/// one that refuses everything) is replaced, and the store commits again.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn connecting_puts_the_crates_commit_function_back() {
    let url = url();
    let scratch = Scratch::new(url);
    let (schema, _, _) = schema_with_a_held_card(&scratch);
    let mut db = scratch.client(&schema);
    db.batch_execute(
        "CREATE OR REPLACE FUNCTION giftcert_commit(changes jsonb) RETURNS void \
         LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'not the crate''s function'; END $$",
    )
    .unwrap();
    let redeemer =
        Redeemer::new(scratch.store_in(&schema)).with_clock(Arc::new(FixedClock::new(t0())));
    redeemer
        .issue(
            &IdempotencyKey::new("after").unwrap(),
            vec![CardSpec::new(usd("20"))],
        )
        .unwrap();
    let source: String = db
        .query_one(
            "SELECT prosrc FROM pg_proc WHERE proname = 'giftcert_commit' \
             AND pronamespace = $1::text::regnamespace",
            &[&schema],
        )
        .unwrap()
        .get(0);
    assert!(source.contains("card_doc->>'id'"), "{source}");
}

#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn a_schema_from_a_newer_version_is_refused() {
    let url = url();
    let scratch = Scratch::new(url.clone());
    let schema = scratch.schema();
    drop(scratch.store_in(&schema));
    scratch
        .client(&schema)
        .batch_execute("INSERT INTO giftcert_schema_migrations (version) VALUES (99)")
        .unwrap();
    let error = PostgresStore::connect_in_schema(&url, &schema, key()).unwrap_err();
    assert!(matches!(
        error,
        ConnectError::NewerSchema {
            found: 99,
            known: SCHEMA_VERSION
        }
    ));
    assert_eq!(
        error.to_string(),
        "the database has schema version 99, newer than version 6 that this giftcert-postgres \
         knows"
    );
}

/// Every index on `cards` is on columns a redemption (a hold, a capture, a release) leaves as
/// they are, so that PostgreSQL can rewrite the card's row in place (HOT, migration 6): an
/// index on the balance, the holds, the version, the card's document or the sweep's due time
/// would make every redemption write every index.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn no_index_on_cards_covers_a_column_a_redemption_changes() {
    let url = url();
    let scratch = Scratch::new(url);
    let schema = scratch.schema();
    drop(scratch.store_in(&schema));
    let mut db = scratch.client(&schema);
    let indexed: Vec<(String, String)> = db
        .query(
            "SELECT i.indexrelid::regclass::text, a.attname::text \
             FROM pg_index i JOIN pg_attribute a \
               ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
             WHERE i.indrelid = 'cards'::regclass \
             UNION SELECT i.indexrelid::regclass::text, a.attname::text \
             FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid \
             WHERE i.indrelid = 'cards'::regclass AND a.attnum > 0 AND NOT a.attisdropped \
               AND pg_get_expr(i.indpred, i.indrelid) LIKE '%' || a.attname || '%' \
             ORDER BY 1, 2",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let still = [
        "id",
        "code_digest",
        "issued_at",
        "order_ref",
        "purchaser",
        "recipient_email",
        "status",
        "currency",
        "expires_at",
    ];
    let moving: Vec<&(String, String)> = indexed
        .iter()
        .filter(|(_, column)| !still.contains(&column.as_str()))
        .collect();
    assert!(moving.is_empty(), "{moving:?}");
    assert!(
        indexed.iter().any(|(_, column)| column == "code_digest"),
        "{indexed:?}"
    );
    let options: Option<Vec<String>> = db
        .query_one(
            "SELECT reloptions::text[] FROM pg_class WHERE oid = 'cards'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(options, Some(vec!["fillfactor=80".to_owned()]));
}

#[test]
fn a_bad_url_or_schema_name_is_refused_before_connecting() {
    let bad_url = PostgresStore::connect("postgresql://[not a url", key()).unwrap_err();
    assert!(matches!(bad_url, ConnectError::Url(_)), "{bad_url:?}");
    assert!(
        bad_url
            .to_string()
            .starts_with("invalid PostgreSQL connection string: "),
        "{bad_url}"
    );
    for bad in [
        "",
        "Cards",
        "1cards",
        "cards; DROP TABLE x",
        &"a".repeat(64),
    ] {
        let error = PostgresStore::connect_in_schema("host=localhost", bad, key()).unwrap_err();
        assert!(matches!(error, ConnectError::Schema(_)), "{bad}: {error:?}");
    }
    assert_eq!(
        PostgresStore::connect_in_schema("host=localhost", "x-y", key())
            .unwrap_err()
            .to_string(),
        "invalid schema name \"x-y\": expected 1 to 63 lowercase letters, digits and \
         underscores, not starting with a digit"
    );
}

#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn the_database_refuses_a_negative_balance_or_holding_more_than_the_balance() {
    let url = url();
    let scratch = Scratch::new(url);
    let (schema, card, _) = schema_with_a_held_card(&scratch);
    let mut client = scratch.client(&schema);
    let set = |column: &str, value: &str| {
        format!("UPDATE cards SET {column} = {value}, version = version + 1 WHERE id = '{card}'")
    };
    let violated = |message: String, constraint: &str| {
        assert!(message.contains(constraint), "{message}");
    };
    violated(
        refused(&mut client, &set("balance", "-1.00")),
        "cards_balance_not_negative",
    );
    violated(
        refused(&mut client, &set("held", "-0.01")),
        "cards_held_not_negative",
    );
    violated(
        refused(&mut client, &set("balance", "59.99")),
        "cards_held_within_balance",
    );
    violated(
        refused(&mut client, &set("held", "100.01")),
        "cards_held_within_balance",
    );
    client.batch_execute(&set("balance", "60.00")).unwrap();
    client.batch_execute(&set("held", "0")).unwrap();
}

#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn the_ledger_is_append_only_and_numbered_without_gaps() {
    let url = url();
    let scratch = Scratch::new(url);
    let (schema, card, _) = schema_with_a_held_card(&scratch);
    let mut client = scratch.client(&schema);
    assert_eq!(
        refused(&mut client, "UPDATE ledger_entries SET amount = 1000"),
        "ledger entries are append-only"
    );
    assert_eq!(
        refused(&mut client, "DELETE FROM ledger_entries"),
        "ledger entries are append-only"
    );
    assert_eq!(
        refused(&mut client, "TRUNCATE ledger_entries CASCADE"),
        "ledger entries are append-only"
    );
    let entry = |seq: u32| {
        format!(
            "INSERT INTO ledger_entries (card_id, seq, at, kind, amount, balance_after, entry) \
             VALUES ('{card}', {seq}, now(), 'adjusted', 1, 101, '{{}}')"
        )
    };
    assert_eq!(
        refused(&mut client, &entry(5)),
        "a ledger entry must follow the last entry of its card"
    );
    assert_eq!(
        refused(&mut client, &entry(2)),
        "a ledger entry must follow the last entry of its card"
    );
    let orphan = "INSERT INTO ledger_entries (card_id, seq, at, kind, amount, balance_after, \
                  entry) VALUES ('0000000000000000000000000000000f', 1, now(), 'issued', 1, 1, \
                  '{}')";
    assert!(refused(&mut client, orphan).contains("ledger_entries_card_id_fkey"));
}

#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn a_card_keeps_its_id_and_each_write_adds_one_to_its_version() {
    let url = url();
    let scratch = Scratch::new(url);
    let (schema, card, _) = schema_with_a_held_card(&scratch);
    let mut client = scratch.client(&schema);
    let message = "a card keeps its id, and each write adds one to its version";
    assert_eq!(
        refused(
            &mut client,
            &format!("UPDATE cards SET version = 9 WHERE id = '{card}'")
        ),
        message
    );
    assert_eq!(
        refused(
            &mut client,
            &format!(
                "UPDATE cards SET code_digest = '{}' WHERE id = '{card}'",
                "0".repeat(64)
            )
        ),
        message
    );
    // A lost code replaced: a new digest, written as a write of its own.
    client
        .batch_execute(&format!(
            "UPDATE cards SET code_digest = '{}', version = version + 1 WHERE id = '{card}'",
            "0".repeat(64)
        ))
        .unwrap();
}

/// The holds table and the sweep's due time (`card_sweeps`, migration 6) follow the card
/// through a second hold, a capture with a hold left and the last capture: the commit skips
/// deleting the holds of a card that held nothing, never those of a card that holds some.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn holds_and_the_sweep_due_time_follow_the_card() {
    let url = url();
    let scratch = Scratch::new(url);
    let (schema, card, code) = schema_with_a_held_card(&scratch);
    let redeemer =
        Redeemer::new(scratch.store_in(&schema)).with_clock(Arc::new(FixedClock::new(t0())));
    let mut db = scratch.client(&schema);
    let state = |db: &mut Client| -> (Vec<String>, bool) {
        let holds = db
            .query(
                "SELECT reference FROM holds WHERE card_id = $1 ORDER BY hold_id",
                &[&card.to_string()],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        let due_follows: bool = db
            .query_one(
                "SELECT (SELECT due_at FROM card_sweeps WHERE card_id = $1) \
                 IS NOT DISTINCT FROM (SELECT min(expires_at) FROM holds WHERE card_id = $1)",
                &[&card.to_string()],
            )
            .unwrap()
            .get(0);
        (holds, due_follows)
    };
    assert_eq!(state(&mut db), (vec!["checkout-1".to_owned()], true));
    let second = CheckoutId::new("checkout-2").unwrap();
    let client = ClientId::new("client").unwrap();
    redeemer
        .apply_code(&client, &second, Currency::USD, code.expose_secret())
        .unwrap();
    redeemer
        .authorise(&IdempotencyKey::new("auth-2").unwrap(), &second, usd("10"))
        .unwrap();
    assert_eq!(
        state(&mut db),
        (vec!["checkout-1".to_owned(), "checkout-2".to_owned()], true)
    );
    redeemer
        .capture(
            &IdempotencyKey::new("capture-1").unwrap(),
            &CheckoutId::new("checkout-1").unwrap(),
        )
        .unwrap();
    assert_eq!(state(&mut db), (vec!["checkout-2".to_owned()], true));
    redeemer
        .capture(&IdempotencyKey::new("capture-2").unwrap(), &second)
        .unwrap();
    assert_eq!(state(&mut db), (Vec::new(), true));
    let (held, due): (String, i64) = {
        let row = db
            .query_one(
                "SELECT held::text, (SELECT count(*) FROM card_sweeps) FROM cards WHERE id = $1",
                &[&card.to_string()],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((held.as_str(), due), ("0.00", 0));
}

#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn holds_and_money_are_mirrored_in_postgres_types() {
    let url = url();
    let scratch = Scratch::new(url);
    let (schema, card, _) = schema_with_a_held_card(&scratch);
    let mut client = scratch.client(&schema);
    let row = client
        .query_one(
            "SELECT h.hold_id, h.amount::text, h.reference, e.kind, \
                    pg_typeof(h.amount)::text, pg_typeof(e.at)::text, \
                    (e.at = timestamptz '2026-01-01 00:00:00+00') \
             FROM holds h JOIN ledger_entries e ON e.card_id = h.card_id AND e.seq = h.hold_id \
             WHERE h.card_id = $1",
            &[&card.to_string()],
        )
        .unwrap();
    let hold: (i64, String, String, String, String, String, bool) = (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
        row.get(6),
    );
    assert_eq!(
        hold,
        (
            2,
            "60.00".into(),
            "checkout-1".into(),
            "held".into(),
            "numeric".into(),
            "timestamp with time zone".into(),
            true
        )
    );
    let row = client
        .query_one("SELECT balance::text, held::text FROM cards", &[])
        .unwrap();
    let money: (String, String) = (row.get(0), row.get(1));
    assert_eq!(money, ("100.00".to_owned(), "60.00".to_owned()));
}

/// Every text column of every table is searched for the code: only its keyed hash and last
/// four characters are there.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn a_leaked_table_holds_no_code() {
    let url = url();
    let scratch = Scratch::new(url);
    let (schema, card, code) = schema_with_a_held_card(&scratch);
    let secret = code.expose_secret();
    let mut client = scratch.client(&schema);
    let row = client
        .query_one(
            "SELECT code_digest, code_last4 FROM cards WHERE id = $1",
            &[&card.to_string()],
        )
        .unwrap();
    let (digest, last4): (String, String) = (row.get(0), row.get(1));
    assert_eq!(digest, key().digest(&code).to_string());
    // What the card's masked hint shows, never the check character.
    let shown: String = code
        .masked()
        .chars()
        .filter(|c| *c != '*' && *c != '-')
        .collect();
    assert_eq!(last4, shown);
    assert_eq!(last4, secret[secret.len() - 4..secret.len() - 1]);
    for table in [
        "cards",
        "ledger_entries",
        "holds",
        "checkouts",
        "idempotency_records",
        "guard_windows",
    ] {
        let found: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {table} t WHERE t::text LIKE '%' || $1 || '%'"),
                &[&secret],
            )
            .unwrap()
            .get(0);
        assert_eq!(found, 0, "the code is in {table}");
    }
}

#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn a_store_with_another_key_is_refused_instead_of_finding_no_code() {
    let url = url();
    let scratch = Scratch::new(url.clone());
    let (schema, card, code) = schema_with_a_held_card(&scratch);
    let other = PostgresStore::connect_in_schema(&url, &schema, CodeKey::new(&[1; 32]).unwrap());
    assert!(matches!(other, Err(ConnectError::WrongKey)));
    let found = scratch.store_in(&schema).card_by_code(&code).unwrap();
    assert_eq!(found.map(|f| f.value.id()), Some(card));
}

/// A host that restarts between authorise and capture finds its holds, and capture works.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn holds_outlive_the_store_that_placed_them() {
    let url = url();
    let scratch = Scratch::new(url);
    let (schema, card, _) = schema_with_a_held_card(&scratch);
    let redeemer =
        Redeemer::new(scratch.store_in(&schema)).with_clock(Arc::new(FixedClock::new(t0())));
    let stored = redeemer.card(card).unwrap().unwrap();
    assert_eq!(stored.available(), usd("40"));
    let captured = redeemer
        .capture(
            &IdempotencyKey::new("capture").unwrap(),
            &CheckoutId::new("checkout-1").unwrap(),
        )
        .unwrap();
    assert_eq!(captured.outcome.total, usd("60"));
    let stored = redeemer.card(card).unwrap().unwrap();
    assert_eq!(stored.balance(), usd("40"));
    verify_ledger(card, stored.balance(), &redeemer.history(card).unwrap()).unwrap();
}

#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_conflicts_name_their_record() {
    let url = url();
    let scratch = Scratch::new(url);
    let reasons: Vec<String> = giftcert::testkit::check_conflict_records(scratch.store())
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

/// A pool of one whose connection is taken by a commit waiting on a row another client has
/// locked refuses a read with `Unavailable` after its checkout timeout, and serves it once the
/// lock (and so the commit, and so the connection) is released.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn a_pool_of_one_refuses_a_second_request_until_its_connection_is_back() {
    let url = url();
    let scratch = Scratch::new(url.clone());
    let (schema, id, _) = schema_with_a_held_card(&scratch);
    let timeout = Duration::from_millis(200);
    let options = PoolOptions::new()
        .with_max_size(NonZeroU32::MIN)
        .with_checkout_timeout(timeout);
    let store = PostgresStore::connect_with(
        &url,
        Some(&schema),
        key(),
        giftcert_postgres::Tls::default(),
        options,
    )
    .unwrap();
    assert_eq!(store.pool_options(), options);
    let card = store.card(id).unwrap().unwrap();

    // Another client locks the card's row, so the store's update waits for it on the pool's
    // only connection.
    let mut other = scratch.client(&schema);
    let mut lock = other.transaction().unwrap();
    lock.execute(
        "SELECT 1 FROM cards WHERE id = $1 FOR UPDATE",
        &[&id.to_string()],
    )
    .unwrap();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            store.commit(Changes {
                cards: vec![CardWrite::Update {
                    card: card.value.clone(),
                    expected_version: card.version,
                }],
                ..Changes::default()
            })
        });
        // Reads are served until the writer has taken the connection, then refused.
        let deadline = Instant::now() + Duration::from_secs(5);
        let refused = loop {
            match store.card(id) {
                Err(error @ StoreError::Unavailable { .. }) => break error,
                Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
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

        lock.rollback().unwrap();
        writer.join().unwrap().unwrap();
    });

    // The connection is back: the next request is served, and sees the commit.
    assert_eq!(store.card(id).unwrap().unwrap().version, card.version + 1);
}

#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_never_answers_more_parallel_guesses_than_the_limit() {
    let scratch = Scratch::new(url());
    giftcert::testkit::check_guard_race(|| scratch.store(), 3).unwrap();
}

/// The kit's forced races: a capture or void that loses to another request on its checkout
/// answers the state it meets, a thousand times.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_refusals_under_a_race_name_the_state_met() {
    let scratch = Scratch::new(url());
    giftcert::testkit::check_refusal_races(|| scratch.store(), 1_000).unwrap();
}

#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_never_answers_more_parallel_guesses_than_the_store_budget() {
    let scratch = Scratch::new(url());
    giftcert::testkit::check_store_budget_race(|| scratch.store(), 2).unwrap();
}

/// Before, a schema opened with another key treated every code as unknown, silently.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn a_schema_written_under_another_key_is_refused() {
    let url = url();
    let scratch = Scratch::new(url.clone());
    let schema = scratch.schema();
    drop(scratch.store_in(&schema));
    let other = CodeKey::new(b"another giftcert-postgres key!!!").unwrap();
    let error = PostgresStore::connect_in_schema(&url, &schema, other).unwrap_err();
    assert!(matches!(error, ConnectError::WrongKey), "{error}");
    assert!(error.to_string().contains("another CodeKey"), "{error}");
    let stored: String = scratch
        .client(&schema)
        .query_one("SELECT fingerprint FROM store_key", &[])
        .unwrap()
        .get(0);
    assert_eq!(stored, key().fingerprint());
    // The same key still opens it.
    drop(scratch.store_in(&schema));
}

/// Every store accepts the amounts the core does: one billion of a currency, as in memory.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn postgres_takes_the_largest_amounts_memory_takes() {
    let scratch = Scratch::new(url());
    let redeemer = Redeemer::new(scratch.store());
    let value = Money::maximum(Currency::KWD);
    let issued = redeemer
        .issue(
            &IdempotencyKey::new("big").unwrap(),
            vec![CardSpec::new(value)],
        )
        .unwrap();
    let card = redeemer
        .card(issued.outcome.cards[0].card)
        .unwrap()
        .unwrap();
    assert_eq!(card.balance(), value);
}

/// Migration 0004 fills `sweep_due_at` and `started_at` for rows written before it, and
/// migration 0006 moves the due times to `card_sweeps`: the values the store writes itself, for
/// a held card with an expiry, one without, and a guard window.
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn the_migration_fills_the_new_columns_of_older_rows() {
    let url = url();
    let scratch = Scratch::new(url);
    let (schema, _, _) = schema_with_a_held_card(&scratch);
    let redeemer =
        Redeemer::new(scratch.store_in(&schema)).with_clock(Arc::new(FixedClock::new(t0())));
    let mut spec = CardSpec::new(usd("20"));
    spec.expires_at = Some(t0() + chrono::Duration::days(3));
    redeemer
        .issue(&IdempotencyKey::new("expiring").unwrap(), vec![spec])
        .unwrap();
    let (_, unknown) = redeemer.protocol().draw().unwrap();
    let client = ClientId::new("guesser").unwrap();
    assert!(
        redeemer
            .check_balance(&client, unknown.expose_secret())
            .is_err()
    );
    let mut db = scratch.client(&schema);
    let read = |db: &mut Client| -> Vec<(String, Option<String>)> {
        db.query(
            "SELECT id, due_at::text FROM cards LEFT JOIN card_sweeps ON card_id = id \
             UNION ALL SELECT client, started_at::text FROM guard_windows ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
    };
    let written = read(&mut db);
    assert_eq!(
        written.iter().filter(|(_, at)| at.is_some()).count(),
        4,
        "{written:?}"
    );
    let migration = include_str!("../migrations/0004_upkeep.sql");
    let backfill: Vec<&str> = migration
        .split(";\n")
        .map(str::trim)
        .filter(|s| {
            let code: Vec<&str> = s
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect();
            code.first().is_some_and(|l| l.starts_with("UPDATE"))
        })
        .collect();
    assert_eq!(backfill.len(), 2, "{backfill:?}");
    let moved: Vec<&str> = include_str!("../migrations/0006_hot_card_updates.sql")
        .split(";\n")
        .map(str::trim)
        .filter(|s| s.lines().any(|l| l.starts_with("INSERT INTO card_sweeps")))
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    // The schema as it was between the two migrations: the column back, empty, with nothing
    // moved out of it yet.
    db.batch_execute(
        "DROP TRIGGER cards_versions_count_writes ON cards; \
         ALTER TABLE cards ADD COLUMN sweep_due_at timestamptz; DELETE FROM card_sweeps; \
         UPDATE guard_windows SET started_at = NULL;",
    )
    .unwrap();
    assert_eq!(
        read(&mut db).iter().filter(|(_, at)| at.is_some()).count(),
        0
    );
    for statement in backfill.into_iter().chain(moved) {
        db.batch_execute(statement).unwrap();
    }
    assert_eq!(read(&mut db), written);
}

/// A schema of version 2 migrates to 3: the hint column rewritten to what the hint shows, the
/// search columns and tags filled from the card, the version trigger kept (by its name).
#[test]
#[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
fn a_version_2_schema_migrates_with_its_cards_hints_and_triggers() {
    use giftcert::store::CardQuery;

    let url = url();
    let scratch = Scratch::new(url.clone());
    let schema = scratch.schema();
    let code = Code::parse("X-GC-1").unwrap();
    let mut spec = CardSpec::new(usd("40"));
    spec.tags = vec!["xmas".into()];
    spec.order = Some(Reference::new("order-7").unwrap());
    let (card, issued) =
        giftcert::GiftCard::issue(CardId::from_u128(7), &code, spec, t0()).unwrap();
    let mut client = Client::connect(&url, NoTls).unwrap();
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path TO {schema}; \
             CREATE TABLE giftcert_schema_migrations (version integer NOT NULL PRIMARY KEY, \
             applied_at timestamptz NOT NULL DEFAULT now()); \
             INSERT INTO giftcert_schema_migrations (version) VALUES (1), (2);"
        ))
        .unwrap();
    client
        .batch_execute(include_str!("../migrations/0001_initial.sql"))
        .unwrap();
    client
        .batch_execute(include_str!("../migrations/0002_store_key.sql"))
        .unwrap();
    client
        .execute(
            "INSERT INTO cards (id, code_digest, code_last4, currency, status, balance, held, \
             version, card) VALUES ($1, $2, 'GC-1', 'USD', 'active', 40, 0, 1, $3::text::jsonb)",
            &[
                &card.id().to_string(),
                &key().digest(&code).to_string(),
                &serde_json::to_string(&card).unwrap(),
            ],
        )
        .unwrap();
    client
        .execute(
            "INSERT INTO ledger_entries (card_id, seq, at, kind, amount, balance_after, entry) \
             VALUES ($1, 1, $2::text::timestamptz, 'issued', 40, 40, $3::text::jsonb)",
            &[
                &card.id().to_string(),
                &t0().to_rfc3339(),
                &serde_json::to_string(&issued).unwrap(),
            ],
        )
        .unwrap();
    drop(client);

    let store = scratch.store_in(&schema);
    let mut client = scratch.client(&schema);
    let row = client
        .query_one(
            "SELECT code_last4, order_ref, issued_at = $1::text::timestamptz FROM cards",
            &[&t0().to_rfc3339()],
        )
        .unwrap();
    let (last4, order, issued_at): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(last4, "", "the hint of X-GC-1 shows nothing");
    assert_eq!(order, "order-7");
    assert!(issued_at);
    assert_eq!(
        store
            .search(&CardQuery::new().by_tag("xmas"))
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(store.card_by_code(&code).unwrap().is_some());
    let refused = client
        .batch_execute("UPDATE cards SET version = version + 2")
        .unwrap_err();
    assert!(
        refused.to_string().contains("adds one to its version")
            || refused
                .as_db_error()
                .is_some_and(|e| e.message().contains("adds one to its version")),
        "{refused:?}"
    );
    let report = store.liability(t0()).unwrap();
    assert_eq!(
        report.currency(Currency::USD).map(|l| l.outstanding),
        Some(usd("40"))
    );
}

/// A database and a role of one test's own, dropped when it ends (whether it passed or not).
struct ScratchDatabase {
    url: String,
    name: String,
    role: String,
}

impl ScratchDatabase {
    fn new(url: String, tag: &str) -> ScratchDatabase {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let suffix = format!("{}_{nanos}", std::process::id());
        let scratch = ScratchDatabase {
            name: format!("giftcert_{tag}_{suffix}"),
            role: format!("giftcert_{tag}_role_{suffix}"),
            url,
        };
        let mut admin = Client::connect(&scratch.url, NoTls).unwrap();
        // One statement each: CREATE DATABASE refuses to run in a multi-statement batch.
        admin
            .batch_execute(&format!("CREATE DATABASE {}", scratch.name))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE ROLE {} LOGIN", scratch.role))
            .unwrap();
        scratch
    }

    /// The server's connection settings for this database, as `user`.
    fn config(&self, user: &str) -> postgres::Config {
        let mut config: postgres::Config = self.url.parse().unwrap();
        config.dbname(&self.name).user(user);
        config
    }

    /// The URL of this database as the server's URL's user, for a store.
    fn store_url(&self) -> String {
        let (server, _) = self.url.rsplit_once('/').unwrap();
        format!("{server}/{}", self.name)
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (url, name, role) = (&self.url, &self.name, &self.role);
        common::off_runtime(move || {
            if let Ok(mut admin) = Client::connect(url, NoTls) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {role}"));
            }
        });
    }
}

/// CVE-2018-1058's pattern: another role that may create objects in `public` plants closer
/// matches of the built-ins `giftcert_commit` calls (`jsonb_build_object(text, bigint)` and
/// `jsonb_build_array(text, bigint)` beside the catalogue's variadic ones, and an operator
/// `=(numeric, integer)` beside the catalogue's `=(numeric, numeric)`), each writing down
/// that it ran as the store's role. A store whose tables are in `public` issues, authorises
/// and captures: none of them runs, and the card's balance is what the commits made it.
#[test]
#[ignore = "needs a PostgreSQL server: GIFTCERT_POSTGRES_URL"]
fn a_hostile_overload_in_public_never_runs_in_a_commit() {
    let database = ScratchDatabase::new(url(), "hijack");
    let mut admin = database.config("postgres").connect(NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "GRANT CREATE ON SCHEMA public TO {}",
            database.role
        ))
        .unwrap();
    let store = PostgresStore::connect(&database.store_url(), key()).unwrap();

    let mut hostile = database.config(&database.role).connect(NoTls).unwrap();
    hostile
        .batch_execute(
            "CREATE TABLE public.hijacked (what text NOT NULL, as_role text NOT NULL);
             GRANT INSERT ON public.hijacked TO PUBLIC;
             CREATE FUNCTION public.jsonb_build_object(k text, v bigint) RETURNS jsonb
             LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO public.hijacked VALUES ('jsonb_build_object', current_user);
                 RETURN pg_catalog.jsonb_build_object(k, v::text::jsonb);
             END
             $$;
             CREATE FUNCTION public.jsonb_build_array(k text, v bigint) RETURNS jsonb
             LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO public.hijacked VALUES ('jsonb_build_array', current_user);
                 RETURN pg_catalog.jsonb_build_array(k, v::text::jsonb);
             END
             $$;
             CREATE FUNCTION public.numeric_eq_integer(a numeric, b integer) RETURNS boolean
             LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO public.hijacked VALUES ('=(numeric, integer)', current_user);
                 RETURN a OPERATOR(pg_catalog.=) b::numeric;
             END
             $$;
             CREATE OPERATOR public.= (
                 LEFTARG = numeric, RIGHTARG = integer, FUNCTION = public.numeric_eq_integer
             );",
        )
        .unwrap();
    // The overloads are real: a caller whose search path reaches `public` runs them.
    let planted: i64 = hostile
        .query_one(
            "SELECT count(*) FROM (SELECT jsonb_build_object('a'::text, 1::bigint)) AS probe",
            &[],
        )
        .and_then(|_| admin.query_one("SELECT count(*) FROM public.hijacked", &[]))
        .unwrap()
        .get(0);
    assert_eq!(planted, 1, "the planted overload did not run for a caller");
    admin.batch_execute("DELETE FROM public.hijacked").unwrap();

    let redeemer = Redeemer::new(store).with_clock(Arc::new(FixedClock::new(t0())));
    let issued = redeemer
        .issue(
            &IdempotencyKey::new("issue").unwrap(),
            vec![CardSpec::new(usd("100"))],
        )
        .unwrap();
    let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else {
        panic!("no card issued");
    };
    let checkout = CheckoutId::new("checkout-1").unwrap();
    redeemer
        .apply_code(
            &ClientId::new("client").unwrap(),
            &checkout,
            Currency::USD,
            code.expose_secret(),
        )
        .unwrap();
    redeemer
        .authorise(&IdempotencyKey::new("auth").unwrap(), &checkout, usd("60"))
        .unwrap();
    redeemer
        .capture(&IdempotencyKey::new("capture").unwrap(), &checkout)
        .unwrap();

    let ran: Vec<(String, String)> = admin
        .query("SELECT what, as_role FROM public.hijacked", &[])
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(ran, [], "planted overloads ran inside the store's commits");
    let stored = redeemer.card(*card).unwrap().unwrap();
    assert_eq!(stored.balance(), usd("40"));
    let history = redeemer.history(*card).unwrap();
    verify_ledger(*card, stored.balance(), &history).unwrap();
    drop(redeemer);
    drop((admin, hostile));
}

/// Every function in a store's schema (the commit function and the tables' trigger functions)
/// runs with its `search_path` pinned to `pg_catalog`, the store's schema and `pg_temp`, never
/// the caller's: a function added without the pin fails this test.
#[test]
#[ignore = "needs a PostgreSQL server: GIFTCERT_POSTGRES_URL"]
fn every_function_of_the_store_pins_its_search_path() {
    let scratch = Scratch::new(url());
    let schema = scratch.schema();
    drop(scratch.store_in(&schema));
    let mut db = scratch.client(&schema);
    let functions: Vec<(String, Option<Vec<String>>)> = db
        .query(
            "SELECT proname::text, proconfig FROM pg_proc \
             WHERE pronamespace = $1::text::regnamespace ORDER BY proname",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let pinned = Some(vec![format!("search_path=pg_catalog, {schema}, pg_temp")]);
    let names: Vec<&str> = functions.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "cards_versions_count_writes",
            "giftcert_commit",
            "ledger_entries_are_append_only",
            "ledger_entries_follow_on"
        ]
    );
    for (name, config) in &functions {
        assert_eq!(config, &pinned, "{name}");
    }
}

/// The runtime role's store in `owned`: connected without DDL.
fn runtime_store(owned: &OwnedSchema) -> PostgresStore {
    PostgresStore::connect_migrated(
        &owned.app.url(),
        Some(&owned.schema),
        key(),
        Tls::default(),
        PoolOptions::default(),
    )
    .unwrap()
}

/// The production split: an owner role migrates a schema (`migrate`) and grants a runtime
/// role (`grant_runtime`) that may create nothing and owns nothing. Connected without DDL
/// (`connect_migrated`), the runtime role issues, authorises and captures, and its rights on
/// each table are exactly the documented ones. Then, as that role, every edit to history and
/// to the schema is refused with 42501: disabling or dropping the append-only trigger,
/// updating or deleting ledger entries, creating a table, replacing the commit function,
/// dropping a table. Connecting it with migrations (`connect_in_schema`) is refused too, since
/// that needs rights it lacks.
#[test]
#[ignore = "needs a PostgreSQL server: GIFTCERT_POSTGRES_URL"]
fn the_runtime_role_serves_shoppers_and_cannot_edit_history() {
    let url = url();
    let scratch = Scratch::new(url.clone());
    let owned = OwnedSchema::new(&url, scratch.schema());
    assert_eq!(
        table_rights(&url, &owned.schema, &owned.app.name),
        RUNTIME_RIGHTS
    );
    let refused = giftcert_postgres::grant_runtime(
        &owned.owner.url(),
        Some(&owned.schema),
        &owned.owner.name,
        Tls::default(),
    );
    assert!(
        matches!(refused, Err(ConnectError::Role { .. })),
        "{refused:?}"
    );

    let redeemer = Redeemer::new(runtime_store(&owned)).with_clock(Arc::new(FixedClock::new(t0())));
    let issued = redeemer
        .issue(
            &IdempotencyKey::new("issue").unwrap(),
            vec![CardSpec::new(usd("100"))],
        )
        .unwrap();
    let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else {
        panic!("no card issued");
    };
    let checkout = CheckoutId::new("checkout-1").unwrap();
    redeemer
        .apply_code(
            &ClientId::new("client").unwrap(),
            &checkout,
            Currency::USD,
            code.expose_secret(),
        )
        .unwrap();
    redeemer
        .authorise(&IdempotencyKey::new("auth").unwrap(), &checkout, usd("60"))
        .unwrap();
    redeemer
        .capture(&IdempotencyKey::new("capture").unwrap(), &checkout)
        .unwrap();
    let stored = redeemer.card(*card).unwrap().unwrap();
    assert_eq!(stored.balance(), usd("40"));
    let history = redeemer.history(*card).unwrap();
    verify_ledger(*card, stored.balance(), &history).unwrap();

    let mut app = owned.app_client();
    let entries: i64 = app
        .query_one("SELECT count(*) FROM ledger_entries", &[])
        .unwrap()
        .get(0);
    assert!(entries >= 3, "{entries} entries");
    for sql in REFUSED_TO_THE_RUNTIME_ROLE {
        assert_eq!(sqlstate(&mut app, sql), "42501", "{sql}");
    }
    // History is as the commits wrote it.
    assert_eq!(redeemer.history(*card).unwrap(), history);
    let owns: i64 = app
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relowner = current_user::regrole",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(owns, 0, "the runtime role owns a table");

    // A role the owner granted nothing is told so, not that the schema is unmigrated.
    let stranger = common::ScratchRole::new(&url, "stranger");
    let refused = PostgresStore::connect_migrated(
        &stranger.url(),
        Some(&owned.schema),
        key(),
        Tls::default(),
        PoolOptions::default(),
    )
    .map(|_| ());
    assert!(
        matches!(&refused, Err(ConnectError::NoAccess { schema }) if *schema == owned.schema),
        "{refused:?}"
    );

    // Migrating on connect needs CREATE, which the runtime role does not have.
    match PostgresStore::connect_in_schema(&owned.app.url(), &owned.schema, key()) {
        Err(ConnectError::Database(e)) => assert_eq!(
            e.as_db_error().map(|db| db.code().code()),
            Some("42501"),
            "{e}"
        ),
        other => panic!("the runtime role migrated: {other:?}"),
    }
    drop(redeemer);
}

/// Every check of the conformance kit, the upkeep (sweeps and prunes) and the checkout flow
/// passes with the runtime role's rights alone: the grants are not too narrow for anything
/// a store does.
#[test]
#[ignore = "needs a PostgreSQL server: GIFTCERT_POSTGRES_URL"]
fn the_runtime_roles_rights_are_enough_for_every_store_operation() {
    let url = url();
    let scratch = Scratch::new(url.clone());
    let schemas = std::sync::Mutex::new(Vec::new());
    let factory = || {
        let owned = OwnedSchema::new(&url, scratch.schema());
        let store = runtime_store(&owned);
        schemas.lock().unwrap().push(owned);
        store
    };
    giftcert::testkit::check_store(factory).unwrap();
    giftcert::testkit::check_upkeep(factory).unwrap();
    giftcert::testkit::check_checkout_flow(factory).unwrap();
    giftcert::testkit::check_back_office(factory).unwrap();
    giftcert::testkit::check_search(factory).unwrap();
    giftcert::testkit::check_liability(factory).unwrap();
    drop(schemas);
}

/// Connecting without DDL (`connect_migrated`) runs no migration: a schema that is missing,
/// behind, or has another commit function is refused with `ConnectError::Unmigrated` (and
/// left as it was), one ahead with `NewerSchema`, another key's with `WrongKey`; after
/// `migrate` it connects.
#[test]
#[ignore = "needs a PostgreSQL server: GIFTCERT_POSTGRES_URL"]
fn connecting_without_ddl_refuses_a_schema_it_would_have_to_migrate() {
    let url = url();
    let scratch = Scratch::new(url.clone());
    let schema = scratch.schema();
    let connect = |key: CodeKey| {
        PostgresStore::connect_migrated(
            &url,
            Some(&schema),
            key,
            Tls::default(),
            PoolOptions::default(),
        )
    };
    let unmigrated = |found| ConnectError::Unmigrated {
        found,
        needed: SCHEMA_VERSION,
    };
    let shown = |r: Result<PostgresStore, ConnectError>| format!("{:?}", r.map(|_| ()));

    assert_eq!(shown(connect(key())), shown(Err(unmigrated(0))));
    let message = connect(key()).unwrap_err().to_string();
    assert!(message.contains("giftcert_postgres::migrate"), "{message}");
    let mut admin = Client::connect(&url, NoTls).unwrap();
    let created: bool = admin
        .query_one("SELECT to_regnamespace($1) IS NOT NULL", &[&schema])
        .unwrap()
        .get(0);
    assert!(!created, "connecting without DDL created the schema");

    giftcert_postgres::migrate(&url, Some(&schema), &key(), Tls::default()).unwrap();
    drop(connect(key()).unwrap());
    let other = CodeKey::new(b"another key, another schema!....").unwrap();
    assert!(matches!(connect(other), Err(ConnectError::WrongKey)));

    admin
        .batch_execute(&format!(
            "DELETE FROM {schema}.giftcert_schema_migrations WHERE version = {SCHEMA_VERSION}"
        ))
        .unwrap();
    assert_eq!(
        shown(connect(key())),
        shown(Err(unmigrated(SCHEMA_VERSION - 1)))
    );
    admin
        .batch_execute(&format!(
            "INSERT INTO {schema}.giftcert_schema_migrations (version) VALUES ({SCHEMA_VERSION})"
        ))
        .unwrap();
    drop(connect(key()).unwrap());

    admin
        .batch_execute(&format!(
            "CREATE OR REPLACE FUNCTION {schema}.giftcert_commit(changes jsonb) RETURNS void \
             LANGUAGE plpgsql AS $$ BEGIN END $$"
        ))
        .unwrap();
    assert_eq!(
        shown(connect(key())),
        shown(Err(unmigrated(SCHEMA_VERSION)))
    );
    giftcert_postgres::migrate(&url, Some(&schema), &key(), Tls::default()).unwrap();
    drop(connect(key()).unwrap());

    admin
        .batch_execute(&format!(
            "INSERT INTO {schema}.giftcert_schema_migrations (version) VALUES ({})",
            SCHEMA_VERSION + 1
        ))
        .unwrap();
    assert!(matches!(
        connect(key()),
        Err(ConnectError::NewerSchema { found, known })
            if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION
    ));
}

/// `grant_runtime` refuses a bad role name before connecting, and a schema that is not
/// migrated.
#[test]
#[ignore = "needs a PostgreSQL server: GIFTCERT_POSTGRES_URL"]
fn granting_needs_a_role_name_and_a_migrated_schema() {
    let url = url();
    let scratch = Scratch::new(url.clone());
    let schema = scratch.schema();
    for role in ["", "a\0b", &"r".repeat(64)] {
        assert!(matches!(
            giftcert_postgres::grant_runtime(&url, Some(&schema), role, Tls::default()),
            Err(ConnectError::Role { .. })
        ));
    }
    assert!(matches!(
        giftcert_postgres::grant_runtime(&url, Some(&schema), "postgres", Tls::default()),
        Err(ConnectError::Unmigrated { found: 0, .. })
    ));
    // The owner (here a superuser too) is refused: revoking its rights would lock it out.
    giftcert_postgres::migrate(&url, Some(&schema), &key(), Tls::default()).unwrap();
    let user: String = Client::connect(&url, NoTls)
        .unwrap()
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    let refused = giftcert_postgres::grant_runtime(&url, Some(&schema), &user, Tls::default());
    assert!(
        matches!(&refused, Err(ConnectError::Role { reason }) if reason.contains("owns the schema")),
        "{refused:?}"
    );
    drop(PostgresStore::connect_in_schema(&url, &schema, key()).unwrap());
}
