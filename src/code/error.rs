//! What can go wrong reading, checking and generating codes.

/// Everything that can go wrong with gift certificate codes.
///
/// No message contains a whole code: where a code is named, it is in its
/// [masked](crate::Code::masked) form (`*-****-****-****-QRST`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// The code has too few or too many letters and digits (spaces and dashes are not counted).
    #[error("code has {found} letters and digits, expected {min} to {max}")]
    Length {
        /// The letters and digits found.
        found: usize,
        /// The fewest allowed.
        min: usize,
        /// The most allowed.
        max: usize,
    },
    /// The text holds a character that is neither a letter A-Z, a digit, a space nor a dash.
    #[error(
        "code has {found:?} at position {position}, expected only letters A-Z, digits 0-9, \
         spaces and dashes"
    )]
    Character {
        /// The character found (never a letter or digit, so it reveals nothing of the code).
        found: char,
        /// Its position in the text as given, counting characters from 1.
        position: usize,
    },
}
