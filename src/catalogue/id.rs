//! Certificate ids: how a shop names a certificate in its catalogue.

use crate::ident::text_newtype;

use super::*;

text_newtype! {
    /// A certificate definition's id (`"gift-2"`): 1 to 64 characters from `A-Z a-z 0-9 - _ .`.
    ///
    /// Cheap to clone: totals name their lines by it without copying the text.
    pub struct CertificateId;
    error: CatalogueError;
    /// Checks and wraps an id.
    ///
    /// # Errors
    ///
    /// [`CatalogueError::InvalidId`] when empty, longer than 64 characters, or using other
    /// characters than ASCII letters, digits, `-`, `_` and `.`.
    fn new(id) {
        if let Some(reason) = crate::ident::identifier_problem(id) {
            return Err(CatalogueError::InvalidId {
                id: crate::ident::shown(id),
                reason,
            });
        }
    }
}
