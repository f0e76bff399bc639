//! A gift-card shop over HTTP: `giftcert` driven from axum handlers.
//!
//! It sells gift certificates the way Centra's Shop API does (`GET /gift-certificates`,
//! selections, payment, the payment result that finalises the order and issues the cards) and
//! takes them as payment on a checkout the way BigCommerce's Storefront API does (applying and
//! removing codes, `giftCertificates` and `outstandingBalance`), with the money moves
//! (authorise, capture, void, refund) under an `Idempotency-Key`.
//!
//! The router is generic over the [`AsyncStore`], and every handler reaches the library
//! through [`GiftCards`], which runs its async driver,
//! [`AsyncRedeemer`](giftcert::store::AsyncRedeemer): the rules (replays, retries, the
//! unknown-code guard, hold expiry) are all the library's. The binary picks the store:
//! `giftcert_postgres::AsyncPostgresStore` when `GIFTCERT_POSTGRES_URL` is set, else the
//! embedded SQLite store behind [`giftcert_sqlite::Blocking`], which runs each blocking store
//! call on tokio's blocking pool.
//!
//! # Example
//!
//! ```no_run
//! use giftcert::MemoryStore;
//! use giftcert::store::AsyncRedeemer;
//! use giftcert_axum_shop::{Shop, serve};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let shop = Shop::new(AsyncRedeemer::new(MemoryStore::new()))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("listening on http://{}", listener.local_addr()?);
//! serve(listener, shop, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! A blocking store, such as `giftcert_sqlite::SqliteStore`, goes behind
//! [`giftcert_sqlite::Blocking`]:
//! `Shop::new(AsyncRedeemer::new(Blocking::new(store)))`.
//!
//! # Errors
//!
//! Every refusal is a 4xx JSON body `{"error": {"code": "...", "message": "..."}}`
//! ([`ApiError`]), extractor failures included. No message holds a whole gift card code.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod amount;
pub mod auth;
mod bigcommerce;
mod centra;
pub mod config;
pub mod edge;
mod error;
mod office;
pub mod openapi;
pub mod routes;
mod service;
mod shop;
pub mod webhook;

use std::future::Future;
use std::net::SocketAddr;

use giftcert::store::AsyncStore;

pub use crate::auth::{Scope, Scopes, StaffTokens};
pub use crate::edge::{RequestLimit, TrustedProxies};
pub use crate::error::ApiError;
pub use crate::routes::{MAX_BODY_BYTES, ROUTES, Role, Route, router};
pub use crate::service::{GiftCards, ServiceError, TokioTimer, Upkeep};
pub use crate::shop::{CatalogueSetupError, Shop, demo_catalogue};
pub use crate::webhook::WebhookVerifier;

/// Serves `shop` on `listener` until `shutdown` completes, giving handlers the peer's address
/// (the client the unknown-code guard counts).
///
/// # Errors
///
/// When the listener fails.
pub async fn serve<S: AsyncStore + 'static>(
    listener: tokio::net::TcpListener,
    shop: Shop<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(shop).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
