//! What the blocking and the async store's tests share: the server's URL, the code key, the
//! test clock's start, and scratch schemas dropped when a test ends. Each test file adds the
//! ways it opens stores and clients in them (an `impl Scratch` of its own).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeZone, Utc};
use giftcert::{Currency, Money};
use giftcert_store_support::CodeKey;
use postgres::NoTls;

const URL: &str = "GIFTCERT_POSTGRES_URL";

/// The server's URL. These tests are `#[ignore]`d (they need a server); run them with
/// `GIFTCERT_POSTGRES_URL=... cargo test -p giftcert-postgres -- --ignored`, as `bash .ci/run`
/// does against a throw-away server. Run without the variable, they fail rather than pass.
pub fn url() -> String {
    match std::env::var(URL) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{URL} is not set: these tests need a PostgreSQL server (bash .ci/run starts one)"
        ),
    }
}

pub fn key() -> CodeKey {
    CodeKey::new(b"giftcert-postgres test key here!").unwrap()
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

pub fn usd(s: &str) -> Money {
    Money::parse(s, Currency::USD).unwrap()
}

/// Runs blocking PostgreSQL code (the `postgres` client panics inside a tokio runtime) on a
/// thread of its own.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(f).join().unwrap())
}

/// Schemas made for one test, dropped when it ends (whether it passed or not).
pub struct Scratch {
    pub url: String,
    schemas: Mutex<Vec<String>>,
}

impl Scratch {
    pub fn new(url: String) -> Scratch {
        Scratch {
            url,
            schemas: Mutex::new(Vec::new()),
        }
    }

    /// A name no other test, run or process uses.
    pub fn schema(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "giftcert_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.schemas.lock().unwrap().push(name.clone());
        name
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let schemas = std::mem::take(&mut *self.schemas.lock().unwrap_or_else(|e| e.into_inner()));
        let url = &self.url;
        // Off any runtime: the async tests drop their scratch inside tokio's.
        off_runtime(move || {
            if let Ok(mut client) = postgres::Client::connect(url, NoTls) {
                for schema in schemas {
                    let _ =
                        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }
        });
    }
}
