//! [`RandomCodeGenerator`]: unguessable codes with a check character.

use rand::TryCryptoRng;

use super::check::{self, BITS_PER_SYMBOL};
use super::{Code, CodeError, CodeGenerator, normalise, push_grouped};

/// The most random bytes one code needs (64 symbols of 5 bits).
const MAX_RANDOM_BYTES: usize = Code::MAX_LEN * BITS_PER_SYMBOL as usize / 8;

/// Makes random codes from Crockford's base-32 alphabet, with a check character: the default
/// generator.
///
/// # What a code looks like
///
/// An optional prefix (say `GC`), then [`length`](RandomCodeGeneratorBuilder::length) random
/// symbols from `0123456789ABCDEFGHJKMNPQRSTVWXYZ` (no I, L, O, U), then one check character
/// from the same alphabet. The default is 16 random symbols and the check character, 17
/// symbols in all, shown to the owner as `ABCD-EFGH-JKMN-PQRS-T`
/// ([`RandomCodeGenerator::grouped`]).
///
/// # Entropy
///
/// Each random symbol carries 5 bits; the prefix and the check character carry none. The
/// default has **80 bits** ([`entropy_bits`](RandomCodeGenerator::entropy_bits)). The builder
/// refuses fewer than [64 bits](RandomCodeGenerator::MIN_ENTROPY_BITS) (13 symbols) unless the
/// host calls [`allow_weak_codes`](RandomCodeGeneratorBuilder::allow_weak_codes). A host that
/// wants exactly `XXXX-XXXX-XXXX-XXXX` can take 15 random symbols and the check character
/// (75 bits).
///
/// # Check character
///
/// The check character covers the random symbols (not the prefix, which [`check`] compares as a
/// whole). It is Damm's scheme over GF(32), which detects **every single changed symbol and
/// every swap of two different neighbouring symbols** (indeed any swap of two symbols fewer
/// than 31 places apart), so [`check`] refuses such a mistyped code before any store is asked.
/// Luhn mod 32 would miss the swap `0Z` ↔ `Z0`. Other errors (two symbols changed, say)
/// pass about once in 32.
///
/// [`check`] is strict: a look-alike letter (`O` typed for `0`) is refused, since accepting it
/// would let a changed symbol pass. [`canonicalise`](RandomCodeGenerator::canonicalise) reads
/// look-alikes as Crockford does (O as 0, I and L as 1) for hosts that want to be forgiving;
/// they then look up the canonical code.
///
/// # Randomness
///
/// [`generate`](CodeGenerator::generate) draws every code from the operating system's
/// generator (`rand::rngs::SysRng`: `getrandom` on Linux), so no generator state lives in the
/// process to be copied by a fork or a VM snapshot; when the operating system cannot give
/// randomness it answers [`CodeError::RandomSource`]. Tests that want repeatable codes call
/// [`generate_with`](RandomCodeGenerator::generate_with) with a seeded generator.
///
/// ```
/// use giftcert::{Code, code::{CodeGenerator, RandomCodeGenerator}};
///
/// let generator = RandomCodeGenerator::default();
/// assert_eq!(generator.entropy_bits(), 80);
/// let code = generator.generate()?;
/// assert_eq!(code.expose_secret().len(), 17);
/// generator.check(&code)?;
///
/// // One symbol mistyped: refused by the check character.
/// let text = code.expose_secret();
/// let wrong = if text.starts_with('A') { "B" } else { "A" };
/// let mistyped = Code::parse(&format!("{wrong}{}", &text[1..]))?;
/// assert!(generator.check(&mistyped).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`check`]: CodeGenerator::check
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomCodeGenerator {
    prefix: Box<str>,
    length: usize,
    group_size: usize,
    check_character: bool,
}

/// Settings for a [`RandomCodeGenerator`]; [`build`](RandomCodeGeneratorBuilder::build) checks
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct RandomCodeGeneratorBuilder {
    prefix: String,
    length: usize,
    group_size: usize,
    check_character: bool,
    allow_weak: bool,
}

impl RandomCodeGenerator {
    /// The fewest bits of entropy the builder accepts without
    /// [`allow_weak_codes`](RandomCodeGeneratorBuilder::allow_weak_codes).
    pub const MIN_ENTROPY_BITS: u32 = 64;
    /// The random symbols of the default generator (80 bits).
    pub const DEFAULT_LENGTH: usize = 16;
    /// The group size of the default generator.
    pub const DEFAULT_GROUP_SIZE: usize = 4;

    /// Settings starting from the defaults: 16 random symbols, groups of 4, no prefix, a check
    /// character.
    pub fn builder() -> RandomCodeGeneratorBuilder {
        RandomCodeGeneratorBuilder {
            prefix: String::new(),
            length: RandomCodeGenerator::DEFAULT_LENGTH,
            group_size: RandomCodeGenerator::DEFAULT_GROUP_SIZE,
            check_character: true,
            allow_weak: false,
        }
    }

    /// The number of random symbols in each code.
    #[must_use]
    pub fn length(&self) -> usize {
        self.length
    }

    /// The normalised prefix ("" for none).
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The group size [`grouped`](RandomCodeGenerator::grouped) uses.
    #[must_use]
    pub fn group_size(&self) -> usize {
        self.group_size
    }

    /// Whether codes end with a check character.
    #[must_use]
    pub fn has_check_character(&self) -> bool {
        self.check_character
    }

    /// The entropy of a code in bits: 5 per random symbol (80 for the default).
    #[must_use]
    pub fn entropy_bits(&self) -> u32 {
        entropy_bits(self.length)
    }

    /// The length of every code: prefix, random symbols and check character.
    #[must_use]
    pub fn code_len(&self) -> usize {
        self.prefix.len() + self.body_len()
    }

    /// How many random symbols a mask of this generator's codes shows: the last ones before the
    /// check character, at most [`Code::MAX_SHOWN`], and only while the symbols left hidden
    /// carry [`Code::MIN_HIDDEN_BITS`] (three for the default 16, none for 13 or fewer).
    #[must_use]
    pub fn shown_symbols(&self) -> usize {
        let hidden = Code::MIN_HIDDEN_BITS.div_ceil(BITS_PER_SYMBOL) as usize;
        self.length.saturating_sub(hidden).min(Code::MAX_SHOWN)
    }

    fn body_len(&self) -> usize {
        self.length + usize::from(self.check_character)
    }

    /// A fresh code drawn from `rng`, for hosts that choose their random source (the operating
    /// system's `rand::rngs::SysRng`, or a seeded generator in tests).
    ///
    /// Take a cryptographically secure generator: the type bound asks for one, and codes are
    /// only as unguessable as their source.
    ///
    /// # Errors
    ///
    /// [`CodeError::RandomSource`] when `rng` fails.
    ///
    /// ```
    /// use giftcert::{code::{CodeGenerator, RandomCodeGenerator}};
    ///
    /// let generator = RandomCodeGenerator::default();
    /// let code = generator.generate_with(&mut rand::rngs::SysRng)?;
    /// generator.check(&code)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn generate_with<R: TryCryptoRng + ?Sized>(&self, rng: &mut R) -> Result<Code, CodeError> {
        let mut random = [0_u8; MAX_RANDOM_BYTES];
        let needed = (self.length * BITS_PER_SYMBOL as usize).div_ceil(8);
        let random = random.get_mut(..needed).unwrap_or_default();
        rng.try_fill_bytes(random)
            .map_err(|e| CodeError::RandomSource {
                reason: e.to_string(),
            })?;

        // Five bits per symbol out of the bytes drawn once: 32 is a power of two, so the
        // symbols are uniform without rejection.
        let mut out = String::with_capacity(self.code_len());
        out.push_str(&self.prefix);
        let mut bytes = random.iter();
        let (mut bits, mut pending) = (0_u32, 0_u32);
        let mut interim = 0_u8;
        for _ in 0..self.length {
            if pending < BITS_PER_SYMBOL {
                bits = (bits << 8) | u32::from(bytes.next().copied().unwrap_or_default());
                pending += 8;
            }
            pending -= BITS_PER_SYMBOL;
            let value = ((bits >> pending) & 31) as u8;
            interim = check::step(interim, value);
            out.push(check::symbol(value));
        }
        // The random bytes are the code in another form: overwritten before the stack frame
        // is reused.
        random.fill(0);
        std::hint::black_box(&*random);
        if self.check_character {
            out.push(check::symbol(check::check_value(interim)));
        }
        Ok(Code::from_normalised(out)
            .showing(self.prefix.len() + self.length, self.shown_symbols()))
    }

    /// The whole code as shown to its owner: the prefix, then the rest in groups of
    /// [`group_size`](RandomCodeGenerator::group_size) (`GC-ABCD-EFGH-JKMN-PQRS-T`). **Reveals
    /// the secret.**
    ///
    /// A code without this generator's prefix is grouped whole, as [`Code::grouped`] does.
    #[must_use]
    pub fn grouped(&self, code: &Code) -> String {
        let text = code.expose_secret();
        if self.prefix.is_empty() {
            return code.grouped(self.group_size);
        }
        match text.strip_prefix(&*self.prefix) {
            Some(body) => {
                let mut out = String::with_capacity(text.len() + 1 + body.len() / self.group_size);
                out.push_str(&self.prefix);
                push_grouped(&mut out, body, self.group_size, true);
                out
            }
            _ => code.grouped(self.group_size),
        }
    }

    /// The code with Crockford's look-alikes read as he reads them (`O` as `0`, `I` and `L` as
    /// `1`) after the prefix, once it passes [`check`](CodeGenerator::check).
    ///
    /// For hosts that forgive look-alikes: look up the code this returns, not the one typed.
    ///
    /// # Errors
    ///
    /// The errors of [`check`](CodeGenerator::check) on the canonical code.
    ///
    /// ```
    /// use giftcert::{Code, code::{CodeGenerator, RandomCodeGenerator}};
    ///
    /// let generator = RandomCodeGenerator::default();
    /// let code = generator.generate()?;
    /// let typed = Code::parse(&code.expose_secret().replace('0', "O").replace('1', "l"))?;
    /// assert_eq!(generator.canonicalise(&typed)?, code);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn canonicalise(&self, code: &Code) -> Result<Code, CodeError> {
        let body = self.strip_prefix(code)?;
        let mut out = String::with_capacity(code.expose_secret().len());
        out.push_str(&self.prefix);
        out.extend(body.bytes().map(|b| char::from(check::unalias(b))));
        let canonical = Code::from_normalised(out);
        self.check(&canonical)?;
        Ok(canonical)
    }

    fn strip_prefix<'c>(&self, code: &'c Code) -> Result<&'c str, CodeError> {
        if self.prefix.is_empty() {
            // Skips a library `memcmp` call, which profiling showed as the costliest step of a
            // check.
            return Ok(code.expose_secret());
        }
        code.expose_secret()
            .strip_prefix(&*self.prefix)
            .ok_or_else(|| CodeError::WrongPrefix {
                code: code.masked(),
                prefix: self.prefix.to_string(),
            })
    }
}

fn entropy_bits(length: usize) -> u32 {
    u32::try_from(length)
        .unwrap_or(u32::MAX)
        .saturating_mul(BITS_PER_SYMBOL)
}

impl Default for RandomCodeGenerator {
    /// 16 random symbols (80 bits) and a check character, groups of 4, no prefix.
    fn default() -> RandomCodeGenerator {
        RandomCodeGenerator {
            prefix: Box::default(),
            length: RandomCodeGenerator::DEFAULT_LENGTH,
            group_size: RandomCodeGenerator::DEFAULT_GROUP_SIZE,
            check_character: true,
        }
    }
}

impl CodeGenerator for RandomCodeGenerator {
    fn generate(&self) -> Result<Code, CodeError> {
        self.generate_with(&mut rand::rngs::SysRng)
    }

    fn check(&self, code: &Code) -> Result<(), CodeError> {
        let body = self.strip_prefix(code)?;
        if body.len() != self.body_len() {
            return Err(CodeError::WrongLength {
                code: code.masked(),
                found: code.expose_secret().len(),
                expected: self.code_len(),
            });
        }
        let mut interim = 0;
        for (i, byte) in body.bytes().enumerate() {
            let value = check::value_of(byte).ok_or_else(|| CodeError::OutsideAlphabet {
                code: code.masked(),
                position: self.prefix.len() + i + 1,
            })?;
            interim = check::step(interim, value);
        }
        if self.check_character && interim != 0 {
            return Err(CodeError::CheckFailed {
                code: code.masked(),
            });
        }
        Ok(())
    }

    /// The random symbols' bits ([`RandomCodeGenerator::entropy_bits`]): no code tells
    /// anything of another.
    fn entropy_bits(&self) -> Option<f64> {
        Some(f64::from(RandomCodeGenerator::entropy_bits(self)))
    }
}

impl RandomCodeGeneratorBuilder {
    /// The number of random symbols (5 bits each), not counting the prefix or the check
    /// character. Default 16.
    pub fn length(mut self, symbols: usize) -> Self {
        self.length = symbols;
        self
    }

    /// The group size for showing codes to their owner. Default 4.
    pub fn group_size(mut self, size: usize) -> Self {
        self.group_size = size;
        self
    }

    /// A prefix every code starts with (`"GC-"`), normalised like a code. Default none.
    ///
    /// It is public: it carries no entropy and the check character does not cover it.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    /// Codes without a check character: mistypes then reach the store.
    pub fn without_check_character(mut self) -> Self {
        self.check_character = false;
        self
    }

    /// Accepts fewer than [64 bits](RandomCodeGenerator::MIN_ENTROPY_BITS) of entropy: the
    /// host's explicit choice, for short codes it protects otherwise (rate limits, a PIN).
    pub fn allow_weak_codes(mut self) -> Self {
        self.allow_weak = true;
        self
    }

    /// The generator, once the settings are checked.
    ///
    /// # Errors
    ///
    /// - [`CodeError::WeakCodes`] when the random symbols carry fewer than 64 bits, unless
    ///   [`allow_weak_codes`](RandomCodeGeneratorBuilder::allow_weak_codes) was called;
    /// - [`CodeError::InvalidConfig`] when there are no random symbols, the group size is 0,
    ///   the prefix holds something other than letters, digits, spaces and dashes, or a code
    ///   would be longer than [`Code::MAX_LEN`] or shorter than [`Code::MIN_LEN`].
    ///
    /// ```
    /// use giftcert::code::RandomCodeGenerator;
    ///
    /// let generator = RandomCodeGenerator::builder().prefix("gc-").length(20).build()?;
    /// assert_eq!((generator.prefix(), generator.entropy_bits()), ("GC", 100));
    ///
    /// let weak = RandomCodeGenerator::builder().length(8);
    /// assert_eq!(
    ///     weak.clone().build().unwrap_err().to_string(),
    ///     "8 random symbols carry 40 bits of entropy, expected at least 64 \
    ///      (call allow_weak_codes() to accept weaker codes)"
    /// );
    /// assert_eq!(weak.allow_weak_codes().build()?.entropy_bits(), 40);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<RandomCodeGenerator, CodeError> {
        let invalid = |reason: String| CodeError::InvalidConfig { reason };
        if self.length == 0 {
            return Err(invalid(
                "length 0, expected at least 1 random symbol".to_string(),
            ));
        }
        let bits = entropy_bits(self.length);
        if bits < RandomCodeGenerator::MIN_ENTROPY_BITS && !self.allow_weak {
            return Err(CodeError::WeakCodes {
                symbols: self.length,
                bits,
                minimum: RandomCodeGenerator::MIN_ENTROPY_BITS,
            });
        }
        if self.group_size == 0 {
            return Err(invalid("group size 0, expected at least 1".to_string()));
        }
        let (prefix, _) = normalise(&self.prefix).map_err(|e| match e {
            CodeError::Character { found, position } => invalid(format!(
                "prefix has {found:?} at position {position}, expected only letters A-Z, \
                 digits 0-9, spaces and dashes"
            )),
            other => other,
        })?;
        let total = prefix
            .len()
            .saturating_add(self.length)
            .saturating_add(usize::from(self.check_character));
        if !(Code::MIN_LEN..=Code::MAX_LEN).contains(&total) {
            return Err(invalid(format!(
                "codes would have {total} letters and digits, expected {} to {}",
                Code::MIN_LEN,
                Code::MAX_LEN
            )));
        }
        Ok(RandomCodeGenerator {
            prefix: prefix.into_boxed_str(),
            length: self.length,
            group_size: self.group_size,
            check_character: self.check_character,
        })
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    /// A sample of codes from a seeded generator, so a failure can be replayed.
    fn sample(generator: &RandomCodeGenerator, n: usize) -> Vec<Code> {
        let mut rng = StdRng::seed_from_u64(2024);
        (0..n)
            .map(|_| generator.generate_with(&mut rng).unwrap())
            .collect()
    }

    fn with_prefix() -> RandomCodeGenerator {
        RandomCodeGenerator::builder().prefix("GC").build().unwrap()
    }

    fn replace(code: &Code, at: usize, with: char) -> Code {
        let mut text: Vec<char> = code.expose_secret().chars().collect();
        text[at] = with;
        Code::parse(&text.into_iter().collect::<String>()).unwrap()
    }

    #[test]
    fn default_is_16_random_symbols_and_a_check_character_with_80_bits() {
        let generator = RandomCodeGenerator::default();
        assert_eq!(generator, RandomCodeGenerator::builder().build().unwrap());
        assert_eq!(generator.entropy_bits(), 80);
        assert_eq!(generator.code_len(), 17);
        for code in sample(&generator, 100) {
            let text = code.expose_secret();
            assert_eq!(text.len(), 17);
            assert!(text.bytes().all(|b| check::value_of(b).is_some()), "{text}");
        }
    }

    #[test]
    fn every_generated_code_passes_its_check() {
        for generator in [
            RandomCodeGenerator::default(),
            with_prefix(),
            RandomCodeGenerator::builder().length(51).build().unwrap(),
            RandomCodeGenerator::builder()
                .length(3)
                .allow_weak_codes()
                .build()
                .unwrap(),
        ] {
            for code in sample(&generator, 200) {
                assert_eq!(generator.check(&code), Ok(()), "{}", code.expose_secret());
                assert!(code.expose_secret().starts_with(generator.prefix()));
                assert_eq!(code.expose_secret().len(), generator.code_len());
            }
        }
        let os = RandomCodeGenerator::default().generate().unwrap();
        assert_eq!(RandomCodeGenerator::default().check(&os), Ok(()));
    }

    #[test]
    fn a_mistyped_symbol_is_rejected_by_the_check_character() {
        let generator = with_prefix();
        for code in sample(&generator, 50) {
            for at in 2..code.expose_secret().len() {
                let original = code.expose_secret().as_bytes()[at];
                for &typed in check::ALPHABET {
                    if typed == original {
                        continue;
                    }
                    let mistyped = replace(&code, at, char::from(typed));
                    assert_eq!(
                        generator.check(&mistyped),
                        Err(CodeError::CheckFailed {
                            code: mistyped.masked()
                        }),
                        "{} at {at}",
                        code.expose_secret()
                    );
                }
                // Letters outside the alphabet are refused before the check character.
                for typed in ['I', 'L', 'O', 'U'] {
                    let mistyped = replace(&code, at, typed);
                    assert!(matches!(
                        generator.check(&mistyped),
                        Err(CodeError::OutsideAlphabet { position, .. }) if position == at + 1
                    ));
                }
            }
        }
    }

    #[test]
    fn swapping_two_different_neighbours_is_rejected_by_the_check_character() {
        let generator = with_prefix();
        let mut swaps = 0;
        for code in sample(&generator, 200) {
            let text = code.expose_secret().as_bytes();
            // From the last prefix letter on: a swap across the prefix breaks the prefix.
            for at in 1..text.len() - 1 {
                if text[at] == text[at + 1] {
                    continue;
                }
                let mut swapped = text.to_vec();
                swapped.swap(at, at + 1);
                let swapped = Code::parse(std::str::from_utf8(&swapped).unwrap()).unwrap();
                let result = generator.check(&swapped);
                if at == 1 {
                    assert!(matches!(result, Err(CodeError::WrongPrefix { .. })));
                } else {
                    assert_eq!(
                        result,
                        Err(CodeError::CheckFailed {
                            code: swapped.masked()
                        })
                    );
                }
                swaps += 1;
            }
        }
        assert!(swaps > 3000, "{swaps}");
    }

    #[test]
    fn prefixed_codes_need_the_prefix_and_the_whole_length() {
        let generator = with_prefix();
        let code = generator.generate().unwrap();
        let err = generator.check(&replace(&code, 0, 'Q')).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "code {} does not start with the prefix GC",
                replace(&code, 0, 'Q').masked()
            )
        );
        assert_eq!(
            generator
                .check(&Code::parse("GC-ABCD").unwrap())
                .unwrap_err()
                .to_string(),
            "code ****-****-****-****-* has 6 letters and digits, expected 19"
        );
    }

    #[test]
    fn check_messages_name_the_code_masked() {
        let generator = RandomCodeGenerator::default();
        let check = |typed: &str| {
            generator
                .check(&Code::parse(typed).unwrap())
                .map_err(|e| e.to_string())
        };
        // "1" is the check character of ABCDEFGHJKMNPQRS.
        assert_eq!(check("ABCD-EFGH-JKMN-PQRS-1"), Ok(()));
        assert_eq!(
            check("ABCD-EFGH-JKMN-PQRS-2"),
            Err(
                "code ****-****-****-****-* fails its check character: it was probably mistyped"
                    .to_string()
            )
        );
        assert_eq!(
            check("ABCD-EFGH"),
            Err("code ****-****-****-****-* has 8 letters and digits, expected 17".to_string())
        );
        assert_eq!(
            check("ABCD-EFGH-JKMN-POQR-S"),
            Err(
                "code ****-****-****-****-* has a symbol outside the code alphabet at position \
                 14, expected digits and letters other than I, L, O and U"
                    .to_string()
            )
        );
    }

    /// Today a default code showed its last four characters, the check character among them.
    #[test]
    fn default_masks_show_three_random_symbols_and_never_the_check_character() {
        let generator = RandomCodeGenerator::default();
        assert_eq!(generator.shown_symbols(), 3);
        for _ in 0..50 {
            let code = generator.generate().unwrap();
            let text = code.expose_secret();
            assert_eq!(code.shown(), &text[13..16]);
            assert_eq!(
                code.masked(),
                format!("****-****-****-*{}-*", &text[13..16])
            );
        }
    }

    #[test]
    fn masks_never_show_a_prefix_and_leave_64_bits_hidden() {
        for length in 1..=60 {
            for prefix in ["", "GC", "XGC"] {
                let generator = RandomCodeGenerator::builder()
                    .length(length)
                    .prefix(prefix)
                    .allow_weak_codes()
                    .build();
                let Ok(generator) = generator else { continue };
                let code = generator.generate().unwrap();
                let shown = code.shown().len();
                let hidden_bits = (length - shown) as u32 * BITS_PER_SYMBOL;
                assert!(
                    shown == 0 || hidden_bits >= 64,
                    "{length} {prefix}: {shown}"
                );
                assert!(shown <= 4);
                let text = code.expose_secret();
                let random_end = prefix.len() + length;
                assert_eq!(code.shown(), &text[random_end - shown..random_end]);
                assert_eq!(code.masked().len(), 21);
            }
        }
        let wide = RandomCodeGenerator::builder().length(17).build().unwrap();
        assert_eq!(wide.shown_symbols(), 4);
        let narrow = RandomCodeGenerator::builder().length(13).build().unwrap();
        assert_eq!(narrow.shown_symbols(), 0);
        assert_eq!(narrow.generate().unwrap().masked(), "****-****-****-****-*");
        // Without a check character the last symbols are random ones.
        let plain = RandomCodeGenerator::builder()
            .without_check_character()
            .build()
            .unwrap();
        let code = plain.generate().unwrap();
        assert_eq!(code.shown(), &code.expose_secret()[13..]);
    }

    /// The owner reads `ABCD-EFGH-JKMN-PQRS-T` in the e-mail; the mask a receipt or a balance
    /// page shows must line up with it: the same dashes, and each shown character where the
    /// owner sees it, the check character hidden.
    #[test]
    fn a_default_mask_lines_up_with_the_code_its_owner_reads() {
        let generator = RandomCodeGenerator::default();
        for _ in 0..50 {
            let code = generator.generate().unwrap();
            let grouped = generator.grouped(&code);
            let masked = code.masked();
            assert_eq!(grouped.len(), masked.len(), "{masked}");
            let mut shown = 0;
            for (owner, mask) in grouped.chars().zip(masked.chars()) {
                match mask {
                    '-' => assert_eq!(owner, '-'),
                    '*' => assert_ne!(owner, '-'),
                    c => {
                        assert_eq!(owner, c);
                        shown += 1;
                    }
                }
            }
            assert_eq!(shown, 3);
            assert!(masked.ends_with("-*"), "{masked}");
        }
    }

    #[test]
    fn weak_configurations_are_refused_unless_the_host_opts_out() {
        let err = RandomCodeGenerator::builder()
            .length(12)
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            CodeError::WeakCodes {
                symbols: 12,
                bits: 60,
                minimum: 64
            }
        );
        assert_eq!(
            err.to_string(),
            "12 random symbols carry 60 bits of entropy, expected at least 64 \
             (call allow_weak_codes() to accept weaker codes)"
        );
        assert_eq!(
            RandomCodeGenerator::builder()
                .length(13)
                .build()
                .unwrap()
                .entropy_bits(),
            65
        );
        let weak = RandomCodeGenerator::builder()
            .length(12)
            .allow_weak_codes()
            .build()
            .unwrap();
        assert_eq!(weak.entropy_bits(), 60);
    }

    #[test]
    fn impossible_configurations_are_refused() {
        let message = |b: RandomCodeGeneratorBuilder| b.build().unwrap_err().to_string();
        assert_eq!(
            message(RandomCodeGenerator::builder().length(0).allow_weak_codes()),
            "invalid code configuration: length 0, expected at least 1 random symbol"
        );
        assert_eq!(
            message(RandomCodeGenerator::builder().group_size(0)),
            "invalid code configuration: group size 0, expected at least 1"
        );
        assert_eq!(
            message(RandomCodeGenerator::builder().prefix("GC_")),
            "invalid code configuration: prefix has '_' at position 3, expected only letters \
             A-Z, digits 0-9, spaces and dashes"
        );
        assert_eq!(
            message(RandomCodeGenerator::builder().length(64)),
            "invalid code configuration: codes would have 65 letters and digits, expected 4 to 64"
        );
        assert_eq!(
            message(RandomCodeGenerator::builder().prefix("ABCD").length(60)),
            "invalid code configuration: codes would have 65 letters and digits, expected 4 to 64"
        );
        assert_eq!(
            message(
                RandomCodeGenerator::builder()
                    .length(2)
                    .without_check_character()
                    .allow_weak_codes()
            ),
            "invalid code configuration: codes would have 2 letters and digits, expected 4 to 64"
        );
        assert!(
            RandomCodeGenerator::builder()
                .length(64)
                .without_check_character()
                .build()
                .is_ok()
        );
    }

    #[test]
    fn without_a_check_character_only_the_format_is_checked() {
        let generator = RandomCodeGenerator::builder()
            .without_check_character()
            .build()
            .unwrap();
        assert!(!generator.has_check_character());
        let code = generator.generate().unwrap();
        assert_eq!(code.expose_secret().len(), 16);
        assert_eq!(
            generator.check(&Code::parse("0000-0000-0000-0000").unwrap()),
            Ok(())
        );
    }

    #[test]
    fn grouped_shows_the_prefix_then_groups() {
        let code = Code::parse("GCABCDEFGHJKMNPQRST").unwrap();
        assert_eq!(with_prefix().grouped(&code), "GC-ABCD-EFGH-JKMN-PQRS-T");
        let plain = Code::parse("ABCDEFGHJKMNPQRST").unwrap();
        assert_eq!(
            RandomCodeGenerator::default().grouped(&plain),
            "ABCD-EFGH-JKMN-PQRS-T"
        );
        let fives = RandomCodeGenerator::builder()
            .group_size(5)
            .build()
            .unwrap();
        assert_eq!(fives.grouped(&plain), "ABCDE-FGHJK-MNPQR-ST");
    }

    #[test]
    fn canonicalise_reads_look_alikes_after_the_prefix_only() {
        let generator = RandomCodeGenerator::builder()
            .prefix("GOLD")
            .build()
            .unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen_alias = false;
        for _ in 0..200 {
            let code = generator.generate_with(&mut rng).unwrap();
            let body = &code.expose_secret()[4..];
            seen_alias |= body.contains(['0', '1']);
            let typed = format!("gold-{}", body.replace('0', "o").replace('1', "I"));
            let typed = Code::parse(&typed).unwrap();
            assert_eq!(generator.canonicalise(&typed).unwrap(), code);
        }
        assert!(seen_alias);
        // U is no alias: it stays outside the alphabet.
        let with_u = Code::parse("GOLDUUUUUUUUUUUUUUUUU").unwrap();
        assert!(matches!(
            generator.canonicalise(&with_u),
            Err(CodeError::OutsideAlphabet { position: 5, .. })
        ));
    }

    #[test]
    fn a_failing_random_source_is_an_error_not_a_panic() {
        #[derive(Debug)]
        struct Broken;
        #[derive(Debug, thiserror::Error)]
        #[error("no entropy today")]
        struct NoEntropy;
        impl rand::TryRng for Broken {
            type Error = NoEntropy;
            fn try_next_u32(&mut self) -> Result<u32, NoEntropy> {
                Err(NoEntropy)
            }
            fn try_next_u64(&mut self) -> Result<u64, NoEntropy> {
                Err(NoEntropy)
            }
            fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), NoEntropy> {
                Err(NoEntropy)
            }
        }
        impl TryCryptoRng for Broken {}
        let err = RandomCodeGenerator::default()
            .generate_with(&mut Broken)
            .unwrap_err();
        assert_eq!(err.to_string(), "random source failed: no entropy today");
    }

    #[test]
    fn symbols_are_spread_over_the_whole_alphabet() {
        // Not a statistical test: a bit-extraction slip (a stuck bit, a reused byte) shows as
        // symbols that never appear or a position that never changes.
        let codes = sample(&RandomCodeGenerator::default(), 2000);
        let mut counts = [0_u32; 32];
        for code in &codes {
            for b in code.expose_secret()[..16].bytes() {
                counts[usize::from(check::value_of(b).unwrap())] += 1;
            }
        }
        assert!(counts.iter().all(|&n| n > 700), "{counts:?}");
        for at in 0..17 {
            let first = codes[0].expose_secret().as_bytes()[at];
            assert!(
                codes
                    .iter()
                    .any(|c| c.expose_secret().as_bytes()[at] != first)
            );
        }
    }
}
