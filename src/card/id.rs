//! A card's identity: the id a store keys it by, never its code.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A card's identity, separate from its secret code (ids may be logged, codes may not).
///
/// Drawn at random at the edge ([`CardId::random`]) or given by the host's database.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CardId(u128);

impl CardId {
    /// An id from its number.
    #[must_use]
    pub const fn from_u128(id: u128) -> CardId {
        CardId(id)
    }

    /// The id's number.
    #[must_use]
    pub const fn as_u128(&self) -> u128 {
        self.0
    }

    /// A fresh random id drawn from the operating system's generator (`rand::rngs::SysRng`;
    /// 128 bits: collisions are not a concern).
    ///
    /// # Panics
    ///
    /// When the operating system cannot give random bytes, which no caller's data can cause;
    /// [`CardId::try_random`] answers an error instead.
    #[must_use]
    pub fn random() -> CardId {
        CardId(rand::RngExt::random(&mut rand::rand_core::UnwrapErr(
            rand::rngs::SysRng,
        )))
    }

    /// A fresh random id drawn from the operating system's generator, as [`CardId::random`].
    ///
    /// # Errors
    ///
    /// The operating system's error when it cannot give random bytes.
    pub fn try_random() -> Result<CardId, rand::rngs::SysError> {
        let mut bytes = [0_u8; 16];
        rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut bytes)?;
        Ok(CardId(u128::from_le_bytes(bytes)))
    }
}

/// 32 lowercase hex digits.
impl fmt::Display for CardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for CardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardId({self})")
    }
}

/// Text that is not a card id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid card id: expected 1 to 32 hex digits")]
pub struct CardIdError;

impl FromStr for CardId {
    type Err = CardIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CardIdError);
        }
        u128::from_str_radix(s, 16)
            .map(CardId)
            .map_err(|_| CardIdError)
    }
}

impl TryFrom<String> for CardId {
    type Error = CardIdError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<CardId> for String {
    fn from(id: CardId) -> Self {
        id.to_string()
    }
}
