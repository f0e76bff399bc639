//! What a card shows of its code: the masked hint a receipt or a back office prints.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::code::Code;

/// A card's code, masked (`****-****-****-*KQ2-*`): all a card keeps of its code, and what
/// answers show in its place.
///
/// A hint is [`Code::masked`]: 21 characters in the shape the owner reads a default code in
/// (`ABCD-EFGH-JKMN-PQRS-T`), the last three or four of its fourth group random symbols of a
/// code [`RandomCodeGenerator`](crate::code::RandomCodeGenerator) made (never its prefix or
/// check character, and never so many that fewer than 64 bits stay hidden), `*` otherwise. A
/// pattern code (`X-GC-1`), an imported code or a short one shows nothing:
/// `****-****-****-****-*`.
///
/// The text is shared, so copies of a card, of an authorisation or of an applied code do not
/// copy it. It is shown, compared and serialised as its text; any text deserialises, since
/// how much of a code a hint shows is the code generator's choice.
///
/// ```
/// use giftcert::{Code, card::CodeHint};
///
/// let hint = CodeHint::from(&Code::parse("ABCD-EFGH-JKMN-PQR7")?);
/// assert_eq!(hint, "****-****-****-****-*");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodeHint(Arc<str>);

impl CodeHint {
    /// The hint as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Masks `code`.
impl From<&Code> for CodeHint {
    fn from(code: &Code) -> Self {
        CodeHint(Arc::from(code.masked()))
    }
}

impl fmt::Display for CodeHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CodeHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl PartialEq<str> for CodeHint {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for CodeHint {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl Serialize for CodeHint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CodeHint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(CodeHint(Arc::from(text.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::{CodeGenerator, MemorySequence, PatternCodeGenerator, RandomCodeGenerator};

    /// A pattern code's hint shows nothing (its last symbol would be all of its secret), and a
    /// random code's hint shows random symbols only, never its check character.
    #[test]
    fn hints_show_only_random_symbols_in_a_fixed_width() {
        let numbering = PatternCodeGenerator::new("X-GC-{number}", MemorySequence::new()).unwrap();
        let pattern = numbering.generate().unwrap();
        assert_eq!(CodeHint::from(&pattern), "****-****-****-****-*");

        let code = RandomCodeGenerator::default().generate().unwrap();
        let text = code.expose_secret();
        let hint = CodeHint::from(&code);
        assert_eq!(
            hint.as_str(),
            format!("****-****-****-*{}-*", &text[13..16])
        );
    }
}
