//! The examples that read standard input read at most 1 MiB of it and refuse a number written
//! with more than 64 characters before parsing it, each in its own error shape: one reason,
//! which `main` prints as one `error:` line.

// Both examples include the shared `examples/common/stdin.rs`; each is loaded here to check
// that each reads through it.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../examples/checkout.rs"]
mod checkout;

#[allow(dead_code)]
#[path = "../examples/allocate.rs"]
mod allocate;

use std::io::Read;

const MIB: u64 = 1 << 20;

/// `bytes` of JSON white space around an empty array: valid JSON of any size.
fn padded_json(bytes: u64) -> Box<dyn Read> {
    Box::new(
        b"[".chain(std::io::repeat(b' ').take(bytes - 2))
            .chain(&b"]"[..]),
    )
}

type ReadInput = fn(Box<dyn Read>) -> Result<String, String>;

#[test]
fn standard_input_over_one_mebibyte_is_refused() {
    let readers: [ReadInput; 2] = [
        checkout::stdin::read_input::<Box<dyn Read>>,
        allocate::stdin::read_input::<Box<dyn Read>>,
    ];
    for read in readers {
        let err = read(padded_json(MIB + 1)).unwrap_err();
        assert_eq!(
            err,
            "standard input has more than 1048576 bytes, expected at most 1048576 (1 MiB)"
        );
        // Far more than the limit is refused as quickly: no more than the limit is read.
        assert!(read(Box::new(std::io::repeat(b' ').take(64 * MIB))).is_err());
        assert_eq!(read(padded_json(MIB)).unwrap().len() as u64, MIB);
    }
    assert_eq!(checkout::stdin::MAX_INPUT_BYTES, MIB);
    assert_eq!(allocate::stdin::MAX_INPUT_BYTES, MIB);
}

#[test]
fn input_that_is_not_utf8_is_a_reason_not_a_panic() {
    let err = checkout::stdin::read_input(&[0xff_u8, 0xfe][..]).unwrap_err();
    assert!(err.starts_with("cannot read standard input: "), "{err}");
}

/// About 8,000 leading zeros overflowed the stack of a debug build.
#[test]
fn numbers_of_more_than_64_characters_are_refused_before_parsing() {
    let zeros = format!("{}1", "0".repeat(8_000));
    let order = serde_json::json!({
        "currency": "USD", "taxIncluded": true,
        "lines": [{"id": "a", "unitPrice": zeros, "quantity": 1, "taxRate": 25}],
        "giftCertificates": []
    });
    assert_eq!(
        checkout::run(&order.to_string()).unwrap_err(),
        "lines[0].unitPrice: a number of 8001 characters, expected at most 64"
    );
    let cart = serde_json::json!([
        {"id": "1", "unitPrice": zeros, "quantity": 1, "vat": 25}
    ]);
    assert_eq!(
        allocate::run(&cart.to_string()).unwrap_err(),
        "items[0] (id \"1\"): unitPrice must be a number of at most 64 characters, found one \
         of 8001"
    );
}

/// The checkout refused repeated line ids by comparing each line with every earlier one.
#[test]
fn checkout_lines_are_capped_and_checked_for_repeats_linearly() {
    let lines: Vec<_> = (0..1_001)
        .map(|i| serde_json::json!({"id": format!("l{i}"), "unitPrice": 1, "quantity": 1, "taxRate": 0}))
        .collect();
    let order = serde_json::json!({
        "currency": "USD", "taxIncluded": true, "lines": lines, "giftCertificates": []
    });
    assert_eq!(
        checkout::run(&order.to_string()).unwrap_err(),
        "lines[1000]: a selection may hold at most 1000 lines, found 1001"
    );
}
