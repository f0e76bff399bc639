//! What can go wrong reading, checking and generating codes.

/// Everything that can go wrong with gift certificate codes.
///
/// No message contains a whole code: where a code is named, it is in its
/// [masked](crate::code::Code::masked) form (`****-****-****-*QRS-*`).
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
    /// The code does not start with the generator's prefix.
    #[error("code {code} does not start with the prefix {prefix}")]
    WrongPrefix {
        /// The code, masked.
        code: String,
        /// The prefix expected.
        prefix: String,
    },
    /// The code is not as long as the generator's codes.
    #[error("code {code} has {found} letters and digits, expected {expected}")]
    WrongLength {
        /// The code, masked.
        code: String,
        /// Its length.
        found: usize,
        /// The length of the generator's codes (prefix, random symbols and check character).
        expected: usize,
    },
    /// A symbol after the prefix is not in the code alphabet (one of I, L, O, U).
    #[error(
        "code {code} has a symbol outside the code alphabet at position {position}, expected \
         digits and letters other than I, L, O and U"
    )]
    OutsideAlphabet {
        /// The code, masked.
        code: String,
        /// The symbol's position in the normalised code, counting from 1.
        position: usize,
    },
    /// The check character does not match the other symbols: the code was mistyped.
    #[error("code {code} fails its check character: it was probably mistyped")]
    CheckFailed {
        /// The code, masked.
        code: String,
    },
    /// The code does not have the pattern generator's shape.
    #[error("code {code} does not match the pattern {template}")]
    PatternMismatch {
        /// The code, masked.
        code: String,
        /// The generator's template, as configured.
        template: String,
    },
    /// A random generator was configured with less entropy than the minimum.
    #[error(
        "{symbols} random symbols carry {bits} bits of entropy, expected at least {minimum} \
         (call allow_weak_codes() to accept weaker codes)"
    )]
    WeakCodes {
        /// The random symbols configured.
        symbols: usize,
        /// Their entropy in bits.
        bits: u32,
        /// The minimum without the opt-out.
        minimum: u32,
    },
    /// A generator or import rule was configured with values that cannot work.
    #[error("invalid code configuration: {reason}")]
    InvalidConfig {
        /// What is wrong, with the value found and what was expected.
        reason: String,
    },
    /// The pattern generator's sequence has no numbers left.
    #[error("code sequence is exhausted: no numbers left")]
    SequenceExhausted,
    /// The host's sequence could not give a number (its database is down, for instance).
    #[error("code sequence failed: {reason}")]
    SequenceFailed {
        /// The host's explanation.
        reason: String,
    },
    /// The random number generator could not give random bytes.
    #[error("random source failed: {reason}")]
    RandomSource {
        /// The generator's error.
        reason: String,
    },
    /// Every candidate [`generate_unique`](crate::code::generate_unique) drew already existed.
    #[error("every one of {attempts} generated codes already exists, expected an unused one")]
    TooManyCollisions {
        /// The candidates tried.
        attempts: u32,
    },
}
