//! Redemption: allocation, the pure decisions, idempotency and the unknown-code guard.
mod allocation;
mod changes;
mod checkout;
mod decision;
mod error;
mod guard;
mod idempotency;
mod outcome;
mod store_error;

pub use self::allocation::*;
pub use self::changes::*;
pub use self::checkout::*;
pub use self::decision::*;
pub use self::error::*;
pub use self::guard::*;
pub use self::idempotency::*;
pub use self::outcome::*;
pub use self::store_error::*;
