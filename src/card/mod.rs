//! Gift cards: identity, status, holds, the ledger, expiry, leftover strategies and
//! notifications.
mod expiry;
mod gift_card;
mod hint;
mod hold;
mod id;
mod ledger;
mod leftover;
mod notification;
mod spec;

pub use self::expiry::*;
pub use self::gift_card::*;
pub use self::hint::*;
pub use self::hold::*;
pub use self::id::*;
pub use self::ledger::*;
pub use self::leftover::*;
pub use self::notification::*;
pub use self::spec::*;
