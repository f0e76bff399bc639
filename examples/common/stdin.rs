//! What the examples that read JSON from standard input share: a bounded read, exact plain
//! numbers, and one-line error messages.

use std::io::Read;

/// The most bytes read from standard input: 1 MiB, far more than any cart, so that a huge input
/// is refused before it is parsed.
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// The longest text read as one number: longer ones are refused before they are parsed (the
/// decimal parser recurses once per leading zero).
pub const MAX_NUMBER_LEN: usize = giftcert::money::MAX_AMOUNT_TEXT_LEN;

/// Reads all of `input` as UTF-8, up to [`MAX_INPUT_BYTES`].
///
/// # Errors
///
/// A reason when `input` holds more than [`MAX_INPUT_BYTES`], is not UTF-8 or cannot be read.
pub fn read_input<R: Read>(input: R) -> Result<String, String> {
    let mut text = String::new();
    input
        .take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "standard input has more than {MAX_INPUT_BYTES} bytes, expected at most \
             {MAX_INPUT_BYTES} (1 MiB)"
        ));
    }
    Ok(text)
}

/// `reason` on one line: control characters (line breaks in a quoted input) become spaces.
pub fn one_line(reason: &str) -> String {
    reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Why the text of a number was refused by [`plain_decimal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberRefusal {
    /// More than [`MAX_NUMBER_LEN`] characters (the length given).
    TooLong(usize),
    /// Written with an exponent (`1e3`): amounts are written as plain decimals (`1000`), so
    /// that what a person reads is what is charged.
    Exponent,
    /// Not a plain decimal number, or more digits than can be kept exactly.
    NotExact,
}

/// Reads `text` as a plain decimal number (digits, at most one point, an optional leading
/// sign), exactly: never through a binary float, never rounded.
///
/// # Errors
///
/// A [`NumberRefusal`] saying what is wrong with `text`.
pub fn plain_decimal(text: &str) -> Result<rust_decimal::Decimal, NumberRefusal> {
    if text.len() > MAX_NUMBER_LEN {
        return Err(NumberRefusal::TooLong(text.len()));
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.bytes().any(|b| matches!(b, b'e' | b'E'))
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return Err(NumberRefusal::Exponent);
    }
    let plain = digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().any(|b| b.is_ascii_digit());
    if !plain {
        return Err(NumberRefusal::NotExact);
    }
    rust_decimal::Decimal::from_str_exact(text).map_err(|_| NumberRefusal::NotExact)
}
