//! The life of a gift certificate, end to end: catalogue, then lowest-first redemption.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use giftcert::{Catalogue, CertificateDefinition, Currency, Money, allocate};
use rust_decimal::Decimal;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let usd = |s: &str| Money::parse(s, Currency::USD);

    println!("== 1. The catalogue");
    let catalogue = Catalogue::new()
        .with(CertificateDefinition::predetermined(
            "gift-2",
            "Pre-defined gift certificate",
            [usd("10")?, Money::parse("100", Currency::SEK)?],
        )?)?
        .with(CertificateDefinition::any_amount(
            "gift-1",
            "Dynamic gift certificate",
        )?)?;
    for def in catalogue.iter() {
        println!("  {} ({})", def.name(), def.id());
    }
    let chosen = catalogue.resolve("gift-1", Currency::USD, Some(Decimal::from(100)))?;
    println!("  the buyer picks gift-1 at {}", chosen.value());

    println!("== 2. Two cards pay for a 95.00 USD order, lowest first");
    let allocation = allocate(
        usd("95")?,
        [("card A", usd("100")?), ("card B", usd("50")?)],
    )?;
    for card in allocation.cards() {
        println!(
            "  {}: holds {}, used {}, keeps {}",
            card.key, card.available, card.used, card.remaining
        );
    }
    println!(
        "  left to pay by another method: {}",
        allocation.outstanding()
    );
    Ok(())
}
