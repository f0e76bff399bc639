//! Gift certificate codes: the secret a customer types to spend a card.
//!
//! - [`Code`] is always normalised (upper case, no spaces or dashes), prints masked
//!   (`****-****-****-*KQ2-*`, never its prefix or check character, never enough to guess it) and
//!   compares in constant time. The whole code leaves it only through
//!   [`Code::expose_secret`], [`Code::grouped`] and serde.
//! - [`CodeGenerator`] makes fresh codes and checks a typed one before any store is asked:
//!   [`RandomCodeGenerator`] (the default: unguessable, with a check character) and
//!   [`PatternCodeGenerator`] (Spryker's replacement numbering `X-GC-{number}`: guessable, for
//!   hosts that want it).
//! - [`generate_unique`] retries a bounded number of times when a candidate already exists.
//! - [`ImportRules`] takes codes from another platform (Shopify's 8 to 20 letters and digits)
//!   and estimates how guessable each is ([`ImportedCode::entropy_bits`]).
//!
//! ```
//! use giftcert::code::{Code, CodeGenerator, RandomCodeGenerator};
//!
//! let codes = RandomCodeGenerator::default();
//! let code = codes.generate()?;
//! assert!(codes.check(&code).is_ok());
//! assert!(!code.to_string().contains(code.expose_secret())); // prints masked
//! // Typed with spaces and in lower case, it is the same code.
//! let typed = Code::parse(&code.grouped(4).to_lowercase().replace('-', " "))?;
//! assert_eq!(typed, code);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod error;
mod generator;
mod import;
mod pattern;
mod random;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

pub use error::CodeError;
pub use generator::{CodeGenerator, generate_unique};
pub use import::{ImportRules, ImportedAlphabet, ImportedCode, MIN_CODE_BITS};
pub use pattern::{CodeSequence, MemorySequence, PatternCodeGenerator};
pub use random::{RandomCodeGenerator, RandomCodeGeneratorBuilder};

/// A gift certificate code, normalised: upper-case ASCII letters and digits only, 4 to 64 of
/// them.
///
/// Codes are secrets. To keep them out of logs:
///
/// - `Debug` and `Display` are **masked** ([`Code::masked`]): always 21 characters in the shape
///   of a default code, `****-****-****-****-*`, of which at most the last three or four of the
///   fourth group may be characters of the code, and only of a code [`RandomCodeGenerator`]
///   made, where it knows which characters are random (`****-****-****-*QRS-*`, where the owner
///   reads `ABCD-EFGH-JKMN-PQRS-T`);
/// - the whole code comes out only through methods that say so: [`Code::expose_secret`],
///   [`Code::grouped`], and **serde**, which writes the whole normalised code because it is the
///   storage and transport path (deserialising goes through [`Code::parse`]);
/// - equality compares the normalised bytes in constant time (the length may show in timing, the
///   contents do not). There is no `PartialOrd`/`Ord`: an ordering compares byte by byte and
///   stops early. `Hash` is over the normalised bytes, so codes can key a `HashMap`.
///
/// ```
/// use giftcert::Code;
///
/// let code = Code::parse("abcd-efgh jkmn-pqrs")?;
/// assert_eq!(code, Code::parse("ABCDEFGHJKMNPQRS")?);
/// assert_eq!(format!("{code:?}"), "Code(****-****-****-****-*)");
/// assert_eq!(code.to_string(), "****-****-****-****-*");
/// assert_eq!(code.expose_secret(), "ABCDEFGHJKMNPQRS");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Code {
    text: Box<str>,
    /// What a mask may show, set only by the generator that made the code.
    shown: Shown,
}

/// The characters of a code a mask may show: the `len` characters ending at byte `end`.
///
/// Only a generator knows which characters of a code are random (not a prefix, not a check
/// character, not a number in a pattern), so a parsed code shows nothing.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Shown {
    end: u8,
    len: u8,
}

impl Code {
    /// The fewest letters and digits a code has.
    pub const MIN_LEN: usize = 4;
    /// The most letters and digits a code has.
    pub const MAX_LEN: usize = 64;
    /// The most characters of a code a mask shows.
    pub const MAX_SHOWN: usize = 4;
    /// The fewest bits of a code's randomness a mask leaves hidden: a mask shows fewer
    /// characters, or none, rather than leave less.
    pub const MIN_HIDDEN_BITS: u32 = 64;

    /// Reads a code as a person typed or pasted it.
    ///
    /// Normalisation: white space anywhere and dashes (`-` and the typographic dashes U+2010 to
    /// U+2015 and U+2212 that mail clients substitute) are dropped, ASCII letters are upper-cased.
    /// Look-alikes are not mapped (`O` stays `O`): see
    /// [`RandomCodeGenerator::canonicalise`] for that. Normalising a normalised code changes
    /// nothing.
    ///
    /// A parsed code's mask shows none of it: text alone does not tell which characters are
    /// random.
    ///
    /// # Errors
    ///
    /// - [`CodeError::Character`] for any other character, with its position in `input`;
    /// - [`CodeError::Length`] when fewer than 4 or more than 64 letters and digits remain.
    ///
    /// Neither message contains the code.
    ///
    /// ```
    /// use giftcert::Code;
    ///
    /// assert_eq!(Code::parse(" x-gc-1 ")?.expose_secret(), "XGC1");
    /// assert_eq!(
    ///     Code::parse("ABCD#EFGH").unwrap_err().to_string(),
    ///     "code has '#' at position 5, expected only letters A-Z, digits 0-9, spaces and dashes"
    /// );
    /// assert_eq!(
    ///     Code::parse("A-B-C").unwrap_err().to_string(),
    ///     "code has 3 letters and digits, expected 4 to 64"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(input: &str) -> Result<Code, CodeError> {
        let (normalised, found) = normalise(input)?;
        if !(Code::MIN_LEN..=Code::MAX_LEN).contains(&found) {
            return Err(CodeError::Length {
                found,
                min: Code::MIN_LEN,
                max: Code::MAX_LEN,
            });
        }
        Ok(Code::from_normalised(normalised))
    }

    /// Wraps text the crate built itself from the alphabet, with a length already checked.
    fn from_normalised(normalised: String) -> Code {
        debug_assert!(
            (Code::MIN_LEN..=Code::MAX_LEN).contains(&normalised.len())
                && normalised
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "not a normalised code"
        );
        Code {
            text: normalised.into_boxed_str(),
            shown: Shown::default(),
        }
    }

    /// The code, with its mask showing the `len` characters that end at byte `end`: for a
    /// generator that knows those characters are random and that the rest of its randomness
    /// carries at least [`Code::MIN_HIDDEN_BITS`]. Out of range, the mask shows nothing.
    fn showing(mut self, end: usize, len: usize) -> Code {
        let len = len.min(Code::MAX_SHOWN);
        if len > 0 && len <= end && end <= self.text.len() {
            if let (Ok(end), Ok(len)) = (u8::try_from(end), u8::try_from(len)) {
                self.shown = Shown { end, len };
            }
        }
        self
    }

    /// The whole normalised code: **reveals the secret**.
    ///
    /// For storing, looking up and sending to the card's owner; never for logs.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.text
    }

    /// The whole code in groups of `group` characters joined by `-`, counted from the start
    /// (`ABCD-EFGH-JKMN-PQRS-T`): **reveals the secret**, for telling the owner. A `group` of 0
    /// gives the code without dashes.
    #[must_use]
    pub fn grouped(&self, group: usize) -> String {
        if group == 0 {
            return self.text.to_string();
        }
        let mut out = String::with_capacity(self.text.len() + self.text.len() / group);
        push_grouped(&mut out, &self.text, group, false);
        out
    }

    /// The last `min(4, len / 4)` characters of the code, so at most a quarter of it (`"QRST"`
    /// for a 17-character code, `"1"` for `XGC1`): what the database stores keep beside a
    /// code's keyed digest.
    ///
    /// Not what a mask shows: see [`Code::shown`].
    #[must_use]
    pub fn last4(&self) -> &str {
        let len = self.text.len();
        let shown = (len / 4).min(4);
        self.text.get(len - shown..).unwrap_or_default()
    }

    /// The characters of the code its [mask](Code::masked) shows: a few of the random
    /// characters of a code [`RandomCodeGenerator`] made (the last three of a default code,
    /// before its check character), nothing for any other code.
    #[must_use]
    pub fn shown(&self) -> &str {
        let Shown { end, len } = self.shown;
        let (end, len) = (usize::from(end), usize::from(len));
        self.text.get(end - len..end).unwrap_or_default()
    }

    /// The masked form, as `Display` shows it: always `****-****-****-****-*` (21 characters, so
    /// it tells nothing of the code's length), with the [`shown`](Code::shown) characters, if
    /// any, at the end of the fourth group (`****-****-****-*QRS-*`): where a default code's
    /// owner reads them in `ABCD-EFGH-JKMN-PQRS-T`, the check character hidden.
    ///
    /// What a mask may show, only a generator knows, since only it knows which characters are
    /// random; [`RandomCodeGenerator`] keeps these rules:
    ///
    /// - a prefix and a check character are never shown;
    /// - at most [`Code::MAX_SHOWN`] characters, and only while the random characters left
    ///   hidden carry at least [`Code::MIN_HIDDEN_BITS`] (64): three of the default 16 random
    ///   symbols (65 bits hidden), four of 17 or more, none of 13 or fewer.
    ///
    /// A parsed, imported or pattern code (`X-GC-1`) shows nothing.
    ///
    /// ```
    /// use giftcert::{Code, code::{CodeGenerator, RandomCodeGenerator}};
    ///
    /// assert_eq!(Code::parse("X-GC-1")?.masked(), "****-****-****-****-*");
    /// let code = RandomCodeGenerator::default().generate()?;
    /// let text = code.expose_secret();
    /// assert_eq!(code.masked(), format!("****-****-****-*{}-*", &text[13..16]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn masked(&self) -> String {
        mask_showing(self.shown())
    }
}

/// The characters of any text a shopper typed as a code, normalised as [`Code::parse`] does
/// (white space and dashes dropped, ASCII upper case) but without its checks, one by one: for
/// comparing codes that need not be valid ones (`"gc-1"` and `"GC1"` are the same).
pub(crate) fn normalised_chars(input: &str) -> impl Iterator<Item = char> + '_ {
    input
        .chars()
        .filter(|c| !is_ignored(*c))
        .map(|c| c.to_ascii_uppercase())
}

/// Masks any text typed as a code: nothing of it shows (`****-****-****-****-*`), as for a
/// parsed [`Code`].
pub(crate) fn mask_typed(_input: &str) -> String {
    mask_showing("")
}

/// Every mask: the shape of a default code as its owner reads it in the e-mail
/// (`ABCD-EFGH-JKMN-PQRS-T`, four groups of four random symbols and the check character), with
/// every character hidden.
const MASK: &str = "****-****-****-****-*";

/// Where the shown characters end in [`MASK`]: at the end of its fourth group, so that a
/// default code's last random symbols stand where the owner sees them (`****-****-****-*QRS-*`
/// under `ABCD-EFGH-JKMN-PQRS-T`), and its check character stays hidden.
const SHOWN_END: usize = 19;

/// The fixed-width mask with `shown` (at most [`Code::MAX_SHOWN`] characters) at the end of its
/// fourth group.
fn mask_showing(shown: &str) -> String {
    let mut out = String::with_capacity(MASK.len());
    let count = shown.chars().count();
    let keep = count.min(Code::MAX_SHOWN);
    out.push_str(MASK.get(..SHOWN_END - keep).unwrap_or(MASK));
    out.extend(shown.chars().skip(count - keep));
    out.push_str(MASK.get(SHOWN_END..).unwrap_or_default());
    out
}

/// Appends `text` to `out` in groups of `group` (0 counts as 1) joined by `-`, with a `-` before
/// the first group too when `lead` (after a prefix).
fn push_grouped(out: &mut String, text: &str, group: usize, lead: bool) {
    // A countdown rather than `i % group`: a division per character costs more than the rest.
    let group = group.max(1);
    let mut left = if lead { 0 } else { group };
    for c in text.chars() {
        if left == 0 {
            out.push('-');
            left = group;
        }
        out.push(c);
        left -= 1;
    }
}

/// Whether `c` is dropped by normalisation: white space and dashes.
fn is_ignored(c: char) -> bool {
    c == '-' || c.is_whitespace() || ('\u{2010}'..='\u{2015}').contains(&c) || c == '\u{2212}'
}

/// Normalises `input`: the letters and digits upper-cased (at most [`Code::MAX_LEN`] of them
/// kept) and how many there were in all.
fn normalise(input: &str) -> Result<(String, usize), CodeError> {
    let mut out = String::with_capacity(input.len().min(Code::MAX_LEN));
    let mut found = 0_usize;
    for (index, c) in input.chars().enumerate() {
        if is_ignored(c) {
            continue;
        }
        if !c.is_ascii_alphanumeric() {
            return Err(CodeError::Character {
                found: c,
                position: index + 1,
            });
        }
        if found < Code::MAX_LEN {
            out.push(c.to_ascii_uppercase());
        }
        found += 1;
    }
    Ok((out, found))
}

/// Compares two byte strings without stopping at the first difference.
///
/// Every byte pair is combined, and `black_box` keeps the optimiser from turning the fold back
/// into an early exit (the technique of the `subtle` crate, without the dependency).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a
        .iter()
        .zip(b)
        .fold(0_u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(difference) == 0
}

/// A code's text is overwritten with zeros when the code is dropped, so that a freed buffer
/// does not keep the secret for whatever reuses its memory.
impl Drop for Code {
    fn drop(&mut self) {
        std::hint::black_box(wiped(std::mem::take(&mut self.text)));
    }
}

/// `text`'s own buffer, every byte overwritten with zero.
fn wiped(text: Box<str>) -> Vec<u8> {
    let mut bytes = text.into_string().into_bytes();
    bytes.fill(0);
    bytes
}

impl PartialEq for Code {
    /// Constant-time comparison of the normalised bytes.
    fn eq(&self, other: &Code) -> bool {
        constant_time_eq(self.text.as_bytes(), other.text.as_bytes())
    }
}

impl Eq for Code {}

impl Hash for Code {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Display for Code {
    /// The masked form: see [`Code::masked`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for Code {
    /// The masked form, as `Code(****-****-****-****-*)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({})", self.masked())
    }
}

impl FromStr for Code {
    type Err = CodeError;

    fn from_str(s: &str) -> Result<Code, CodeError> {
        Code::parse(s)
    }
}

impl TryFrom<&str> for Code {
    type Error = CodeError;

    fn try_from(s: &str) -> Result<Code, CodeError> {
        Code::parse(s)
    }
}

impl TryFrom<String> for Code {
    type Error = CodeError;

    fn try_from(s: String) -> Result<Code, CodeError> {
        Code::parse(&s)
    }
}

impl Serialize for Code {
    /// The whole normalised code: serde is the storage and transport path.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose_secret())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn a_dropped_code_leaves_its_buffer_zeroed() {
        let text: Box<str> = "ABCDEFGHJKMNPQRS".into();
        let at = text.as_ptr();
        let bytes = wiped(text);
        // The same buffer, not a copy, with every byte zero.
        assert_eq!(bytes.as_ptr(), at);
        assert_eq!(bytes.len(), 16);
        assert!(bytes.iter().all(|b| *b == 0));
        // Dropping a code wipes its text: taken out, nothing of it is left in the code.
        let mut code = Code::parse("ABCD-EFGH-JKMN-PQRS").unwrap();
        std::hint::black_box(wiped(std::mem::take(&mut code.text)));
        assert_eq!(code.expose_secret(), "");
    }

    #[test]
    fn typed_codes_compare_like_codes_and_show_nothing() {
        let normalise = |s: &str| normalised_chars(s).collect::<String>();
        assert_eq!(normalise(" gc-1 "), "GC1");
        assert_eq!(normalise("ab\u{2013}cd 12"), "ABCD12");
        // Too short to be a Code, but still never shown.
        assert_eq!(mask_typed("gc1"), "****-****-****-****-*");
        assert_eq!(mask_typed("abcd-efgh-jkmn-7kq2"), "****-****-****-****-*");
        let code = Code::parse("abcd-efgh-jkmn-7kq2").unwrap();
        assert_eq!(code.masked(), mask_typed("ABCDEFGHJKMN7KQ2"));
    }

    fn code(s: &str) -> Code {
        Code::parse(s).unwrap()
    }

    #[test]
    fn normalisation_ignores_case_spaces_and_dashes() {
        let expected = code("ABCDEFGHJKMNPQRS");
        for typed in [
            "abcdefghjkmnpqrs",
            "ABCD-EFGH-JKMN-PQRS",
            "abcd efgh jkmn pqrs",
            "  aBcD-eFgH jKmN--pQrS \n",
            "ABCD\u{2013}EFGH\u{2014}JKMN\u{2010}PQRS",
            "ABCD\u{a0}EFGH\tJKMN\u{2212}PQRS",
        ] {
            let parsed = code(typed);
            assert_eq!(parsed, expected, "{typed:?}");
            assert_eq!(parsed.expose_secret(), "ABCDEFGHJKMNPQRS");
        }
    }

    #[test]
    fn normalisation_is_idempotent() {
        for typed in ["x-gc-1", "abcd efgh", "Z0Z0-oooo-1111", "q 1 w 2 e 3"] {
            let once = code(typed);
            let twice = code(once.expose_secret());
            assert_eq!(twice.expose_secret(), once.expose_secret());
            assert_eq!(code(&once.grouped(4)).expose_secret(), once.expose_secret());
        }
    }

    #[test]
    fn look_alikes_are_not_mapped_by_normalisation() {
        assert_eq!(code("o0il1").expose_secret(), "O0IL1");
    }

    #[test]
    fn other_characters_are_refused_with_their_position_in_the_input() {
        let err = Code::parse("ab-cd_ef").unwrap_err();
        assert_eq!(
            err,
            CodeError::Character {
                found: '_',
                position: 6
            }
        );
        assert_eq!(
            err.to_string(),
            "code has '_' at position 6, expected only letters A-Z, digits 0-9, spaces and dashes"
        );
        assert_eq!(
            Code::parse("ABCDÉ").unwrap_err().to_string(),
            "code has 'É' at position 5, expected only letters A-Z, digits 0-9, spaces and dashes"
        );
        assert_eq!(
            Code::parse("ABCD\0").unwrap_err().to_string(),
            "code has '\\0' at position 5, expected only letters A-Z, digits 0-9, spaces and dashes"
        );
    }

    #[test]
    fn codes_have_4_to_64_letters_and_digits() {
        assert_eq!(
            Code::parse(" - ").unwrap_err().to_string(),
            "code has 0 letters and digits, expected 4 to 64"
        );
        assert_eq!(
            Code::parse("ABC").unwrap_err().to_string(),
            "code has 3 letters and digits, expected 4 to 64"
        );
        assert!(Code::parse("ABCD").is_ok());
        assert!(Code::parse(&"A".repeat(64)).is_ok());
        assert_eq!(
            Code::parse(&"A-".repeat(1000)).unwrap_err().to_string(),
            "code has 1000 letters and digits, expected 4 to 64"
        );
    }

    #[test]
    fn error_messages_never_contain_the_code() {
        let secret = "SECRETCODE12345678";
        for input in [format!("{secret}#"), format!("{secret}{}", "X".repeat(60))] {
            let message = Code::parse(&input).unwrap_err().to_string();
            assert!(!message.contains("SECRET"), "{message}");
        }
    }

    #[test]
    fn parsed_codes_show_nothing_in_debug_and_display() {
        let c = code("ABCDEFGHJKMNPQRST");
        assert_eq!(format!("{c:?}"), "Code(****-****-****-****-*)");
        assert_eq!(format!("{c}"), "****-****-****-****-*");
        assert_eq!(c.masked(), c.to_string());
        assert_eq!(c.shown(), "");
        let nested = format!("{:?}", Some(vec![c.clone()]));
        assert!(!nested.contains("ABCD"), "{nested}");
    }

    /// Today `X-GC-1` masked to `***1`: the whole of its secret.
    #[test]
    fn short_and_pattern_codes_show_nothing_in_a_fixed_width() {
        for text in [
            "XGC1",
            "XGC12",
            "XGC123",
            "ABCDEFGH",
            "ABCDEFGHJKMN",
            "X-GC-99999",
        ] {
            let c = code(text);
            assert_eq!(c.masked(), "****-****-****-****-*", "{text}");
            assert_eq!(c.masked().len(), MASK.len());
        }
    }

    #[test]
    fn a_mask_shows_only_what_its_generator_allows_and_at_most_four() {
        let c = code("ABCDEFGHJKMNPQRST").showing(16, 3);
        assert_eq!(c.masked(), "****-****-****-*QRS-*");
        assert_eq!(c.clone().masked(), "****-****-****-*QRS-*");
        assert_eq!(code("ABCDEFGHJKMNPQRST").showing(17, 9).shown(), "QRST");
        // Out of range: nothing.
        assert_eq!(code("ABCD").showing(9, 2).masked(), MASK);
        assert_eq!(code("ABCD").showing(1, 2).masked(), MASK);
        // What a mask shows is no part of the code's identity.
        assert_eq!(c, code("ABCDEFGHJKMNPQRST"));
    }

    #[test]
    fn last4_is_at_most_a_quarter_of_the_code() {
        let cases = [
            ("XGC1", "1"),
            ("XGC12", "2"),
            ("ABCDEFGH", "GH"),
            ("ABCDEFGHJKMN", "KMN"),
            ("ABCDEFGHJKMNPQRST", "QRST"),
        ];
        for (text, tail) in cases {
            assert_eq!(code(text).last4(), tail, "{text}");
        }
    }

    #[test]
    fn grouped_reveals_the_whole_code_in_groups_from_the_start() {
        let c = code("ABCDEFGHJKMNPQRST");
        assert_eq!(c.grouped(4), "ABCD-EFGH-JKMN-PQRS-T");
        assert_eq!(c.grouped(5), "ABCDE-FGHJK-MNPQR-ST");
        assert_eq!(c.grouped(0), "ABCDEFGHJKMNPQRST");
        assert_eq!(c.grouped(100), "ABCDEFGHJKMNPQRST");
    }

    #[test]
    fn equality_is_over_normalised_bytes() {
        assert_eq!(code("abcd-1234"), code("ABCD1234"));
        assert_ne!(code("ABCD1234"), code("ABCD1235"));
        assert_ne!(code("ABCD1234"), code("BBCD1234"));
        assert_ne!(code("ABCD1234"), code("ABCD12345"));
        assert_ne!(code("ABCD12345"), code("ABCD1234"));
    }

    #[test]
    fn constant_time_eq_compares_every_byte() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"ABCD", b"ABCD"));
        assert!(!constant_time_eq(b"ABCD", b"ABCE"));
        assert!(!constant_time_eq(b"XBCD", b"ABCD"));
        assert!(!constant_time_eq(b"ABCD", b"ABC"));
        assert!(!constant_time_eq(b"ABC", b"ABCD"));
    }

    #[test]
    fn equal_codes_hash_alike() {
        let set: HashSet<Code> = [code("abcd-1234"), code("ABCD 1234"), code("ABCD1235")]
            .into_iter()
            .collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn serde_writes_the_whole_code_and_reads_through_parse() {
        let c = code("abcd-efgh-jkmn-pqrs");
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#""ABCDEFGHJKMNPQRS""#);
        let back: Code = serde_json::from_str(r#""abcd efgh-jkmn pqrs""#).unwrap();
        assert_eq!(back, c);
        let err = serde_json::from_str::<Code>(r#""ABC""#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "code has 3 letters and digits, expected 4 to 64"
        );
        assert!(serde_json::from_str::<Code>(r#""AB#CD""#).is_err());
    }

    #[test]
    fn from_str_and_try_from_parse() {
        let c: Code = "abcd".parse().unwrap();
        assert_eq!(c, Code::try_from("ABCD").unwrap());
        assert_eq!(c, Code::try_from(String::from("a-b-c-d")).unwrap());
    }
}
