//! Redemption: allocation, the pure decisions, idempotency and the unknown-code guard.
mod allocation;
mod changes;
mod decision;
mod guard;
mod idempotency;
mod store_error;

pub use self::allocation::*;
pub use self::changes::*;
pub use self::decision::*;
pub use self::guard::*;
pub use self::idempotency::*;
pub use self::store_error::*;
