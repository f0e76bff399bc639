//! The `checkout` example is a contract: its output for good input, its refusal of bad input.
//! Checked through its `run` function and end to end through the built binary.

#[allow(dead_code)]
#[path = "../examples/checkout.rs"]
mod checkout;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// Seed 001's order: 5,500 including 25 % tax, one 1,000 credit voucher.
const SEED_001: &str = include_str!("../examples/data/checkout.json");

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn seed_001_output() -> Value {
    json(
        r#"{"subtotal": 5500.00, "discountAmount": 0.00, "shippingCostTotal": 0.00,
            "taxTotal": 1100.00, "taxes": [{"name": "25%", "rate": 25, "amount": 1100.00}],
            "grandTotal": 5500.00,
            "giftCertificates": [{"code": "GC1", "balance": 1000.00, "used": 1000.00,
                                  "remaining": 0.00}],
            "outstandingBalance": 4500.00}"#,
    )
}

/// A valid order with one field replaced, to test each field's checks.
fn order_with(edit: impl FnOnce(&mut Value)) -> String {
    let mut order = json(SEED_001);
    edit(&mut order);
    order.to_string()
}

#[test]
fn seed_001_comes_out_exactly() {
    let out = checkout::run(SEED_001).unwrap();
    assert_eq!(out, seed_001_output());
    // Amounts carry the currency's minor units, as JSON numbers.
    assert_eq!(out["taxTotal"].to_string(), "1100.00");
    assert_eq!(out["outstandingBalance"].to_string(), "4500.00");
    assert_eq!(out["taxes"][0]["rate"].to_string(), "25");
}

#[test]
fn numbers_may_be_strings_and_optional_fields_default_to_zero() {
    let input = r#"{"currency": "USD", "taxIncluded": true,
        "lines": [{"id": "a", "unitPrice": "5500", "quantity": "1", "taxRate": "25"}],
        "giftCertificates": [{"code": "GC1", "balance": "1000.00"}]}"#;
    assert_eq!(checkout::run(input).unwrap(), seed_001_output());
}

#[test]
fn amounts_are_written_with_each_currencys_minor_units() {
    let input = r#"{"currency": "JPY", "taxIncluded": true,
        "lines": [{"id": "a", "unitPrice": 1100, "quantity": 1, "taxRate": 10}],
        "giftCertificates": []}"#;
    let out = checkout::run(input).unwrap();
    assert_eq!(out["taxTotal"].to_string(), "100");
    assert_eq!(out["grandTotal"].to_string(), "1100");
    let input = r#"{"currency": "KWD", "taxIncluded": false,
        "lines": [{"id": "a", "unitPrice": "1.5", "quantity": 1, "taxRate": "12.5"}],
        "giftCertificates": []}"#;
    let out = checkout::run(input).unwrap();
    // 1.5 × 12.5 % = 0.1875 → 0.188, half away from zero, to fils.
    assert_eq!(out["taxTotal"].to_string(), "0.188");
    assert_eq!(out["grandTotal"].to_string(), "1.688");
    assert_eq!(out["taxes"][0]["name"], "12.5%");
    assert_eq!(out["taxes"][0]["rate"].to_string(), "12.5");
}

#[test]
fn discount_shipping_and_several_cards_in_input_order() {
    let input = r#"{"currency": "USD", "taxIncluded": false,
        "lines": [{"id": "a", "unitPrice": 60, "quantity": 2, "taxRate": 25},
                  {"id": "b", "unitPrice": 30, "quantity": 1, "taxRate": 12}],
        "discountAmount": 15, "shippingCost": "10", "shippingTaxRate": 25,
        "giftCertificates": [{"code": "BIG", "balance": 200}, {"code": "SMALL", "balance": 50}]}"#;
    let out = checkout::run(input).unwrap();
    // Discount 15 over 120 and 30: 12 and 3. Bases: 25 % → 108 + 10 shipping = 118, 12 % → 27.
    // Tax 29.50 + 3.24 = 32.74; grand total 150 - 15 + 10 + 32.74 = 177.74.
    assert_eq!(
        out,
        json(
            r#"{"subtotal": 150.00, "discountAmount": 15.00, "shippingCostTotal": 10.00,
                "taxTotal": 32.74,
                "taxes": [{"name": "12%", "rate": 12, "amount": 3.24},
                          {"name": "25%", "rate": 25, "amount": 29.50}],
                "grandTotal": 177.74,
                "giftCertificates": [
                    {"code": "BIG", "balance": 200.00, "used": 127.74, "remaining": 72.26},
                    {"code": "SMALL", "balance": 50.00, "used": 50.00, "remaining": 0.00}],
                "outstandingBalance": 0.00}"#
        )
    );
}

#[test]
fn credit_short_of_the_total_leaves_an_outstanding_balance_and_empty_lines_are_fine() {
    let out = checkout::run(&order_with(|o| {
        o["giftCertificates"] = json(r#"[{"code": "A", "balance": 0}]"#);
    }))
    .unwrap();
    assert_eq!(out["outstandingBalance"].to_string(), "5500.00");
    let out = checkout::run(
        r#"{"currency": "USD", "taxIncluded": true, "lines": [], "giftCertificates": []}"#,
    )
    .unwrap();
    assert_eq!(out["grandTotal"].to_string(), "0.00");
    assert_eq!(out["taxes"], json("[]"));
}

/// Each bad input, with the reason expected (the start of it, after the field name).
fn bad_inputs() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "unknown currency",
            order_with(|o| o["currency"] = "XYZ".into()),
            "currency: unknown currency code \"XYZ\"",
        ),
        (
            "negative quantity",
            order_with(|o| o["lines"][0]["quantity"] = (-1).into()),
            "lines[0].quantity: expected a non-negative whole number, found -1",
        ),
        (
            "quantity not whole",
            order_with(|o| o["lines"][0]["quantity"] = "1.5".into()),
            "lines[0].quantity: expected a non-negative whole number, found 1.5",
        ),
        (
            "negative rate",
            order_with(|o| o["lines"][0]["taxRate"] = (-5).into()),
            "lines[0].taxRate: tax rate -5 is outside 0 to 100 percent",
        ),
        (
            "rate above 100",
            order_with(|o| o["lines"][0]["taxRate"] = 101.into()),
            "lines[0].taxRate: tax rate 101 is outside 0 to 100 percent",
        ),
        (
            "negative shipping rate",
            order_with(|o| o["shippingTaxRate"] = (-1).into()),
            "shippingTaxRate: tax rate -1 is outside 0 to 100 percent",
        ),
        (
            "negative balance",
            order_with(|o| o["giftCertificates"][0]["balance"] = (-1).into()),
            "giftCertificates[0].balance: must not be negative, found -1",
        ),
        (
            "negative unit price",
            order_with(|o| o["lines"][0]["unitPrice"] = "-5500".into()),
            "lines[0].unitPrice: must not be negative, found -5500",
        ),
        (
            "negative discount",
            order_with(|o| o["discountAmount"] = (-1).into()),
            "discountAmount: must not be negative, found -1",
        ),
        (
            "negative shipping",
            order_with(|o| o["shippingCost"] = (-1).into()),
            "shippingCost: must not be negative, found -1",
        ),
        (
            "more decimals than USD allows",
            order_with(|o| o["lines"][0]["unitPrice"] = "5500.001".into()),
            "lines[0].unitPrice: amount 5500.001 has more decimals than USD allows (2)",
        ),
        (
            "more decimals than JPY allows",
            order_with(|o| {
                o["currency"] = "JPY".into();
                o["giftCertificates"][0]["balance"] = "10.5".into();
            }),
            "giftCertificates[0].balance: amount 10.5 has more decimals than JPY allows (0)",
        ),
        (
            "discount larger than the subtotal",
            order_with(|o| o["discountAmount"] = 5501.into()),
            "discountAmount: order discount 5501.00 USD is larger than the product subtotal \
             5500.00 USD",
        ),
        (
            "the same code twice",
            order_with(|o| {
                o["giftCertificates"] = json(
                    r#"[{"code": "ABCD-EFGH-7KQ2", "balance": 1},
                        {"code": " abcd efgh 7kq2 ", "balance": 1}]"#,
                );
            }),
            "giftCertificates[1].code: gift certificate ****-****-****-****-* at position 1 is already \
             applied",
        ),
        (
            "the same line id twice",
            order_with(|o| {
                let line = o["lines"][0].clone();
                o["lines"].as_array_mut().unwrap().push(line);
            }),
            "lines[1].id: line id \"a\" appears twice",
        ),
        (
            "malformed JSON",
            r#"{"currency": "USD", "#.to_owned(),
            "malformed JSON: ",
        ),
        ("empty input", String::new(), "malformed JSON: "),
        (
            "not an object",
            "[1, 2]".to_owned(),
            "expected a JSON object, found an array",
        ),
        (
            "missing currency",
            order_with(|o| {
                o.as_object_mut().unwrap().remove("currency");
            }),
            "currency: missing required field",
        ),
        (
            "missing lines",
            order_with(|o| {
                o.as_object_mut().unwrap().remove("lines");
            }),
            "lines: missing required field",
        ),
        (
            "missing gift certificates",
            order_with(|o| {
                o.as_object_mut().unwrap().remove("giftCertificates");
            }),
            "giftCertificates: missing required field",
        ),
        (
            "missing taxIncluded",
            order_with(|o| {
                o.as_object_mut().unwrap().remove("taxIncluded");
            }),
            "taxIncluded: missing required field",
        ),
        (
            "missing unit price",
            order_with(|o| {
                o["lines"][0].as_object_mut().unwrap().remove("unitPrice");
            }),
            "lines[0].unitPrice: missing required field",
        ),
        (
            "boolean quantity",
            order_with(|o| o["lines"][0]["quantity"] = true.into()),
            "lines[0].quantity: expected a number, found a boolean",
        ),
        (
            "null unit price",
            order_with(|o| o["lines"][0]["unitPrice"] = Value::Null),
            "lines[0].unitPrice: expected a number, found null",
        ),
        (
            "object balance",
            order_with(|o| o["giftCertificates"][0]["balance"] = json("{}")),
            "giftCertificates[0].balance: expected a number, found an object",
        ),
        (
            "text that is not a number",
            order_with(|o| o["shippingCost"] = "five".into()),
            "shippingCost: \"five\" is not a decimal number",
        ),
        (
            "string taxIncluded",
            order_with(|o| o["taxIncluded"] = "true".into()),
            "taxIncluded: expected true or false, found a string",
        ),
        (
            "numeric line id",
            order_with(|o| o["lines"][0]["id"] = 7.into()),
            "lines[0].id: expected a string, found a number",
        ),
        (
            "lines not an array",
            order_with(|o| o["lines"] = json("{}")),
            "lines: expected an array, found an object",
        ),
        (
            "empty code",
            order_with(|o| o["giftCertificates"][0]["code"] = " ".into()),
            "giftCertificates[0].code: gift certificate code at position 0 is empty",
        ),
        (
            "quantity beyond range",
            order_with(|o| o["lines"][0]["quantity"] = "1".repeat(25).into()),
            "lines[0].quantity: expected a non-negative whole number",
        ),
        (
            "quantity above a million",
            order_with(|o| o["lines"][0]["quantity"] = 1_000_001.into()),
            "lines[0]: product \"a\" may have at most 1000000 units on one line, found 1000001",
        ),
        (
            "line amount above the maximum",
            order_with(|o| {
                o["lines"][0]["unitPrice"] = "1000000".into();
                o["lines"][0]["quantity"] = 1001.into();
            }),
            "lines[0]: amount 1001000000.00 USD is above the maximum of 1000000000.00 USD",
        ),
        (
            "unit price above the maximum",
            order_with(|o| o["lines"][0]["unitPrice"] = "99999999999999999999999".into()),
            "lines[0]: amount 99999999999999999999999.00 USD is above the maximum",
        ),
        (
            "an exponent in an amount",
            order_with(|o| o["lines"][0]["unitPrice"] = json("1e3")),
            "lines[0].unitPrice: \"1e+3\" is written with an exponent; write it as a plain \
             decimal number",
        ),
        (
            "an exponent in a string",
            order_with(|o| o["giftCertificates"][0]["balance"] = "1E3".into()),
            "giftCertificates[0].balance: \"1E3\" is written with an exponent",
        ),
        (
            "an unknown top-level field",
            order_with(|o| o["discountAmmount"] = 10.into()),
            "discountAmmount: unknown field, expected one of currency, taxIncluded, lines, \
             discountAmount, shippingCost, shippingTaxRate, giftCertificates",
        ),
        (
            "an unknown line field",
            order_with(|o| o["lines"][0]["discount"] = 10.into()),
            "lines[0].discount: unknown field, expected one of id, unitPrice, quantity, taxRate",
        ),
        (
            "an unknown gift certificate field",
            order_with(|o| o["giftCertificates"][0]["pin"] = "1234".into()),
            "giftCertificates[0].pin: unknown field, expected one of code, balance",
        ),
    ]
}

#[test]
fn each_bad_input_is_refused_with_a_reason_naming_the_field() {
    for (what, input, reason) in bad_inputs() {
        let err = checkout::run(&input).expect_err(what);
        assert!(err.starts_with(reason), "{what}: got {err:?}");
    }
}

#[test]
fn a_repeated_code_is_never_printed_whole() {
    let input = order_with(|o| {
        o["giftCertificates"] = json(
            r#"[{"code": "SECRETSECRET7KQ2", "balance": 1},
                {"code": "secret-secret-7kq2", "balance": 1}]"#,
        );
    });
    let err = checkout::run(&input).unwrap_err();
    assert!(!err.to_uppercase().contains("SECRET"), "{err}");
    assert!(err.contains("****-****-****-****-*"), "{err}");
    assert!(!err.contains("7KQ2"), "{err}");
}

/// The example binary `cargo test` builds next to the test binaries (`cargo test --test
/// checkout` does not build examples: then it is built here, once).
fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("test binary in target/<profile>/deps");
            let path = profile_dir
                .join("examples")
                .join(format!("checkout{}", std::env::consts::EXE_SUFFIX));
            if !path.exists() {
                let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
                    Some("debug") | None => "dev",
                    Some(other) => other,
                };
                let status = Command::new(env!("CARGO"))
                    .args([
                        "build",
                        "--quiet",
                        "--example",
                        "checkout",
                        "--profile",
                        profile,
                    ])
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .status()
                    .unwrap();
                assert!(status.success(), "cargo build --example checkout failed");
            }
            path
        })
        .clone()
}

fn run_binary(input: &str) -> Output {
    let mut child = Command::new(binary())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn the_binary_prints_seed_001_and_exits_zero() {
    let out = run_binary(SEED_001);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, seed_001_output());
}

#[test]
fn the_binary_refuses_each_bad_input_with_one_line_and_nothing_on_stdout() {
    let mut inputs: Vec<(&str, Vec<u8>)> = bad_inputs()
        .into_iter()
        .map(|(what, input, _)| (what, input.into_bytes()))
        .collect();
    inputs.push(("not UTF-8", vec![b'{', 0xff, b'}']));
    for (what, input) in inputs {
        let mut child = Command::new(binary())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&input).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "{what}: exit status {}", out.status);
        assert!(out.stdout.is_empty(), "{what}: printed {:?}", out.stdout);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr:?}");
        assert!(stderr.starts_with("error: "), "{what}: {stderr:?}");
        assert!(stderr.ends_with('\n'), "{what}: {stderr:?}");
    }
}
