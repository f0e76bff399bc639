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
mod error;
mod service;
mod shop;
pub mod webhook;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use giftcert::store::AsyncStore;

pub use crate::auth::StaffTokens;
pub use crate::error::ApiError;
pub use crate::service::{GiftCards, ServiceError, TokioTimer};
pub use crate::shop::{CatalogueSetupError, Shop, demo_catalogue};
pub use crate::webhook::WebhookVerifier;

/// The shop's routes, over `shop`.
///
/// Money moves on a checkout (capture, void, refund) are staff routes: they answer 401 without
/// a staff bearer token ([`StaffTokens`]).
pub fn router<S: AsyncStore + 'static>(shop: Shop<S>) -> Router {
    let state = Arc::new(shop);
    let staff = Router::new()
        .route("/checkouts/{id}/capture", post(bigcommerce::capture::<S>))
        .route("/checkouts/{id}/void", post(bigcommerce::void::<S>))
        .route("/checkouts/{id}/refund", post(bigcommerce::refund::<S>))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_staff::<S>,
        ));
    let provider = Router::new()
        .route(
            "/selections/{id}/payment-result",
            post(centra::payment_result::<S>),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            webhook::require_signature::<S>,
        ));
    Router::new()
        .route("/gift-certificates", get(centra::listing::<S>))
        .route("/selections", post(centra::create_selection::<S>))
        .route("/selections/{id}", get(centra::get_selection::<S>))
        .route(
            "/selections/{id}/gift-certificates",
            post(centra::add_certificate::<S>),
        )
        .route(
            "/selections/{id}/gift-certificates/{certificate}",
            post(centra::add_certificate_by_path::<S>),
        )
        .route(
            "/selections/{id}/gift-certificates/{certificate}/amount/{amount}",
            post(centra::add_certificate_with_amount::<S>),
        )
        .route("/selections/{id}/payment", post(centra::payment::<S>))
        .merge(provider)
        .route("/checkouts", post(bigcommerce::create_checkout::<S>))
        .route("/checkouts/{id}", get(bigcommerce::get_checkout::<S>))
        .route(
            "/checkouts/{id}/gift-certificates",
            post(bigcommerce::apply_code::<S>),
        )
        .route(
            "/checkouts/{id}/gift-certificates/{code}",
            axum::routing::delete(bigcommerce::remove_code::<S>),
        )
        .route(
            "/checkouts/{id}/authorise",
            post(bigcommerce::authorise::<S>),
        )
        .merge(staff)
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        .with_state(state)
}

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
