//! The life of a gift certificate, end to end: the catalogue, a purchase in Centra's exclusive
//! selection, the cards it issues, and their redemption over two orders (lowest card first, a
//! void after a failed payment), under the balance and the replacement strategies.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! Codes are secrets: this program prints them masked. The e-mails the host sends carry them
//! whole (`Code::expose_secret`).

use giftcert::{CheckoutId, ClientId};
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use giftcert::{
    CardSpec, Catalogue, CertificateDefinition, Code, Currency, EmailAddress, IdempotencyKey,
    MemoryStore, Money, Notification, Order, OrderId, PaymentDetails, PaymentKind, PaymentMethod,
    PaymentPolicy, PaymentResult, PriceBasis, Redeemer, Selection, SelectionPolicy, Store, TaxRate,
    TotalsSettings,
    card::{BalanceStrategy, LeftoverStrategy, ReplacementStrategy},
    clock::FixedClock,
    code::{CodeGenerator, MemorySequence, PatternCodeGenerator, RandomCodeGenerator},
    redeem::GuardPolicy,
    shop::{GiftMessage, PaymentOutcome, ProductLine, SelectionLine},
};
use rust_decimal::Decimal;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn key(text: &str) -> Result<IdempotencyKey> {
    Ok(IdempotencyKey::new(text)?)
}

/// Buys one any-amount certificate of `amount` USD for `recipient` and returns the issued
/// card's code, as the host would e-mail it.
fn buy_certificate(
    redeemer: &Redeemer<MemoryStore>,
    catalogue: &Catalogue,
    order_id: &str,
    amount: u32,
    recipient: &str,
    with_product_first: bool,
) -> Result<Code> {
    let usd = |s: &str| Money::parse(s, Currency::USD);
    let mut cart = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::exclusive(),
    );
    if with_product_first {
        cart.add_product(ProductLine::new(
            "shirt",
            usd("20")?,
            1,
            "25".parse::<TaxRate>()?,
        )?)?;
        println!("  the selection holds a shirt");
    }
    let change = cart.add_certificate_from(catalogue, "gift-1", Some(Decimal::from(amount)), 1)?;
    for removed in change.removed() {
        if let SelectionLine::Product(product) = &removed.line {
            println!(
                "  adding the certificate removed {} ({:?}): gift certificates are sold alone",
                product.sku(),
                removed.reason
            );
        }
    }
    let payment = PaymentDetails::new(
        PaymentMethod::new("card", PaymentKind::Card)?,
        EmailAddress::new("buyer@example.com")?,
    )
    .with_recipient(EmailAddress::new(recipient)?)
    .with_gift_message(GiftMessage::new("Happy birthday!")?);
    let mut order = Order::place(
        OrderId::new(order_id)?,
        cart,
        payment,
        &PaymentPolicy::default(),
        &TotalsSettings::default(),
    )?;
    println!(
        "  order {} costs {} (tax {}: a multi-purpose voucher is not taxed at sale)",
        order.id(),
        order.totals().grand_total(),
        order.totals().tax_total()
    );
    // The host reports the payment result; the order finalises itself (nothing to ship).
    if !matches!(
        order.report_payment(PaymentResult::Paid, Utc::now()),
        PaymentOutcome::Paid { .. }
    ) {
        return Err("the payment was not taken".into());
    }
    let shipment = order
        .shipments()
        .first()
        .map(|s| s.method().to_owned())
        .unwrap_or_default();
    println!(
        "  paid: the order is {} with a completed \"{shipment}\" shipment",
        order.status()
    );
    let issued = redeemer.issue_for_order(&order)?;
    let Some(Notification::CardIssued {
        code,
        value,
        recipient,
        message,
        ..
    }) = issued.notifications.into_iter().next()
    else {
        return Err("the order issued no card".into());
    };
    println!(
        "  e-mail to {}: \"{}\" - a {value} gift card, code {code}",
        recipient.and_then(|r| r.email).unwrap_or_default(),
        message.unwrap_or_default(),
    );
    Ok(code)
}

fn main() -> Result<()> {
    let usd = |s: &str| Money::parse(s, Currency::USD);
    let start = Utc
        .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .ok_or("bad date")?;
    let clock = Arc::new(FixedClock::new(start));
    let redeemer = Redeemer::new(MemoryStore::new()).with_clock(clock.clone());

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

    println!("== 2. Buying certificates (Centra's exclusive selection)");
    let big = buy_certificate(
        &redeemer,
        &catalogue,
        "o-1001",
        100,
        "friend@example.com",
        true,
    )?;
    let small = buy_certificate(
        &redeemer,
        &catalogue,
        "o-1002",
        50,
        "friend@example.com",
        false,
    )?;

    println!("== 3. Order one: a 120.00 USD cart paid with both cards, lowest first");
    let mut cart = Selection::new(
        Currency::USD,
        PriceBasis::TaxIncluded,
        SelectionPolicy::exclusive(),
    );
    cart.add_product(ProductLine::new(
        "jacket",
        usd("120")?,
        1,
        "25".parse::<TaxRate>()?,
    )?)?;
    let client = ClientId::new("203.0.113.7")?;
    let first = CheckoutId::new("checkout-1")?;
    for code in [&big, &small] {
        let applied = redeemer.apply_code(&client, &first, Currency::USD, code.expose_secret())?;
        println!("  applied {} holding {}", applied.code, applied.balance);
    }
    // The totals come from the checkout's own cards: taxes on the original prices, credit as
    // a payment, and the amount to authorise. Nothing is copied by hand.
    let totals = redeemer.checkout_totals(&first, &cart, &TotalsSettings::default())?;
    println!(
        "  totals: {} with {} tax, gift credit {}, left to pay {}",
        totals.grand_total(),
        totals.tax_total(),
        totals.credit_used(),
        totals.outstanding_balance()
    );
    let auth = redeemer.authorise(&key("c1-authorise")?, &first, totals.amount_to_authorise())?;
    for card in &auth.outcome.cards {
        println!(
            "  {}: balance {}, used {}, remaining {}",
            card.code, card.balance, card.used, card.remaining
        );
    }
    println!("  left to pay by card: {}", auth.outcome.outstanding);
    let captured = redeemer.capture(&key("c1-capture")?, &first)?;
    println!(
        "  order completed: {} captured from the cards",
        captured.outcome.total
    );

    println!("== 4. Order two: the payment fails, the hold is voided, then it succeeds");
    let second = CheckoutId::new("checkout-2")?;
    redeemer.apply_code(&client, &second, Currency::USD, big.expose_secret())?;
    let auth = redeemer.authorise(&key("c2-authorise")?, &second, usd("25")?)?;
    println!("  authorised {} on the remaining card", auth.outcome.credit);
    let voided = redeemer.void(&key("c2-void")?, &second)?;
    for released in &voided.outcome.released {
        println!("  payment failed: released {}", released.amount);
    }
    clock.advance(Duration::minutes(5))?;
    redeemer.authorise(&key("c2-authorise-again")?, &second, usd("25")?)?;
    let captured = redeemer.capture(&key("c2-capture")?, &second)?;
    println!("  second try paid {}", captured.outcome.total);
    let card = redeemer
        .store()
        .card_by_code(&big)?
        .ok_or("card vanished")?
        .value;
    println!(
        "  card {} keeps {}; its history:",
        card.code_hint(),
        card.balance()
    );
    for entry in redeemer.history(card.id())? {
        println!(
            "    #{} {} {} {} -> balance {}",
            entry.seq(),
            entry.at().format("%H:%M"),
            entry.kind(),
            entry.amount(),
            entry.balance_after()
        );
    }

    println!("== 5. One card, two orders, under each leftover strategy (Spryker)");
    spend_twice(
        "balance: the same code keeps the rest",
        Arc::new(BalanceStrategy),
        Arc::new(RandomCodeGenerator::default()),
        GuardPolicy::default(),
    )?;
    // Numbered codes are guessable (whoever has X-GC-41 tries X-GC-42): the crate issues them
    // only under a store-wide budget of unknown codes, here 100 an hour for every client.
    spend_twice(
        "replacement: a new code X-GC-{number} for each remainder",
        Arc::new(ReplacementStrategy),
        Arc::new(PatternCodeGenerator::new(
            "X-GC-{number}",
            MemorySequence::new(),
        )?),
        GuardPolicy::default().with_store_budget(100, Duration::hours(1)),
    )?;
    Ok(())
}

/// Issues a 100.00 USD card, spends 60.00 then 30.00 of it, and prints every card's history.
fn spend_twice(
    title: &str,
    strategy: Arc<dyn LeftoverStrategy>,
    codes: Arc<dyn CodeGenerator>,
    guard: GuardPolicy,
) -> Result<()> {
    println!("  {title}");
    let usd = |s: &str| Money::parse(s, Currency::USD);
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
            .single()
            .ok_or("bad date")?,
    ));
    let redeemer = Redeemer::new(MemoryStore::new())
        .with_clock(clock.clone())
        .with_strategy(strategy)
        .with_code_generator(codes)
        .with_guard(guard);
    let issued = redeemer.issue(&key("gift")?, vec![CardSpec::new(usd("100")?)])?;
    let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.into_iter().next()
    else {
        return Err("no card issued".into());
    };
    let (mut cards, mut code) = (vec![card], code);
    let client = ClientId::new("203.0.113.7")?;
    for (order, amount) in [("order-A", "60"), ("order-B", "30")] {
        let checkout = CheckoutId::new(order)?;
        redeemer.apply_code(&client, &checkout, Currency::USD, code.expose_secret())?;
        redeemer.authorise(
            &key(&format!("{order}-authorise"))?,
            &checkout,
            usd(amount)?,
        )?;
        let captured = redeemer.capture(&key(&format!("{order}-capture"))?, &checkout)?;
        println!(
            "    {order} paid {} with code {code}",
            captured.outcome.total
        );
        for note in captured.notifications {
            if let Notification::CardReplaced {
                new_card,
                code: new_code,
                value,
                ..
            } = note
            {
                println!(
                    "    the owner is e-mailed a new code {new_code} for the remaining {value}"
                );
                cards.push(new_card);
                code = new_code;
            }
        }
        clock.advance(Duration::days(1))?;
    }
    for id in cards {
        let card = redeemer.card(id)?.ok_or("card vanished")?;
        println!("    card {} ({}) history:", card.code_hint(), card.status());
        for entry in redeemer.history(id)? {
            println!(
                "      {} {} {} by {} -> {}",
                entry.at().format("%Y-%m-%d"),
                entry.kind(),
                entry.amount(),
                entry.reference().map_or("-", |r| r.as_str()),
                entry.balance_after()
            );
        }
    }
    Ok(())
}
