#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod admin;
mod async_store;
mod commit;
mod connect;
mod ops;
mod schema;
mod sql;
mod store;

pub use admin::{grant_runtime, grant_runtime_async, migrate, migrate_async};
pub use async_store::AsyncPostgresStore;
pub use connect::{ConnectError, PemText, Tls};
/// How a store's connection pool is sized, re-exported for [`PostgresStore::connect_with`].
pub use giftcert_store_support::PoolOptions;
/// The key a store hashes codes with, re-exported so that a host needs no other crate to open
/// a store.
pub use giftcert_store_support::{CodeKey, CodeKeyError};
/// No TLS, for a host's own `postgres` clients (its admin connections, say), re-exported so
/// that a host needs no other crate. The stores take a [`Tls`]: plaintext to a host that is
/// not local only with [`Tls::disabled`].
pub use postgres::NoTls;
pub use schema::SCHEMA_VERSION;
pub use store::PostgresStore;
