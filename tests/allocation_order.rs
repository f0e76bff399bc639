//! The allocation order as a policy of the protocol: lowest first by default, or the card
//! expiring soonest first; authorisations list the cards in the order they pay.

mod support;
use giftcert::{CheckoutId, ClientId};
use support::usd;

use chrono::{TimeZone, Utc};
use giftcert::redeem::AllocationOrder;
use giftcert::{CardSpec, Currency, IdempotencyKey, MemoryStore, Money, Notification, Redeemer};

/// Applies a 20.00 card that never expires, then a 50.00 card expiring in June, and
/// authorises 30.00: the card ids in the order the authorisation lists them, with what each
/// pays.
fn authorise_with(order: AllocationOrder) -> Vec<(String, Money)> {
    let redeemer = Redeemer::new(MemoryStore::new()).with_allocation_order(order);
    let june = Utc.with_ymd_and_hms(2030, 6, 30, 0, 0, 0).unwrap();
    let mut expiring = CardSpec::new(usd("50"));
    expiring.expires_at = Some(june);
    let mut names = Vec::new();
    let (checkout, client) = (CheckoutId::new("c1").unwrap(), ClientId::new("s").unwrap());
    for (name, spec) in [("keeps", CardSpec::new(usd("20"))), ("june", expiring)] {
        let issued = redeemer
            .issue(&IdempotencyKey::new(name).unwrap(), vec![spec])
            .unwrap();
        let Notification::CardIssued { code, .. } = &issued.notifications[0] else {
            panic!("no code")
        };
        redeemer
            .apply_code(&client, &checkout, Currency::USD, code.expose_secret())
            .unwrap();
        names.push((issued.outcome.cards[0].card, name));
    }
    let auth = redeemer
        .authorise(&IdempotencyKey::new("a").unwrap(), &checkout, usd("30"))
        .unwrap();
    assert_eq!(auth.outcome.credit, usd("30"));
    let name = |id| names.iter().find(|(c, _)| *c == id).unwrap().1.to_owned();
    auth.outcome
        .cards
        .iter()
        .map(|u| (name(u.card), u.used))
        .collect()
}

#[test]
fn lowest_first_is_the_default_and_lists_the_cards_as_they_pay() {
    assert_eq!(
        authorise_with(AllocationOrder::default()),
        [
            ("keeps".to_owned(), usd("20")),
            ("june".to_owned(), usd("10"))
        ]
    );
}

#[test]
fn expiring_first_spends_the_value_that_would_expire() {
    assert_eq!(
        authorise_with(AllocationOrder::ExpiringFirst),
        [
            ("june".to_owned(), usd("30")),
            ("keeps".to_owned(), usd("0"))
        ]
    );
}
