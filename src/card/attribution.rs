//! Who changed a card by hand, and why: what a back-office command keeps on its ledger entry.

use serde::{Deserialize, Serialize};

use crate::card::Reference;
use crate::ident::text_newtype;

/// The longest reason accepted, in characters.
pub const MAX_REASON_LEN: usize = 500;

text_newtype! {
    /// Why a member of staff changed a card ("goodwill after a late delivery"), as the ledger
    /// keeps it.
    ///
    /// 1 to 500 characters, not only spaces, no control characters.
    pub struct Reason;
    error: ReasonError;
    /// Checks and wraps a reason.
    ///
    /// # Errors
    ///
    /// [`ReasonError`] when `text` is empty or blank, longer than [`MAX_REASON_LEN`]
    /// characters, or holds a control character.
    fn new(text) {
        if text.trim().is_empty() {
            return Err(ReasonError("it is empty"));
        }
        if text.chars().count() > MAX_REASON_LEN {
            return Err(ReasonError("it is longer than 500 characters"));
        }
        if text.chars().any(char::is_control) {
            return Err(ReasonError("it holds a control character"));
        }
    }
}

/// A reason that is empty, too long or holds control characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reason: {0}")]
pub struct ReasonError(&'static str);

/// Who made a back-office change and why. The host names the actor (a staff account, a
/// support ticket's agent, a scheduled job); the ledger entry the change writes keeps both, so
/// a card's history says who disabled it, adjusted it or moved its expiry.
///
/// ```
/// use giftcert::card::{Attribution, Reason, Reference};
///
/// let by = Attribution::new(Reference::new("staff:ana")?, Reason::new("customer called: card lost")?);
/// assert_eq!(by.actor().as_str(), "staff:ana");
/// assert_eq!(by.to_string(), "staff:ana (customer called: card lost)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attribution {
    actor: Reference,
    reason: Reason,
}

impl Attribution {
    /// `actor` did it, for `reason`.
    #[must_use]
    pub const fn new(actor: Reference, reason: Reason) -> Attribution {
        Attribution { actor, reason }
    }

    /// Who did it.
    #[must_use]
    pub const fn actor(&self) -> &Reference {
        &self.actor
    }

    /// Why.
    #[must_use]
    pub const fn reason(&self) -> &Reason {
        &self.reason
    }
}

impl std::fmt::Display for Attribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.actor, self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_one_to_five_hundred_printable_characters() {
        assert!(Reason::new("typo in the amount").is_ok());
        assert!(Reason::new(&"é".repeat(MAX_REASON_LEN)).is_ok());
        assert_eq!(
            Reason::new(&"é".repeat(MAX_REASON_LEN + 1)).unwrap_err(),
            ReasonError("it is longer than 500 characters")
        );
        assert_eq!(Reason::new("  ").unwrap_err(), ReasonError("it is empty"));
        assert_eq!(
            Reason::new("two\nlines").unwrap_err().to_string(),
            "invalid reason: it holds a control character"
        );
    }
}
