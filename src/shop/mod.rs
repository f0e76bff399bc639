//! The shop: selections (carts), totals, payment policy and orders.
mod contact;
mod issuing;
mod line;
mod order;
mod payment;
mod policy;
mod selection;
mod sku;
mod totals;

pub use self::contact::*;
pub use self::issuing::*;
pub use self::line::*;
pub use self::order::*;
pub use self::payment::*;
pub use self::policy::*;
pub use self::selection::*;
pub use self::sku::*;
pub use self::totals::*;
