//! What the buyer tells the shop: the e-mail address the certificate goes to and Centra's gift message.

use crate::ident::text_newtype;

use super::*;

/// The longest gift message accepted, in characters.
pub const MAX_GIFT_MESSAGE_LEN: usize = 1_000;

const MAX_EMAIL_LEN: usize = 254;

text_newtype! {
    /// An e-mail address, checked for shape only: one `@` with text on both sides, a domain
    /// with a dot inside, no white space, at most 254 characters.
    ///
    /// ```
    /// use giftcert::EmailAddress;
    ///
    /// assert!(EmailAddress::new("dwaynecole@testing.com").is_ok());
    /// assert!(EmailAddress::new("not an address").is_err());
    /// ```
    pub struct EmailAddress;
    error: PurchaseError;
    /// Checks and wraps an address.
    ///
    /// # Errors
    ///
    /// [`PurchaseError::InvalidEmail`] saying which rule the address breaks.
    fn new(address) {
        let invalid = |reason| PurchaseError::InvalidEmail { reason };
        if address.is_empty() {
            return Err(invalid("it is empty"));
        }
        if address.len() > MAX_EMAIL_LEN {
            return Err(invalid("it is longer than 254 characters"));
        }
        if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it holds white space or control characters"));
        }
        let Some((local, domain)) = address.rsplit_once('@') else {
            return Err(invalid("it has no '@'"));
        };
        if local.is_empty() || domain.is_empty() {
            return Err(invalid("expected text on both sides of '@'"));
        }
        if domain.contains('@') || local.contains('@') {
            return Err(invalid("it has more than one '@'"));
        }
        let dotted = domain
            .split_once('.')
            .is_some_and(|(head, tail)| !head.is_empty() && !tail.is_empty());
        if !dotted || domain.ends_with('.') || domain.contains("..") {
            return Err(invalid("expected a domain such as example.com after '@'"));
        }
    }
}

text_newtype! {
    /// Centra's `giftMessage`: a message from the buyer, kept on the order and sent with the
    /// cards. 1 to 1 000 characters; line breaks and tabs are the only control characters allowed.
    pub struct GiftMessage;
    error: PurchaseError;
    /// Checks and wraps a message.
    ///
    /// # Errors
    ///
    /// [`PurchaseError::InvalidGiftMessage`] when empty, longer than
    /// [`MAX_GIFT_MESSAGE_LEN`] characters, or holding control characters other than line
    /// breaks and tabs.
    fn new(message) {
        let invalid = |reason| PurchaseError::InvalidGiftMessage { reason };
        if message.trim().is_empty() {
            return Err(invalid("it is empty"));
        }
        if message.chars().count() > MAX_GIFT_MESSAGE_LEN {
            return Err(invalid("it is longer than 1000 characters"));
        }
        if message
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(invalid("it holds control characters"));
        }
    }
}
