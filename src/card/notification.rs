//! Messages the host delivers (the crate never sends e-mail).

use serde::{Deserialize, Serialize};

use crate::card::Reference;
use crate::card::{CardId, Recipient};
use crate::code::Code;
use crate::money::Money;

/// Something a person must be told, returned as a value for the host to deliver.
///
/// Notifications that hand a card to its owner carry the code whole when serialised (the host
/// must put it in the e-mail); their `Debug` output masks it like every [`Code`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum Notification {
    /// A bought certificate became a card: send its code to the recipient (Centra, Spryker).
    CardIssued {
        /// The new card.
        card: CardId,
        /// Its code, for the e-mail.
        code: Code,
        /// Its value.
        value: Money,
        /// Who receives it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipient: Option<Recipient>,
        /// The buyer's message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// The order that bought it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order: Option<Reference>,
    },
    /// A used card was closed and its remainder moved to a new code (replacement strategy,
    /// Spryker): tell the owner the new code; the old one no longer pays.
    CardReplaced {
        /// The closed card.
        old_card: CardId,
        /// The card carrying the remainder.
        new_card: CardId,
        /// The new code, for the e-mail.
        code: Code,
        /// The remainder it carries.
        value: Money,
        /// Who owns it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipient: Option<Recipient>,
    },
    /// Refunded money was put on a new card (replacement strategy): tell the owner its code.
    RefundCardIssued {
        /// The card the money was spent from.
        original_card: CardId,
        /// The new card.
        new_card: CardId,
        /// Its code, for the e-mail.
        code: Code,
        /// The refunded value it carries.
        value: Money,
        /// The order refunded.
        order: Reference,
    },
    /// The shop gave a card a new code (the old one was lost): send the new code to its
    /// owner; the old one no longer finds the card. The only place the new code appears whole;
    /// a replay of the request does not carry it again (see
    /// [`Request::ReplaceCode`](crate::redeem::Request::ReplaceCode)).
    CodeReplaced {
        /// The card, the same as before.
        card: CardId,
        /// Its new code, for the e-mail.
        code: Code,
        /// Who owns it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipient: Option<Recipient>,
    },
    /// A card passed its expiry date with money still on it, as a sweep recorded: tell its
    /// owner (some shops must, and it is the moment to offer an extension).
    CardExpired {
        /// The card.
        card: CardId,
        /// What was left on it.
        balance: Money,
        /// Who owns it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipient: Option<Recipient>,
    },
}
