//! The `allocate` example is a contract: seed 003's response for seed 003's cart, exact
//! lowest-first allocation for other carts, and one `error:` line (nothing on standard output,
//! status 1) for bad input. Checked through its `run` function and end to end through the
//! built binary. Its properties (money conserved, lowest first, any input answered) are in the
//! property tests' package, `tests/props/tests/prop_allocate_example.rs`.

#[allow(dead_code)]
#[path = "../examples/allocate.rs"]
mod allocate;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};

const SEED_REQUEST: &str = include_str!("data/seed_003_request.json");
const SEED_RESPONSE: &str = include_str!("data/seed_003_response.json");

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The example's output for `cart`, which must be accepted.
fn ok(cart: &Value) -> Value {
    allocate::run(&cart.to_string()).unwrap()
}

/// The text of a number in the output, exactly as it will be printed.
fn text(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        other => panic!("expected a number, found {other}"),
    }
}

/// `usedAmount` of every item, as printed (`None` for products).
fn used(out: &Value) -> Vec<Option<String>> {
    out["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item.get("usedAmount").map(text))
        .collect()
}

fn product(id: &str, price: Value, quantity: u64) -> Value {
    json!({"id": id, "description": "Product", "unitPrice": price, "quantity": quantity, "vat": 25})
}

fn card(id: &str, price: Value) -> Value {
    json!({"id": id, "description": "Gift card", "type": "GiftCard", "unitPrice": price,
           "quantity": 1, "vat": 0})
}

/// A number from its exact text, as a cart would carry it.
fn n(text: &str) -> Value {
    Value::Number(text.parse().unwrap())
}

// ---------------------------------------------------------------------------------------------
// Seed 003

#[test]
fn seed_003_request_gives_seed_003_response_exactly() {
    let out = allocate::run(SEED_REQUEST).unwrap();
    assert_eq!(out, parse(SEED_RESPONSE));
    // Value equality compares numbers by their text under `arbitrary_precision`: pin it anyway.
    assert_eq!(text(&out["totalAmount"]), "-155.0");
    assert_eq!(
        used(&out),
        [
            None,
            Some("50.0".to_owned()),
            Some("45.0".to_owned()),
            Some("0.0".to_owned())
        ]
    );
}

#[test]
fn output_keeps_each_items_keys_in_input_order_with_used_amount_last() {
    let out = allocate::run(SEED_REQUEST).unwrap();
    let keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["totalAmount", "items"]);
    let request = parse(SEED_REQUEST);
    for (input, output) in request
        .as_array()
        .unwrap()
        .iter()
        .zip(out["items"].as_array().unwrap())
    {
        let mut expected: Vec<&str> = input
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        if input.get("type").is_some() {
            expected.push("usedAmount");
        }
        let found: Vec<&str> = output
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(found, expected);
    }
}

#[test]
fn sample_input_is_seed_003_request_verbatim() {
    assert_eq!(include_str!("../examples/data/allocate.json"), SEED_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// Allocation, exactly

#[test]
fn tenths_add_up_exactly() {
    let out = ok(&json!([
        product("a", n("0.1"), 1),
        product("b", n("0.2"), 1),
        card("c", n("-0.3")),
    ]));
    assert_eq!(used(&out)[2].as_deref(), Some("0.3"));
    assert_eq!(text(&out["totalAmount"]), "0.0");
}

#[test]
fn cards_beyond_what_is_needed_give_nothing() {
    let out = ok(&json!([
        product("p", n("30.00"), 1),
        card("c1", n("-10.00")),
        card("c2", n("-10.00")),
        card("c3", n("-10.00")),
        card("c4", n("-10.00")),
    ]));
    let used = used(&out);
    assert_eq!(
        used[1..],
        [Some("10.00"), Some("10.00"), Some("10.00"), Some("0.00")].map(|s| s.map(str::to_owned))
    );
    assert_eq!(text(&out["totalAmount"]), "-10.00");
}

#[test]
fn cards_short_of_the_order_leave_a_positive_total() {
    let out = ok(&json!([
        product("p", n("120.00"), 1),
        card("c1", n("-50.00")),
        card("c2", n("-25.50")),
    ]));
    assert_eq!(
        used(&out)[1..],
        [Some("50.00".to_owned()), Some("25.50".to_owned())]
    );
    assert_eq!(text(&out["totalAmount"]), "44.50");
}

#[test]
fn equal_amounts_are_used_in_the_order_applied() {
    let out = ok(&json!([
        card("second-by-id", n("-20")),
        product("p", n("30"), 1),
        card("first-by-id", n("-20")),
    ]));
    assert_eq!(
        used(&out),
        [Some("20.0".to_owned()), None, Some("10.0".to_owned())]
    );
}

#[test]
fn the_lowest_card_goes_first_even_when_applied_last() {
    let out = ok(&json!([
        product("p", n("30"), 1),
        card("big", n("-100")),
        card("small", n("-20")),
    ]));
    assert_eq!(
        used(&out),
        [None, Some("10.0".to_owned()), Some("20.0".to_owned())]
    );
    assert_eq!(text(&out["totalAmount"]), "-90.0");
}

#[test]
fn amounts_have_the_decimals_of_the_most_precise_price() {
    let out = ok(&json!([product("p", n("95"), 1), card("c", n("-50"))]));
    assert_eq!(used(&out)[1].as_deref(), Some("50.0"));
    assert_eq!(text(&out["totalAmount"]), "45.0");

    let out = ok(&json!([
        product("p", n("95.125"), 1),
        card("c", n("-50.5"))
    ]));
    assert_eq!(used(&out)[1].as_deref(), Some("50.500"));
    assert_eq!(text(&out["totalAmount"]), "44.625");
}

#[test]
fn quantities_multiply_prices_of_products_and_cards() {
    let out = ok(&json!([
        product("p", n("10.5"), 2),
        json!({"id": "c", "type": "GiftCard", "unitPrice": -5, "quantity": 3, "vat": 0}),
    ]));
    assert_eq!(used(&out)[1].as_deref(), Some("15.0"));
    assert_eq!(text(&out["totalAmount"]), "6.0");
}

#[test]
fn a_product_line_with_quantity_zero_costs_nothing() {
    let out = ok(&json!([product("p", n("10"), 0), card("c", n("-5"))]));
    assert_eq!(used(&out)[1].as_deref(), Some("0.0"));
    assert_eq!(text(&out["totalAmount"]), "-5.0");
}

#[test]
fn numbers_may_be_strings() {
    let cart = r#"[{"id": "p", "unitPrice": "95.0", "quantity": "1", "vat": "25"},
                   {"id": "c", "type": "GiftCard", "unitPrice": -100, "quantity": 1, "vat": 0}]"#;
    let out = allocate::run(cart).unwrap();
    // Strings stay strings in the echo.
    assert_eq!(out["items"][0]["unitPrice"], "95.0");
    assert_eq!(used(&out)[1].as_deref(), Some("95.0"));
    assert_eq!(text(&out["totalAmount"]), "-5.0");
}

#[test]
fn numbers_with_an_exponent_are_refused_naming_the_field() {
    for (field, number) in [
        ("unitPrice", "-1e2"),
        ("unitPrice", "\"-1E2\""),
        ("quantity", "1e0"),
        ("vat", "0e0"),
    ] {
        let mut item = serde_json::Map::new();
        for (key, value) in [("unitPrice", "-100"), ("quantity", "1"), ("vat", "0")] {
            let value = if key == field { number } else { value };
            item.insert(key.into(), serde_json::from_str(value).unwrap());
        }
        item.insert("id".into(), "c".into());
        item.insert("type".into(), "GiftCard".into());
        let cart = json!([product("p", n("10"), 1), item]).to_string();
        let err = allocate::run(&cart).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "items[1] (id \"c\"): {field} must be written without an exponent"
            )),
            "{field} = {number}: {err}"
        );
    }
}

#[test]
fn a_quantity_above_a_million_is_refused() {
    let err = allocate::run(&json!([product("p", n("1"), 1_000_001)]).to_string()).unwrap_err();
    assert_eq!(
        err,
        "items[0] (id \"p\"): quantity must be at most 1000000, found 1000001"
    );
    allocate::run(&json!([product("p", n("1"), 1_000_000)]).to_string()).unwrap();
}

#[test]
fn unknown_fields_are_echoed_in_place() {
    let cart = r#"[{"zeta": 1, "id": "p", "sku": "S-1", "unitPrice": 9.99, "quantity": 1,
                    "vat": 12, "alpha": {"b": 1, "a": [2.50]}}]"#;
    let out = allocate::run(cart).unwrap();
    let keys: Vec<&str> = out["items"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["zeta", "id", "sku", "unitPrice", "quantity", "vat", "alpha"]
    );
    assert_eq!(text(&out["items"][0]["alpha"]["a"][0]), "2.50");
    assert_eq!(text(&out["totalAmount"]), "9.99");
}

#[test]
fn an_empty_cart_totals_zero() {
    assert_eq!(
        allocate::run("[]").unwrap(),
        parse(r#"{"totalAmount": 0.0, "items": []}"#)
    );
}

#[test]
fn a_cart_of_only_gift_cards_uses_none_of_them() {
    let out = ok(&json!([card("c1", n("-10")), card("c2", n("-5.5"))]));
    assert_eq!(used(&out), [Some("0.0".to_owned()), Some("0.0".to_owned())]);
    assert_eq!(text(&out["totalAmount"]), "-15.5");
}

#[test]
fn large_amounts_stay_exact_up_to_28_digits() {
    // 18 decimals, 9 whole digits: 27 digits in all.
    let out = ok(&json!([
        product("p", n("123456789.123456789123456789"), 1),
        card("c", n("-0.000000000000000001")),
    ]));
    assert_eq!(used(&out)[1].as_deref(), Some("0.000000000000000001"));
    assert_eq!(text(&out["totalAmount"]), "123456789.123456789123456788");
}

// ---------------------------------------------------------------------------------------------
// End to end, through the built binary

/// The example binary. `cargo test` builds it beside the test binaries, but a filtered run
/// (`cargo test --test allocate_example`) does not, and would find a stale one: build it here,
/// once, which costs nothing when it is up to date.
fn binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("test binary in target/<profile>/deps");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "--example",
                "allocate",
                "--profile",
                profile,
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --example allocate failed");
        let path = profile_dir
            .join("examples")
            .join(format!("allocate{}", std::env::consts::EXE_SUFFIX));
        assert!(path.exists(), "{} was not built", path.display());
        path
    })
}

fn run_binary(input: &[u8]) -> Output {
    let mut child = Command::new(binary())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The binary reads all of its input before answering, so this cannot hit a closed pipe.
    stdin.write_all(input).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// Refused with status 1, nothing on standard output, exactly `error: {reason}` on one line.
fn assert_refused(input: &[u8], reason: &str) {
    let out = run_binary(input);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    assert_eq!(stderr, format!("error: {reason}\n"));
}

#[test]
fn binary_prints_seed_003_response_for_seed_003_request() {
    let out = run_binary(SEED_REQUEST.as_bytes());
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, parse(SEED_RESPONSE));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("\"totalAmount\": -155.0"), "{printed}");
    assert!(printed.contains("\"usedAmount\": 45.0"), "{printed}");
}

/// Seed 003's cart with item `index` edited.
fn seed_with(index: usize, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut cart = parse(SEED_REQUEST);
    edit(cart[index].as_object_mut().unwrap());
    cart.to_string()
}

/// Each bad input is refused by `run` with `reason`, and by the binary with one line holding it.
macro_rules! refused {
    ($($name:ident: $input:expr => $reason:expr;)*) => {$(
        #[test]
        fn $name() {
            let input: String = $input;
            assert_eq!(allocate::run(&input), Err($reason.to_owned()));
            assert_refused(input.as_bytes(), $reason);
        }
    )*};
}

refused! {
    a_gift_card_with_a_positive_price_is_refused:
        seed_with(2, |item| { item.insert("unitPrice".into(), n("50.0")); })
        => r#"items[2] (id "10003"): a gift card must have a negative unitPrice, found 50.0"#;
    a_gift_card_with_a_zero_price_is_refused:
        seed_with(1, |item| { item.insert("unitPrice".into(), n("0")); })
        => r#"items[1] (id "10002"): a gift card must have a negative unitPrice, found 0"#;
    a_gift_card_with_non_zero_vat_is_refused:
        seed_with(3, |item| { item.insert("vat".into(), n("25.0")); })
        => "items[3] (id \"10004\"): a gift card must have vat 0 (a multi-purpose voucher \
            carries no tax), found 25.0";
    a_gift_card_with_quantity_zero_is_refused:
        seed_with(1, |item| { item.insert("quantity".into(), n("0")); })
        => r#"items[1] (id "10002"): a gift card must have a quantity of at least 1, found 0"#;
    a_missing_price_is_refused:
        seed_with(0, |item| { item.remove("unitPrice"); })
        => r#"items[0] (id "10001"): missing required field unitPrice"#;
    a_missing_quantity_is_refused:
        seed_with(1, |item| { item.remove("quantity"); })
        => r#"items[1] (id "10002"): missing required field quantity"#;
    a_missing_vat_is_refused:
        seed_with(0, |item| { item.remove("vat"); })
        => r#"items[0] (id "10001"): missing required field vat"#;
    malformed_json_is_refused:
        SEED_REQUEST.replacen("\"quantity\": 1,", "\"quantity\": 1", 1)
        => "malformed JSON: expected `,` or `}` at line 7 column 1";
    trailing_text_is_refused:
        format!("{SEED_REQUEST} []")
        => "malformed JSON: trailing characters at line 34 column 2";
    empty_input_is_refused:
        " \n".to_owned()
        => "empty input: expected a JSON array of cart items";
    duplicate_ids_are_refused:
        seed_with(3, |item| { item.insert("id".into(), json!("10002")); })
        => r#"items[3] (id "10002"): id "10002" is already used by items[1]"#;
    a_key_given_twice_is_refused:
        r#"[{"id": "a", "unitPrice": 1, "unitPrice": -1, "quantity": 1, "vat": 0}]"#.to_owned()
        => r#"an object names the key "unitPrice" twice at line 1 column 40"#;
    a_top_level_object_is_refused:
        format!(r#"{{"items": {SEED_REQUEST}}}"#)
        => "expected a JSON array of cart items, found an object";
    an_item_that_is_not_an_object_is_refused:
        r#"[{"id": "a", "unitPrice": 1, "quantity": 1, "vat": 0}, "10002"]"#.to_owned()
        => "items[1]: expected an object, found a string";
    a_missing_id_is_refused:
        seed_with(2, |item| { item.remove("id"); })
        => "items[2]: missing required field id";
    a_numeric_id_is_refused:
        seed_with(2, |item| { item.insert("id".into(), n("10003")); })
        => "items[2]: id must be a string, found 10003";
    an_empty_id_is_refused:
        seed_with(2, |item| { item.insert("id".into(), json!(" ")); })
        => r#"items[2]: id must not be empty, found " ""#;
    a_boolean_price_is_refused:
        seed_with(0, |item| { item.insert("unitPrice".into(), json!(true)); })
        => r#"items[0] (id "10001"): unitPrice must be a number, found a boolean"#;
    an_object_quantity_is_refused:
        seed_with(0, |item| { item.insert("quantity".into(), json!({})); })
        => r#"items[0] (id "10001"): quantity must be a number, found an object"#;
    a_non_numeric_string_is_refused:
        seed_with(0, |item| { item.insert("unitPrice".into(), json!("95,0")); })
        => "items[0] (id \"10001\"): unitPrice must be a decimal number that can be kept \
            exactly, found \"95,0\"";
    a_negative_quantity_is_refused:
        seed_with(0, |item| { item.insert("quantity".into(), n("-1")); })
        => "items[0] (id \"10001\"): quantity must be a whole number, not negative, found -1";
    a_fractional_quantity_is_refused:
        seed_with(0, |item| { item.insert("quantity".into(), n("1.5")); })
        => "items[0] (id \"10001\"): quantity must be a whole number, not negative, found 1.5";
    a_product_with_a_negative_price_is_refused:
        seed_with(0, |item| { item.insert("unitPrice".into(), n("-95.0")); })
        => "items[0] (id \"10001\"): a product must not have a negative unitPrice, found \
            -95.0; only a gift card (\"type\": \"GiftCard\") is a negative line";
    vat_above_one_hundred_is_refused:
        seed_with(0, |item| { item.insert("vat".into(), n("125")); })
        => r#"items[0] (id "10001"): vat: tax rate 125 is outside 0 to 100 percent"#;
    negative_vat_is_refused:
        seed_with(0, |item| { item.insert("vat".into(), n("-25")); })
        => r#"items[0] (id "10001"): vat: tax rate -25 is outside 0 to 100 percent"#;
    a_type_that_is_not_a_string_is_refused:
        seed_with(1, |item| { item.insert("type".into(), json!(1)); })
        => r#"items[1] (id "10002"): type must be a string, found 1"#;
    an_unknown_type_is_refused:
        seed_with(1, |item| { item.insert("type".into(), json!("giftcard")); })
        => "items[1] (id \"10002\"): unknown type \"giftcard\"; the only type is \"GiftCard\", \
            and products have none";
    a_description_that_is_not_a_string_is_refused:
        seed_with(0, |item| { item.insert("description".into(), json!(["x"])); })
        => r#"items[0] (id "10001"): description must be a string, found an array"#;
    a_used_amount_in_the_input_is_refused:
        seed_with(1, |item| { item.insert("usedAmount".into(), n("50.0")); })
        => "items[1] (id \"10002\"): usedAmount is computed by this program and must not be \
            in the input";
    a_price_with_more_than_18_decimals_is_refused:
        seed_with(0, |item| { item.insert("unitPrice".into(), n("0.0000000000000000001")); })
        => "items[0] (id \"10001\"): unitPrice 0.0000000000000000001 has 19 decimals, more \
            than 18 allowed";
    a_price_too_large_to_keep_exactly_is_refused:
        seed_with(0, |item| { item.insert("unitPrice".into(), n("100000000000000000000000000000")); })
        => "items[0] (id \"10001\"): unitPrice must be a decimal number that can be kept \
            exactly, found 100000000000000000000000000000";
    amounts_beyond_28_digits_are_refused:
        seed_with(0, |item| {
            item.insert("unitPrice".into(), n("9999999999999999999999999999"));
            item.insert("quantity".into(), n("10"));
        })
        => "items[0] (id \"10001\"): unitPrice × quantity needs more than 28 digits, too \
            large to compute exactly";
    a_cart_adding_up_beyond_28_digits_is_refused:
        format!(r#"[{{"id": "a", "unitPrice": 600000000000000000000000000.0, "quantity": 1, "vat": 0}},
                   {{"id": "b", "unitPrice": 500000000000000000000000000.0, "quantity": 1, "vat": 0}}]"#)
        => "items[1] (id \"b\"): the cart's amounts add up to more than 28 digits, too large \
            to compute exactly";
    an_id_with_a_line_break_stays_on_one_line:
        r#"[{"id": "a\nb", "unitPrice": -1, "quantity": 1, "vat": 0}]"#.to_owned()
        => "items[0] (id \"a\\nb\"): a product must not have a negative unitPrice, found -1; \
            only a gift card (\"type\": \"GiftCard\") is a negative line";
}

#[test]
fn input_that_is_not_utf8_is_refused_on_one_line() {
    assert_refused(
        b"[\xff]",
        "cannot read standard input: stream did not contain valid UTF-8",
    );
}
