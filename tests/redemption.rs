//! Redeeming cards at checkout through the service and the in-memory store (seeds 003, 004).

mod support;
use support::{key, reference, usd};

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use giftcert::{
    CardId, CardSpec, Currency, MemoryStore, Money, Notification, RedeemError, Redeemer,
    card::{CardError, EntryKind, ReplacementStrategy, verify_ledger},
    clock::FixedClock,
    code::{CodeGenerator, RandomCodeGenerator},
    redeem::{GuardPolicy, RecordedRequest},
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

struct Shop {
    redeemer: Redeemer<MemoryStore>,
    clock: Arc<FixedClock>,
}

impl Shop {
    fn new() -> Shop {
        let clock = Arc::new(FixedClock::new(t0()));
        Shop {
            redeemer: Redeemer::new(MemoryStore::new()).with_clock(clock.clone()),
            clock,
        }
    }

    fn with_replacement() -> Shop {
        let mut shop = Shop::new();
        shop.redeemer = shop.redeemer.with_strategy(Arc::new(ReplacementStrategy));
        shop
    }

    /// Issues a card and returns its id and code text.
    fn card(&self, value: Money) -> (CardId, String) {
        let issued = self
            .redeemer
            .issue(
                &key(&format!("issue-{}", rand::random::<u64>())),
                vec![CardSpec::new(value)],
            )
            .unwrap();
        match &issued.notifications[0] {
            Notification::CardIssued { card, code, .. } => (*card, code.expose_secret().to_owned()),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn apply(
        &self,
        checkout: &str,
        code: &str,
    ) -> Result<giftcert::redeem::AppliedCode, RedeemError> {
        self.redeemer.apply_code(
            &reference("client-1"),
            &reference(checkout),
            Currency::USD,
            code,
        )
    }

    fn balance(&self, id: CardId) -> Money {
        self.redeemer.card(id).unwrap().unwrap().balance()
    }

    fn available(&self, id: CardId) -> Money {
        self.redeemer.card(id).unwrap().unwrap().available()
    }

    fn verify(&self, id: CardId) {
        let card = self.redeemer.card(id).unwrap().unwrap();
        verify_ledger(id, card.balance(), &self.redeemer.history(id).unwrap()).unwrap();
    }
}

#[test]
fn seed_003_three_cards_pay_95_lowest_first_and_capture_moves_exactly_that() {
    let shop = Shop::new();
    let cards: Vec<(CardId, String)> = ["50", "100", "100"]
        .iter()
        .map(|v| shop.card(usd(v)))
        .collect();
    for (_, code) in &cards {
        shop.apply("c1", code).unwrap();
    }
    let auth = shop
        .redeemer
        .authorise(&key("a1"), &reference("c1"), usd("95"))
        .unwrap();
    let used: Vec<Money> = auth.outcome.cards.iter().map(|c| c.used).collect();
    assert_eq!(used, [usd("50"), usd("45"), usd("0")]);
    assert_eq!(auth.outcome.outstanding, usd("0"));
    assert_eq!(shop.available(cards[1].0), usd("55"));
    assert_eq!(
        shop.balance(cards[1].0),
        usd("100"),
        "a hold does not spend"
    );

    let captured = shop
        .redeemer
        .capture(&key("cap1"), &reference("c1"))
        .unwrap();
    assert_eq!(captured.outcome.total, usd("95"));
    let balances: Vec<Money> = cards.iter().map(|(id, _)| shop.balance(*id)).collect();
    assert_eq!(balances, [usd("0"), usd("55"), usd("100")]);
    for (id, _) in &cards {
        shop.verify(*id);
    }
}

#[test]
fn authorise_then_void_releases_every_hold() {
    let shop = Shop::new();
    let (a, code_a) = shop.card(usd("30"));
    let (b, code_b) = shop.card(usd("80"));
    shop.apply("c1", &code_a).unwrap();
    shop.apply("c1", &code_b).unwrap();
    shop.redeemer
        .authorise(&key("a1"), &reference("c1"), usd("100"))
        .unwrap();
    assert_eq!(shop.available(a), usd("0"));
    assert_eq!(shop.available(b), usd("10"));
    let voided = shop.redeemer.void(&key("v1"), &reference("c1")).unwrap();
    assert_eq!(voided.outcome.released.len(), 2);
    assert_eq!(shop.available(a), usd("30"));
    assert_eq!(shop.available(b), usd("80"));
    // The shopper may try to pay again.
    shop.redeemer
        .authorise(&key("a2"), &reference("c1"), usd("10"))
        .unwrap();
    assert!(matches!(
        shop.redeemer.void(&key("v1"), &reference("c1")),
        Ok(ref r) if r.replayed
    ));
    shop.verify(a);
    shop.verify(b);
}

#[test]
fn a_capture_under_replacement_closes_the_card_and_mails_a_new_code() {
    let shop = Shop::with_replacement();
    let (id, code) = shop.card(usd("100"));
    shop.apply("c1", &code).unwrap();
    shop.redeemer
        .authorise(&key("a1"), &reference("c1"), usd("60"))
        .unwrap();
    let captured = shop
        .redeemer
        .capture(&key("cap1"), &reference("c1"))
        .unwrap();
    let [replacement] = captured.outcome.replacements[..] else {
        panic!("expected one replacement");
    };
    assert_eq!(replacement.old_card, id);
    assert_eq!(replacement.value, usd("40"));
    let Notification::CardReplaced { code: new_code, .. } = &captured.notifications[0] else {
        panic!("expected a replacement notice");
    };
    assert_ne!(new_code.expose_secret(), code);
    // The old code no longer pays; the new one does.
    assert!(matches!(
        shop.apply("c2", &code),
        Err(RedeemError::Card(CardError::Replaced { .. }))
    ));
    let applied = shop.apply("c2", new_code.expose_secret()).unwrap();
    assert_eq!(applied.balance, usd("40"));
    shop.verify(id);
    shop.verify(replacement.new_card);
}

#[test]
fn holds_expire_and_release_themselves() {
    let mut shop = Shop::new();
    shop.redeemer = shop.redeemer.with_hold_ttl(Some(Duration::minutes(15)));
    let (id, code) = shop.card(usd("100"));
    shop.apply("c1", &code).unwrap();
    shop.redeemer
        .authorise(&key("a1"), &reference("c1"), usd("70"))
        .unwrap();
    shop.clock.advance(Duration::minutes(16)).unwrap();
    let err = shop
        .redeemer
        .capture(&key("cap1"), &reference("c1"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the authorisation of this checkout expired; authorise again"
    );
    // Another checkout can now hold the whole card.
    shop.apply("c2", &code).unwrap();
    let auth = shop
        .redeemer
        .authorise(&key("a2"), &reference("c2"), usd("100"))
        .unwrap();
    assert_eq!(auth.outcome.credit, usd("100"));
    let history = shop.redeemer.history(id).unwrap();
    assert!(history.iter().any(|e| matches!(
        e.kind(),
        EntryKind::Released {
            reason: giftcert::card::ReleaseReason::Expired,
            ..
        }
    )));
    shop.verify(id);
}

#[test]
fn a_repeated_key_returns_the_first_result_and_changes_nothing() {
    let shop = Shop::new();
    let (id, code) = shop.card(usd("100"));
    shop.apply("c1", &code).unwrap();
    let first = shop
        .redeemer
        .authorise(&key("a1"), &reference("c1"), usd("25"))
        .unwrap();
    let entries = shop.redeemer.history(id).unwrap().len();
    let again = shop
        .redeemer
        .authorise(&key("a1"), &reference("c1"), usd("25"))
        .unwrap();
    assert!(again.replayed && !first.replayed);
    assert_eq!(again.outcome, first.outcome);
    assert_eq!(shop.redeemer.history(id).unwrap().len(), entries);
    assert_eq!(shop.available(id), usd("75"));

    let cap = shop
        .redeemer
        .capture(&key("cap1"), &reference("c1"))
        .unwrap();
    let cap_again = shop
        .redeemer
        .capture(&key("cap1"), &reference("c1"))
        .unwrap();
    assert_eq!(cap.outcome, cap_again.outcome);
    assert_eq!(shop.balance(id), usd("75"), "captured once");
}

#[test]
fn a_key_reused_for_another_request_is_refused_naming_only_the_key() {
    let shop = Shop::new();
    let (_, code) = shop.card(usd("100"));
    shop.apply("c1", &code).unwrap();
    shop.redeemer
        .authorise(&key("k"), &reference("c1"), usd("25"))
        .unwrap();
    let err = shop
        .redeemer
        .authorise(&key("k"), &reference("c1"), usd("26"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "idempotency key k was used for another request"
    );
    let RedeemError::IdempotencyConflict { first, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        **first,
        RecordedRequest::Authorise {
            checkout: reference("c1"),
            payable: usd("25"),
        }
    );
    assert!(matches!(
        shop.redeemer.capture(&key("k"), &reference("c1")),
        Err(RedeemError::IdempotencyConflict { .. })
    ));
}

/// A well-formed code (its check character is right) that no card has.
fn unknown_code() -> String {
    RandomCodeGenerator::default()
        .generate()
        .unwrap()
        .expose_secret()
        .to_owned()
}

/// A mistyped code fails its check character: refused as invalid before any store lookup, so
/// it never counts as a guess either.
#[test]
fn a_mistyped_code_is_refused_by_its_check_character_before_the_store() {
    let shop = Shop::new();
    let (_, real) = shop.card(usd("10"));
    let mut typo: Vec<char> = real.chars().collect();
    typo[3] = if typo[3] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    for _ in 0..25 {
        let err = shop.apply("c1", &typo).unwrap_err();
        assert!(matches!(err, RedeemError::InvalidCode(_)), "{err}");
        assert!(!err.to_string().contains(&typo), "{err}");
    }
    // Typos are not guesses the guard counts: the real code still works.
    assert!(shop.apply("c1", &real).is_ok());
}

#[test]
fn the_guard_refuses_the_21st_unknown_code_and_says_when_to_retry() {
    let shop = Shop::new();
    let (_, real) = shop.card(usd("10"));
    for _ in 0..20 {
        let err = shop.apply("c1", &unknown_code()).unwrap_err();
        assert!(matches!(err, RedeemError::UnknownCode(_)), "{err}");
    }
    let err = shop.apply("c1", &unknown_code()).unwrap_err();
    let RedeemError::TooManyAttempts(guard) = &err else {
        panic!("expected the guard, got {err}");
    };
    assert_eq!(guard.retry_after, t0() + Duration::hours(1));
    // Even a real code waits: the client is blocked, not the code.
    assert!(matches!(
        shop.apply("c1", &real),
        Err(RedeemError::TooManyAttempts(_))
    ));
    // Another client is not affected.
    assert!(
        shop.redeemer
            .apply_code(
                &reference("client-2"),
                &reference("c9"),
                Currency::USD,
                &real
            )
            .is_ok()
    );
    shop.clock.advance(Duration::hours(1)).unwrap();
    assert!(shop.apply("c1", &real).is_ok());
}

#[test]
fn the_guard_limit_is_configurable() {
    let mut shop = Shop::new();
    shop.redeemer = shop
        .redeemer
        .with_guard(GuardPolicy::new(2, Duration::minutes(10)));
    shop.apply("c1", &unknown_code()).unwrap_err();
    shop.apply("c1", &unknown_code()).unwrap_err();
    assert!(matches!(
        shop.apply("c1", &unknown_code()),
        Err(RedeemError::TooManyAttempts(_))
    ));
}

#[test]
fn a_card_in_another_currency_is_refused() {
    let shop = Shop::new();
    let (_, code) = shop.card(Money::parse("100", Currency::EUR).unwrap());
    let err = shop.apply("c1", &code).unwrap_err();
    assert!(matches!(err, RedeemError::CardCurrency { .. }), "{err}");
    assert!(
        err.to_string().ends_with("is in EUR and cannot pay in USD"),
        "{err}"
    );
}

#[test]
fn removing_a_code_takes_it_off_the_checkout() {
    let shop = Shop::new();
    let (_, a) = shop.card(usd("10"));
    let (_, b) = shop.card(usd("20"));
    shop.apply("c1", &a).unwrap();
    shop.apply("c1", &b).unwrap();
    shop.redeemer
        .remove_code(&reference("ip-1"), &reference("c1"), &a)
        .unwrap();
    let auth = shop
        .redeemer
        .authorise(&key("a1"), &reference("c1"), usd("100"))
        .unwrap();
    assert_eq!(auth.outcome.cards.len(), 1);
    assert_eq!(auth.outcome.credit, usd("20"));
    assert_eq!(auth.outcome.outstanding, usd("80"));
    assert!(matches!(
        shop.redeemer
            .remove_code(&reference("ip-1"), &reference("c1"), &b),
        Err(RedeemError::InvalidState { .. })
    ));
}

#[test]
fn refunds_never_exceed_what_the_checkout_captured() {
    let shop = Shop::new();
    let (id, code) = shop.card(usd("100"));
    shop.apply("c1", &code).unwrap();
    shop.redeemer
        .authorise(&key("a1"), &reference("c1"), usd("60"))
        .unwrap();
    shop.redeemer
        .capture(&key("cap1"), &reference("c1"))
        .unwrap();
    shop.redeemer
        .refund(&key("r1"), &reference("c1"), usd("20"))
        .unwrap();
    assert_eq!(shop.balance(id), usd("60"));
    let err = shop
        .redeemer
        .refund(&key("r2"), &reference("c1"), usd("40.01"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "this checkout can refund at most 40.00 USD, not 40.01 USD"
    );
    shop.redeemer
        .refund(&key("r3"), &reference("c1"), usd("40"))
        .unwrap();
    assert_eq!(shop.balance(id), usd("100"));
    shop.verify(id);
}

#[test]
fn a_refund_under_replacement_goes_to_a_new_card() {
    let shop = Shop::with_replacement();
    let (id, code) = shop.card(usd("50"));
    shop.apply("c1", &code).unwrap();
    shop.redeemer
        .authorise(&key("a1"), &reference("c1"), usd("50"))
        .unwrap();
    shop.redeemer
        .capture(&key("cap1"), &reference("c1"))
        .unwrap();
    let refund = shop
        .redeemer
        .refund(&key("r1"), &reference("c1"), usd("15"))
        .unwrap();
    let part = refund.outcome.parts[0];
    assert_eq!(part.from_card, id);
    assert_ne!(part.to_card, id);
    assert_eq!(shop.balance(part.to_card), usd("15"));
    assert!(matches!(
        refund.notifications[0],
        Notification::RefundCardIssued { .. }
    ));
}

#[test]
fn expired_and_disabled_cards_cannot_be_applied() {
    let mut shop = Shop::new();
    shop.redeemer = shop
        .redeemer
        .with_expiry(giftcert::card::ExpiryPolicy::after_days(30));
    let (_, code) = shop.card(usd("100"));
    shop.clock.advance(Duration::days(31)).unwrap();
    let err = shop.apply("c1", &code).unwrap_err();
    assert!(
        matches!(err, RedeemError::Card(CardError::Expired { .. })),
        "{err}"
    );
}

#[test]
fn operations_in_the_wrong_state_are_refused_with_the_state() {
    let shop = Shop::new();
    let (_, code) = shop.card(usd("100"));
    shop.apply("c1", &code).unwrap();
    let err = shop
        .redeemer
        .capture(&key("cap0"), &reference("c1"))
        .unwrap_err();
    assert_eq!(err.to_string(), "this checkout is open; cannot capture");
    shop.redeemer
        .authorise(&key("a1"), &reference("c1"), usd("10"))
        .unwrap();
    shop.redeemer
        .capture(&key("cap1"), &reference("c1"))
        .unwrap();
    let err = shop
        .redeemer
        .void(&key("v1"), &reference("c1"))
        .unwrap_err();
    assert_eq!(err.to_string(), "this checkout is captured; cannot void");
    assert!(matches!(
        shop.redeemer
            .authorise(&key("a9"), &reference("nope"), usd("1")),
        Err(RedeemError::UnknownCheckout(_))
    ));
}

/// Eight threads run 1,000 random authorise-then-capture-or-void requests each on ten shared
/// cards. No balance goes below zero, every ledger sums to its card's balance, and the money
/// captured is exactly what left the cards.
#[test]
fn eight_threads_spending_ten_shared_cards_never_overspend() {
    use rand::{RngExt, SeedableRng};

    let shop = Shop::new();
    let cards: Vec<(CardId, String)> = (0..10).map(|_| shop.card(usd("20000"))).collect();
    let captured_total = std::sync::Mutex::new(Money::zero(Currency::USD));
    std::thread::scope(|scope| {
        for thread in 0..8u64 {
            let (shop, cards, captured_total) = (&shop, &cards, &captured_total);
            scope.spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(thread);
                for i in 0..1000 {
                    let checkout = format!("t{thread}-{i}");
                    for _ in 0..rng.random_range(1..=3) {
                        let (_, code) = &cards[rng.random_range(0..cards.len())];
                        match shop.apply(&checkout, code) {
                            Ok(_) | Err(RedeemError::EmptyCard(_)) => {}
                            Err(e) => panic!("apply: {e}"),
                        }
                    }
                    let payable =
                        Money::from_minor(rng.random_range(0..20_000), Currency::USD).unwrap();
                    let auth = shop.redeemer.authorise(
                        &key(&format!("{checkout}-a")),
                        &reference(&checkout),
                        payable,
                    );
                    match auth {
                        Ok(_) => {}
                        Err(RedeemError::UnknownCheckout(_)) => continue,
                        Err(e) => panic!("authorise: {e}"),
                    }
                    if rng.random_bool(0.5) {
                        let cap = shop
                            .redeemer
                            .capture(&key(&format!("{checkout}-c")), &reference(&checkout))
                            .unwrap();
                        let mut total = captured_total.lock().unwrap();
                        *total = total.checked_add(cap.outcome.total).unwrap();
                    } else {
                        shop.redeemer
                            .void(&key(&format!("{checkout}-v")), &reference(&checkout))
                            .unwrap();
                    }
                }
            });
        }
    });
    let mut left = Money::zero(Currency::USD);
    for (id, _) in &cards {
        let card = shop.redeemer.card(*id).unwrap().unwrap();
        assert!(!card.balance().is_negative());
        assert!(card.holds().is_empty(), "every hold was captured or voided");
        verify_ledger(*id, card.balance(), &shop.redeemer.history(*id).unwrap()).unwrap();
        left = left.checked_add(card.balance()).unwrap();
    }
    let issued = Money::parse("200000", Currency::USD).unwrap();
    assert_eq!(
        left.checked_add(*captured_total.lock().unwrap()).unwrap(),
        issued
    );
}

#[test]
fn codes_are_never_shown_whole_in_errors() {
    let shop = Shop::new();
    let err = shop.apply("c1", "SECRETCODE123456").unwrap_err();
    assert!(!err.to_string().contains("SECRETCODE123456"), "{err}");
    assert!(!format!("{err:?}").contains("SECRETCODE123456"), "{err:?}");
}

#[test]
fn bulk_issue_makes_n_cards_of_one_value_with_tags_and_metadata_and_distinct_codes() {
    let shop = Shop::new();
    let mut spec = CardSpec::new(usd("25"));
    spec.tags = vec!["xmas-2026".to_owned()];
    spec.metadata.insert("batch".to_owned(), "B-17".to_owned());
    let batch = vec![spec; 50];
    let issued = shop
        .redeemer
        .issue(&key("batch-B-17"), batch.clone())
        .unwrap();
    assert_eq!(issued.outcome.cards.len(), 50);
    let mut codes = std::collections::HashSet::new();
    for note in &issued.notifications {
        let Notification::CardIssued {
            card, code, value, ..
        } = note
        else {
            panic!("expected card notifications");
        };
        assert_eq!(*value, usd("25"));
        assert!(
            codes.insert(code.expose_secret().to_owned()),
            "codes are unique"
        );
        let stored = shop.redeemer.card(*card).unwrap().unwrap();
        assert_eq!(stored.tags(), ["xmas-2026"]);
        assert_eq!(
            stored.metadata().get("batch").map(String::as_str),
            Some("B-17")
        );
    }
    // Sending the same batch again issues nothing more; another batch under its key is refused.
    let again = shop.redeemer.issue(&key("batch-B-17"), batch).unwrap();
    assert!(again.replayed);
    assert!(matches!(
        shop.redeemer
            .issue(&key("batch-B-17"), vec![CardSpec::new(usd("25")); 50]),
        Err(RedeemError::IdempotencyConflict { .. })
    ));
    assert_eq!(shop.redeemer.store().card_count(), 50);
}

/// Hosts migrating from Shopify bring their customers' codes: imported, they carry no check
/// character, so checkout accepts them only when the host says so; their weakness is reported.
#[test]
fn imported_codes_work_once_the_host_accepts_them() {
    use giftcert::code::ImportRules;

    let shop = Shop::new();
    let imported = ImportRules::SHOPIFY.import("shop-1234-abcd-9xyz").unwrap();
    assert!(imported.entropy_bits() > 64.0 && !imported.is_weak());
    assert!(ImportRules::SHOPIFY.import("12345678").unwrap().is_weak());
    // Eight digits (26.6 bits) only where the store-wide guess budget bounds every client.
    let digits = || ImportRules::SHOPIFY.import("12345678").unwrap();
    let weak = shop
        .redeemer
        .import_card(&key("import-weak"), digits(), CardSpec::new(usd("30")));
    assert!(
        matches!(
            weak,
            Err(RedeemError::WeakImportedCode {
                bits: 26,
                min: 40,
                ..
            })
        ),
        "{weak:?}"
    );
    let budgeted = Redeemer::new(MemoryStore::new()).with_guard(
        giftcert::redeem::GuardPolicy::default().with_store_budget(100, chrono::Duration::hours(1)),
    );
    budgeted
        .import_card(&key("import-weak"), digits(), CardSpec::new(usd("30")))
        .unwrap();
    shop.redeemer
        .import_card(&key("import-1"), imported.clone(), CardSpec::new(usd("30")))
        .unwrap();
    // Without the check character the default checkout refuses it as a typo.
    assert!(matches!(
        shop.apply("c1", "SHOP1234ABCD9XYZ"),
        Err(RedeemError::InvalidCode(_))
    ));
    let accepting = Shop {
        redeemer: Redeemer::new(MemoryStore::new()).with_imported_codes(ImportRules::SHOPIFY),
        clock: shop.clock.clone(),
    };
    accepting
        .redeemer
        .import_card(&key("import-1"), imported.clone(), CardSpec::new(usd("30")))
        .unwrap();
    let applied = accepting.apply("c1", "shop 1234 abcd 9xyz").unwrap();
    assert_eq!(applied.balance, usd("30"));
    // A code can be imported once.
    assert!(matches!(
        accepting
            .redeemer
            .import_card(&key("import-2"), imported, CardSpec::new(usd("5"))),
        Err(RedeemError::Store(
            giftcert::StoreError::DuplicateCode { .. }
        ))
    ));
}
