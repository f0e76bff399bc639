//! The life of a gift certificate, end to end: catalogue, lowest-first redemption, then a
//! certificate bought in Centra's exclusive selection, paid, finalised and announced.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use chrono::Utc;
use giftcert::{
    Catalogue, CertificateDefinition, Currency, EmailAddress, GiftMessage, Line, Money, Order,
    OrderId, PaymentDetails, PaymentKind, PaymentMethod, PaymentOutcome, PaymentPolicy,
    PaymentResult, Prices, ProductLine, Selection, SelectionPolicy, TaxRate, TotalsSettings,
    allocate,
};
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

    println!("== 3. Buying a certificate in an exclusive selection (Centra)");
    let mut cart = Selection::new(
        Currency::USD,
        Prices::TaxIncluded,
        SelectionPolicy::exclusive(),
    );
    cart.add_product(ProductLine::new(
        "shirt",
        usd("20")?,
        1,
        "25".parse::<TaxRate>()?,
    )?)?;
    println!("  the selection holds a shirt");
    let change = cart.add_certificate_from(&catalogue, "gift-1", Some(Decimal::from(100)), 1)?;
    for removed in change.removed() {
        if let Line::Product(product) = &removed.line {
            println!(
                "  removed {} ({:?}): gift certificates are sold on their own",
                product.sku(),
                removed.reason
            );
        }
    }
    let payment = PaymentDetails::new(
        PaymentMethod::new("card", PaymentKind::Card)?,
        EmailAddress::new("buyer@example.com")?,
    )
    .with_recipient(EmailAddress::new("friend@example.com")?)
    .with_gift_message(GiftMessage::new("Happy birthday!")?);
    let mut order = Order::place(
        OrderId::new("o-1001")?,
        cart,
        payment,
        &PaymentPolicy::default(),
        &TotalsSettings::default(),
    )?;
    println!(
        "  order {} to pay: {} (tax {})",
        order.id(),
        order.totals().outstanding_balance(),
        order.totals().tax_total()
    );
    // The host reports the payment result with its own clock's time.
    let outcome = order.report_payment(PaymentResult::Paid, Utc::now());
    println!("  payment received: the order is {}", order.status());
    for shipment in order.shipments() {
        println!("  shipment completed with method \"{}\"", shipment.method());
    }
    if let PaymentOutcome::Paid {
        cards,
        notification: Some(note),
    } = outcome
    {
        for card in &cards {
            println!(
                "  card to issue {}: {} from {}",
                card.issue_key(),
                card.value(),
                card.definition()
            );
        }
        println!("  e-mail for the host to send:");
        println!("    to: {}", note.to());
        if let Some(message) = note.gift_message() {
            println!("    message: {message}");
        }
        for card in note.cards() {
            println!(
                "    a gift card worth {} (code added when card {} is issued)",
                card.value(),
                card.issue_key()
            );
        }
    }
    Ok(())
}
