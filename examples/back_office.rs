//! A shop's staff at work on a card: a shopper checks a balance, a support agent disables a
//! card reported stolen and enables it again, corrects a wrong credit, reloads it at the till,
//! and extends an expired card as a goodwill gesture. Each command runs under an idempotency
//! key and leaves a ledger entry that says who did it and why. Then finance searches the cards
//! of a campaign, page by page, and prints the liability report.
//!
//! ```text
//! cargo run --example back_office
//! ```

use giftcert::{CheckoutId, ClientId};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use giftcert::card::{Attribution, Reason};
use giftcert::clock::{Clock, FixedClock};
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
    let shopper = ClientId::new("203.0.113.7")?;

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
        &CheckoutId::new("checkout-1")?,
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
    finance(&redeemer, clock.now())?;
    lost_codes_sweeps_and_retention()?;
    Ok(())
}

/// A customer lost the e-mail with their code: support gives the same card a new code (the
/// old one stops working at once). Then what a scheduler runs: a sweep that releases an
/// abandoned checkout's hold and records a card's expiry, and a prune of old idempotency
/// records and guard windows.
fn lost_codes_sweeps_and_retention() -> Result<()> {
    let eur = |s: &str| Money::parse(s, Currency::EUR);
    let start = Utc
        .with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .ok_or("no such instant")?;
    let clock = Arc::new(FixedClock::new(start));
    let redeemer = Redeemer::new(MemoryStore::new()).with_clock(clock.clone());
    let key = |k: &str| IdempotencyKey::new(k);
    println!("\n-- a lost code, sweeps and retention");

    let mut spec = CardSpec::new(eur("40")?);
    spec.expires_at = Some(start + Duration::days(7));
    let issued = redeemer.issue(&key("order-3001")?, vec![spec])?;
    let Some(Notification::CardIssued { card, code, .. }) = issued.notifications.first() else {
        return Err("no card was issued".into());
    };
    let (card, old) = (*card, code.expose_secret().to_owned());

    // A shopper's checkout holds 15.00, then is abandoned.
    let shopper = ClientId::new("203.0.113.9")?;
    let checkout = CheckoutId::new("checkout-7")?;
    redeemer.apply_code(&shopper, &checkout, Currency::EUR, &old)?;
    redeemer.authorise(&key("checkout-7/authorise")?, &checkout, eur("15")?)?;

    let agent = Attribution::new(
        Reference::new("staff:ben")?,
        Reason::new("customer lost the e-mail with the code")?,
    );
    let replaced = redeemer.replace_code(&key("ticket-401/new-code")?, card, &agent)?;
    for notification in &replaced.notifications {
        // The host e-mails the new code; its Debug output shows only the masked hint.
        println!("to send: {notification:?}");
    }
    let again = redeemer.replace_code(&key("ticket-401/new-code")?, card, &agent)?;
    println!(
        "new code {} (the retry replayed: {}, with {} notifications: the code is handed over once)",
        replaced.outcome.code,
        again.replayed,
        again.notifications.len()
    );
    println!(
        "the old code: {}",
        redeemer
            .check_balance(&shopper, &old)
            .err()
            .map_or("accepted?".to_owned(), |e| e.to_string())
    );

    // An hour later the hold is past its time limit; a week later the card is past its date.
    clock.advance(Duration::hours(1))?;
    let sweep = redeemer.sweep(100)?;
    for swept in &sweep.cards {
        println!(
            "swept {}: released holds {:?} ({}), expired: {}",
            swept.card, swept.released, swept.released_amount, swept.expired
        );
    }
    clock.advance(Duration::days(7))?;
    let sweep = redeemer.sweep(100)?;
    println!(
        "a week later: {} card(s) expired, to tell: {:?}",
        sweep.cards.len(),
        sweep.notifications
    );
    println!(
        "a second sweep changes nothing: {} card(s)",
        redeemer.sweep(100)?.cards.len()
    );

    // A month on, the keys of these requests are past their 30 days.
    clock.advance(Duration::days(30))?;
    let pruned = redeemer.prune(1_000)?;
    let sizes = redeemer.store().sizes();
    println!(
        "pruned {} idempotency records and {} guard windows; {} records left, {} card(s) kept",
        pruned.records, pruned.guards, sizes.idempotency_records, sizes.cards
    );
    Ok(())
}

/// The finance team's morning: find the cards of a campaign and of a customer, page through
/// them, and book the liability on outstanding cards.
fn finance<S: giftcert::Store>(redeemer: &Redeemer<S>, now: DateTime<Utc>) -> Result<()> {
    use giftcert::store::CardQuery;

    let eur = |s: &str| Money::parse(s, Currency::EUR);
    // A spring campaign: five 20.00 cards bought by one company for its staff.
    let specs = (1..=5)
        .map(|n| {
            let mut spec = CardSpec::new(eur("20")?);
            spec.order = Some(Reference::new("order-3001")?);
            spec.purchaser = Some(Reference::new("customer:acme")?);
            spec.recipient = Some(giftcert::card::Recipient {
                name: None,
                email: Some(format!("staff{n}@acme.example")),
            });
            spec.tags = vec!["spring-2026".into()];
            spec.expires_at = Some(now + Duration::days(90));
            Ok(spec)
        })
        .collect::<Result<Vec<_>>>()?;
    redeemer.issue(&IdempotencyKey::new("order-3001")?, specs)?;

    // Two cards a page; the cursor goes back to the store for the next page.
    let mut query = CardQuery::new().by_tag("spring-2026").with_limit(2)?;
    let mut page_no = 1;
    loop {
        let page = redeemer.search(&query)?;
        let shown: Vec<String> = page
            .items
            .iter()
            .map(|c| format!("{} {}", c.value.code_hint(), c.value.balance()))
            .collect();
        println!("campaign page {page_no}: {}", shown.join(", "));
        match page.next {
            Some(next) => query = query.after(next),
            None => break,
        }
        page_no += 1;
    }
    let for_staff3 = redeemer.search(&CardQuery::new().by_recipient("Staff3@ACME.example"))?;
    println!("cards for staff3@acme.example: {}", for_staff3.items.len());
    let soon = redeemer.search(
        &CardQuery::new()
            .by_currency(Currency::EUR)
            .expiring_before(now + Duration::days(120)),
    )?;
    println!("EUR cards expiring within 120 days: {}", soon.items.len());

    // What the shop owes, per currency, checked against its ledgers.
    let report = redeemer.liability(now)?;
    println!("{report}");
    Ok(())
}
