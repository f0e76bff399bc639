//! The shop: selections (carts), totals, payment policy and orders.
mod order;
mod payment;
mod selection;
mod totals;

pub use self::order::*;
pub use self::payment::*;
pub use self::selection::*;
pub use self::totals::*;
