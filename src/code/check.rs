//! The code alphabet (Crockford's base 32) and the check character.
//!
//! # The check character
//!
//! Symbols are read as elements of the field GF(32) (a symbol's value is its index in
//! [`ALPHABET`]; addition is XOR; multiplication is modulo the primitive polynomial
//! x⁵ + x² + 1, with α = x). The check is Damm's scheme over the totally anti-symmetric
//! quasigroup `a ∘ b = α·a ⊕ b`: starting from 0, each symbol `s` moves the interim value `r` to
//! `α·r ⊕ s`, and the check character is the one that brings the final value to 0.
//!
//! Unrolled, a code `s₁ … sₙ c` is valid when `α^n·s₁ ⊕ … ⊕ α·sₙ ⊕ c = 0`: each position has its
//! own non-zero weight α^k, and α has order 31. Hence, over the symbols the check covers:
//!
//! - every change of one symbol into another is detected (the sum moves by α^k·(s ⊕ s′) ≠ 0);
//! - every swap of two different symbols fewer than 31 positions apart is detected, adjacent
//!   ones included, and so is every twin error (`aa` → `bb`) between neighbours (the sum moves
//!   by (α^j ⊕ α^k)·(a ⊕ b), zero only when j − k is a multiple of 31);
//! - other errors (two independent changes, say) pass about once in 32.
//!
//! Luhn mod 32, the obvious alternative, misses one adjacent swap: like Luhn's `09` ↔ `90`,
//! it cannot tell `0Z` from `Z0` (values 0 and 31). Hence this scheme.

/// Crockford's base-32 alphabet: digits and upper-case letters without I, L, O and U (which
/// look like 1, 1, 0 and V, or spell words).
pub(crate) const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The bits each alphabet symbol carries.
pub(crate) const BITS_PER_SYMBOL: u32 = 5;

const NOT_A_SYMBOL: u8 = u8::MAX;

/// For each byte, its symbol value, or [`NOT_A_SYMBOL`]. A `static`, so that looking up a
/// symbol reads one table rather than building it on the stack.
static VALUES: [u8; 256] = {
    let mut values = [NOT_A_SYMBOL; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        values[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    values
};

/// The value (0 to 31) of an upper-case alphabet symbol.
pub(crate) fn value_of(byte: u8) -> Option<u8> {
    match VALUES[usize::from(byte)] {
        NOT_A_SYMBOL => None,
        value => Some(value),
    }
}

/// The symbol for the low five bits of `value`.
pub(crate) fn symbol(value: u8) -> char {
    char::from(ALPHABET[usize::from(value & 31)])
}

/// Crockford's reading of the look-alike letters: O is 0, I and L are 1.
pub(crate) fn unalias(byte: u8) -> u8 {
    match byte {
        b'O' => b'0',
        b'I' | b'L' => b'1',
        other => other,
    }
}

/// α·x in GF(32) with x⁵ = x² + 1.
const fn times_alpha(x: u8) -> u8 {
    ((x << 1) & 31) ^ (((x >> 4) & 1) * 0b00101)
}

/// One step of the check: the interim value after reading a symbol of value `value`.
pub(crate) const fn step(interim: u8, value: u8) -> u8 {
    times_alpha(interim & 31) ^ (value & 31)
}

/// The value of the check character that completes a code whose symbols left `interim`.
pub(crate) const fn check_value(interim: u8) -> u8 {
    times_alpha(interim & 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interim value after a whole string of alphabet symbols (check character included).
    fn run(code: &[u8]) -> u8 {
        code.iter()
            .fold(0, |r, &b| step(r, value_of(b).expect("alphabet symbol")))
    }

    fn with_check(body: &[u8]) -> Vec<u8> {
        let mut code = body.to_vec();
        code.push(symbol(check_value(run(body))) as u8);
        code
    }

    #[test]
    fn alphabet_has_32_distinct_symbols_without_look_alikes() {
        let mut seen = [false; 256];
        for &b in ALPHABET {
            assert!(!seen[usize::from(b)]);
            seen[usize::from(b)] = true;
            assert!(b.is_ascii_digit() || b.is_ascii_uppercase());
        }
        for look_alike in [b'I', b'L', b'O', b'U'] {
            assert_eq!(value_of(look_alike), None);
        }
        for (i, &b) in ALPHABET.iter().enumerate() {
            assert_eq!(value_of(b), Some(i as u8));
            assert_eq!(symbol(i as u8), char::from(b));
        }
    }

    #[test]
    fn alpha_has_order_31_so_position_weights_repeat_only_every_31_places() {
        let mut power = 1;
        for k in 1..=31 {
            power = times_alpha(power);
            assert_eq!(power == 1, k == 31, "α^{k}");
        }
    }

    #[test]
    fn the_check_operation_is_a_totally_anti_symmetric_quasigroup() {
        for a in 0..32 {
            let mut row = [false; 32];
            for b in 0..32 {
                row[usize::from(step(a, b))] = true;
            }
            assert!(row.iter().all(|&hit| hit), "row {a} is a permutation");
        }
        for c in 0..32 {
            for x in 0..32 {
                for y in 0..32 {
                    if x != y {
                        assert_ne!(step(step(c, x), y), step(step(c, y), x));
                    }
                }
            }
        }
    }

    #[test]
    fn a_completed_code_runs_to_zero() {
        assert_eq!(run(&with_check(b"0123456789ABCDEF")), 0);
        assert_eq!(run(&with_check(b"ZZZZ")), 0);
    }

    #[test]
    fn every_swap_of_distinct_symbols_fewer_than_31_apart_is_detected_and_31_apart_is_not() {
        // Linear over GF(32): a swap's effect does not depend on the other symbols, so one
        // 32-symbol code (31 symbols and its check) tried with every pair of values at every
        // pair of positions covers all codes.
        let body = [b'0'; 31];
        for i in 0..32 {
            for j in i + 1..32 {
                for x in ALPHABET {
                    for y in ALPHABET {
                        if x == y {
                            continue;
                        }
                        let mut code = with_check(&body);
                        code[i] = *x;
                        code[j] = *y;
                        let before = run(&code);
                        code.swap(i, j);
                        if j - i == 31 {
                            // The documented limit: weights 31 places apart are equal.
                            assert_eq!(run(&code), before, "swap at {i} and {j}");
                        } else {
                            assert_ne!(run(&code), before, "swap at {i} and {j}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn luhn_mod_32_would_miss_the_swap_of_0_and_z() {
        // Why not Luhn: doubling with carry makes 0 and 31 ("0" and "Z") indistinguishable.
        let luhn_double = |v: u32| {
            let d = 2 * v;
            d / 32 + d % 32
        };
        let sum = |a: u32, b: u32| (luhn_double(a) + b) % 32;
        assert_eq!(sum(0, 31), sum(31, 0));
        assert_ne!(step(step(0, 0), 31), step(step(0, 31), 0));
    }
}
