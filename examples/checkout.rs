//! Reads a checkout from standard input and prints its totals: taxes first, gift certificates
//! as a payment later, with BigCommerce's names (Centra and BigCommerce).
//!
//! ```text
//! cargo run --example checkout < examples/data/checkout.json
//! ```
//!
//! Input (`discountAmount`, `shippingCost` and `shippingTaxRate` are optional and default to 0;
//! every number is a plain decimal, which may also be written as a string, and is read exactly,
//! never through a float):
//!
//! ```json
//! {"currency": "USD", "taxIncluded": true,
//!  "lines": [{"id": "a", "unitPrice": 5500, "quantity": 1, "taxRate": 25}],
//!  "discountAmount": 0, "shippingCost": 0, "shippingTaxRate": 25,
//!  "giftCertificates": [{"code": "GC1", "balance": 1000}]}
//! ```
//!
//! Output: one JSON object with `subtotal`, `discountAmount`, `shippingCostTotal`, `taxTotal`,
//! `taxes` (`[{"name": "25%", "rate": 25, "amount": 1100.00}]`), `grandTotal`,
//! `giftCertificates` (`[{"code", "balance", "used", "remaining"}]`, in input order) and
//! `outstandingBalance`, amounts written with the currency's minor units.
//!
//! Bad input exits with status 1, prints nothing on standard output and one line,
//! `error: <reason>`, on standard error, naming the field. Input of more than 1 MiB is bad
//! input, and so are a field the input above does not name, a number written with an exponent
//! (`1e3`: write `1000`) or with more than 64 characters, more than 1,000 lines, a line of more
//! than 1,000,000 units, and an amount or a grand total above 1,000,000,000 of the currency.

use std::collections::HashSet;
use std::io::Write;
use std::process::ExitCode;
use std::str::FromStr;

use giftcert::{
    Currency, Money, PriceBasis, Selection, SelectionPolicy, TaxRate, Totals, TotalsSettings,
    shop::{ProductLine, Shipping, Sku, TotalsError},
};
use rust_decimal::Decimal;
use serde_json::{Map, Number, Value};

/// Computes the totals of the checkout in `input` (JSON), or says, in one line, what is wrong
/// with it.
///
/// # Errors
///
/// A reason naming the offending field, for malformed JSON, a missing or unknown field, a
/// value of the wrong type, a number with an exponent, an unknown currency, a negative amount,
/// quantity or rate, a rate above 100, a quantity that is not whole or above 1,000,000, more
/// decimals than the currency allows, a line id or code given twice, a discount larger than
/// the subtotal, or an amount or grand total above the maximum.
pub fn run(input: &str) -> Result<Value, String> {
    let root: Value = serde_json::from_str(input).map_err(|e| format!("malformed JSON: {e}"))?;
    let top = root
        .as_object()
        .ok_or_else(|| format!("expected a JSON object, found {}", kind(&root)))?;

    known_fields(top, TOP_FIELDS, "")?;
    let currency_code = string(required(top, "currency")?, "currency")?;
    let currency = Currency::from_code(currency_code).map_err(|e| format!("currency: {e}"))?;
    let prices = match required(top, "taxIncluded")? {
        Value::Bool(true) => PriceBasis::TaxIncluded,
        Value::Bool(false) => PriceBasis::TaxExcluded,
        other => {
            return Err(format!(
                "taxIncluded: expected true or false, found {}",
                kind(other)
            ));
        }
    };
    let lines = array(required(top, "lines")?, "lines")?;
    let cards = array(required(top, "giftCertificates")?, "giftCertificates")?;

    let mut selection = Selection::new(currency, prices, SelectionPolicy::mixed());
    let mut ids = HashSet::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let product = product_line(line, &format!("lines[{i}]"), currency)?;
        if !ids.insert(product.sku().clone()) {
            return Err(format!(
                "lines[{i}].id: line id \"{}\" appears twice",
                product.sku()
            ));
        }
        selection
            .add_product(product)
            .map_err(|e| format!("lines[{i}]: {e}"))?;
    }

    if let Some(value) = top.get("discountAmount") {
        let discount = amount(value, "discountAmount", currency)?;
        selection
            .set_order_discount(discount)
            .map_err(|e| format!("discountAmount: {e}"))?;
    }
    let shipping_cost = match top.get("shippingCost") {
        Some(value) => amount(value, "shippingCost", currency)?,
        None => Money::zero(currency),
    };
    let shipping_rate = match top.get("shippingTaxRate") {
        Some(value) => rate(value, "shippingTaxRate")?,
        None => TaxRate::ZERO,
    };
    let shipping =
        Shipping::new(shipping_cost, shipping_rate).map_err(|e| format!("shippingCost: {e}"))?;
    selection
        .set_shipping(shipping)
        .map_err(|e| format!("shippingCost: {e}"))?;

    let mut applied = Vec::with_capacity(cards.len());
    for (i, card) in cards.iter().enumerate() {
        let field = format!("giftCertificates[{i}]");
        let card = object(card, &field)?;
        known_fields(card, CARD_FIELDS, &field)?;
        let code = string(required_in(card, "code", &field)?, &format!("{field}.code"))?;
        let balance = amount(
            required_in(card, "balance", &field)?,
            &format!("{field}.balance"),
            currency,
        )?;
        applied.push((code.to_owned(), balance));
    }

    let totals =
        Totals::compute(&selection, applied, &TotalsSettings::default()).map_err(|e| match &e {
            TotalsError::DiscountExceedsProducts { .. } => format!("discountAmount: {e}"),
            TotalsError::DuplicateCode { index, .. } | TotalsError::EmptyCode { index } => {
                format!("giftCertificates[{index}].code: {e}")
            }
            _ => e.to_string(),
        })?;
    output(&totals)
}

/// The totals as the contract's JSON object.
fn output(totals: &Totals) -> Result<Value, String> {
    let mut out = Map::new();
    out.insert("subtotal".into(), number(totals.subtotal())?);
    out.insert("discountAmount".into(), number(totals.discount_amount())?);
    out.insert(
        "shippingCostTotal".into(),
        number(totals.shipping_cost_total())?,
    );
    out.insert("taxTotal".into(), number(totals.tax_total())?);
    let mut taxes = Vec::new();
    for tax in totals.taxes() {
        let mut entry = Map::new();
        entry.insert("name".into(), Value::String(tax.name().to_owned()));
        entry.insert(
            "rate".into(),
            exact(&tax.rate().percent().normalize().to_string())?,
        );
        entry.insert("amount".into(), number(tax.amount())?);
        taxes.push(Value::Object(entry));
    }
    out.insert("taxes".into(), Value::Array(taxes));
    out.insert("grandTotal".into(), number(totals.grand_total())?);
    let mut cards = Vec::new();
    for card in totals.gift_certificates() {
        let mut entry = Map::new();
        entry.insert("code".into(), Value::String(card.code().to_owned()));
        entry.insert("balance".into(), number(card.balance())?);
        entry.insert("used".into(), number(card.used())?);
        entry.insert("remaining".into(), number(card.remaining())?);
        cards.push(Value::Object(entry));
    }
    out.insert("giftCertificates".into(), Value::Array(cards));
    out.insert(
        "outstandingBalance".into(),
        number(totals.outstanding_balance())?,
    );
    Ok(Value::Object(out))
}

/// An amount as a JSON number with the currency's minor units (`1100.00`, `1100` for JPY).
fn number(money: Money) -> Result<Value, String> {
    // A zero that went through a subtraction may carry a sign; it is printed as plain zero.
    let amount = if money.is_zero() {
        Decimal::ZERO
    } else {
        money.amount()
    };
    let units = money.currency().minor_units() as usize;
    exact(&format!("{amount:.units$}"))
}

/// A JSON number holding exactly `text` (serde_json's `arbitrary_precision` keeps it).
fn exact(text: &str) -> Result<Value, String> {
    Number::from_str(text)
        .map(Value::Number)
        .map_err(|e| format!("cannot write {text} as a JSON number: {e}"))
}

fn product_line(value: &Value, field: &str, currency: Currency) -> Result<ProductLine, String> {
    let line = object(value, field)?;
    known_fields(line, LINE_FIELDS, field)?;
    let id = string(required_in(line, "id", field)?, &format!("{field}.id"))?;
    let sku = Sku::new(id).map_err(|e| format!("{field}.id: {e}"))?;
    let unit_price = amount(
        required_in(line, "unitPrice", field)?,
        &format!("{field}.unitPrice"),
        currency,
    )?;
    let quantity = quantity(
        required_in(line, "quantity", field)?,
        &format!("{field}.quantity"),
    )?;
    let tax_rate = rate(
        required_in(line, "taxRate", field)?,
        &format!("{field}.taxRate"),
    )?;
    ProductLine::with_sku(sku, unit_price, quantity, tax_rate).map_err(|e| format!("{field}: {e}"))
}

/// The fields of the input object, of a line and of a gift certificate.
const TOP_FIELDS: &[&str] = &[
    "currency",
    "taxIncluded",
    "lines",
    "discountAmount",
    "shippingCost",
    "shippingTaxRate",
    "giftCertificates",
];
const LINE_FIELDS: &[&str] = &["id", "unitPrice", "quantity", "taxRate"];
const CARD_FIELDS: &[&str] = &["code", "balance"];

/// Refuses a field `object` (at `field`, empty at the top) does not know: a misspelt
/// `discountAmount` would otherwise be a discount silently not given.
fn known_fields(object: &Map<String, Value>, known: &[&str], field: &str) -> Result<(), String> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        None => Ok(()),
        Some(key) => {
            let at = if field.is_empty() {
                String::new()
            } else {
                format!("{field}.")
            };
            Err(format!(
                "{at}{}: unknown field, expected one of {}",
                shorten(key),
                known.join(", ")
            ))
        }
    }
}

fn required<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a Value, String> {
    object
        .get(key)
        .ok_or_else(|| format!("{key}: missing required field"))
}

fn required_in<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a Value, String> {
    object
        .get(key)
        .ok_or_else(|| format!("{field}.{key}: missing required field"))
}

fn object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{field}: expected an object, found {}", kind(value)))
}

fn array<'a>(value: &'a Value, field: &str) -> Result<&'a Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("{field}: expected an array, found {}", kind(value)))
}

fn string<'a>(value: &'a Value, field: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{field}: expected a string, found {}", kind(value)))
}

/// A number read exactly from its JSON text, or from a string holding one.
fn decimal(value: &Value, field: &str) -> Result<Decimal, String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        other => {
            return Err(format!("{field}: expected a number, found {}", kind(other)));
        }
    };
    plain_decimal(&text).map_err(|refusal| match refusal {
        NumberRefusal::TooLong(length) => {
            format!("{field}: a number of {length} characters, expected at most {MAX_NUMBER_LEN}")
        }
        NumberRefusal::Exponent => format!(
            "{field}: \"{}\" is written with an exponent; write it as a plain decimal number",
            shorten(&text)
        ),
        NumberRefusal::NotExact => format!(
            "{field}: \"{}\" is not a decimal number, or has more digits than can be kept exactly",
            shorten(&text)
        ),
    })
}

fn amount(value: &Value, field: &str, currency: Currency) -> Result<Money, String> {
    let d = decimal(value, field)?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(format!("{field}: must not be negative, found {d}"));
    }
    Money::new(d, currency).map_err(|e| format!("{field}: {e}"))
}

fn quantity(value: &Value, field: &str) -> Result<u64, String> {
    let d = decimal(value, field)?.normalize();
    let bad = || format!("{field}: expected a non-negative whole number, found {d}");
    if d.is_sign_negative() && !d.is_zero() || !d.fract().is_zero() {
        return Err(bad());
    }
    u64::try_from(d).map_err(|_| bad())
}

fn rate(value: &Value, field: &str) -> Result<TaxRate, String> {
    TaxRate::new(decimal(value, field)?).map_err(|e| format!("{field}: {e}"))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

#[path = "common/stdin.rs"]
pub mod stdin;
use stdin::{MAX_NUMBER_LEN, NumberRefusal, one_line, plain_decimal, read_input};

fn main() -> ExitCode {
    let input = match read_input(std::io::stdin().lock()) {
        Ok(input) => input,
        Err(reason) => {
            eprintln!("error: {}", one_line(&reason));
            return ExitCode::FAILURE;
        }
    };
    let value = match run(&input) {
        Ok(value) => value,
        Err(reason) => {
            eprintln!("error: {}", one_line(&reason));
            return ExitCode::FAILURE;
        }
    };
    let text = match serde_json::to_string_pretty(&value) {
        Ok(text) => text,
        Err(e) => {
            eprintln!(
                "error: {}",
                one_line(&format!("cannot write the totals: {e}"))
            );
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("error: cannot write to standard output");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
