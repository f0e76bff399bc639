//! Reads a cart in the Nordic checkout provider's shape from standard input, pays it with the gift
//! cards in it, lowest amount first, and prints the Nordic checkout provider's response:
//! `totalAmount` and the items, each gift card with its `usedAmount`.
//!
//! ```text
//! cargo run --example allocate < examples/data/allocate.json
//! ```
//!
//! # Input
//!
//! A JSON array of cart items. A product line and a gift card look like this (the Nordic checkout
//! provider):
//!
//! ```json
//! [{"id": "10001", "description": "Product 1", "unitPrice": 95.0, "quantity": 1, "vat": 25.0},
//!  {"id": "10002", "description": "Gift Card 50", "type": "GiftCard",
//!   "unitPrice": -50.0, "quantity": 1, "vat": 0.0}]
//! ```
//!
//! Every item must keep these rules; the first one broken ends the program:
//!
//! - the item is a JSON object, and no object in the document names a key twice;
//! - `id` is required, a string (not a number: `"10001"` and `10001` would be two spellings of
//!   one id), not empty or blank, and no two items share it;
//! - `type` is optional; when present it is the string `"GiftCard"` (the only type the Nordic
//!   checkout provider names, matched exactly); an item without it is a product line;
//! - `description` is optional; when present it is a string;
//! - `unitPrice`, `quantity` and `vat` are required numbers, written as JSON numbers or as
//!   strings holding one (`"95.0"`), plain decimals read exactly from their text (an exponent,
//!   `1e2`, is refused: write `100`), never through a binary float; a `unitPrice` may have at
//!   most 18 decimals;
//! - `quantity` is a whole number from 0 to 1,000,000; a product line may have quantity 0 (it costs
//!   nothing), a gift card needs at least 1 (a card applied zero times is a mistake, not a card);
//! - `vat` is a percentage from 0 to 100 with at most four decimals; a gift card's is 0, because
//!   a multi-purpose voucher carries no tax (the Nordic checkout provider);
//! - a product's `unitPrice` is 0 or more; a gift card's is below 0 (the Nordic checkout
//!   provider: gift cards are negative lines);
//! - `usedAmount` is not in the input: this program computes it;
//! - every other field is kept as it is and echoed.
//!
//! # Output
//!
//! `{"totalAmount": ..., "items": [...]}`: the items in input order, each with every field it
//! had, in the same order, and gift cards with `usedAmount` added last. Numbers are echoed with
//! the digits they were given (`95.0` stays `95.0`).
//!
//! - What the products cost is the sum of `unitPrice × quantity` over product lines (prices
//!   include VAT, as the Nordic checkout provider's do, so VAT does not change it).
//! - A gift card holds `-unitPrice × quantity`. The cards pay what the products cost through
//!   [`giftcert::redeem::allocate`]: lowest amount first, equal amounts in input order, each giving
//!   `min(what it holds, what is still unpaid)`, the rest nothing.
//! - `totalAmount` is what the products cost minus what the cards hold: negative when the cards
//!   hold more than the order (then it is minus what they keep), positive when they fall short.
//!
//! The input has no currency, so the program keeps the precision the input used: `usedAmount`
//! and `totalAmount` have as many decimals as the most precise `unitPrice` in the cart, and at
//! least one, as in the Nordic checkout provider (`-155.0`, `45.0`, `0.0`). Money is conserved
//! exactly: amounts are computed as [`giftcert::Money`] in a stand-in currency, `AMT`, with that
//! many minor units, and a cart whose amounts need more than 28 digits is refused rather than
//! rounded.
//!
//! # Errors
//!
//! Bad input exits with status 1, prints nothing on standard output and one line on standard
//! error, `error: <reason>`, naming the item by index and id:
//!
//! ```text
//! error: items[2] (id "10003"): a gift card must have a negative unitPrice, found 50.0
//! ```
//!
//! Input of more than 1 MiB is refused the same way before it is parsed
//! (`error: standard input has more than 1048576 bytes, ...`), and so is a number written with
//! more than 64 characters.

use std::collections::HashMap;
use std::collections::HashSet;
use std::fmt;
use std::io::Write;
use std::process::ExitCode;
use std::str::FromStr;

use giftcert::{
    Currency, Money, TaxRate, money::MAX_MINOR_UNITS, redeem::allocate, shop::MAX_PRODUCT_UNITS,
};
use rust_decimal::Decimal;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The `type` that marks a gift card (the Nordic checkout provider).
pub const GIFT_CARD: &str = "GiftCard";

/// The code of the stand-in currency amounts are computed in: the input names none, and
/// `Currency::custom` refuses ISO 4217 codes, which `AMT` is not.
const AMOUNT_CODE: &str = "AMT";

/// Amounts whose minor units need more digits than this are refused: up to 28 digits, every
/// sum and difference of them fits a `Decimal` exactly, so nothing is ever rounded.
const MAX_DIGITS: u32 = 28;

/// Pays the cart in `input` (the Nordic checkout provider's request, as JSON) with its gift cards
/// and returns seed 003's response, or says in one line what is wrong with the cart.
///
/// # Errors
///
/// A reason naming the item by index and id when the input breaks one of the rules in the
/// module documentation: empty input, malformed JSON, a key given twice in one object, a top
/// level that is not an array, an item that is not an object, a missing or wrongly typed
/// field, an unknown `type`, a duplicate id, a quantity that is negative or not whole, a rate
/// outside 0 to 100, a product with a negative price, a gift card with a price that is not
/// negative or a non-zero VAT, or amounts too large to compute exactly.
pub fn run(input: &str) -> Result<Value, String> {
    if input.trim().is_empty() {
        return Err("empty input: expected a JSON array of cart items".to_owned());
    }
    let root: Value = serde_json::from_str(input).map_err(|e| format!("malformed JSON: {e}"))?;
    serde_json::from_str::<UniqueKeys>(input).map_err(|e| e.to_string())?;
    let items = root.as_array().ok_or_else(|| {
        format!(
            "expected a JSON array of cart items, found {}",
            kind_of(&root)
        )
    })?;

    let mut lines: Vec<Line<'_>> = Vec::with_capacity(items.len());
    let mut ids: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (index, value) in items.iter().enumerate() {
        let line = Line::read(index, value)?;
        if let Some(first) = ids.insert(line.id, index) {
            return Err(format!(
                "{}: id {} is already used by items[{first}]",
                line.label(),
                quoted(line.id)
            ));
        }
        lines.push(line);
    }

    // Keep the precision the input used, with at least one decimal as the Nordic checkout provider prints.
    let decimals = lines
        .iter()
        .map(|line| line.unit_price.scale())
        .fold(1, u32::max);
    let currency = u8::try_from(decimals)
        .map_err(|_| format!("a unitPrice has {decimals} decimals, more than {MAX_MINOR_UNITS}"))
        .and_then(|units| Currency::custom(AMOUNT_CODE, units).map_err(|e| format!("cart: {e}")))?;

    // Every line amount in minor units, checked so that all later sums stay exact.
    let mut magnitude: u128 = 0;
    let mut products = Money::zero(currency);
    let mut cards: Vec<(usize, Money)> = Vec::new();
    for line in &lines {
        let minor = line.amount_in_minor_units(decimals)?;
        magnitude = magnitude.saturating_add(minor.unsigned_abs());
        if magnitude >= 10_u128.pow(MAX_DIGITS) {
            return Err(format!(
                "{}: the cart's amounts add up to more than {MAX_DIGITS} digits, too large \
                 to compute exactly",
                line.label()
            ));
        }
        let amount = Decimal::try_from_i128_with_scale(minor, decimals)
            .map_err(|e| format!("{}: {e}", line.label()))
            .and_then(|d| Money::new(d, currency).map_err(|e| format!("{}: {e}", line.label())))?;
        match line.kind {
            Kind::Product => {
                products = products
                    .checked_add(amount)
                    .map_err(|e| format!("{}: {e}", line.label()))?;
            }
            // A gift card is a negative line; it holds the opposite of its line amount.
            Kind::GiftCard => cards.push((line.index, amount.negated())),
        }
    }

    // Products never cost less than zero (their prices are not negative), so this is what the
    // cards are asked to pay.
    let allocation = allocate(products, cards).map_err(|e| format!("cart: {e}"))?;
    let mut used: Vec<Option<Money>> = vec![None; items.len()];
    for card in allocation.cards() {
        if let Some(slot) = used.get_mut(card.key) {
            *slot = Some(card.used);
        }
    }

    let mut out_items = Vec::with_capacity(items.len());
    for (value, used) in items.iter().zip(used) {
        let mut item = value.as_object().cloned().unwrap_or_default();
        if let Some(used) = used {
            item.insert("usedAmount".to_owned(), number(used, decimals)?);
        }
        out_items.push(Value::Object(item));
    }
    let mut out = Map::new();
    // What the products cost minus what the cards hold; the bound on digits above keeps it
    // exact.
    out.insert(
        "totalAmount".to_owned(),
        number(allocation.total_amount(), decimals)?,
    );
    out.insert("items".to_owned(), Value::Array(out_items));
    Ok(Value::Object(out))
}

/// What a cart line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Product,
    GiftCard,
}

/// A validated cart item: what the allocation needs from it.
#[derive(Debug)]
struct Line<'a> {
    index: usize,
    id: &'a str,
    kind: Kind,
    /// As written, so that its scale is the precision the input used.
    unit_price: Decimal,
    quantity: u64,
}

impl<'a> Line<'a> {
    /// Checks every rule of one item (see the module documentation).
    fn read(index: usize, value: &'a Value) -> Result<Line<'a>, String> {
        let at = format!("items[{index}]");
        let item = value
            .as_object()
            .ok_or_else(|| format!("{at}: expected an object, found {}", kind_of(value)))?;
        let id = match item.get("id") {
            None => return Err(format!("{at}: missing required field id")),
            Some(Value::String(id)) if id.trim().is_empty() => {
                return Err(format!("{at}: id must not be empty, found {}", quoted(id)));
            }
            Some(Value::String(id)) => id.as_str(),
            Some(other) => {
                return Err(format!("{at}: id must be a string, found {}", shown(other)));
            }
        };
        let at = format!("{at} (id {})", quoted(id));

        if item.contains_key("usedAmount") {
            return Err(format!(
                "{at}: usedAmount is computed by this program and must not be in the input"
            ));
        }
        if let Some(description) = item.get("description") {
            if !description.is_string() {
                return Err(format!(
                    "{at}: description must be a string, found {}",
                    shown(description)
                ));
            }
        }
        let kind = match item.get("type") {
            None => Kind::Product,
            Some(Value::String(t)) if t == GIFT_CARD => Kind::GiftCard,
            Some(Value::String(t)) => {
                return Err(format!(
                    "{at}: unknown type {}; the only type is \"{GIFT_CARD}\", and products have \
                     none",
                    quoted(t)
                ));
            }
            Some(other) => {
                return Err(format!(
                    "{at}: type must be a string, found {}",
                    shown(other)
                ));
            }
        };

        let price_value = required(item, "unitPrice", &at)?;
        let unit_price = decimal(price_value, "unitPrice", &at)?;
        if unit_price.scale() > u32::from(MAX_MINOR_UNITS) {
            return Err(format!(
                "{at}: unitPrice {} has {} decimals, more than {MAX_MINOR_UNITS} allowed",
                shown(price_value),
                unit_price.scale()
            ));
        }
        let quantity_value = required(item, "quantity", &at)?;
        let quantity = whole(quantity_value, &at)?;
        let vat_value = required(item, "vat", &at)?;
        let vat =
            TaxRate::new(decimal(vat_value, "vat", &at)?).map_err(|e| format!("{at}: vat: {e}"))?;

        let negative = unit_price.is_sign_negative() && !unit_price.is_zero();
        match kind {
            Kind::Product if negative => {
                return Err(format!(
                    "{at}: a product must not have a negative unitPrice, found {}; only a gift \
                     card (\"type\": \"{GIFT_CARD}\") is a negative line",
                    shown(price_value)
                ));
            }
            Kind::Product => {}
            Kind::GiftCard => {
                if !negative {
                    return Err(format!(
                        "{at}: a gift card must have a negative unitPrice, found {}",
                        shown(price_value)
                    ));
                }
                if quantity == 0 {
                    return Err(format!(
                        "{at}: a gift card must have a quantity of at least 1, found {}",
                        shown(quantity_value)
                    ));
                }
                if !vat.is_zero() {
                    return Err(format!(
                        "{at}: a gift card must have vat 0 (a multi-purpose voucher carries no \
                         tax), found {}",
                        shown(vat_value)
                    ));
                }
            }
        }
        Ok(Line {
            index,
            id,
            kind,
            unit_price,
            quantity,
        })
    }

    /// How the item is named in errors: `items[2] (id "10003")`.
    fn label(&self) -> String {
        format!("items[{}] (id {})", self.index, quoted(self.id))
    }

    /// `unitPrice × quantity` in units of `10^-decimals`, exactly, or an error when it needs
    /// more than [`MAX_DIGITS`] digits.
    fn amount_in_minor_units(&self, decimals: u32) -> Result<i128, String> {
        decimals
            .checked_sub(self.unit_price.scale())
            .and_then(|k| 10_i128.checked_pow(k))
            .and_then(|shift| self.unit_price.mantissa().checked_mul(shift))
            .and_then(|m| m.checked_mul(i128::from(self.quantity)))
            .filter(|m| m.unsigned_abs() < 10_u128.pow(MAX_DIGITS))
            .ok_or_else(|| {
                format!(
                    "{}: unitPrice × quantity needs more than {MAX_DIGITS} digits, too large to \
                     compute exactly",
                    self.label()
                )
            })
    }
}

fn required<'v>(item: &'v Map<String, Value>, key: &str, at: &str) -> Result<&'v Value, String> {
    item.get(key)
        .ok_or_else(|| format!("{at}: missing required field {key}"))
}

/// A number read exactly from its JSON text, or from a string holding one.
fn decimal(value: &Value, field: &str, at: &str) -> Result<Decimal, String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        other => {
            return Err(format!(
                "{at}: {field} must be a number, found {}",
                shown(other)
            ));
        }
    };
    plain_decimal(&text).map_err(|refusal| match refusal {
        NumberRefusal::TooLong(length) => format!(
            "{at}: {field} must be a number of at most {MAX_NUMBER_LEN} characters, found one \
             of {length}"
        ),
        NumberRefusal::Exponent => format!(
            "{at}: {field} must be written without an exponent (a plain decimal number), found {}",
            shown(value)
        ),
        NumberRefusal::NotExact => format!(
            "{at}: {field} must be a decimal number that can be kept exactly, found {}",
            shown(value)
        ),
    })
}

/// A quantity: a whole number, not negative, at most [`MAX_PRODUCT_UNITS`].
fn whole(value: &Value, at: &str) -> Result<u64, String> {
    let d = decimal(value, "quantity", at)?.normalize();
    let bad = || {
        format!(
            "{at}: quantity must be a whole number, not negative, found {}",
            shown(value)
        )
    };
    if d.is_zero() {
        return Ok(0);
    }
    if d.is_sign_negative() || !d.fract().is_zero() {
        return Err(bad());
    }
    let quantity = u64::try_from(d).map_err(|_| bad())?;
    if quantity > MAX_PRODUCT_UNITS {
        return Err(format!(
            "{at}: quantity must be at most {MAX_PRODUCT_UNITS}, found {}",
            shown(value)
        ));
    }
    Ok(quantity)
}

/// `amount` as a JSON number with exactly `decimals` decimals (`45.0`, `-155.0`).
fn number(amount: Money, decimals: u32) -> Result<Value, String> {
    // A zero that went through a subtraction may carry a sign; it is printed as plain zero.
    let amount = if amount.is_zero() {
        Decimal::ZERO
    } else {
        amount.amount()
    };
    let text = format!("{amount:.prec$}", prec = decimals as usize);
    Number::from_str(&text)
        .map(Value::Number)
        .map_err(|e| format!("cannot write {text} as a JSON number: {e}"))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as an error shows it: numbers as written, strings quoted, anything else by kind.
fn shown(value: &Value) -> String {
    match value {
        Value::Number(n) => shorten(&n.to_string()),
        Value::String(s) => quoted(s),
        other => kind_of(other).to_owned(),
    }
}

/// A string quoted and escaped (control characters included), at most 40 characters of it.
fn quoted(text: &str) -> String {
    format!("{:?}", shorten(text))
}

fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Refuses a document in which an object names a key twice: `serde_json` would keep the last
/// value silently, and a cart that says two things about one price is not one to pay.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_unit<E: de::Error>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    // Under `arbitrary_precision` a number also arrives here, as a one-key map holding its
    // text; it has no duplicate keys, so it needs no case of its own.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!(
                    "an object names the key {} twice",
                    quoted(&key)
                )));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

fn fail(reason: &str) -> ExitCode {
    eprintln!("error: {}", one_line(reason));
    ExitCode::FAILURE
}

#[path = "common/stdin.rs"]
pub mod stdin;
use stdin::{MAX_NUMBER_LEN, NumberRefusal, one_line, plain_decimal, read_input};

fn main() -> ExitCode {
    let input = match read_input(std::io::stdin().lock()) {
        Ok(input) => input,
        Err(reason) => return fail(&reason),
    };
    let text = match run(&input).and_then(|value| {
        serde_json::to_string_pretty(&value).map_err(|e| format!("cannot write the cart: {e}"))
    }) {
        Ok(text) => text,
        Err(reason) => return fail(&reason),
    };
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return fail("cannot write to standard output");
    }
    ExitCode::SUCCESS
}
