//! A shop's staff at work on a card: a shopper checks a balance, a support agent disables a
//! card reported stolen and enables it again, corrects a wrong credit, reloads it at the till,
//! and extends an expired card as a goodwill gesture. Each command runs under an idempotency
//! key and leaves a ledger entry that says who did it and why.
//!
//! ```text
//! cargo run --example back_office
//! ```

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use giftcert::card::{Attribution, Reason};
use giftcert::clock::FixedClock;
use giftcert::redeem::CardCommand;
use giftcert::{
    CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer, Reference,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let eur = |s: &str| Money::parse(s, Currency::EUR);
    let start = Utc
        .with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .ok_or("no such instant")?;
    let clock = Arc::new(FixedClock::new(start));
    let redeemer = Redeemer::new(MemoryStore::new()).with_clock(clock.clone());

    // A card of 50.00 EUR, expiring at the end of March.
    let mut spec = CardSpec::new(eur("50")?);
    spec.expires_at = Some(start + Duration::days(30));
    let issued = redeemer.issue(&IdempotencyKey::new("order-2001")?, vec![spec])?;
    let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else {
        return Err("no card was issued".into());
    };
    let (card, code) = (*card, code.expose_secret().to_owned());
    let shopper = Reference::new("203.0.113.7")?;

    // The shopper's "check your balance" page: through the check character and the guard.
    let check = redeemer.check_balance(&shopper, &code)?;
    println!(
        "balance check for {}: {} on the card, {} available, expires {}",
        check.code,
        check.balance,
        check.available,
        check
            .expires_at
            .map_or("never".to_owned(), |at| at.to_string())
    );

    let agent = Reference::new("staff:ana")?;
    let by = |reason: &str| -> Result<Attribution> {
        Ok(Attribution::new(agent.clone(), Reason::new(reason)?))
    };
    let key = |k: &str| IdempotencyKey::new(k);

    let disabled = redeemer.amend(
        &key("ticket-311/disable")?,
        card,
        CardCommand::Disable,
        &by("customer reported the card stolen")?,
    )?;
    println!("disabled: status {:?}", disabled.outcome.status);
    let refused = redeemer.apply_code(
        &shopper,
        &Reference::new("checkout-1")?,
        Currency::EUR,
        &code,
    );
    println!(
        "applying the disabled card: {}",
        refused
            .err()
            .map_or("accepted?".to_owned(), |e| e.to_string())
    );
    redeemer.amend(
        &key("ticket-311/enable")?,
        card,
        CardCommand::Enable,
        &by("the card was found at home")?,
    )?;

    // A wrong 10.00 on the card: a correcting entry, never an edit. Sent twice (a retried
    // HTTP request), it applies once.
    let correction = CardCommand::Adjust {
        change: eur("-10")?,
    };
    let reason = by("a 10.00 goodwill credit was promised, not owed")?;
    let first = redeemer.amend(&key("ticket-312/adjust")?, card, correction, &reason)?;
    let again = redeemer.amend(&key("ticket-312/adjust")?, card, correction, &reason)?;
    println!(
        "adjusted by -10.00: balance {} (the retry replayed: {})",
        first.outcome.balance, again.replayed
    );

    // A top-up at the till, within the certificate's limits (10.00 to 500.00).
    let limits =
        giftcert::catalogue::AmountBounds::new(Currency::EUR, Some(eur("10")?), Some(eur("500")?))?;
    let reload = CardCommand::Reload {
        amount: eur("25")?,
        bounds: Some(limits),
    };
    let topped = redeemer.amend(
        &key("till-9/reload")?,
        card,
        reload,
        &by("paid at the till")?,
    )?;
    println!("reloaded 25.00: balance {}", topped.outcome.balance);

    // Six weeks later the card has expired; a goodwill extension to the end of the year.
    clock.advance(Duration::days(42))?;
    println!(
        "after its date: status {:?}",
        redeemer.check_balance(&shopper, &code)?.status
    );
    let year_end = Utc
        .with_ymd_and_hms(2026, 12, 31, 23, 59, 59)
        .single()
        .ok_or("no such instant")?;
    let extended = redeemer.amend(
        &key("ticket-340/extend")?,
        card,
        CardCommand::ChangeExpiry {
            expires_at: Some(year_end),
        },
        &by("goodwill: delivery of the gift was late")?,
    )?;
    println!(
        "extended: status {:?}, expires {}",
        extended.outcome.status,
        extended
            .outcome
            .expires_at
            .map_or("never".to_owned(), |at| at.to_string())
    );

    println!("the card's history:");
    for entry in redeemer.history(card)? {
        let who = entry
            .attribution()
            .map_or(String::new(), |by| format!(" by {by}"));
        println!(
            "  #{} {:?}: {} -> balance {}{who}",
            entry.seq(),
            entry.kind(),
            entry.amount(),
            entry.balance_after()
        );
    }
    Ok(())
}
