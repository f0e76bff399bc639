//! Stock keeping units: how a host names the products in a selection.

use crate::ident::text_newtype;

use super::*;

/// The longest SKU accepted, in characters.
const MAX_SKU_LEN: usize = 128;

text_newtype! {
    /// A product's stock-keeping unit: 1 to 128 characters, no control characters, no surrounding
    /// white space.
    ///
    /// Cheap to clone: totals name their lines by it without copying the text.
    pub struct Sku;
    error: SelectionError;
    /// Checks and wraps a SKU.
    ///
    /// # Errors
    ///
    /// [`SelectionError::InvalidSku`] when empty, longer than 128 characters, starting or ending
    /// with white space, or holding control characters.
    fn new(sku) {
        let invalid = |reason| SelectionError::InvalidSku {
            sku: sku.chars().take(MAX_SKU_LEN).collect(),
            reason,
        };
        if sku.is_empty() {
            return Err(invalid("it is empty"));
        }
        if sku.chars().count() > MAX_SKU_LEN {
            return Err(invalid("it is longer than 128 characters"));
        }
        if sku.trim() != sku {
            return Err(invalid("it starts or ends with white space"));
        }
        if sku.chars().any(char::is_control) {
            return Err(invalid("it holds control characters"));
        }
    }
}
