//! Property 5: every generated code passes its check character; changing any one symbol or
//! swapping two adjacent different symbols makes the check fail; normalisation is idempotent.

use giftcert::Code;
use giftcert::code::CodeGenerator;
use giftcert::strategies::{generated_code, typed_code};
use proptest::prelude::*;

/// Crockford's base 32, the alphabet of generated codes.
const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

proptest! {
    #![proptest_config(giftcert_props::config("proptest-regressions/prop_codes.txt"))]

    #[test]
    fn every_generated_code_passes_its_check((generator, code) in generated_code()) {
        prop_assert!(generator.check(&code).is_ok());
        prop_assert_eq!(code.expose_secret().len(), generator.code_len());
        // What the owner is told parses back to the same code.
        prop_assert_eq!(Code::parse(&generator.grouped(&code)).unwrap(), code);
    }

    #[test]
    fn any_single_substitution_is_caught(
        (generator, code) in generated_code(),
        position in any::<proptest::sample::Index>(),
        replacement in any::<proptest::sample::Index>(),
    ) {
        let text = code.expose_secret();
        let start = generator.prefix().len();
        let i = start + position.index(text.len() - start);
        let original = text.as_bytes()[i] as char;
        let others: Vec<char> = ALPHABET.chars().filter(|c| *c != original).collect();
        let new = others[replacement.index(others.len())];
        let mut typo: Vec<char> = text.chars().collect();
        typo[i] = new;
        let typo = Code::parse(&typo.into_iter().collect::<String>()).unwrap();
        prop_assert!(generator.check(&typo).is_err(), "{} -> {} passed", original, new);
    }

    #[test]
    fn any_adjacent_swap_of_different_symbols_is_caught(
        (generator, code) in generated_code(),
        position in any::<proptest::sample::Index>(),
    ) {
        let text: Vec<char> = code.expose_secret().chars().collect();
        let start = generator.prefix().len();
        let i = start + position.index(text.len() - start - 1);
        prop_assume!(text[i] != text[i + 1]);
        let mut swapped = text.clone();
        swapped.swap(i, i + 1);
        let swapped = Code::parse(&swapped.into_iter().collect::<String>()).unwrap();
        prop_assert!(generator.check(&swapped).is_err());
    }

    #[test]
    fn normalisation_is_idempotent_and_ignores_case_spaces_and_dashes(typed in typed_code()) {
        let once = Code::parse(&typed).unwrap();
        let twice = Code::parse(once.expose_secret()).unwrap();
        prop_assert_eq!(&once, &twice);
        prop_assert_eq!(Code::parse(&typed.to_lowercase()).unwrap(), once.clone());
        let bare: String = typed.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        prop_assert_eq!(once.expose_secret(), bare.to_uppercase());
        // The masked form never shows the whole code.
        prop_assert!(!once.masked().contains(once.expose_secret()));
    }
}
