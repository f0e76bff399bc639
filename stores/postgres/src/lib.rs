#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod schema;
mod store;

pub use schema::SCHEMA_VERSION;
pub use store::{ConnectError, PostgresStore};
