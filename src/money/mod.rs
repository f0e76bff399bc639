//! Money: currencies with their minor units, exact amounts, rounding, display formats and tax
//! rates.
mod amount;
mod currency;
mod error;
mod format;
mod rounding;
pub(crate) mod serde_impl;
mod tax;

pub use self::amount::*;
pub use self::currency::*;
pub use self::error::*;
pub use self::format::*;
pub use self::rounding::*;
pub use self::tax::*;
