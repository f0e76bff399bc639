//! Gift cards: identity, status, holds, the ledger, expiry, leftover strategies and
//! notifications.
mod expiry;
mod gift_card;
mod ledger;
mod leftover;
mod notification;

pub use self::expiry::*;
pub use self::gift_card::*;
pub use self::ledger::*;
pub use self::leftover::*;
pub use self::notification::*;
