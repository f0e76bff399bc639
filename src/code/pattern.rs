//! [`PatternCodeGenerator`]: Spryker's replacement numbering, `X-GC-{number}`.
//!
//! Under Spryker's replacement strategy each card's code comes from a pattern and a running
//! number: the 100 EUR card is `X-GC-1`, the 40 EUR card that replaces it `X-GC-2`, and so on.

use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Code, CodeError, CodeGenerator, normalise};

/// The placeholder a template holds once.
const NUMBER: &str = "{number}";

/// The numbers a [`PatternCodeGenerator`] puts into its template.
///
/// # Contract
///
/// Each call returns a number no earlier call returned (across processes, when several share
/// the pattern: a database sequence, for instance), in increasing order so that codes come out
/// as `X-GC-1`, `X-GC-2`, ... When no number is left, return [`CodeError::SequenceExhausted`];
/// when the number cannot be had right now, [`CodeError::SequenceFailed`].
///
/// [`MemorySequence`] keeps the count in memory. A closure returning
/// `Result<u64, CodeError>` is a sequence too:
///
/// ```
/// use giftcert::{code::{CodeError, CodeGenerator, PatternCodeGenerator}};
///
/// let numbering = PatternCodeGenerator::new("X-GC-{number}", || {
///     Ok::<_, CodeError>(41) // the host's `SELECT nextval('gift_card_numbers')`
/// })?;
/// assert_eq!(numbering.generate()?.expose_secret(), "XGC41");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait CodeSequence: Send + Sync {
    /// The next number.
    ///
    /// # Errors
    ///
    /// [`CodeError::SequenceExhausted`] or [`CodeError::SequenceFailed`], as the contract says.
    fn next(&self) -> Result<u64, CodeError>;
}

impl<F> CodeSequence for F
where
    F: Fn() -> Result<u64, CodeError> + Send + Sync,
{
    fn next(&self) -> Result<u64, CodeError> {
        self()
    }
}

/// A [`CodeSequence`] held in memory: 1, 2, 3, ... (or from a chosen start), safe to share
/// between threads.
///
/// It starts again when the process does: for codes that outlive the process, hosts use a
/// sequence in their database.
#[derive(Debug)]
pub struct MemorySequence {
    /// The number the next call returns.
    next: AtomicU64,
}

impl MemorySequence {
    /// A sequence starting at 1.
    #[must_use]
    pub fn new() -> MemorySequence {
        MemorySequence::starting_at(1)
    }

    /// A sequence starting at `first` (to continue numbering imported from elsewhere).
    #[must_use]
    pub fn starting_at(first: u64) -> MemorySequence {
        MemorySequence {
            next: AtomicU64::new(first),
        }
    }
}

impl Default for MemorySequence {
    /// A sequence starting at 1.
    fn default() -> MemorySequence {
        MemorySequence::new()
    }
}

impl CodeSequence for MemorySequence {
    /// The next number; [`CodeError::SequenceExhausted`] once `u64::MAX - 1` has been given.
    fn next(&self) -> Result<u64, CodeError> {
        self.next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
            .map_err(|_| CodeError::SequenceExhausted)
    }
}

/// Makes codes from a template and a running number: Spryker's replacement numbering
/// (`X-GC-{number}` gives `X-GC-1`, then `X-GC-2`, ...).
///
/// **These codes are guessable**: whoever holds one can try its neighbours. Use them only where
/// the host wants that numbering and protects redemption otherwise (a PIN, a rate limit, cards
/// bound to a customer); the default is [`RandomCodeGenerator`](crate::code::RandomCodeGenerator).
///
/// Codes normalise away dashes, so `X-GC-1` is stored and compared as `XGC1`;
/// [`format`](PatternCodeGenerator::format) writes a code back as the template does. Numbers
/// are written in decimal without leading zeros, so each number gives exactly one code and each
/// code at most one number.
///
/// ```
/// use giftcert::{Code, code::{CodeGenerator, MemorySequence, PatternCodeGenerator}};
///
/// let numbering = PatternCodeGenerator::new("X-GC-{number}", MemorySequence::new())?;
/// let first = numbering.generate()?;
/// let second = numbering.generate()?;
/// assert_eq!(first, Code::parse("X-GC-1")?);
/// assert_eq!(second, Code::parse("X-GC-2")?);
/// assert_eq!(numbering.number_of(&Code::parse("x-gc-40")?)?, 40);
/// assert_eq!(numbering.format(&second)?, "X-GC-2");
/// assert!(numbering.check(&Code::parse("X-GC-B")?).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PatternCodeGenerator {
    template: String,
    before: String,
    after: String,
    sequence: Box<dyn CodeSequence>,
}

impl PatternCodeGenerator {
    /// A generator writing the numbers of `sequence` into `template`, which holds `{number}`
    /// once between letters, digits, spaces and dashes.
    ///
    /// # Errors
    ///
    /// [`CodeError::InvalidConfig`] when `template` holds `{number}` not exactly once, holds
    /// other characters, or leaves no room for a number within [`Code::MAX_LEN`].
    pub fn new(
        template: &str,
        sequence: impl CodeSequence + 'static,
    ) -> Result<PatternCodeGenerator, CodeError> {
        let shown: String = template.chars().take(40).collect();
        let invalid = |reason: String| CodeError::InvalidConfig {
            reason: format!("template \"{shown}\" {reason}"),
        };
        let (before, after) = template.split_once(NUMBER).ok_or_else(|| {
            invalid("has no {number} placeholder, expected exactly one".to_string())
        })?;
        if after.contains(NUMBER) {
            return Err(invalid(
                "has {number} more than once, expected exactly one".to_string(),
            ));
        }
        let fixed = |part: &str, offset: usize| {
            normalise(part).map(|(text, _)| text).map_err(|e| match e {
                CodeError::Character { found, position } => invalid(format!(
                    "has {found:?} at position {}, expected only letters A-Z, digits 0-9, \
                     spaces and dashes around {{number}}",
                    position + offset
                )),
                other => other,
            })
        };
        let after = fixed(after, before.chars().count() + NUMBER.len())?;
        let before = fixed(before, 0)?;
        if before.len() + after.len() >= Code::MAX_LEN {
            return Err(invalid(format!(
                "has {} letters and digits around {{number}}, expected at most {}",
                before.len() + after.len(),
                Code::MAX_LEN - 1
            )));
        }
        Ok(PatternCodeGenerator {
            template: template.to_string(),
            before,
            after,
            sequence: Box::new(sequence),
        })
    }

    /// The template, as given.
    #[must_use]
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The code `number` gives (`X-GC-{number}` and 7 give `XGC7`), without touching the
    /// sequence.
    ///
    /// # Errors
    ///
    /// [`CodeError::Length`] when the code would be shorter than [`Code::MIN_LEN`] (a template
    /// such as `GC{number}` gives `GC1`, too short to be a code) or longer than
    /// [`Code::MAX_LEN`].
    pub fn code_for(&self, number: u64) -> Result<Code, CodeError> {
        let mut text = String::with_capacity(self.before.len() + 20 + self.after.len());
        text.push_str(&self.before);
        // Writing into a String cannot fail.
        let _ = write!(text, "{number}");
        text.push_str(&self.after);
        if !(Code::MIN_LEN..=Code::MAX_LEN).contains(&text.len()) {
            return Err(CodeError::Length {
                found: text.len(),
                min: Code::MIN_LEN,
                max: Code::MAX_LEN,
            });
        }
        Ok(Code::from_normalised(text))
    }

    /// The number inside `code` (`XGC7` gives 7 under `X-GC-{number}`).
    ///
    /// # Errors
    ///
    /// [`CodeError::PatternMismatch`] when `code` is not the template with a decimal number
    /// (without leading zeros, at most `u64::MAX`) in place of `{number}`.
    pub fn number_of(&self, code: &Code) -> Result<u64, CodeError> {
        code.expose_secret()
            .strip_prefix(self.before.as_str())
            .and_then(|rest| rest.strip_suffix(self.after.as_str()))
            .filter(|digits| {
                digits.bytes().all(|b| b.is_ascii_digit())
                    && (*digits == "0" || !digits.starts_with('0'))
            })
            .and_then(|digits| digits.parse().ok())
            .ok_or_else(|| CodeError::PatternMismatch {
                code: code.masked(),
                template: self.template.clone(),
            })
    }

    /// The code written as the template writes it (`XGC7` as `X-GC-7`): **reveals the secret**,
    /// for telling the owner.
    ///
    /// # Errors
    ///
    /// The errors of [`number_of`](PatternCodeGenerator::number_of).
    pub fn format(&self, code: &Code) -> Result<String, CodeError> {
        let number = self.number_of(code)?;
        Ok(self.template.replacen(NUMBER, &number.to_string(), 1))
    }
}

impl CodeGenerator for PatternCodeGenerator {
    /// The code for the sequence's next number.
    fn generate(&self) -> Result<Code, CodeError> {
        self.code_for(self.sequence.next()?)
    }

    fn check(&self, code: &Code) -> Result<(), CodeError> {
        self.number_of(code).map(|_| ())
    }

    /// None to guess: a code's neighbours are the numbers either side of it, so whoever has
    /// one code can try the next. The protocol issues pattern codes only with the store-wide
    /// guess budget on.
    fn entropy_bits(&self) -> Option<f64> {
        Some(0.0)
    }
}

impl fmt::Debug for PatternCodeGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatternCodeGenerator")
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn seed_002() -> PatternCodeGenerator {
        PatternCodeGenerator::new("X-GC-{number}", MemorySequence::new()).unwrap()
    }

    #[test]
    fn seed_002_numbers_x_gc_1_then_x_gc_2() {
        let numbering = seed_002();
        let first = numbering.generate().unwrap();
        let second = numbering.generate().unwrap();
        assert_eq!(first.expose_secret(), "XGC1");
        assert_eq!(second.expose_secret(), "XGC2");
        assert_eq!(first, Code::parse("X-GC-1").unwrap());
        assert_eq!(numbering.check(&first), Ok(()));
        assert_eq!(numbering.check(&second), Ok(()));
        assert_eq!(numbering.number_of(&second), Ok(2));
    }

    #[test]
    fn check_refuses_codes_off_the_pattern() {
        let numbering = seed_002();
        for typed in [
            "X-GC-A", "X-GD-1", "Y-GC-1", "X-GC-01", "X-GC-1A", "X-GC-1-X",
        ] {
            let code = match Code::parse(typed) {
                Ok(code) => code,
                Err(_) => continue,
            };
            assert_eq!(
                numbering.check(&code),
                Err(CodeError::PatternMismatch {
                    code: code.masked(),
                    template: "X-GC-{number}".to_string()
                }),
                "{typed}"
            );
        }
        let code = Code::parse("X-GC-A").unwrap();
        assert_eq!(
            numbering.check(&code).unwrap_err().to_string(),
            "code ****-****-****-****-* does not match the pattern X-GC-{number}"
        );
        // One past u64::MAX is not a number of this pattern.
        let too_big = Code::parse("XGC18446744073709551616").unwrap();
        assert!(numbering.check(&too_big).is_err());
        let largest = Code::parse("XGC18446744073709551615").unwrap();
        assert_eq!(numbering.number_of(&largest), Ok(u64::MAX));
        assert_eq!(numbering.number_of(&Code::parse("XGC0").unwrap()), Ok(0));
    }

    #[test]
    fn a_suffix_after_the_number_is_kept() {
        let numbering =
            PatternCodeGenerator::new("GC-{number}-2024", MemorySequence::starting_at(9)).unwrap();
        let code = numbering.generate().unwrap();
        assert_eq!(code.expose_secret(), "GC92024");
        assert_eq!(numbering.number_of(&code), Ok(9));
        assert_eq!(numbering.format(&code).unwrap(), "GC-9-2024");
    }

    #[test]
    fn sequences_are_shared_and_exhaust_with_an_error() {
        let sequence = MemorySequence::starting_at(u64::MAX - 2);
        assert_eq!(sequence.next(), Ok(u64::MAX - 2));
        assert_eq!(sequence.next(), Ok(u64::MAX - 1));
        assert_eq!(sequence.next(), Err(CodeError::SequenceExhausted));
        assert_eq!(
            sequence.next().unwrap_err().to_string(),
            "code sequence is exhausted: no numbers left"
        );

        assert_eq!(MemorySequence::default().next(), Ok(1));

        let shared = Arc::new(MemorySequence::new());
        let handle = Arc::clone(&shared);
        let numbering = PatternCodeGenerator::new("X-GC-{number}", move || handle.next()).unwrap();
        assert_eq!(numbering.generate().unwrap().expose_secret(), "XGC1");
        assert_eq!(shared.next(), Ok(2));
        assert_eq!(numbering.generate().unwrap().expose_secret(), "XGC3");
    }

    #[test]
    fn a_failing_host_sequence_propagates() {
        let numbering = PatternCodeGenerator::new("X-GC-{number}", || {
            Err(CodeError::SequenceFailed {
                reason: "database unavailable".to_string(),
            })
        })
        .unwrap();
        assert_eq!(
            numbering.generate().unwrap_err().to_string(),
            "code sequence failed: database unavailable"
        );
    }

    #[test]
    fn templates_need_one_placeholder_and_code_characters() {
        let message = |t: &str| {
            PatternCodeGenerator::new(t, MemorySequence::new())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            message("X-GC-"),
            "invalid code configuration: template \"X-GC-\" has no {number} placeholder, \
             expected exactly one"
        );
        assert_eq!(
            message("{number}-{number}"),
            "invalid code configuration: template \"{number}-{number}\" has {number} more than \
             once, expected exactly one"
        );
        assert_eq!(
            message("X_GC-{number}"),
            "invalid code configuration: template \"X_GC-{number}\" has '_' at position 2, \
             expected only letters A-Z, digits 0-9, spaces and dashes around {number}"
        );
        assert_eq!(
            message("GC-{number}/x"),
            "invalid code configuration: template \"GC-{number}/x\" has '/' at position 12, \
             expected only letters A-Z, digits 0-9, spaces and dashes around {number}"
        );
        assert!(
            message(&format!("{}{{number}}", "A".repeat(64)))
                .ends_with("has 64 letters and digits around {number}, expected at most 63")
        );
    }

    #[test]
    fn too_short_codes_are_an_error_not_a_panic() {
        let numbering = PatternCodeGenerator::new("GC{number}", MemorySequence::new()).unwrap();
        assert_eq!(
            numbering.generate().unwrap_err().to_string(),
            "code has 3 letters and digits, expected 4 to 64"
        );
        assert_eq!(numbering.code_for(10).unwrap().expose_secret(), "GC10");
    }

    #[test]
    fn debug_shows_the_template_only() {
        assert_eq!(
            format!("{:?}", seed_002()),
            "PatternCodeGenerator { template: \"X-GC-{number}\", .. }"
        );
    }
}
