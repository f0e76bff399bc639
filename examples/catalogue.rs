//! Builds the two certificates of Centra's documentation in code and prints the
//! `GET /gift-certificates` JSON a storefront would receive.
//!
//! ```text
//! cargo run --example catalogue
//! cargo run --example catalogue -- --plain-spaces
//! ```

use giftcert::{
    Catalogue, CertificateDefinition, Currency, Money,
    catalogue::CurrencyFormats,
    money::{MoneyFormat, ShownDecimals},
};

/// The seed's catalogue: a predetermined certificate (10 USD, 100 SEK, 1 000 JPY) and a
/// dynamic one, with the display formats that give the seed's strings. Centra separates
/// with no-break spaces (U+00A0), the newer page (Centra) with plain ones: `space` picks.
pub fn seed_catalogue(
    space: char,
) -> Result<(Catalogue, CurrencyFormats), Box<dyn std::error::Error>> {
    let predefined = CertificateDefinition::predetermined(
        "gift-2",
        "Pre-defined gift certificate",
        [
            Money::parse("10", Currency::USD)?,
            Money::parse("100", Currency::SEK)?,
            Money::parse("1000", Currency::JPY)?,
        ],
    )?
    .with_currency_of_sale_only(true)
    .with_show_gift_amount(false);
    let dynamic = CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate")?
        .with_currency_of_sale_only(false)
        .with_show_gift_amount(true);
    let catalogue = Catalogue::new().with(predefined)?.with(dynamic)?;
    let plain = MoneyFormat::new().code_separator(space);
    let formats = CurrencyFormats::new()
        .with(Currency::USD, plain.clone())
        .with(
            Currency::SEK,
            plain.clone().decimals(ShownDecimals::WholeWhenExact),
        )
        .with(Currency::JPY, plain.thousands_separator(space));
    Ok((catalogue, formats))
}

/// No-break space, as in Centra.
pub const NO_BREAK_SPACE: char = '\u{a0}';

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `--plain-spaces` prints Centra's variant.
    let space = if std::env::args().any(|a| a == "--plain-spaces") {
        ' '
    } else {
        NO_BREAK_SPACE
    };
    let (catalogue, formats) = seed_catalogue(space)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&catalogue.listing(&formats))?
    );
    Ok(())
}
