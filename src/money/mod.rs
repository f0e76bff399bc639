//! Money: currencies with their minor units, exact amounts, rounding, display formats and tax
//! rates.
mod amount;
mod currency;
pub(crate) mod serde_impl;
mod tax;

pub use self::amount::*;
pub use self::currency::*;
pub use self::tax::*;
