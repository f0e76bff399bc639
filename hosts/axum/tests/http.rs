//! The shop over real HTTP: each test starts its own server on an ephemeral loopback port and
//! drives it with reqwest. Traffic goes only to 127.0.0.1 (and, for the PostgreSQL runs, to
//! the server `GIFTCERT_POSTGRES_URL` names).
//!
//! Each flow is written once, as a function of an [`Api`] (a base URL and a client), and run
//! over every store the shop serves from: SQLite behind the `Blocking` adapter (the default),
//! the in-memory store (an `AsyncStore` itself), and PostgreSQL's `AsyncPostgresStore` in a
//! scratch schema. The PostgreSQL runs are `#[ignore]`d: they need a server, which
//! `bash .ci/run` starts before running them with `--ignored`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use giftcert::clock::{Clock, FixedClock};
use giftcert::code::{CodeGenerator, RandomCodeGenerator};
use giftcert::redeem::{AllocationOrder, Protocol};
use giftcert::store::{AsyncRedeemer, AsyncStore};
use giftcert::{CardSpec, IdempotencyKey, MemoryStore, Notification, Redeemer};
use giftcert_axum_shop::{
    MAX_BODY_BYTES, ROUTES, RequestLimit, Role, Scopes, Shop, StaffTokens, TrustedProxies,
    WebhookVerifier, serve,
};
use giftcert_postgres::{AsyncPostgresStore, NoTls};
use giftcert_sqlite::{Blocking, CodeKey, SqliteStore};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The shop's HTTP API at a base URL: what every flow talks to.
struct Api {
    base: String,
    client: reqwest::Client,
}

/// What a server's store needs kept until the server is gone.
enum Backing {
    /// The SQLite file's folder.
    Sqlite { _dir: tempfile::TempDir },
    /// Nothing: the store is in the server's memory.
    Memory,
    /// The scratch schema, dropped last.
    Postgres { _scratch: Scratch },
}

/// A running shop; the server task ends when this is dropped.
struct Server {
    api: Api,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _backing: Backing,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An answer: status, `Retry-After` if any, and the JSON body.
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

/// The staff bearer token the test servers accept, with every scope.
const STAFF_TOKEN: &str = "staff-test-token-0123456789";

/// A staff bearer token the test servers accept with no scope at all.
const NO_SCOPE_TOKEN: &str = "staff-test-token-without-scopes";

/// The secret the test servers check the provider's signatures with.
const WEBHOOK_SECRET: &[u8] = b"whsec-test-0123456789";

/// The `Giftcert-Signature` header for `body` signed at `t` with `secret`.
fn signature(secret: &[u8], t: i64, body: &str) -> String {
    let v1 = WebhookVerifier::new(secret).sign(t, body.as_bytes());
    format!("t={t},v1={v1}")
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Serves the shop over `store` on an ephemeral loopback port.
async fn start<S: AsyncStore + 'static>(store: S, backing: Backing) -> Server {
    start_driver(AsyncRedeemer::new(store), backing).await
}

/// Serves the shop over `redeemer` (a protocol and clock of a test's choosing).
async fn start_driver<S: AsyncStore + 'static>(
    redeemer: AsyncRedeemer<S>,
    backing: Backing,
) -> Server {
    start_shop(redeemer, backing, |shop| shop).await
}

/// Serves the shop over `redeemer`, set up further by `setup`.
async fn start_shop<S: AsyncStore + 'static>(
    redeemer: AsyncRedeemer<S>,
    backing: Backing,
    setup: impl FnOnce(Shop<S>) -> Shop<S>,
) -> Server {
    let shop = Shop::new(redeemer)
        .expect("shop")
        .with_staff(
            StaffTokens::none()
                .with_token(STAFF_TOKEN)
                .with_scoped_token(NO_SCOPE_TOKEN, Scopes::none()),
        )
        .with_webhook(WebhookVerifier::new(WEBHOOK_SECRET));
    let shop = setup(shop);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(serve(listener, shop, std::future::pending()));
    Server {
        api: Api::new(&format!("http://{addr}")),
        task,
        _backing: backing,
    }
}

fn code_key() -> CodeKey {
    CodeKey::new(&[7; 32]).expect("key")
}

/// The shop on a fresh SQLite file, behind the `Blocking` adapter (what `cargo run` serves).
async fn start_sqlite() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("shop.db"), code_key()).expect("sqlite store");
    start(Blocking::new(store), Backing::Sqlite { _dir: dir }).await
}

/// The shop on a fresh SQLite file, its driver under `protocol` and `clock`, with a sync
/// redeemer on the same file for issuing cards the way a back office would.
async fn start_sqlite_with(
    protocol: Protocol,
    clock: Arc<FixedClock>,
) -> (Server, Redeemer<SqliteStore>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shop.db");
    let open = || SqliteStore::open(&path, code_key()).expect("sqlite store");
    let office = Redeemer::new(open())
        .with_protocol(protocol.clone())
        .with_clock(clock.clone());
    let driver = AsyncRedeemer::new(Blocking::new(open()))
        .with_protocol(protocol)
        .with_clock(clock);
    let server = start_driver(driver, Backing::Sqlite { _dir: dir }).await;
    (server, office)
}

/// Issues one card per spec through the back office and returns their codes, in order.
fn issue_codes(office: &Redeemer<SqliteStore>, key: &str, specs: Vec<CardSpec>) -> Vec<String> {
    let issued = tokio::task::block_in_place(|| {
        office.issue(&IdempotencyKey::new(key).expect("key"), specs)
    })
    .expect("issued");
    issued
        .notifications
        .iter()
        .filter_map(|n| match n {
            Notification::CardIssued { code, .. } => Some(code.expose_secret().to_owned()),
            _ => None,
        })
        .collect()
}

/// The instant the tests that set a clock start at.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

/// The shop on the in-memory store, which is an `AsyncStore` itself.
async fn start_memory() -> Server {
    start(MemoryStore::new(), Backing::Memory).await
}

/// The shop on PostgreSQL (`GIFTCERT_POSTGRES_URL`), in a schema of its own.
async fn start_postgres() -> Server {
    let scratch = Scratch::new();
    let store = AsyncPostgresStore::connect_in_schema(&scratch.url, &scratch.schema, code_key())
        .await
        .expect("PostgreSQL store");
    start(store, Backing::Postgres { _scratch: scratch }).await
}

const POSTGRES_URL: &str = "GIFTCERT_POSTGRES_URL";

/// A schema no other test, run or process uses, dropped when the test ends (passed or not).
struct Scratch {
    url: String,
    schema: String,
}

impl Scratch {
    /// Run without a server, the PostgreSQL tests fail rather than pass.
    fn new() -> Scratch {
        let url = match std::env::var(POSTGRES_URL) {
            Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => panic!(
                "{POSTGRES_URL} is not set: these tests need a PostgreSQL server \
                 (bash .ci/run starts one)"
            ),
        };
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let schema = format!(
            "giftcert_test_axum_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Scratch { url, schema }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let (url, schema) = (&self.url, &self.schema);
        // The blocking client panics inside a tokio runtime: it gets a thread of its own.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                if let Ok(mut client) = ::postgres::Client::connect(url, NoTls) {
                    let _ =
                        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            });
        });
    }
}

impl Api {
    fn new(base: &str) -> Api {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Api {
            base: base.to_owned(),
            client,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{status} {path}: body is not JSON ({e}): {text}"));
        Answer {
            status,
            retry_after,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &[]).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    /// A money move with an `Idempotency-Key`.
    /// POSTs `body` as the payment provider would, signed now with the test secret.
    async fn webhook(&self, path: &str, body: Value) -> Answer {
        let text = body.to_string();
        let header = signature(WEBHOOK_SECRET, unix_now(), &text);
        self.signed(path, text, &header).await
    }

    /// POSTs the raw `text` with `header` as its `Giftcert-Signature`.
    async fn signed(&self, path: &str, text: String, header: &str) -> Answer {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("Giftcert-Signature", header)
            .body(text)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{status} {path}: body is not JSON ({e}): {text}"));
        Answer {
            status,
            retry_after: None,
            body,
        }
    }

    async fn moves(&self, path: &str, key: &str, body: Option<Value>) -> Answer {
        let bearer = format!("Bearer {STAFF_TOKEN}");
        self.send(
            Method::POST,
            path,
            body,
            &[("Idempotency-Key", key), ("Authorization", &bearer)],
        )
        .await
    }

    /// Buys an any-amount certificate worth `amount` USD through Centra's flow and returns the
    /// code the host would e-mail.
    async fn buy(&self, amount: &str) -> String {
        let selection = self.post("/selections", json!({"currency": "USD"})).await;
        let id = selection.body["selection"].as_str().expect("selection id");
        let added = self
            .post(
                &format!("/selections/{id}/gift-certificates"),
                json!({"giftCertificate": "gift-1", "amount": amount}),
            )
            .await;
        assert_eq!(added.status, StatusCode::OK, "{}", added.body);
        let paid = self
            .post(
                &format!("/selections/{id}/payment"),
                json!({"paymentMethod": "card", "email": "buyer@example.com"}),
            )
            .await;
        assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
        let result = self
            .webhook(
                &format!("/selections/{id}/payment-result"),
                json!({"result": "paid"}),
            )
            .await;
        assert_eq!(result.status, StatusCode::OK, "{}", result.body);
        result.body["emailOutbox"]["messages"][0]["code"]
            .as_str()
            .expect("issued code")
            .to_owned()
    }

    /// A USD checkout with this grand total; returns its id.
    async fn checkout(&self, grand_total: &str) -> String {
        let created = self
            .post(
                "/checkouts",
                json!({"currency": "USD", "grandTotal": grand_total}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body["id"].as_str().expect("checkout id").to_owned()
    }

    async fn apply(&self, checkout: &str, code: &str) -> Answer {
        self.post(
            &format!("/checkouts/{checkout}/gift-certificates"),
            json!({"giftCertificateCode": code}),
        )
        .await
    }
}

/// `amount` USD as the library's money.
fn dollars(amount: &str) -> giftcert::Money {
    giftcert::Money::parse(amount, giftcert::Currency::USD).expect("an amount")
}

fn usd(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

/// Asserts an error answer: the status, the `{"error": {"code", "message"}}` shape and code.
fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.body);
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        answer.body
    );
}

async fn centra_purchase_finalises_the_order_and_issues_the_code_once(shop: &Api) {
    let listing = shop.get("/gift-certificates").await;
    assert_eq!(listing.status, StatusCode::OK);
    // The seed's `GET /gift-certificates` JSON, exactly.
    assert_eq!(
        listing.body,
        json!({
            "gift-2": {
                "giftCertificate": "gift-2",
                "name": "Pre-defined gift certificate",
                "currencyOfSaleOnly": true,
                "showGiftAmount": false,
                "type": "predeterminedAmount",
                "amountByCurrency": {
                    "USD": {"amount": "10.00 USD", "amountAsNumber": 10},
                    "SEK": {"amount": "100 SEK", "amountAsNumber": 100},
                    "JPY": {"amount": "1 000 JPY", "amountAsNumber": 1000}
                }
            },
            "gift-1": {
                "giftCertificate": "gift-1",
                "name": "Dynamic gift certificate",
                "currencyOfSaleOnly": false,
                "showGiftAmount": true,
                "type": "anyAmount"
            }
        })
    );

    let created = shop.post("/selections", json!({"currency": "USD"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["selection"].as_str().expect("id").to_owned();
    let certificates = format!("/selections/{id}/gift-certificates");

    // An any-amount certificate needs its amount.
    let no_amount = shop
        .post(&certificates, json!({"giftCertificate": "gift-1"}))
        .await;
    assert_error(
        &no_amount,
        StatusCode::UNPROCESSABLE_ENTITY,
        "amount_required",
    );

    // One certificate at a time: the any-amount one replaces the predetermined one.
    let first = shop
        .post(&format!("{certificates}/gift-2"), json!({}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let second = shop
        .post(
            &certificates,
            json!({"giftCertificate": "gift-1", "amount": 100}),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["removed"].as_array().map(Vec::len), Some(1));
    let held = shop.get(&format!("/selections/{id}")).await;
    assert_eq!(
        held.body["giftCertificates"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(held.body["totals"]["grandTotal"], usd("100.00"));

    // Invoice may not pay for gift certificates.
    let payment = format!("/selections/{id}/payment");
    let invoice = shop
        .post(
            &payment,
            json!({"paymentMethod": "invoice", "email": "buyer@example.com"}),
        )
        .await;
    assert_error(
        &invoice,
        StatusCode::UNPROCESSABLE_ENTITY,
        "payment_method_not_allowed",
    );
    let placed = shop
        .post(
            &payment,
            json!({
                "paymentMethod": "card",
                "email": "buyer@example.com",
                "giftMessage": "Happy birthday!"
            }),
        )
        .await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
    assert_eq!(placed.body["order"]["status"], "awaitingPayment");

    let result = format!("/selections/{id}/payment-result");
    let paid = shop.webhook(&result, json!({"result": "paid"})).await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    assert_eq!(paid.body["outcome"], "paid");
    assert_eq!(paid.body["order"]["status"], "finalised");
    assert_eq!(paid.body["order"]["shipments"][0]["method"], "noshipment");
    let issued = &paid.body["issuedCards"][0];
    assert_eq!(issued["value"], usd("100.00"));
    let masked = issued["code"].as_str().expect("masked code");
    assert!(masked.contains('*'), "{masked}");
    let message = &paid.body["emailOutbox"]["messages"][0];
    assert_eq!(message["type"], "cardIssued");
    assert_eq!(message["message"], "Happy birthday!");
    let code = message["code"].as_str().expect("whole code");
    assert!(!code.contains('*') && code.len() > 10, "{code}");

    // Reported again: nothing is issued twice, and the code is not shown again.
    // (a fresh signature: the provider's retry is a new signed call, not a replay).
    let body = json!({"result": "paid"}).to_string();
    let resigned = signature(WEBHOOK_SECRET, unix_now() + 1, &body);
    let again = shop.signed(&result, body, &resigned).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["outcome"], "alreadySettled");
    assert_eq!(
        again.body["emailOutbox"]["messages"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert!(!again.body.to_string().contains(code));

    // A paid selection takes no more certificates.
    let late = shop
        .post(
            &certificates,
            json!({"giftCertificate": "gift-1", "amount": "5"}),
        )
        .await;
    assert_error(&late, StatusCode::CONFLICT, "order_already_paid");

    // The code pays at a checkout.
    let checkout = shop.checkout("30.00").await;
    let applied = shop.apply(&checkout, code).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert_eq!(
        applied.body["giftCertificates"][0]["balance"],
        usd("100.00")
    );
}

async fn bigcommerce_redemption_authorises_captures_and_reduces_the_balance(shop: &Api) {
    let code = shop.buy("100").await;
    let checkout = shop.checkout("60.00").await;

    let applied = shop.apply(&checkout, &code).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    let body = &applied.body;
    assert_eq!(body["grandTotal"], usd("60.00"));
    let card = &body["giftCertificates"][0];
    assert_eq!(card["balance"], usd("100.00"));
    assert_eq!(card["used"], usd("60.00"));
    assert_eq!(card["remaining"], usd("40.00"));
    assert!(card["purchaseDate"].is_string());
    let shown = card["code"].as_str().expect("code");
    assert!(shown.contains('*') && shown != code, "{shown}");
    assert_eq!(body["outstandingBalance"], usd("0.00"));
    assert!(!body.to_string().contains(&code));

    let authorised = shop
        .moves(&format!("/checkouts/{checkout}/authorise"), "auth-1", None)
        .await;
    assert_eq!(authorised.status, StatusCode::OK, "{}", authorised.body);
    assert_eq!(authorised.body["authorisation"]["credit"], usd("60.00"));
    assert_eq!(authorised.body["replayed"], false);
    assert_eq!(
        authorised.body["checkout"]["giftCertificatePayment"],
        "authorised"
    );
    assert_eq!(
        authorised.body["checkout"]["giftCertificates"][0]["balance"],
        usd("100.00")
    );

    let captured = shop
        .moves(&format!("/checkouts/{checkout}/capture"), "capture-1", None)
        .await;
    assert_eq!(captured.status, StatusCode::OK, "{}", captured.body);
    assert_eq!(captured.body["capture"]["total"], usd("60.00"));
    let after = shop.get(&format!("/checkouts/{checkout}")).await;
    assert_eq!(after.body["giftCertificatePayment"], "captured");
    assert_eq!(after.body["giftCertificates"][0]["used"], usd("60.00"));
    assert_eq!(after.body["giftCertificates"][0]["remaining"], usd("40.00"));

    // The card keeps 40.00: a 150.00 order takes it all and leaves 110.00 to pay.
    let next = shop.checkout("150.00").await;
    let reused = shop.apply(&next, &code).await;
    assert_eq!(reused.status, StatusCode::OK, "{}", reused.body);
    assert_eq!(reused.body["giftCertificates"][0]["balance"], usd("40.00"));
    assert_eq!(reused.body["giftCertificates"][0]["used"], usd("40.00"));
    assert_eq!(reused.body["outstandingBalance"], usd("110.00"));

    // A refund of 10.00 goes back to the card.
    let refunded = shop
        .moves(
            &format!("/checkouts/{checkout}/refund"),
            "refund-1",
            Some(json!({"amount": "10.00"})),
        )
        .await;
    assert_eq!(refunded.status, StatusCode::OK, "{}", refunded.body);
    assert_eq!(refunded.body["refund"]["total"], usd("10.00"));
    let later = shop.get(&format!("/checkouts/{next}")).await;
    assert_eq!(later.body["giftCertificates"][0]["balance"], usd("50.00"));

    // Removing the code from the open checkout frees it; removing it again is a 404.
    let path = format!("/checkouts/{next}/gift-certificates/{code}");
    let removed = shop.send(Method::DELETE, &path, None, &[]).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(
        removed.body["giftCertificates"].as_array().map(Vec::len),
        Some(0)
    );
    assert_eq!(removed.body["outstandingBalance"], usd("150.00"));
    let twice = shop.send(Method::DELETE, &path, None, &[]).await;
    assert_error(&twice, StatusCode::NOT_FOUND, "not_applied");

    // The same with the code in the body, out of the URL.
    assert_eq!(shop.apply(&next, &code).await.status, StatusCode::OK);
    let in_body = format!("/checkouts/{next}/gift-certificates");
    let body = json!({"giftCertificateCode": code});
    let removed = shop
        .send(Method::DELETE, &in_body, Some(body.clone()), &[])
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(
        removed.body["giftCertificates"].as_array().map(Vec::len),
        Some(0)
    );
    let twice = shop.send(Method::DELETE, &in_body, Some(body), &[]).await;
    assert_error(&twice, StatusCode::NOT_FOUND, "not_applied");
}

async fn a_replayed_authorise_returns_the_first_result_and_holds_once(shop: &Api) {
    let code = shop.buy("100").await;
    let checkout = shop.checkout("60.00").await;
    assert_eq!(shop.apply(&checkout, &code).await.status, StatusCode::OK);
    let path = format!("/checkouts/{checkout}/authorise");

    let first = shop
        .moves(&path, "same-key", Some(json!({"amount": "60.00"})))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["replayed"], false);
    let again = shop
        .moves(&path, "same-key", Some(json!({"amount": "60.00"})))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["replayed"], true);
    assert_eq!(again.body["authorisation"], first.body["authorisation"]);

    // Only one 60.00 hold: another checkout sees 40.00 available.
    let other = shop.checkout("100.00").await;
    let seen = shop.apply(&other, &code).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(seen.body["giftCertificates"][0]["balance"], usd("40.00"));

    // The same key for a different amount is refused.
    let reused = shop
        .moves(&path, "same-key", Some(json!({"amount": "50.00"})))
        .await;
    assert_error(&reused, StatusCode::CONFLICT, "idempotency_key_reused");

    // A void releases the hold; the same void again replays.
    let void = format!("/checkouts/{checkout}/void");
    let voided = shop.moves(&void, "void-1", None).await;
    assert_eq!(voided.status, StatusCode::OK, "{}", voided.body);
    assert_eq!(voided.body["void"]["released"][0]["amount"], usd("60.00"));
    assert_eq!(
        shop.moves(&void, "void-1", None).await.body["replayed"],
        true
    );
    let freed = shop.get(&format!("/checkouts/{other}")).await;
    assert_eq!(freed.body["giftCertificates"][0]["balance"], usd("100.00"));
}

async fn the_twenty_first_unknown_code_is_refused_with_retry_after(shop: &Api) {
    let checkout = shop.checkout("25.00").await;
    let codes = RandomCodeGenerator::default();

    // A mistyped code fails its check character before any lookup: it does not count.
    let typo = shop.apply(&checkout, "AAAA-BBBB-CCCC-DDDD").await;
    assert_error(&typo, StatusCode::BAD_REQUEST, "invalid_code");

    for attempt in 1..=20 {
        let code = codes.generate().expect("code");
        let unknown = shop.apply(&checkout, code.expose_secret()).await;
        assert_error(&unknown, StatusCode::NOT_FOUND, "unknown_code");
        assert!(
            !unknown.body.to_string().contains(code.expose_secret()),
            "attempt {attempt} echoed the code: {}",
            unknown.body
        );
    }
    let code = codes.generate().expect("code");
    let refused = shop.apply(&checkout, code.expose_secret()).await;
    assert_error(
        &refused,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_unknown_codes",
    );
    let seconds: u64 = refused
        .retry_after
        .as_deref()
        .and_then(|s| s.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=3600).contains(&seconds), "{seconds}");

    // While refused, even a real code is not looked up.
    let real = shop.buy("10").await;
    let blocked = shop.apply(&checkout, &real).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn bad_requests_are_json_errors(shop: &Api) {
    let malformed = shop
        .client
        .post(format!("{}/selections", shop.base))
        .header("content-type", "application/json")
        .body("{\"currency\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let body: Value = malformed.json().await.expect("JSON error");
    assert_eq!(body["error"]["code"], "malformed_json");

    let no_type = shop
        .client
        .post(format!("{}/selections", shop.base))
        .body("{\"currency\": \"USD\"}")
        .send()
        .await
        .expect("request");
    assert_eq!(no_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = no_type.json().await.expect("JSON error");
    assert_eq!(body["error"]["code"], "expected_json");

    let wrong_type = shop.post("/selections", json!({"currency": 5})).await;
    assert_error(
        &wrong_type,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    let float = shop
        .post("/checkouts", json!({"currency": "USD", "grandTotal": 10.5}))
        .await;
    assert_error(&float, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    // Client text in a wrong field is not echoed.
    let echoed = shop
        .post(
            "/checkouts",
            json!({"currency": "USD", "grandTotal": ["SECRET-CODE-1234"]}),
        )
        .await;
    assert_error(&echoed, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    for body in [
        json!({"currency": "SECRET-CODE-1234"}),
        json!({"currency": "USD", "grandTotal": "SECRET-CODE-1234"}),
    ] {
        let path = if body.get("grandTotal").is_some() {
            "/checkouts"
        } else {
            "/selections"
        };
        let answer = shop.post(path, body).await;
        assert_error(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
        assert!(
            !answer.body.to_string().contains("SECRET"),
            "{}",
            answer.body
        );
    }
    let unknown_variant = shop
        .webhook(
            "/selections/x/payment-result",
            json!({"result": "SECRET-CODE-1234"}),
        )
        .await;
    assert_eq!(unknown_variant.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!unknown_variant.body.to_string().contains("SECRET"));

    // Amounts name what is wrong with them: too many decimals, or above one billion.
    let selection = shop.post("/selections", json!({"currency": "USD"})).await;
    let selection = selection.body["selection"].as_str().expect("selection id");
    let add = format!("/selections/{selection}/gift-certificates");
    for (amount, code) in [
        ("99999999999999999999999", "amount_too_large"),
        ("1000000000.01", "amount_too_large"),
        ("10.001", "too_many_decimals"),
    ] {
        let refused = shop
            .post(&add, json!({"giftCertificate": "gift-1", "amount": amount}))
            .await;
        assert_error(&refused, StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    let most = shop
        .post(
            &add,
            json!({"giftCertificate": "gift-1", "amount": "1000000000"}),
        )
        .await;
    assert_eq!(most.status, StatusCode::OK, "{}", most.body);
    let too_large = shop
        .post(
            "/checkouts",
            json!({"currency": "USD", "grandTotal": "1000000000.01"}),
        )
        .await;
    assert_error(
        &too_large,
        StatusCode::UNPROCESSABLE_ENTITY,
        "amount_too_large",
    );

    // A body over the stated limit is refused before it is read whole.
    let huge = shop
        .client
        .post(format!("{}/selections", shop.base))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"currency\": \"USD\", \"pad\": \"{}\"}}",
            "x".repeat(MAX_BODY_BYTES)
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = huge.json().await.expect("JSON error");
    assert!(body["error"]["code"].is_string(), "{body}");

    let no_selection = shop.get("/selections/sel-nope").await;
    assert_error(&no_selection, StatusCode::NOT_FOUND, "unknown_selection");
    let no_checkout = shop.get("/checkouts/chk-nope").await;
    assert_error(&no_checkout, StatusCode::NOT_FOUND, "unknown_checkout");
    let no_route = shop.get("/nowhere").await;
    assert_error(&no_route, StatusCode::NOT_FOUND, "not_found");
    let unknown_move = shop.moves("/checkouts/chk-nope/capture", "k", None).await;
    assert_error(&unknown_move, StatusCode::NOT_FOUND, "unknown_checkout");

    // Wrong currency: the certificate is not sold in EUR; a USD card does not pay in SEK; an
    // amount in EUR on a USD checkout.
    let eur = shop.post("/selections", json!({"currency": "EUR"})).await;
    let eur_id = eur.body["selection"].as_str().expect("id");
    let not_offered = shop
        .post(
            &format!("/selections/{eur_id}/gift-certificates"),
            json!({"giftCertificate": "gift-2"}),
        )
        .await;
    assert_error(
        &not_offered,
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong_currency",
    );
    let code = shop.buy("20").await;
    let sek = shop
        .post(
            "/checkouts",
            json!({"currency": "SEK", "grandTotal": "100"}),
        )
        .await;
    let sek_id = sek.body["id"].as_str().expect("id");
    let card_currency = shop.apply(sek_id, &code).await;
    assert_error(
        &card_currency,
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong_currency",
    );
    assert!(!card_currency.body.to_string().contains(&code));
    let checkout = shop.checkout("20.00").await;
    assert_eq!(shop.apply(&checkout, &code).await.status, StatusCode::OK);
    let authorise = format!("/checkouts/{checkout}/authorise");
    let in_euros = shop
        .moves(
            &authorise,
            "eur-1",
            Some(json!({"amount": "10", "currency": "EUR"})),
        )
        .await;
    assert_error(
        &in_euros,
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong_currency",
    );

    // Money moves need an Idempotency-Key, and a usable one.
    let no_key = shop.send(Method::POST, &authorise, None, &[]).await;
    assert_error(&no_key, StatusCode::BAD_REQUEST, "idempotency_key_required");
    let spaced = shop.moves(&authorise, "has space", None).await;
    assert_error(&spaced, StatusCode::BAD_REQUEST, "invalid_idempotency_key");
    let long = "k".repeat(201);
    let too_long = shop.moves(&authorise, &long, None).await;
    assert_error(
        &too_long,
        StatusCode::BAD_REQUEST,
        "invalid_idempotency_key",
    );
    let refund_without_body = shop
        .moves(&format!("/checkouts/{checkout}/refund"), "r-1", None)
        .await;
    assert_eq!(refund_without_body.status.as_u16() / 100, 4);
    assert!(refund_without_body.body["error"]["code"].is_string());

    // Capturing before authorising is a state conflict, not a server error.
    let early = shop
        .moves(&format!("/checkouts/{checkout}/capture"), "c-1", None)
        .await;
    assert_error(&early, StatusCode::CONFLICT, "invalid_state");
}

/// The sequence that orphaned a paid order: the shopper pays, then pays again (or changes the
/// selection), and the provider's "paid" for the first payment found no order. Now the order
/// placed first stays, the selection stays as it was paid for, and "paid" issues its card.
async fn a_placed_order_cannot_be_orphaned(shop: &Api) {
    let selection = shop.post("/selections", json!({"currency": "USD"})).await;
    let id = selection.body["selection"].as_str().expect("selection id");
    let certificates = format!("/selections/{id}/gift-certificates");
    let added = shop
        .post(
            &certificates,
            json!({"giftCertificate": "gift-1", "amount": "40"}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let payment = format!("/selections/{id}/payment");
    let pay = json!({"paymentMethod": "card", "email": "buyer@example.com"});
    let placed = shop.post(&payment, pay.clone()).await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
    let order = placed.body["order"]["id"].clone();
    assert!(order.is_string(), "{}", placed.body);

    // The same payment again (a retry) answers the same order.
    let retried = shop.post(&payment, pay).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["order"]["id"], order);
    // Another payment is refused, naming the order.
    let other = shop
        .post(
            &payment,
            json!({"paymentMethod": "card", "email": "someone@example.com"}),
        )
        .await;
    assert_error(&other, StatusCode::CONFLICT, "order_pending");
    let order_id = order.as_str().expect("order id");
    assert!(other.body.to_string().contains(order_id), "{}", other.body);
    // The selection can no longer change.
    let changed = shop
        .post(
            &certificates,
            json!({"giftCertificate": "gift-1", "amount": "5"}),
        )
        .await;
    assert_error(&changed, StatusCode::CONFLICT, "order_pending");
    let shown = shop.get(&format!("/selections/{id}")).await;
    assert_eq!(shown.body["order"]["id"], order);
    assert_eq!(shown.body["totals"]["grandTotal"], usd("40.00"));

    // The provider's "paid" finds the order and its card is issued.
    let paid = shop
        .webhook(
            &format!("/selections/{id}/payment-result"),
            json!({"result": "paid"}),
        )
        .await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    assert_eq!(paid.body["order"]["id"], order);
    assert_eq!(paid.body["outcome"], "paid");
    assert_eq!(paid.body["issuedCards"][0]["value"], usd("40.00"));
}

/// A failed payment frees the selection: it may change and be paid again, as a new order.
async fn a_failed_payment_frees_the_selection(shop: &Api) {
    let selection = shop.post("/selections", json!({"currency": "USD"})).await;
    let id = selection.body["selection"].as_str().expect("selection id");
    let certificates = format!("/selections/{id}/gift-certificates");
    let add = |amount: &str| json!({"giftCertificate": "gift-1", "amount": amount});
    assert_eq!(
        shop.post(&certificates, add("40")).await.status,
        StatusCode::OK
    );
    let payment = format!("/selections/{id}/payment");
    let pay = json!({"paymentMethod": "card", "email": "buyer@example.com"});
    let first = shop.post(&payment, pay.clone()).await;
    let result = format!("/selections/{id}/payment-result");
    let failed = shop.webhook(&result, json!({"result": "failed"})).await;
    assert_eq!(failed.body["outcome"], "failed", "{}", failed.body);
    let changed = shop.post(&certificates, add("30")).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let second = shop.post(&payment, pay).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_ne!(second.body["order"]["id"], first.body["order"]["id"]);
    assert_eq!(second.body["order"]["totals"]["grandTotal"], usd("30.00"));
}

/// A staff call: `method` on `path` with the full staff token and `key` as the
/// `Idempotency-Key`.
async fn staff(shop: &Api, method: Method, path: &str, key: &str, body: Option<Value>) -> Answer {
    let bearer = format!("Bearer {STAFF_TOKEN}");
    shop.send(
        method,
        path,
        body,
        &[("Idempotency-Key", key), ("Authorization", &bearer)],
    )
    .await
}

/// A charged-back purchase over HTTP: staff reverse the order, its card is blocked and what was
/// left clawed back, the code no longer pays, a replay answers the same, and staff can unblock.
async fn a_charged_back_purchase_blocks_its_card(shop: &Api) {
    let code = shop.buy("40").await;
    let checked = staff(
        shop,
        Method::POST,
        "/balance-checks",
        "-",
        Some(json!({"code": code})),
    )
    .await;
    let card = checked.body["card"].as_str().expect("card id").to_owned();
    let read = staff(shop, Method::GET, &format!("/cards/{card}"), "-", None).await;
    let order = read.body["card"]["order"]
        .as_str()
        .expect("the card names the order that bought it")
        .to_owned();
    let checkout = shop.checkout("15.00").await;
    assert_eq!(shop.apply(&checkout, &code).await.status, StatusCode::OK);

    let path = format!("/orders/{order}/reversal");
    let body = json!({"cause": "chargedBack", "reason": "chargeback from the bank"});
    let reversed = staff(shop, Method::POST, &path, "cb-1", Some(body.clone())).await;
    assert_eq!(reversed.status, StatusCode::OK, "{}", reversed.body);
    let line = &reversed.body["reversal"]["cards"][0];
    assert_eq!(line["clawedBack"], usd("40.00"), "{}", reversed.body);
    assert_eq!(line["spent"], usd("0.00"));
    assert_eq!(line["status"], "blocked");
    assert!(!reversed.body.to_string().contains(&code));
    let again = staff(shop, Method::POST, &path, "cb-1", Some(body)).await;
    assert_eq!(again.body["replayed"], true, "{}", again.body);
    assert_eq!(again.body["reversal"], reversed.body["reversal"]);

    let other = shop.checkout("5.00").await;
    let refused = shop.apply(&other, &code).await;
    assert_error(&refused, StatusCode::UNPROCESSABLE_ENTITY, "card_blocked");
    let nothing = staff(
        shop,
        Method::POST,
        "/orders/no-such-order/reversal",
        "cb-2",
        Some(json!({"cause": "refunded", "reason": "refund"})),
    )
    .await;
    assert_error(&nothing, StatusCode::NOT_FOUND, "no_cards_for_order");
    let bad_cause = staff(
        shop,
        Method::POST,
        &path,
        "cb-3",
        Some(json!({"cause": "stolen", "reason": "refund"})),
    )
    .await;
    assert_eq!(
        bad_cause.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad_cause.body
    );

    let unblocked = staff(
        shop,
        Method::POST,
        &format!("/cards/{card}/unblock"),
        "ub-1",
        Some(json!({"reason": "chargeback won"})),
    )
    .await;
    assert_eq!(unblocked.status, StatusCode::OK, "{}", unblocked.body);
    assert_eq!(unblocked.body["amended"]["status"], "depleted");
}

/// The back office over HTTP: a balance by code, the card and its ledger, disable and enable,
/// an adjustment, a reload, a new expiry, a new code for a lost one, search and the liability
/// report, each change under its key and recorded with the staff member who made it.
async fn the_back_office_works_over_http(shop: &Api) {
    let code = shop.buy("50").await;
    let checked = staff(
        shop,
        Method::POST,
        "/balance-checks",
        "-",
        Some(json!({"code": code})),
    )
    .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    assert_eq!(checked.body["balance"], usd("50.00"));
    assert!(!checked.body.to_string().contains(&code));
    let card = checked.body["card"].as_str().expect("card id").to_owned();

    let read = staff(
        shop,
        Method::GET,
        &format!("/cards/{card}?limit=1"),
        "-",
        None,
    )
    .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["ledger"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        read.body["ledger"][0]["kind"]["type"], "issued",
        "{}",
        read.body
    );
    assert!(!read.body.to_string().contains(&code));

    let reason = |text: &str| json!({"reason": text});
    let disable = format!("/cards/{card}/disable");
    let disabled = staff(shop, Method::POST, &disable, "d-1", Some(reason("stolen"))).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert_eq!(disabled.body["amended"]["status"], "disabled");
    let again = staff(shop, Method::POST, &disable, "d-1", Some(reason("stolen"))).await;
    assert_eq!(again.body["replayed"], true, "{}", again.body);
    let checkout = shop.checkout("10.00").await;
    let refused = shop.apply(&checkout, &code).await;
    assert_error(&refused, StatusCode::UNPROCESSABLE_ENTITY, "card_refused");
    let enabled = staff(
        shop,
        Method::POST,
        &format!("/cards/{card}/enable"),
        "e-1",
        Some(reason("found")),
    )
    .await;
    assert_eq!(
        enabled.body["amended"]["status"], "active",
        "{}",
        enabled.body
    );

    let adjusted = staff(
        shop,
        Method::POST,
        &format!("/cards/{card}/adjust"),
        "a-1",
        Some(json!({"change": {"amount": "-5.00"}, "reason": "goodwill reversed"})),
    )
    .await;
    assert_eq!(adjusted.status, StatusCode::OK, "{}", adjusted.body);
    assert_eq!(adjusted.body["amended"]["balance"], usd("45.00"));
    let reloaded = staff(
        shop,
        Method::POST,
        &format!("/cards/{card}/reload"),
        "r-1",
        Some(json!({"amount": {"amount": "10"}, "reason": "top-up at the till"})),
    )
    .await;
    assert_eq!(
        reloaded.body["amended"]["balance"],
        usd("55.00"),
        "{}",
        reloaded.body
    );
    let no_reason = staff(
        shop,
        Method::POST,
        &format!("/cards/{card}/reload"),
        "r-2",
        Some(json!({"amount": {"amount": "10"}, "reason": ""})),
    )
    .await;
    assert_error(&no_reason, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let expiry = staff(
        shop,
        Method::POST,
        &format!("/cards/{card}/expiry"),
        "x-1",
        Some(json!({"expiresAt": "2030-06-30T00:00:00Z", "reason": "goodwill"})),
    )
    .await;
    assert_eq!(expiry.status, StatusCode::OK, "{}", expiry.body);
    assert_eq!(expiry.body["amended"]["expiresAt"], "2030-06-30T00:00:00Z");

    let replaced = staff(
        shop,
        Method::POST,
        &format!("/cards/{card}/replace-code"),
        "c-1",
        Some(reason("customer lost the e-mail")),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    let new_code = replaced.body["emailOutbox"]["messages"][0]["code"]
        .as_str()
        .expect("the new code, for the owner's e-mail")
        .to_owned();
    assert_ne!(new_code, code);
    let old = shop.apply(&checkout, &code).await;
    assert_error(&old, StatusCode::NOT_FOUND, "unknown_code");
    assert_eq!(
        shop.apply(&checkout, &new_code).await.status,
        StatusCode::OK
    );

    // Every change names the staff member and the reason.
    let ledger = staff(
        shop,
        Method::GET,
        &format!("/cards/{card}?from=2"),
        "-",
        None,
    )
    .await;
    let entries = ledger.body["ledger"].as_array().expect("ledger").clone();
    assert!(entries.len() >= 6, "{}", ledger.body);
    for entry in &entries {
        let actor = entry["attribution"]["actor"].as_str().unwrap_or_default();
        assert!(actor.starts_with("staff:"), "{entry}");
        assert!(!actor.contains(STAFF_TOKEN), "{entry}");
    }

    let found = staff(
        shop,
        Method::GET,
        "/cards?currency=USD&status=active",
        "-",
        None,
    )
    .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let ids: Vec<&str> = found.body["cards"]
        .as_array()
        .expect("cards")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(ids.contains(&card.as_str()), "{}", found.body);
    let bad_limit = staff(shop, Method::GET, "/cards?limit=0", "-", None).await;
    assert_error(&bad_limit, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");

    let report = staff(shop, Method::GET, "/reports/liability", "-", None).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let usd_line = report.body["lines"]
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["currency"] == "USD"))
        .expect("a USD line")
        .clone();
    assert_eq!(usd_line["balanced"], true, "{usd_line}");
    assert_eq!(report.body["discrepancies"], json!([]));
    let bearer = format!("Bearer {STAFF_TOKEN}");
    let csv = shop
        .client
        .get(format!("{}/reports/liability?format=csv", shop.base))
        .header("Authorization", &bearer)
        .send()
        .await
        .expect("request");
    assert_eq!(csv.status(), StatusCode::OK);
    assert_eq!(
        csv.headers()["content-type"].to_str().unwrap_or_default(),
        "text/csv; charset=utf-8"
    );
    let text = csv.text().await.expect("csv");
    let mut rows = text.lines();
    assert_eq!(
        rows.next(),
        Some(
            "currency,outstandingCards,outstanding,held,issued,reloaded,redeemed,refunded,\
             adjusted,movedIn,movedOut,expiredCards,expired,balanced"
        )
    );
    assert!(
        rows.any(|row| row.starts_with("USD,") && row.ends_with(",true")),
        "{text}"
    );
}

/// Each flow as a test over each store: `sqlite::flow` and `memory::flow` in a plain
/// `cargo test`, `postgres::flow` with `--ignored` against `GIFTCERT_POSTGRES_URL`.
macro_rules! over_every_store {
    ($($flow:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $flow() {
                    let server = super::start_sqlite().await;
                    super::$flow(&server.api).await;
                }
            )*
        }

        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $flow() {
                    let server = super::start_memory().await;
                    super::$flow(&server.api).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs a PostgreSQL server: set GIFTCERT_POSTGRES_URL and run with --ignored (bash .ci/run does)"]
                async fn $flow() {
                    let server = super::start_postgres().await;
                    super::$flow(&server.api).await;
                }
            )*
        }
    };
}

over_every_store!(
    centra_purchase_finalises_the_order_and_issues_the_code_once,
    bigcommerce_redemption_authorises_captures_and_reduces_the_balance,
    a_replayed_authorise_returns_the_first_result_and_holds_once,
    the_twenty_first_unknown_code_is_refused_with_retry_after,
    bad_requests_are_json_errors,
    a_placed_order_cannot_be_orphaned,
    a_failed_payment_frees_the_selection,
    the_back_office_works_over_http,
    a_charged_back_purchase_blocks_its_card,
);

/// The checkout shows what the configured allocation order gives: with expiring-first, the
/// 80.00 card that expires in three days pays before the 50.00 one that never expires, where
/// lowest-first would have taken the 50.00 card first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkout_follows_the_configured_allocation_order() {
    let protocol = Protocol::default().with_allocation_order(AllocationOrder::ExpiringFirst);
    let clock = Arc::new(FixedClock::new(t0()));
    let (server, office) = start_sqlite_with(protocol, clock.clone()).await;
    let shop = &server.api;
    let mut soon = CardSpec::new(dollars("80"));
    soon.expires_at = Some(clock.now() + TimeDelta::days(3));
    let never = CardSpec::new(dollars("50"));
    let codes = issue_codes(&office, "issue-1", vec![never, soon]);

    let checkout = shop.checkout("100.00").await;
    for code in &codes {
        let applied = shop.apply(&checkout, code).await;
        assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    }
    let open = shop.get(&format!("/checkouts/{checkout}")).await;
    let cards = &open.body["giftCertificates"];
    assert_eq!(cards[0]["used"], usd("20.00"), "{}", open.body);
    assert_eq!(cards[1]["used"], usd("80.00"), "{}", open.body);
    assert_eq!(open.body["outstandingBalance"], usd("0.00"));

    // Authorising holds what the checkout showed, card by card.
    let authorised = shop
        .moves(&format!("/checkouts/{checkout}/authorise"), "auth-1", None)
        .await;
    assert_eq!(authorised.status, StatusCode::OK, "{}", authorised.body);
    let held = &authorised.body["checkout"]["giftCertificates"];
    assert_eq!(held[0]["held"], usd("20.00"), "{}", authorised.body);
    assert_eq!(held[1]["held"], usd("80.00"), "{}", authorised.body);
}

/// A hold past its time limit is no credit: once the 30-minute hold has expired, the
/// authorised checkout shows nothing held or used on the card and the whole grand total
/// outstanding, and the card's balance is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_hold_is_not_shown_as_credit() {
    let clock = Arc::new(FixedClock::new(t0()));
    let (server, office) = start_sqlite_with(Protocol::default(), clock.clone()).await;
    let shop = &server.api;
    let spec = CardSpec::new(dollars("100"));
    let codes = issue_codes(&office, "issue-1", vec![spec]);
    let checkout = shop.checkout("60.00").await;
    assert_eq!(
        shop.apply(&checkout, &codes[0]).await.status,
        StatusCode::OK
    );
    let authorised = shop
        .moves(&format!("/checkouts/{checkout}/authorise"), "auth-1", None)
        .await;
    assert_eq!(authorised.status, StatusCode::OK, "{}", authorised.body);
    let card = &authorised.body["checkout"]["giftCertificates"][0];
    assert_eq!(card["used"], usd("60.00"), "{}", authorised.body);
    assert_eq!(
        authorised.body["checkout"]["outstandingBalance"],
        usd("0.00")
    );

    clock.advance(TimeDelta::hours(1)).expect("clock");
    let later = shop.get(&format!("/checkouts/{checkout}")).await;
    assert_eq!(later.body["giftCertificatePayment"], "authorised");
    let card = &later.body["giftCertificates"][0];
    assert_eq!(card["held"], usd("0.00"), "{}", later.body);
    assert_eq!(card["used"], usd("0.00"), "{}", later.body);
    assert_eq!(card["remaining"], usd("100.00"), "{}", later.body);
    assert_eq!(
        later.body["outstandingBalance"],
        usd("60.00"),
        "{}",
        later.body
    );
}

/// Capture, void and refund are staff routes: without a bearer token, or with one that is not
/// a staff token, each answers 401 with a JSON error naming the problem and never echoing the
/// token, and the checkout's money does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_moves_refuse_a_missing_or_wrong_staff_token() {
    let server = start_memory().await;
    let shop = &server.api;
    let code = shop.buy("100.00").await;
    let checkout = shop.checkout("60.00").await;
    assert_eq!(shop.apply(&checkout, &code).await.status, StatusCode::OK);
    let authorised = shop
        .moves(&format!("/checkouts/{checkout}/authorise"), "auth-1", None)
        .await;
    assert_eq!(authorised.status, StatusCode::OK, "{}", authorised.body);
    for step in ["capture", "void", "refund"] {
        let path = format!("/checkouts/{checkout}/{step}");
        let body = Some(json!({"amount": "10.00"}));
        let missing = shop
            .send(
                Method::POST,
                &path,
                body.clone(),
                &[("Idempotency-Key", "k-1")],
            )
            .await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED, "{}", missing.body);
        assert_eq!(missing.body["error"]["code"], "missing_credentials");
        let wrong = shop
            .send(
                Method::POST,
                &path,
                body,
                &[
                    ("Idempotency-Key", "k-1"),
                    ("Authorization", "Bearer not-the-staff-token"),
                ],
            )
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
        assert_eq!(wrong.body["error"]["code"], "invalid_credentials");
        assert!(!wrong.body.to_string().contains("not-the-staff-token"));
    }
    let after = shop.get(&format!("/checkouts/{checkout}")).await;
    assert_eq!(
        after.body["giftCertificatePayment"], "authorised",
        "{}",
        after.body
    );
}

/// Walks the route table: every route answers as its role says, without credentials, with a
/// token that is not a staff token, with a staff token lacking the scope, and with one holding
/// it. A route added to the table is checked here with no change to this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_in_the_table_asks_for_its_role() {
    let server = start_memory().await;
    let shop = &server.api;
    let no_scope = format!("Bearer {NO_SCOPE_TOKEN}");
    let full = format!("Bearer {STAFF_TOKEN}");
    for route in ROUTES {
        let path = route
            .path
            .replace("{id}", "x")
            .replace("{certificate}", "gift-1")
            .replace("{amount}", "1")
            .replace("{code}", "x");
        let method = Method::from_bytes(route.verb.name().as_bytes()).expect("method");
        let body = (route.verb != giftcert_axum_shop::routes::Verb::Get).then(|| json!({}));
        let what = format!("{} {}", route.verb.name(), route.path);
        let call = |headers: Vec<(&'static str, String)>| {
            let (method, path, body) = (method.clone(), path.clone(), body.clone());
            async move {
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                shop.send(method, &path, body, &headers).await
            }
        };
        let bare = call(vec![("Idempotency-Key", "walk".to_owned())]).await;
        match route.role {
            Role::Shopper => {
                assert_ne!(
                    bare.status,
                    StatusCode::UNAUTHORIZED,
                    "{what}: {}",
                    bare.body
                );
                assert_ne!(bare.status, StatusCode::FORBIDDEN, "{what}: {}", bare.body);
            }
            Role::Staff(scope) => {
                assert_eq!(bare.status, StatusCode::UNAUTHORIZED, "{what}");
                assert_eq!(bare.body["error"]["code"], "missing_credentials", "{what}");
                let wrong = call(vec![
                    ("Idempotency-Key", "walk".to_owned()),
                    ("Authorization", "Bearer not-a-token".to_owned()),
                ])
                .await;
                assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{what}");
                let scoped = call(vec![
                    ("Idempotency-Key", "walk".to_owned()),
                    ("Authorization", no_scope.clone()),
                ])
                .await;
                assert_eq!(
                    scoped.status,
                    StatusCode::FORBIDDEN,
                    "{what}: {}",
                    scoped.body
                );
                assert_eq!(scoped.body["error"]["code"], "insufficient_scope", "{what}");
                let message = scoped.body["error"]["message"].as_str().unwrap_or("");
                assert!(message.contains(scope.name()), "{what}: {message}");
                let allowed = call(vec![
                    ("Idempotency-Key", "walk".to_owned()),
                    ("Authorization", full.clone()),
                ])
                .await;
                assert_ne!(allowed.status, StatusCode::UNAUTHORIZED, "{what}");
                assert_ne!(allowed.status, StatusCode::FORBIDDEN, "{what}");
            }
            Role::Provider => {
                assert_eq!(
                    bare.status,
                    StatusCode::UNAUTHORIZED,
                    "{what}: {}",
                    bare.body
                );
                let staff = call(vec![("Authorization", full.clone())]).await;
                assert_eq!(
                    staff.status,
                    StatusCode::UNAUTHORIZED,
                    "{what}: staff is no provider"
                );
            }
            other => panic!("{what}: a role this test does not know: {other:?}"),
        }
    }
}

/// Applies a fresh random code to `checkout` with `forwarded` as `X-Forwarded-For`.
async fn apply_from(shop: &Api, checkout: &str, forwarded: &str) -> Answer {
    let code = RandomCodeGenerator::default().generate().expect("code");
    let path = format!("/checkouts/{checkout}/gift-certificates");
    let body = json!({"giftCertificateCode": code.expose_secret()});
    shop.send(
        Method::POST,
        &path,
        Some(body),
        &[("X-Forwarded-For", forwarded)],
    )
    .await
}

/// Behind a trusted proxy each shopper has a guard window of their own: twenty unknown codes
/// from one forwarded address do not lock out another. Without the trust, `X-Forwarded-For` is
/// the client's own text and changes nothing: writing another address escapes no window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_shopper_has_a_window_of_their_own() {
    let trusted = TrustedProxies::parse("127.0.0.1").expect("proxies");
    let server = start_shop(
        AsyncRedeemer::new(MemoryStore::new()),
        Backing::Memory,
        |shop| shop.with_trusted_proxies(trusted),
    )
    .await;
    let shop = &server.api;
    let checkout = shop.checkout("25.00").await;
    for _ in 0..20 {
        let unknown = apply_from(shop, &checkout, "198.51.100.7").await;
        assert_error(&unknown, StatusCode::NOT_FOUND, "unknown_code");
    }
    let locked = apply_from(shop, &checkout, "198.51.100.7").await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    let other = apply_from(shop, &checkout, "203.0.113.20").await;
    assert_error(&other, StatusCode::NOT_FOUND, "unknown_code");
    // A spoofed left-hand hop does not move the client off the proxy's hop.
    let spoofed = apply_from(shop, &checkout, "203.0.113.99, 198.51.100.7").await;
    assert_eq!(
        spoofed.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        spoofed.body
    );

    let untrusting = start_memory().await;
    let shop = &untrusting.api;
    let checkout = shop.checkout("25.00").await;
    for _ in 0..20 {
        let unknown = apply_from(shop, &checkout, "198.51.100.7").await;
        assert_error(&unknown, StatusCode::NOT_FOUND, "unknown_code");
    }
    let escaped = apply_from(shop, &checkout, "203.0.113.20").await;
    assert_eq!(
        escaped.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        escaped.body
    );
}

/// What the request tracing wrote, for every server of this test binary.
fn traced() -> &'static Arc<std::sync::Mutex<Vec<u8>>> {
    static LOG: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        log
    })
}

/// Writes into the shared log.
struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Requests are traced with their method and route template, and no code appears in the log,
/// not even one sent in a URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_tracing_names_routes_and_never_a_code() {
    let log = traced();
    let server = start_memory().await;
    let shop = &server.api;
    let code = shop.buy("20").await;
    let checkout = shop.checkout("10.00").await;
    assert_eq!(shop.apply(&checkout, &code).await.status, StatusCode::OK);
    let path = format!("/checkouts/{checkout}/gift-certificates/{code}");
    let removed = shop.send(Method::DELETE, &path, None, &[]).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    let text = String::from_utf8(log.lock().expect("log").clone()).expect("UTF-8");
    assert!(
        text.contains("route=\"/checkouts/{id}/gift-certificates/{code}\""),
        "{text}"
    );
    assert!(text.contains("status=200"), "{text}");
    let bare = code.replace('-', "");
    assert!(
        !text.contains(&code) && !text.contains(&bare),
        "a code in the log"
    );
}

/// `GET /gift-certificates` from `client`, as a trusted proxy forwards it.
async fn listing_from(shop: &Api, client: &str) -> Answer {
    let headers = [("X-Forwarded-For", client)];
    shop.send(Method::GET, "/gift-certificates", None, &headers)
        .await
}

/// A client over its request limit gets 429 with `Retry-After`; another client does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_request_limit_is_told_when_to_come_back() {
    let trusted = TrustedProxies::parse("127.0.0.1").expect("proxies");
    let server = start_shop(
        AsyncRedeemer::new(MemoryStore::new()),
        Backing::Memory,
        |shop| {
            shop.with_trusted_proxies(trusted)
                .with_request_limit(RequestLimit::new(1, 3))
        },
    )
    .await;
    let shop = &server.api;
    for _ in 0..3 {
        assert_eq!(
            listing_from(shop, "198.51.100.7").await.status,
            StatusCode::OK
        );
    }
    let limited = listing_from(shop, "198.51.100.7").await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    let wait: u64 = limited
        .retry_after
        .as_deref()
        .and_then(|s| s.parse().ok())
        .expect("Retry-After");
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(
        listing_from(shop, "203.0.113.20").await.status,
        StatusCode::OK
    );
}

/// The provider's `payment-result` is accepted only signed with the webhook secret, within
/// five minutes, and once: unsigned, forged, stale and replayed calls are 401 and the order
/// stays unpaid; the genuine call then finalises it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_stale_or_replayed_payment_result_is_refused() {
    let server = start_memory().await;
    let shop = &server.api;
    let selection = shop.post("/selections", json!({"currency": "USD"})).await;
    let id = selection.body["selection"].as_str().expect("id").to_owned();
    let added = shop
        .post(
            &format!("/selections/{id}/gift-certificates"),
            json!({"giftCertificate": "gift-1", "amount": "50.00"}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let placed = shop
        .post(
            &format!("/selections/{id}/payment"),
            json!({"paymentMethod": "card", "email": "buyer@example.com"}),
        )
        .await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
    let path = format!("/selections/{id}/payment-result");
    let body = json!({"result": "paid"}).to_string();

    let unsigned = shop.post(&path, json!({"result": "paid"})).await;
    assert_eq!(
        unsigned.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        unsigned.body
    );
    assert_eq!(unsigned.body["error"]["code"], "missing_signature");
    let forged = signature(b"not-the-secret", unix_now(), &body);
    let answer = shop.signed(&path, body.clone(), &forged).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "bad_signature");
    let other_body = signature(WEBHOOK_SECRET, unix_now(), r#"{"result":"failed"}"#);
    let answer = shop.signed(&path, body.clone(), &other_body).await;
    assert_eq!(
        answer.body["error"]["code"], "bad_signature",
        "{}",
        answer.body
    );
    let stale = signature(WEBHOOK_SECRET, unix_now() - 301, &body);
    let answer = shop.signed(&path, body.clone(), &stale).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "stale_signature");
    let open = shop.get(&format!("/selections/{id}")).await;
    assert_eq!(
        open.body["order"]["status"], "awaitingPayment",
        "{}",
        open.body
    );

    let genuine = signature(WEBHOOK_SECRET, unix_now(), &body);
    let paid = shop.signed(&path, body.clone(), &genuine).await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    assert_eq!(paid.body["order"]["status"], "finalised");
    let replayed = shop.signed(&path, body, &genuine).await;
    assert_eq!(
        replayed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        replayed.body
    );
    assert_eq!(replayed.body["error"]["code"], "replayed_signature");
}

/// The API's description is served to anyone, as the route table makes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_description_is_served_from_the_route_table() {
    let server = start_memory().await;
    let served = server.api.get("/openapi.json").await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.body);
    assert_eq!(served.body, giftcert_axum_shop::openapi::document());
    assert_eq!(served.body["openapi"], "3.1.0");
    let paths = served.body["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/reports/liability"));
    assert!(paths.contains_key("/openapi.json"));
}
