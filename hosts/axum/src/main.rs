//! `cargo run -p giftcert-axum-shop`: the gift-card shop on `127.0.0.1:3000` (see the
//! crate's README for the endpoints and the environment variables).
//!
//! It keeps the cards in the embedded SQLite store, or in PostgreSQL when
//! `GIFTCERT_POSTGRES_URL` is set.

use std::process::ExitCode;

use giftcert::store::{AsyncRedeemer, AsyncStore};
use giftcert_axum_shop::config::{Config, Storage};
use giftcert_axum_shop::{
    GiftCards, RequestLimit, Shop, StaffTokens, TokioTimer, WebhookVerifier, serve,
};
use giftcert_postgres::{AsyncPostgresStore, PoolOptions};
use giftcert_sqlite::{Blocking, SqliteStore};

/// The variable holding the PostgreSQL URL. [`Config`] only notes that it is set (it may hold
/// a password), so it is read again here, where the store connects.
const POSTGRES_URL: &str = "GIFTCERT_POSTGRES_URL";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("giftcert-axum-shop: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    // Each request's method, route template, status and time, on standard error, at the level
    // `RUST_LOG` asks (`info` by default); no URI is logged, so no code is.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let config = Config::from_env().map_err(|e| e.to_string())?;
    if config.development_key {
        eprintln!(
            "giftcert-axum-shop: WARNING: GIFTCERT_CODE_KEY is not set; using the PUBLIC \
             development code key. Codes stored with it are not protected: set \
             GIFTCERT_CODE_KEY (hex, at least 16 bytes) before selling real gift cards."
        );
    }
    match config.storage.clone() {
        Storage::Sqlite(path) => {
            giftcert_axum_shop::config::prepare_sqlite_file(&path)
                .map_err(|e| format!("cannot create the SQLite file {}: {e}", path.display()))?;
            // Opened before the runtime starts: SQLite's migration blocks.
            let store = SqliteStore::open(&path, config.code_key.clone())
                .map_err(|e| format!("cannot open the SQLite store: {e}"))?;
            let label = format!("SQLite file {}", path.display());
            runtime()?.block_on(listen(&config, Blocking::new(store), label))
        }
        Storage::Postgres => {
            let url = std::env::var(POSTGRES_URL)
                .map_err(|_| format!("{POSTGRES_URL} is not readable as UTF-8"))?;
            let label = postgres_label(&url);
            // The async store connects inside the runtime: its pool's connections are tasks.
            runtime()?.block_on(async {
                let (url, key, tls) = (
                    url.trim(),
                    config.code_key.clone(),
                    config.postgres_tls.clone(),
                );
                let schema = config.postgres_schema.as_deref();
                let store = if config.postgres_migrate {
                    AsyncPostgresStore::connect_with_tls(url, schema, key, tls).await
                } else {
                    // The schema was migrated apart by an owner role: no DDL here.
                    AsyncPostgresStore::connect_migrated(
                        url,
                        schema,
                        key,
                        tls,
                        PoolOptions::default(),
                    )
                    .await
                }
                .map_err(|e| format!("cannot connect to {label}: {e}"))?;
                listen(&config, store, label).await
            })
        }
        _ => Err("this build does not know the configured storage".to_owned()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Where a PostgreSQL URL points, for people: host, port, database and user, never the
/// password (nor the URL itself, whose options could hold one).
fn postgres_label(url: &str) -> String {
    let Ok(parsed) = url.trim().parse::<tokio_postgres::Config>() else {
        // The connect error will say what is wrong with it.
        return "PostgreSQL (GIFTCERT_POSTGRES_URL)".to_owned();
    };
    let hosts: Vec<String> = parsed
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            match parsed.get_ports().get(i).or(parsed.get_ports().first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let mut label = format!(
        "PostgreSQL database {}",
        parsed
            .get_dbname()
            .or(parsed.get_user())
            .unwrap_or("(default)")
    );
    if !hosts.is_empty() {
        label.push_str(&format!(" on {}", hosts.join(",")));
    }
    if let Some(user) = parsed.get_user() {
        label.push_str(&format!(" as {user}"));
    }
    label
}

/// How many cards or records one upkeep batch takes.
const UPKEEP_BATCH: usize = 500;

/// Sweeps due cards and prunes old records every `every`, for as long as the host runs; what
/// each round did goes to standard error (counts only: no code, no card).
async fn upkeep<S: AsyncStore + 'static>(cards: GiftCards<S>, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match cards.upkeep(UPKEEP_BATCH).await {
            Ok(done) if done.swept + done.records + done.guards > 0 => eprintln!(
                "giftcert-axum-shop: upkeep swept {} cards ({} owners to tell), pruned {} records \
                 and {} guard windows",
                done.swept,
                done.notifications.len(),
                done.records,
                done.guards
            ),
            Ok(_) => {}
            Err(e) => eprintln!("giftcert-axum-shop: upkeep failed, trying again later: {e}"),
        }
    }
}

/// The environment variable listing the staff bearer tokens' SHA-256 hashes (hex, commas),
/// each optionally followed by its scopes.
const STAFF_TOKEN_SHA256: &str = "GIFTCERT_STAFF_TOKEN_SHA256";

/// Serves the shop over `store` on the configured address until Ctrl-C.
async fn listen<S: AsyncStore + 'static>(
    config: &Config,
    store: S,
    label: String,
) -> Result<(), String> {
    let redeemer = AsyncRedeemer::new(store).with_timer(std::sync::Arc::new(TokioTimer));
    let staff = match std::env::var(STAFF_TOKEN_SHA256) {
        Ok(list) => {
            StaffTokens::from_hash_list(&list).map_err(|e| format!("{STAFF_TOKEN_SHA256}: {e}"))?
        }
        Err(_) => StaffTokens::none(),
    };
    if staff.is_empty() {
        eprintln!(
            "giftcert-axum-shop: no staff token ({STAFF_TOKEN_SHA256} unset): capture, void and refund answer 401"
        );
    }
    let mut shop = Shop::new(redeemer)
        .map_err(|e| e.to_string())?
        .with_staff(staff)
        .with_trusted_proxies(config.trusted_proxies.clone())
        .with_request_limit(RequestLimit::new(
            config.rate_limit,
            config.rate_limit.saturating_mul(2),
        ));
    match std::env::var("GIFTCERT_WEBHOOK_SECRET") {
        Ok(secret) if !secret.is_empty() => {
            shop = shop.with_webhook(WebhookVerifier::new(secret.as_bytes()));
        }
        _ => eprintln!(
            "giftcert-axum-shop: no webhook secret (GIFTCERT_WEBHOOK_SECRET unset): payment-result answers 401"
        ),
    }
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("giftcert-axum-shop: listening on http://{addr} ({label})");
    if let Some(every) = config.upkeep_every {
        tokio::spawn(upkeep(shop.gift_cards().clone(), every));
    }
    let shutdown = async {
        // If the signal cannot be watched, run until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    serve(listener, shop, shutdown)
        .await
        .map_err(|e| format!("server failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgres_label_names_the_server_but_never_the_password() {
        let label = postgres_label("postgresql://shop:hunter2@db.internal:5433/gifts");
        assert_eq!(
            label,
            "PostgreSQL database gifts on db.internal:5433 as shop"
        );
        let label = postgres_label("host=localhost user=shop password=hunter2 dbname=gifts");
        assert!(!label.contains("hunter2"), "{label}");
        assert!(
            label.contains("gifts") && label.contains("localhost"),
            "{label}"
        );
        let label = postgres_label("not a url at all password=hunter2");
        assert!(!label.contains("hunter2"), "{label}");
    }
}
