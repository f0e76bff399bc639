#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

#[cfg(feature = "tokio")]
mod blocking;
mod commit;
mod connect;
mod ops;
mod schema;
mod sql;
mod store;

#[cfg(feature = "tokio")]
pub use blocking::Blocking;
pub use connect::OpenError;
/// How a store's connection pool is sized, re-exported for [`SqliteStore::open_with`].
pub use giftcert_store_support::PoolOptions;
/// The key a store hashes codes with, re-exported so that a host needs no other crate to open
/// a store.
pub use giftcert_store_support::{CodeKey, CodeKeyError};
pub use schema::SCHEMA_VERSION;
pub use store::SqliteStore;
