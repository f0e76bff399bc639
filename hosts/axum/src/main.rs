//! `cargo run -p giftcert-axum-shop`: the gift-card shop on `127.0.0.1:3000` (see the
//! crate's README for the endpoints and the environment variables).

use std::process::ExitCode;

use giftcert::Redeemer;
use giftcert_axum_shop::config::{Config, Storage};
use giftcert_axum_shop::{Shop, serve};
use giftcert_sqlite::SqliteStore;

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
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let path = match config.storage {
        Storage::Sqlite(path) => path,
        // The blocking `postgres` driver panics inside a tokio runtime: PostgreSQL waits for
        // the async store.
        _ => {
            return Err(
                "GIFTCERT_POSTGRES_URL is set, but PostgreSQL needs the async store, \
                        which this shop does not have yet; unset it to use SQLite"
                    .to_owned(),
            );
        }
    };
    if config.development_key {
        eprintln!(
            "giftcert-axum-shop: WARNING: GIFTCERT_CODE_KEY is not set; using the PUBLIC \
             development code key. Codes stored with it are not protected: set \
             GIFTCERT_CODE_KEY (hex, at least 16 bytes) before selling real gift cards."
        );
    }
    // Opened before the runtime starts: SQLite's migration blocks.
    let store = SqliteStore::open(&path, config.code_key)
        .map_err(|e| format!("cannot open the SQLite store: {e}"))?;
    let shop = Shop::new(Redeemer::new(store)).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        eprintln!(
            "giftcert-axum-shop: listening on http://{addr} (SQLite file {})",
            path.display()
        );
        let shutdown = async {
            // If the signal cannot be watched, run until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        serve(listener, shop, shutdown)
            .await
            .map_err(|e| format!("server failed: {e}"))
    })
}
