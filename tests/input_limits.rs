//! Input a shopper or a client controls is bounded before it costs the host: amount text is
//! measured before it is parsed, and a selection holds a bounded number of lines, each
//! operation on it linear.

mod support;
use support::usd;

use giftcert::{
    Catalogue, CertificateDefinition, Currency, Money, PriceBasis, Selection, SelectionPolicy,
    TaxRate,
    money::{MAX_AMOUNT_TEXT_LEN, MoneyError, TaxRateError},
    shop::{ProductLine, SelectionError},
};
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn product(sku: &str) -> ProductLine {
    ProductLine::new(sku, usd("1"), 1, TaxRate::ZERO).unwrap()
}

/// About 8,000 leading zeros overflowed the stack of a debug build inside rust_decimal.
fn padded() -> String {
    format!("{}1", "0".repeat(8_000))
}

#[test]
fn long_amount_text_is_refused_by_every_parser_before_it_is_parsed() {
    let text = padded();
    let too_long = MoneyError::AmountTooLong {
        length: 8_001,
        max: MAX_AMOUNT_TEXT_LEN,
    };
    assert_eq!(Money::parse(&text, Currency::USD).unwrap_err(), too_long);
    assert_eq!(
        too_long.to_string(),
        "amount text has 8001 characters, expected at most 64"
    );
    assert_eq!(
        format!("{text} USD").parse::<Money>().unwrap_err(),
        too_long
    );
    let err = format!("-0.{text}").parse::<TaxRate>().unwrap_err();
    assert_eq!(err, TaxRateError::TooLong(8_004));
    assert_eq!(
        err.to_string(),
        "tax rate text has 8004 characters, expected at most 64"
    );
    let json = json!({"amount": text, "currency": "USD"}).to_string();
    let err = serde_json::from_str::<Money>(&json).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("amount text has 8001 characters, expected at most 64"),
        "{err}"
    );
}

#[test]
fn amount_text_up_to_the_limit_still_parses() {
    let exact = format!("{}1.50", "0".repeat(MAX_AMOUNT_TEXT_LEN - 4));
    assert_eq!(exact.len(), MAX_AMOUNT_TEXT_LEN);
    assert_eq!(Money::parse(&exact, Currency::USD).unwrap(), usd("1.5"));
    // White space around the amount does not count.
    let spaced = format!("   {exact}   ");
    assert_eq!(Money::parse(&spaced, Currency::USD).unwrap(), usd("1.5"));
    assert!(matches!(
        Money::parse(&format!("0{exact}"), Currency::USD),
        Err(MoneyError::AmountTooLong { length: 65, .. })
    ));
    // The largest amount a Decimal holds, negative, with its scale: well inside the limit.
    assert!(Money::parse("-79228162514264337593543950335", Currency::JPY).is_ok());
}

#[test]
fn a_selection_holds_at_most_its_policys_lines() {
    let policy = SelectionPolicy::mixed().with_max_lines(3);
    let mut cart = Selection::new(Currency::USD, PriceBasis::TaxIncluded, policy);
    for sku in ["a", "b", "c"] {
        cart.add_product(product(sku)).unwrap();
    }
    let err = cart.add_product(product("d")).unwrap_err();
    assert_eq!(err, SelectionError::TooManyLines { lines: 4, max: 3 });
    assert_eq!(
        err.to_string(),
        "a selection may hold at most 3 lines, found 4"
    );
    assert_eq!(cart.products().len(), 3);
    // Replacing a line adds none.
    cart.add_product(product("a")).unwrap();

    let catalogue = Catalogue::new()
        .with(CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate").unwrap())
        .unwrap();
    let err = cart
        .add_certificate_from(&catalogue, "gift-1", Some(Decimal::TEN), 1)
        .unwrap_err();
    assert_eq!(err, SelectionError::TooManyLines { lines: 4, max: 3 });
    assert!(!cart.holds_certificates());
}

#[test]
fn the_default_limit_is_a_thousand_lines() {
    let mut cart = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    assert_eq!(SelectionPolicy::DEFAULT_MAX_LINES, 1_000);
    for i in 0..1_000 {
        cart.add_product(product(&format!("sku-{i}"))).unwrap();
    }
    assert_eq!(
        cart.add_product(product("one-more")).unwrap_err(),
        SelectionError::TooManyLines {
            lines: 1_001,
            max: 1_000
        }
    );
}

/// A stored selection of `lines` distinct products under a policy allowing `max` lines.
fn stored(lines: usize, max: usize) -> Value {
    let mut cart = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed(),
    );
    cart.add_product(product("sku-0")).unwrap();
    let mut json = serde_json::to_value(&cart).unwrap();
    let line = json["products"][0].clone();
    json["products"] = (0..lines)
        .map(|i| {
            let mut line = line.clone();
            line["sku"] = format!("sku-{i}").into();
            line
        })
        .collect();
    json["policy"]["maxLines"] = max.into();
    json
}

#[test]
fn a_stored_selection_over_its_limit_is_refused() {
    let err = serde_json::from_value::<Selection>(stored(1_001, 1_000)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a selection may hold at most 1000 lines, found 1001"
    );
    let mut default_policy = stored(1_001, 0);
    default_policy["policy"]
        .as_object_mut()
        .unwrap()
        .remove("maxLines");
    assert!(serde_json::from_value::<Selection>(default_policy).is_err());
    assert!(serde_json::from_value::<Selection>(stored(1_000, 1_000)).is_ok());
}

/// Reading a stored selection checks repeated lines by hashing, not by comparing every pair:
/// 20,000 lines (200 million pairs) read at once.
#[test]
fn reading_a_large_selection_is_linear() {
    let cart: Selection = serde_json::from_value(stored(20_000, 20_000)).unwrap();
    assert_eq!(cart.products().len(), 20_000);
    let mut repeated = stored(20_000, 20_000);
    repeated["products"][19_999]["sku"] = "sku-0".into();
    let err = serde_json::from_value::<Selection>(repeated).unwrap_err();
    assert_eq!(err.to_string(), "selection lists \"sku-0\" twice");
}

/// Adding a product looked for its SKU among all the lines, so building a cart of n lines
/// compared n²/2 pairs: 100,000 lines here were 5 billion comparisons. Lines are now found by
/// an index, kept in step when a line in the middle goes.
#[test]
fn building_a_large_selection_is_linear() {
    const LINES: usize = 100_000;
    let mut cart = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::mixed().with_max_lines(LINES),
    );
    for i in 0..LINES {
        cart.add_product(product(&format!("sku-{i}"))).unwrap();
    }
    assert_eq!(cart.products().len(), LINES);
    // A repeated SKU replaces its line in place; a full cart still takes it.
    let change = cart
        .add_product(ProductLine::new("sku-7", usd("2"), 3, TaxRate::ZERO).unwrap())
        .unwrap();
    assert_eq!(change.removed().len(), 1);
    assert_eq!(cart.products()[7].quantity(), 3);
    // Removing a line in the middle moves the later ones up; each is still found by its SKU.
    cart.remove_product("sku-50000").unwrap();
    cart.set_product_quantity("sku-50001", 9).unwrap();
    assert_eq!(cart.products()[50_000].sku().as_str(), "sku-50001");
    assert_eq!(cart.products()[50_000].quantity(), 9);
    cart.set_product_quantity(&format!("sku-{}", LINES - 1), 0)
        .unwrap();
    assert_eq!(cart.products().len(), LINES - 2);
    // The two freed places take two new lines, and the next is refused.
    cart.add_product(product("refill-1")).unwrap();
    cart.add_product(product("refill-2")).unwrap();
    assert_eq!(
        cart.add_product(product("one-too-many")).unwrap_err(),
        SelectionError::TooManyLines {
            lines: LINES + 1,
            max: LINES
        }
    );
}

/// A bulk issue of n cards costs a few runs of the decision, not n: the codes a decision is
/// short of are counted and drawn together, still exactly one per card (a numbered code
/// sequence keeps no gaps). Drawing them one at a time would make this batch quadratic.
#[test]
fn issuing_a_large_batch_is_linear() {
    use giftcert::redeem::{Answer, Need, Protocol, Reply, Request, Step};
    use giftcert::{CardSpec, IdempotencyKey, MemoryStore, Store};

    const CARDS: usize = 20_000;
    let store = MemoryStore::new();
    let protocol = Protocol::default();
    let mut op = protocol.start(Request::Issue {
        key: IdempotencyKey::new("bulk").unwrap(),
        specs: vec![CardSpec::new(usd("25")); CARDS],
    });
    let mut drawn = 0;
    let issued = loop {
        let reply = match op.poll() {
            Step::Done(result) => break result.unwrap(),
            Step::Need(Need::Now) => Ok(Reply::Now(chrono::Utc::now())),
            Step::Need(Need::Idempotency(key)) => store.idempotency(&key).map(Reply::Idempotency),
            Step::Need(Need::CardByCode(code)) => store.card_by_code(&code).map(Reply::Card),
            Step::Need(Need::Fresh) => {
                drawn += 1;
                Ok(Reply::Fresh(protocol.draw()))
            }
            Step::Need(Need::Commit(changes)) => store.commit(*changes).map(|()| Reply::Committed),
            Step::Need(other) => panic!("issuing needs no {other:?}"),
        };
        op.reply(reply);
    };
    let Answer::Issue(issued) = issued else {
        panic!("an issue answers Issue, not {}", issued.name())
    };
    assert_eq!(issued.outcome.cards.len(), CARDS);
    assert_eq!(drawn, CARDS, "one fresh code per card, none wasted");
    assert_eq!(store.card_count(), CARDS);
}
