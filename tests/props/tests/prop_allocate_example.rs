//! The `allocate` example's contract as properties: whatever the cart, money is conserved and
//! the cards are used lowest first; whatever the input, `run` answers without panicking and a
//! refusal is one line. The seed examples and the built binary are checked in the core's
//! `tests/allocate_example.rs`.

#[allow(dead_code)]
#[path = "../../../examples/allocate.rs"]
mod allocate;

use proptest::prelude::*;
use serde_json::{Value, json};

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

proptest! {
    /// Money is conserved and the rule holds: the cards pay `min(products, cards)`; each gives
    /// at most what it holds; a card gives something only when every lower card (and every
    /// equal one applied before it) gives all it holds; `totalAmount = products - cards`.
    #[test]
    fn money_is_conserved_and_cards_are_used_lowest_first(
        prices in prop::collection::vec(0_u64..100_000, 0..5),
        cards in prop::collection::vec(1_u64..50_000, 0..6),
    ) {
        let cents = |c: u64| rust_decimal::Decimal::new(i64::try_from(c).unwrap(), 2);
        let mut cart = Vec::new();
        for (i, p) in prices.iter().enumerate() {
            cart.push(product(&format!("p{i}"), n(&cents(*p).to_string()), 1));
        }
        for (i, c) in cards.iter().enumerate() {
            cart.push(card(&format!("c{i}"), n(&format!("-{}", cents(*c)))));
        }
        let out = ok(&Value::Array(cart));
        let products: u64 = prices.iter().sum();
        let held: u64 = cards.iter().sum();
        let used: Vec<u64> = used(&out)
            .into_iter()
            .flatten()
            .map(|t| {
                let d: rust_decimal::Decimal = t.parse().unwrap();
                u64::try_from(d * rust_decimal::Decimal::from(100)).unwrap()
            })
            .collect();
        prop_assert_eq!(used.iter().sum::<u64>(), products.min(held));
        for (i, (&u, &c)) in used.iter().zip(&cards).enumerate() {
            prop_assert!(u <= c);
            if u > 0 {
                for (j, &other) in cards.iter().enumerate() {
                    if other < c || (other == c && j < i) {
                        prop_assert_eq!(used[j], other);
                    }
                }
            }
        }
        let total: rust_decimal::Decimal = text(&out["totalAmount"]).parse().unwrap();
        prop_assert_eq!(total * rust_decimal::Decimal::from(100),
            rust_decimal::Decimal::from(products) - rust_decimal::Decimal::from(held));
    }

    /// Whatever the input, `run` returns, never panics, and a refusal is one line.
    #[test]
    fn any_text_is_answered_without_panicking(input in "\\PC{0,64}") {
        if let Err(reason) = allocate::run(&input) {
            prop_assert!(!reason.contains(['\n', '\r']), "{reason}");
        }
    }

    /// Items built from odd values (wrong types, odd numbers, odd strings) are answered, never
    /// with a panic, and a refusal is one line.
    #[test]
    fn odd_items_are_answered_without_panicking(
        items in prop::collection::vec(odd_item(), 0..4),
    ) {
        let cart = format!("[{}]", items.join(","));
        if let Err(reason) = allocate::run(&cart) {
            prop_assert!(!reason.contains(['\n', '\r']), "{reason}");
        }
    }
}

fn odd_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"GiftCard\"".to_owned()),
        Just("1e400".to_owned()),
        Just("-1e-400".to_owned()),
        Just("79228162514264337593543950336".to_owned()),
        Just("\"1e28\"".to_owned()),
        Just("0.0000000000000000000000000001".to_owned()),
        Just("-0".to_owned()),
        "-?[0-9]{1,30}(\\.[0-9]{0,30})?([eE][+-]?[0-9]{1,3})?",
        "\"[0-9eE.+-]{0,12}\"",
        "\"\\PC{0,8}\"".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
    ]
}

fn odd_item() -> impl Strategy<Value = String> {
    (
        odd_value(),
        odd_value(),
        odd_value(),
        odd_value(),
        prop::option::of(odd_value()),
    )
        .prop_map(|(id, price, quantity, vat, kind)| {
            let kind = kind.map(|k| format!(", \"type\": {k}")).unwrap_or_default();
            format!(
                "{{\"id\": {id}, \"unitPrice\": {price}, \"quantity\": {quantity}, \
                 \"vat\": {vat}{kind}}}"
            )
        })
}
