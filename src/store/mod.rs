//! Storage: the store contract, the in-memory store and the redeemer that drives them.
mod contract;
mod memory;
mod redeemer;

pub use self::contract::*;
pub use self::memory::*;
pub use self::redeemer::*;
pub use crate::redeem::{
    CardWrite, Changes, Record, RecordWrite, StoreError, StoreSource, Versioned,
};
