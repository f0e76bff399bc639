//! Idempotency keys: repeating a request returns its first result and changes nothing.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::redemption::Outcome;

/// The longest key accepted.
const MAX_KEY_LEN: usize = 255;

/// The key a host sends with each money-moving request (a UUID, an order step id...).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

/// A key that is empty, too long or not printable ASCII.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid idempotency key: {0}")]
pub struct IdempotencyKeyError(&'static str);

impl IdempotencyKey {
    /// Checks and wraps a key: 1 to 255 printable ASCII characters.
    ///
    /// # Errors
    ///
    /// [`IdempotencyKeyError`].
    pub fn new(key: &str) -> Result<IdempotencyKey, IdempotencyKeyError> {
        if key.is_empty() {
            return Err(IdempotencyKeyError("it is empty"));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(IdempotencyKeyError("it is longer than 255 characters"));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IdempotencyKeyError(
                "only printable ASCII without spaces is allowed",
            ));
        }
        Ok(IdempotencyKey(key.to_owned()))
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({:?})", self.0)
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = IdempotencyKeyError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        IdempotencyKey::new(&s)
    }
}

impl From<IdempotencyKey> for String {
    fn from(k: IdempotencyKey) -> Self {
        k.0
    }
}

/// FNV-1a: a stable 64-bit digest (the same in every process, so a database can keep it).
pub(crate) fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What a store keeps for a key: what was asked, and what was answered.
///
/// The outcome holds card ids and amounts, never codes: a replay returns the same outcome but
/// no notifications (they were handed over once, with the first result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyRecord {
    /// The key.
    pub key: IdempotencyKey,
    /// A canonical description of the request (operation, checkout, amounts).
    pub request: String,
    /// The first result.
    pub outcome: Outcome,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}
