//! What a new card is issued with: its value, recipient, expiry, tags and metadata.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::card::Reference;
use crate::money::Money;

/// Who receives the card, as the buyer gave it at checkout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    /// The recipient's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the host e-mails the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// What a new card is issued with (one per certificate unit bought, or per bulk-issued card).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardSpec {
    /// Its value, above zero.
    pub value: Money,
    /// The order that bought it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Reference>,
    /// Who bought it, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchaser: Option<Reference>,
    /// Who receives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Recipient>,
    /// The buyer's gift message (Centra's `giftMessage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Free-form tags (a campaign, a batch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Free-form host data.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// When it expires, if ever (see [`ExpiryPolicy`](crate::card::ExpiryPolicy)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl CardSpec {
    /// A card of `value` with nothing else set.
    #[must_use]
    pub fn new(value: Money) -> CardSpec {
        CardSpec {
            value,
            order: None,
            purchaser: None,
            recipient: None,
            message: None,
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            expires_at: None,
        }
    }
}
