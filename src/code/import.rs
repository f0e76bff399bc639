//! Codes brought from another platform, and how guessable they are.
//!
//! A host migrating its cards keeps their codes: customers hold them already. Such codes have
//! no check character and whatever entropy the old platform gave them, so each comes with an
//! estimate ([`ImportedCode::entropy_bits`]) for the host to find the weak ones.

use super::random::RandomCodeGenerator;
use super::{Code, CodeError, normalise};

/// The fewest bits of entropy an imported code ([`ImportedCode::entropy_bits`]) or the codes
/// of a generator ([`CodeGenerator::entropy_bits`](crate::code::CodeGenerator::entropy_bits))
/// may have unless the store-wide guess budget is on
/// ([`GuardPolicy::with_store_budget`](crate::redeem::GuardPolicy::with_store_budget)).
///
/// A guess finds one of `N` live cards with odds `N / 2^bits`, so it takes about `2^bits / N`
/// guesses a hit. At 40 bits and 10,000 live cards that is about 110 million guesses; with the
/// guard's default 20 unknown codes an hour per client, about 630 years for one client, or
/// two and a half years for the 256 clients of one /56. An 8-digit code (26.6 bits) gives a hit
/// every 10,000 guesses, a couple of hours from one /56: such codes need the store budget,
/// which bounds every client together.
pub const MIN_CODE_BITS: u32 = 40;

/// The lengths an imported code may have. The default is Shopify's: 8 to 20 letters and
/// digits.
///
/// ```
/// use giftcert::code::ImportRules;
///
/// let imported = ImportRules::default().import("mq7k-2pzx-9rt4-bnv8")?;
/// assert_eq!(imported.code().expose_secret(), "MQ7K2PZX9RT4BNV8");
/// assert_eq!(imported.entropy_bits().floor(), 82.0); // 16 × log2(36)
/// assert!(!imported.is_weak());
///
/// let numbers_only = ImportRules::default().import("12345678")?;
/// assert!(numbers_only.is_weak()); // 8 × log2(10) ≈ 26.6 bits
///
/// assert_eq!(
///     ImportRules::default().import("ABC-123").unwrap_err().to_string(),
///     "code has 6 letters and digits, expected 8 to 20"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImportRules {
    min_len: usize,
    max_len: usize,
}

impl ImportRules {
    /// Shopify's gift card codes: 8 to 20 letters and digits.
    pub const SHOPIFY: ImportRules = ImportRules {
        min_len: 8,
        max_len: 20,
    };

    /// Codes of `min_len` to `max_len` letters and digits.
    ///
    /// # Errors
    ///
    /// [`CodeError::InvalidConfig`] unless `Code::MIN_LEN <= min_len <= max_len <=
    /// Code::MAX_LEN` (4 to 64).
    pub fn new(min_len: usize, max_len: usize) -> Result<ImportRules, CodeError> {
        if min_len < Code::MIN_LEN || max_len > Code::MAX_LEN || min_len > max_len {
            return Err(CodeError::InvalidConfig {
                reason: format!(
                    "import lengths {min_len} to {max_len}, expected a range within {} to {}",
                    Code::MIN_LEN,
                    Code::MAX_LEN
                ),
            });
        }
        Ok(ImportRules { min_len, max_len })
    }

    /// The fewest letters and digits accepted.
    #[must_use]
    pub fn min_len(&self) -> usize {
        self.min_len
    }

    /// The most letters and digits accepted.
    #[must_use]
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Reads an existing code: normalised as [`Code::parse`] does, then held to these lengths.
    ///
    /// # Errors
    ///
    /// - [`CodeError::Character`] for anything but letters, digits, spaces and dashes;
    /// - [`CodeError::Length`] outside these rules' lengths.
    pub fn import(&self, input: &str) -> Result<ImportedCode, CodeError> {
        let (normalised, found) = normalise(input)?;
        if !(self.min_len..=self.max_len).contains(&found) {
            return Err(CodeError::Length {
                found,
                min: self.min_len,
                max: self.max_len,
            });
        }
        let has_digits = normalised.bytes().any(|b| b.is_ascii_digit());
        let has_letters = normalised.bytes().any(|b| b.is_ascii_uppercase());
        let alphabet = match (has_digits, has_letters) {
            (true, false) => ImportedAlphabet::Digits,
            (false, true) => ImportedAlphabet::Letters,
            _ => ImportedAlphabet::LettersAndDigits,
        };
        let len = normalised.len();
        let shown = shown_of_imported(len, alphabet);
        Ok(ImportedCode {
            code: Code::from_normalised(normalised).showing(len, shown),
            alphabet,
        })
    }
}

/// How many of an imported code's last characters its mask shows: at most
/// [`Code::MAX_SHOWN`], and only while the characters left hidden are estimated (as
/// [`ImportedCode::entropy_bits`] does) at [`Code::MIN_HIDDEN_BITS`] or more.
fn shown_of_imported(len: usize, alphabet: ImportedAlphabet) -> usize {
    (0..=Code::MAX_SHOWN.min(len))
        .rev()
        .find(|shown| {
            let hidden = u32::try_from(len - shown).unwrap_or(0);
            f64::from(hidden) * alphabet.bits_per_symbol() >= f64::from(Code::MIN_HIDDEN_BITS)
        })
        .unwrap_or(0)
}

impl Default for ImportRules {
    /// [`ImportRules::SHOPIFY`].
    fn default() -> ImportRules {
        ImportRules::SHOPIFY
    }
}

/// The characters an imported code draws from, as far as one code shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImportedAlphabet {
    /// Digits only: 10 symbols.
    Digits,
    /// Letters only: 26 symbols (codes are case-insensitive).
    Letters,
    /// Letters and digits: 36 symbols.
    LettersAndDigits,
}

impl ImportedAlphabet {
    /// The number of symbols: 10, 26 or 36.
    #[must_use]
    pub fn size(self) -> u32 {
        match self {
            ImportedAlphabet::Digits => 10,
            ImportedAlphabet::Letters => 26,
            ImportedAlphabet::LettersAndDigits => 36,
        }
    }

    /// The bits one symbol carries at most: log2 of [`size`](ImportedAlphabet::size).
    #[must_use]
    pub fn bits_per_symbol(self) -> f64 {
        f64::from(self.size()).log2()
    }
}

/// A code from another platform: valid for its length and alphabet, without a check character.
///
/// Its mask shows up to four of its last characters while the characters left hidden carry an
/// estimated 64 bits or more (three of Shopify's 16 letters and digits, none of 20 digits or
/// of 12 letters and digits). The estimate is the [upper bound](ImportedCode::entropy_bits) the
/// crate can make without knowing how the other platform drew its codes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImportedCode {
    code: Code,
    alphabet: ImportedAlphabet,
}

impl ImportedCode {
    /// The code.
    #[must_use]
    pub fn code(&self) -> &Code {
        &self.code
    }

    /// The code, for storing.
    #[must_use]
    pub fn into_code(self) -> Code {
        self.code
    }

    /// The alphabet the code appears to draw from.
    #[must_use]
    pub fn alphabet(&self) -> ImportedAlphabet {
        self.alphabet
    }

    /// The estimated entropy in bits: length × log2(alphabet size), with the alphabet read
    /// from the code itself (digits only 10, letters only 26, both 36).
    ///
    /// An **upper bound**: it assumes the old platform drew every symbol uniformly at random.
    /// A code a person chose (`SUMMERSALE2024`) scores high here and is easy to guess.
    #[must_use]
    pub fn entropy_bits(&self) -> f64 {
        // At most 64 symbols: the conversion is exact.
        let length = u32::try_from(self.code.expose_secret().len()).unwrap_or(u32::MAX);
        f64::from(length) * self.alphabet.bits_per_symbol()
    }

    /// Whether the estimate is below the [64 bits](RandomCodeGenerator::MIN_ENTROPY_BITS) the
    /// crate asks of its own codes: a code the host may want to replace.
    #[must_use]
    pub fn is_weak(&self) -> bool {
        self.entropy_bits() < f64::from(RandomCodeGenerator::MIN_ENTROPY_BITS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(s: &str) -> Result<ImportedCode, CodeError> {
        ImportRules::default().import(s)
    }

    #[test]
    fn shopify_codes_of_8_to_20_letters_and_digits_are_accepted() {
        for typed in [
            "abcd1234",
            "ABCD-EFGH-1234-5678",
            "a1b2 c3d4 e5f6 g7h8 i9j0",
            "ILOU0000",
            "12345678901234567890",
        ] {
            let imported = import(typed).unwrap();
            assert_eq!(imported.code(), &Code::parse(typed).unwrap(), "{typed}");
        }
    }

    #[test]
    fn codes_outside_8_to_20_letters_and_digits_are_refused() {
        assert_eq!(
            import("abc1234").unwrap_err().to_string(),
            "code has 7 letters and digits, expected 8 to 20"
        );
        assert_eq!(
            import("123456789012345678901").unwrap_err().to_string(),
            "code has 21 letters and digits, expected 8 to 20"
        );
        assert_eq!(
            import("abcd_1234").unwrap_err().to_string(),
            "code has '_' at position 5, expected only letters A-Z, digits 0-9, spaces and dashes"
        );
        assert!(import("").is_err());
    }

    #[test]
    fn entropy_is_length_times_log2_of_the_alphabet_used() {
        let digits = import("12345678").unwrap();
        assert_eq!(digits.alphabet(), ImportedAlphabet::Digits);
        assert!((digits.entropy_bits() - 26.575).abs() < 0.001);
        assert!(digits.is_weak());

        let letters = import("ABCDEFGHJKMNPQ").unwrap();
        assert_eq!(letters.alphabet(), ImportedAlphabet::Letters);
        assert!((letters.entropy_bits() - 65.806).abs() < 0.001);
        assert!(!letters.is_weak());

        let mixed = import("ABCD1234EFGH5678WXYZ").unwrap();
        assert_eq!(mixed.alphabet(), ImportedAlphabet::LettersAndDigits);
        assert!((mixed.entropy_bits() - 103.399).abs() < 0.001);

        // 12 letters and digits: 62.04 bits, just under the line; 13: 67.21, just over.
        assert!(import("ABCDEF123456").unwrap().is_weak());
        assert!(!import("ABCDEF1234567").unwrap().is_weak());
    }

    #[test]
    fn rules_are_configurable_within_code_lengths() {
        let rules = ImportRules::new(4, 64).unwrap();
        assert!(rules.import("AB12").is_ok());
        assert_eq!((rules.min_len(), rules.max_len()), (4, 64));
        assert_eq!(
            ImportRules::new(3, 20).unwrap_err().to_string(),
            "invalid code configuration: import lengths 3 to 20, expected a range within 4 to 64"
        );
        assert!(ImportRules::new(10, 9).is_err());
        assert!(ImportRules::new(8, 65).is_err());
        assert_eq!(ImportRules::default(), ImportRules::SHOPIFY);
    }

    #[test]
    fn imported_masks_leave_an_estimated_64_bits_hidden() {
        let shown = |s: &str| import(s).unwrap().code().shown().to_owned();
        assert_eq!(shown("12345678901234567890"), "");
        assert_eq!(shown("ABCDEF123456"), "");
        assert_eq!(shown("ABCDEF1234567"), "");
        assert_eq!(shown("ABCDEF12345678"), "8");
        assert_eq!(shown("ABCDEFGHJKMNPQRS"), "RS");
        assert_eq!(shown("ABCD1234EFGH5678"), "678");
        assert_eq!(shown("ABCD1234EFGH5678WXYZ"), "WXYZ");
        for (len, alphabet) in [
            (20, ImportedAlphabet::Digits),
            (64, ImportedAlphabet::Letters),
        ] {
            let shown = shown_of_imported(len, alphabet);
            assert!(f64::from(len as u32 - shown as u32) * alphabet.bits_per_symbol() >= 64.0);
        }
    }

    #[test]
    fn imported_codes_print_masked() {
        let imported = import("MQ7K2PZX9RT4BNV8").unwrap();
        let shown = format!("{imported:?}");
        assert_eq!(
            shown,
            "ImportedCode { code: Code(****-****-****-*NV8-*), alphabet: LettersAndDigits }"
        );
    }
}
