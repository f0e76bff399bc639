//! Fuzzing, with proptest, of every public parser and of both examples' input handling:
//! arbitrary strings and bytes, and valid JSON with one leaf replaced by something arbitrary.
//! Nothing panics, errors are typed (a parser's own error type, `serde_json::Error` for JSON),
//! whatever parses reads back the same, and the examples answer in their contract: an output
//! object of the documented shape, or one reason that `main` prints as one `error:` line.
//!
//! A few hundred cases a property, so that `cargo test --workspace` runs it in CI in seconds.

// Both examples include the shared `examples/common/stdin.rs`; each is loaded here to fuzz what
// its `main` runs: `read_input`, then `run`.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../../../examples/checkout.rs"]
mod checkout;

#[allow(dead_code)]
#[path = "../../../examples/allocate.rs"]
mod allocate;

use giftcert::code::{
    CodeGenerator, ImportRules, MemorySequence, PatternCodeGenerator, RandomCodeGenerator,
};
use giftcert::redeem::{Checkout, GuardPolicy, GuardWindow};
use giftcert::shop::{GiftMessage, Sku};
use giftcert::strategies::{card_with_history, certificate_definition, currency, selection};
use giftcert::{
    CardId, Catalogue, CertificateDefinition, Code, Currency, EmailAddress, GiftCard,
    IdempotencyKey, Money, Order, OrderId, PaymentMethod, Reference, Selection, SelectionPolicy,
    TaxRate, TotalsSettings,
};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A few hundred cases a property; failing seeds kept in `proptest-regressions/fuzz.txt`.
fn config() -> Config {
    Config {
        cases: 256,
        ..giftcert_props::config("proptest-regressions/fuzz.txt")
    }
}

/// Arbitrary text: any characters, control characters and astral planes included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,40}",
        // Near what the parsers accept: digits, signs, separators, letters.
        "[-+ .,_0-9A-Za-z]{0,40}",
    ]
}

/// Text as the amount parsers see it: numbers of every spelling, sometimes broken.
fn amount_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[-+]?[0-9]{0,40}(\\.[0-9]{0,40})?([eE][-+]?[0-9]{0,6})?",
        "0{0,200}[1-9]?(\\.[0-9]{0,5})?",
        text(),
    ]
}

/// A JSON text for `T` must either be refused with a `serde_json::Error` or give a value that
/// writes and reads back as itself (deserialising validates everything it accepts).
fn reads_back<T>(json: &str) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = serde_json::from_str::<T>(json) {
        let again =
            serde_json::to_string(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: T = serde_json::from_str(&again)
            .map_err(|e| TestCaseError::fail(format!("{e}: {again}")))?;
        prop_assert_eq!(back, value);
    }
    Ok(())
}

/// Every public type that reads JSON, fed `json`.
fn every_type_reads(json: &str) -> Result<(), TestCaseError> {
    reads_back::<Money>(json)?;
    reads_back::<Currency>(json)?;
    reads_back::<TaxRate>(json)?;
    reads_back::<CardId>(json)?;
    reads_back::<Reference>(json)?;
    reads_back::<IdempotencyKey>(json)?;
    reads_back::<giftcert::catalogue::CertificateId>(json)?;
    reads_back::<Sku>(json)?;
    reads_back::<OrderId>(json)?;
    reads_back::<EmailAddress>(json)?;
    reads_back::<GiftMessage>(json)?;
    reads_back::<PaymentMethod>(json)?;
    reads_back::<SelectionPolicy>(json)?;
    reads_back::<TotalsSettings>(json)?;
    reads_back::<GuardPolicy>(json)?;
    reads_back::<GuardWindow>(json)?;
    reads_back::<CertificateDefinition>(json)?;
    reads_back::<Catalogue>(json)?;
    reads_back::<Selection>(json)?;
    reads_back::<Checkout>(json)?;
    reads_back::<Order>(json)?;
    reads_back::<GiftCard>(json)?;
    // A code reads through its parser; it has no `Serialize` (it is a secret).
    if let Ok(code) = serde_json::from_str::<Code>(json) {
        prop_assert_eq!(Code::parse(code.expose_secret()).ok(), Some(code));
    }
    Ok(())
}

/// A JSON leaf: what replaces one leaf of a valid document.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        amount_text().prop_map(Value::String),
        text().prop_map(Value::String),
        amount_text().prop_filter_map("a JSON number", |t| {
            serde_json::from_str::<serde_json::Number>(&t)
                .ok()
                .map(Value::Number)
        }),
        Just(Value::Array(Vec::new())),
        Just(Value::Object(serde_json::Map::new())),
    ]
}

/// `value` with its `n`th leaf (counted modulo the leaves, depth first) replaced by `with`.
fn replace_leaf(value: &mut Value, n: usize, with: Value) {
    fn leaves(value: &Value) -> usize {
        match value {
            Value::Array(items) => items.iter().map(leaves).sum(),
            Value::Object(map) => map.values().map(leaves).sum(),
            _ => 1,
        }
    }
    fn walk(value: &mut Value, n: &mut usize, with: &mut Option<Value>) {
        match value {
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, n, with)),
            Value::Object(map) => map.values_mut().for_each(|v| walk(v, n, with)),
            leaf => {
                if *n == 0
                    && let Some(new) = with.take()
                {
                    *leaf = new;
                }
                *n = n.wrapping_sub(1);
            }
        }
    }
    let total = leaves(value).max(1);
    walk(value, &mut (n % total), &mut Some(with));
}

/// Valid documents of the larger types, for mutating.
fn documents() -> impl Strategy<Value = Value> {
    fn json<T: Serialize>(value: T) -> Value {
        serde_json::to_value(value).unwrap_or(Value::Null)
    }
    prop_oneof![
        currency().prop_flat_map(selection).prop_map(json),
        currency()
            .prop_flat_map(certificate_definition)
            .prop_map(json),
        currency()
            .prop_flat_map(card_with_history)
            .prop_map(|(card, _)| json(card)),
    ]
}

/// A checkout example input: the documented shape with arbitrary values.
fn checkout_input() -> impl Strategy<Value = String> {
    let line = (text(), amount_text(), amount_text(), amount_text()).prop_map(
        |(id, price, quantity, rate)| {
            serde_json::json!({"id": id, "unitPrice": price, "quantity": quantity, "taxRate": rate})
        },
    );
    let card = (text(), amount_text())
        .prop_map(|(code, balance)| serde_json::json!({"code": code, "balance": balance}));
    (
        prop_oneof![Just("USD".to_owned()), Just("SEK".to_owned()), text()],
        any::<bool>(),
        prop::collection::vec(line, 0..4),
        prop::collection::vec(card, 0..3),
        amount_text(),
        amount_text(),
        any::<usize>(),
        leaf(),
    )
        .prop_map(
            |(currency, included, lines, cards, discount, shipping, n, with)| {
                let mut order = serde_json::json!({
                    "currency": currency, "taxIncluded": included, "lines": lines,
                    "discountAmount": discount, "shippingCost": shipping,
                    "giftCertificates": cards,
                });
                // Half the time one leaf is something arbitrary.
                if n % 2 == 0 {
                    replace_leaf(&mut order, n / 2, with);
                }
                order.to_string()
            },
        )
}

/// An allocate example input: the documented array with arbitrary values.
fn allocate_input() -> impl Strategy<Value = String> {
    let item = (
        text(),
        prop::option::of(prop_oneof![Just("GiftCard".to_owned()), text()]),
        amount_text(),
        amount_text(),
        amount_text(),
    )
        .prop_map(|(id, kind, price, quantity, vat)| {
            let mut item = serde_json::json!({
                "id": id, "unitPrice": price, "quantity": quantity, "vat": vat
            });
            if let Some(kind) = kind {
                item["type"] = Value::String(kind);
            }
            item
        });
    (prop::collection::vec(item, 0..5), any::<usize>(), leaf()).prop_map(|(items, n, with)| {
        let mut cart = Value::Array(items);
        if n % 2 == 0 {
            replace_leaf(&mut cart, n / 2, with);
        }
        cart.to_string()
    })
}

/// What each example's `main` does with `bytes` on standard input, as its contract says:
/// `Ok` with the output object, or `Err` with the one line it prints.
fn checkout_main(bytes: &[u8]) -> Result<Value, String> {
    checkout::stdin::read_input(bytes)
        .and_then(|input| checkout::run(&input))
        .map_err(|reason| format!("error: {}", checkout::stdin::one_line(&reason)))
}

fn allocate_main(bytes: &[u8]) -> Result<Value, String> {
    allocate::stdin::read_input(bytes)
        .and_then(|input| allocate::run(&input))
        .map_err(|reason| format!("error: {}", allocate::stdin::one_line(&reason)))
}

/// An error line: `error: ` and a reason, on one line.
fn one_error_line(line: &str) -> Result<(), TestCaseError> {
    prop_assert!(line.len() > "error: ".len(), "an empty reason: {line:?}");
    prop_assert!(line.starts_with("error: "));
    prop_assert!(
        !line.chars().any(char::is_control),
        "not one line: {line:?}"
    );
    Ok(())
}

fn checkout_contract(answer: Result<Value, String>) -> Result<(), TestCaseError> {
    match answer {
        Ok(out) => {
            let keys = [
                "subtotal",
                "discountAmount",
                "shippingCostTotal",
                "taxTotal",
                "taxes",
                "grandTotal",
                "giftCertificates",
                "outstandingBalance",
            ];
            for key in keys {
                prop_assert!(out.get(key).is_some(), "no {key} in {out}");
            }
            prop_assert!(out["taxes"].is_array() && out["giftCertificates"].is_array());
            Ok(())
        }
        Err(line) => one_error_line(&line),
    }
}

fn allocate_contract(input: &[u8], answer: Result<Value, String>) -> Result<(), TestCaseError> {
    match answer {
        Ok(out) => {
            prop_assert!(
                out.get("totalAmount").is_some_and(Value::is_number),
                "{out}"
            );
            let given: Value = serde_json::from_slice(input)
                .map_err(|e| TestCaseError::fail(format!("accepted malformed JSON: {e}")))?;
            let (Some(items), Some(given)) = (out["items"].as_array(), given.as_array()) else {
                return Err(TestCaseError::fail(format!("no items array: {out}")));
            };
            prop_assert_eq!(items.len(), given.len());
            Ok(())
        }
        Err(line) => one_error_line(&line),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn money_text_parses_or_is_refused_and_reads_back(text in amount_text(), currency in currency()) {
        if let Ok(money) = Money::parse(&text, currency) {
            prop_assert_eq!(money.currency(), currency);
            prop_assert_eq!(Money::parse(&money.amount().to_string(), currency), Ok(money));
        }
        if let Ok(money) = text.parse::<Money>() {
            prop_assert_eq!(money.to_string().parse::<Money>(), Ok(money));
        }
        if let Ok(rate) = text.parse::<TaxRate>() {
            prop_assert_eq!(rate.to_string().trim_end_matches('%').parse::<TaxRate>(), Ok(rate));
        }
    }

    #[test]
    fn currency_codes_parse_or_are_refused(text in text()) {
        if let Ok(currency) = Currency::from_code(&text) {
            prop_assert_eq!(Currency::from_code(currency.code()), Ok(currency));
        }
        if let Ok(currency) = text.parse::<Currency>() {
            prop_assert_eq!(currency.code().parse::<Currency>(), Ok(currency));
        }
    }

    #[test]
    fn codes_parse_check_and_import_without_panicking(text in text(), template in text()) {
        let checks: [&dyn CodeGenerator; 2] = [
            &RandomCodeGenerator::default(),
            &RandomCodeGenerator::builder().prefix("GC").group_size(4).build().unwrap(),
        ];
        match Code::parse(&text) {
            Ok(code) => {
                prop_assert_eq!(Code::parse(code.expose_secret()).ok(), Some(code.clone()));
                for generator in checks {
                    // Typed either way; a refusal never shows the whole code.
                    if let Err(e) = generator.check(&code) {
                        let shown = e.to_string();
                        prop_assert!(
                            code.expose_secret().len() < 6 || !shown.contains(code.expose_secret()),
                            "{shown}"
                        );
                    }
                }
                let shown = format!("{:?} {}", code, code.masked());
                prop_assert!(
                    code.expose_secret().len() < 4 || !shown.contains(code.expose_secret()),
                    "{}",
                    shown
                );
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        if let Ok(rules) = ImportRules::new(4, 40) {
            if let Ok(imported) = rules.import(&text) {
                prop_assert!(imported.code().expose_secret().len() <= 40);
            }
        }
        // Any template is accepted or refused with a typed error; one accepted checks any code.
        for template in [template.as_str(), &format!("{template}{{number}}")] {
            if let Ok(pattern) = PatternCodeGenerator::new(template, MemorySequence::new())
                && let Ok(code) = Code::parse(&text)
            {
                let _checked = pattern.check(&code);
            }
        }
    }

    #[test]
    fn text_newtypes_take_any_string_through_serde(text in text()) {
        let json = serde_json::to_string(&text).unwrap_or_default();
        every_type_reads(&json)?;
        // The same text, unquoted: mostly not JSON at all.
        every_type_reads(&text)?;
    }

    #[test]
    fn json_inputs_of_every_type_take_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(json) = std::str::from_utf8(&bytes) {
            every_type_reads(json)?;
        }
    }

    #[test]
    fn valid_documents_with_one_leaf_replaced_are_refused_or_read_back(
        document in documents(),
        n in any::<usize>(),
        with in leaf(),
    ) {
        let mut document = document;
        replace_leaf(&mut document, n, with);
        every_type_reads(&document.to_string())?;
    }

    #[test]
    fn the_checkout_example_answers_arbitrary_bytes_in_its_contract(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        checkout_contract(checkout_main(&bytes))?;
    }

    #[test]
    fn the_checkout_example_answers_arbitrary_orders_in_its_contract(input in checkout_input()) {
        checkout_contract(checkout_main(input.as_bytes()))?;
    }

    #[test]
    fn the_allocate_example_answers_arbitrary_bytes_in_its_contract(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        allocate_contract(&bytes, allocate_main(&bytes))?;
    }

    #[test]
    fn the_allocate_example_answers_arbitrary_carts_in_its_contract(input in allocate_input()) {
        allocate_contract(input.as_bytes(), allocate_main(input.as_bytes()))?;
    }
}

/// The properties above reach the parsers' success paths too, not only their refusals.
#[test]
fn the_fuzzed_paths_accept_valid_input() {
    assert!(Money::parse("12.50", Currency::USD).is_ok());
    let order = r#"{"currency": "USD", "taxIncluded": true,
        "lines": [{"id": "a", "unitPrice": 5500, "quantity": 1, "taxRate": 25}],
        "giftCertificates": [{"code": "GC1", "balance": 1000}]}"#;
    assert!(checkout_main(order.as_bytes()).is_ok());
    let cart = r#"[{"id": "1", "unitPrice": 95.0, "quantity": 1, "vat": 25.0},
        {"id": "2", "type": "GiftCard", "unitPrice": -50.0, "quantity": 1, "vat": 0.0}]"#;
    assert!(allocate_main(cart.as_bytes()).is_ok());
    assert_eq!(
        checkout_main(b"\xff").unwrap_err(),
        "error: cannot read standard input: stream did not contain valid UTF-8"
    );
}
