//! The hand-off from a paid order to the cards it issues, and what the buyer is told.

use serde::{Deserialize, Serialize};

use super::*;
use crate::card::Reference;
use crate::card::{CardSpec, Recipient};
use crate::catalogue::{CertificateId, VoucherPurpose};
use crate::money::Money;

/// One gift card to issue: one per certificate unit of a paid order.
///
/// The card is issued from this value: the issuing step generates its code, gives it
/// [`value`](CardToIssue::value), and records [`issue_key`](CardToIssue::issue_key) so the same
/// unit is never issued twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardToIssue {
    pub(super) order_id: OrderId,
    pub(super) unit: u32,
    pub(super) definition: CertificateId,
    pub(super) value: Money,
    pub(super) purpose: VoucherPurpose,
    pub(super) recipient: EmailAddress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) gift_message: Option<GiftMessage>,
}

impl CardToIssue {
    /// The order that bought it.
    #[must_use]
    pub fn order_id(&self) -> &OrderId {
        &self.order_id
    }

    /// Its number within the order, from 1, counting units across lines in line order.
    #[must_use]
    pub const fn unit(&self) -> u32 {
        self.unit
    }

    /// The definition it comes from.
    #[must_use]
    pub fn definition(&self) -> &CertificateId {
        &self.definition
    }

    /// What the card holds: exactly the certificate's value, whatever the taxes.
    #[must_use]
    pub const fn value(&self) -> Money {
        self.value
    }

    /// How its sale was taxed.
    #[must_use]
    pub const fn purpose(&self) -> VoucherPurpose {
        self.purpose
    }

    /// Who receives it.
    #[must_use]
    pub fn recipient(&self) -> &EmailAddress {
        &self.recipient
    }

    /// The buyer's gift message.
    #[must_use]
    pub fn gift_message(&self) -> Option<&GiftMessage> {
        self.gift_message.as_ref()
    }

    /// What the card is issued with: its value, the order as its reference, the recipient and
    /// the gift message, and the definition and issue key as metadata.
    #[must_use]
    pub fn card_spec(&self) -> CardSpec {
        let mut spec = CardSpec::new(self.value);
        // An order id is always a valid reference (a subset of its characters and length).
        spec.order = Reference::new(self.order_id.as_str()).ok();
        spec.recipient = Some(Recipient {
            name: None,
            email: Some(self.recipient.as_str().to_owned()),
        });
        spec.message = self.gift_message.as_ref().map(|m| m.as_str().to_owned());
        spec.metadata
            .insert("definition".to_owned(), self.definition.to_string());
        spec.metadata
            .insert("issueKey".to_owned(), self.issue_key());
        spec
    }

    /// A key unique to this unit of this order (`"o-1001/1"`), for issuing idempotently.
    #[must_use]
    pub fn issue_key(&self) -> String {
        format!("{}/{}", self.order_id, self.unit)
    }
}

/// The e-mail the host sends once the cards are issued: to whom, and which cards. It holds no
/// codes: the host adds each card's code, by [`CardToIssue::issue_key`], when it issues them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateNotification {
    pub(super) to: EmailAddress,
    pub(super) buyer: EmailAddress,
    pub(super) order_id: OrderId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) gift_message: Option<GiftMessage>,
    pub(super) cards: Vec<CardToIssue>,
}

impl CertificateNotification {
    /// The address to send to (the recipient, or else the buyer).
    #[must_use]
    pub fn to(&self) -> &EmailAddress {
        &self.to
    }

    /// The buyer's address.
    #[must_use]
    pub fn buyer(&self) -> &EmailAddress {
        &self.buyer
    }

    /// The order.
    #[must_use]
    pub fn order_id(&self) -> &OrderId {
        &self.order_id
    }

    /// The buyer's gift message.
    #[must_use]
    pub fn gift_message(&self) -> Option<&GiftMessage> {
        self.gift_message.as_ref()
    }

    /// The cards the e-mail announces.
    #[must_use]
    pub fn cards(&self) -> &[CardToIssue] {
        &self.cards
    }
}
