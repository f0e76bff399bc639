//! The catalogue against the `GET /gift-certificates` JSON of seeds 000 and 001.

#[allow(dead_code)]
#[path = "../examples/catalogue.rs"]
mod example;

fn listing_json(space: char) -> serde_json::Value {
    let (catalogue, formats) = example::seed_catalogue(space).unwrap();
    serde_json::to_value(catalogue.listing(&formats)).unwrap()
}

#[test]
fn catalogue_example_prints_seed_000_json_with_its_no_break_spaces() {
    let ours = listing_json(example::NO_BREAK_SPACE);
    let seed: serde_json::Value =
        serde_json::from_str(include_str!("data/seed_000_gift_certificates.json")).unwrap();
    assert_eq!(ours, seed);
    assert_eq!(
        ours["gift-2"]["amountByCurrency"]["JPY"]["amount"],
        "1\u{a0}000\u{a0}JPY"
    );
}

#[test]
fn catalogue_example_prints_seed_001_json_with_plain_spaces() {
    let ours = listing_json(' ');
    let seed: serde_json::Value =
        serde_json::from_str(include_str!("data/seed_001_gift_certificates.json")).unwrap();
    assert_eq!(ours, seed);
    assert_eq!(
        ours["gift-2"]["amountByCurrency"]["SEK"]["amount"],
        "100 SEK"
    );
    assert_eq!(
        ours["gift-2"]["amountByCurrency"]["USD"]["amount"],
        "10.00 USD"
    );
    assert_eq!(
        ours["gift-2"]["amountByCurrency"]["USD"]["amountAsNumber"],
        10
    );
}
