//! `MemoryStore` passes the public store conformance kit.

#[test]
fn memory_store_passes_the_conformance_kit() {
    giftcert::testkit::check_store(giftcert::MemoryStore::new).unwrap();
}

/// A store that forgets version checks must fail the kit: the kit can catch a broken store.
#[test]
fn the_kit_catches_a_store_that_ignores_versions() {
    use giftcert::{
        CardId, Code, GiftCard, IdempotencyKey, MemoryStore, Reference, Store, StoreError,
        card::LedgerEntry,
        redeem::{CardWrite, Changes, GuardWindow, IdempotencyRecord, Versioned},
    };

    /// Rewrites every update to the version currently stored, hiding conflicts.
    #[derive(Debug, Default)]
    struct Careless(MemoryStore);

    impl Store for Careless {
        fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
            self.0.card(id)
        }
        fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
            self.0.card_by_code(code)
        }
        fn ledger(
            &self,
            card: CardId,
            from: u64,
            limit: usize,
        ) -> Result<Vec<LedgerEntry>, StoreError> {
            self.0.ledger(card, from, limit)
        }
        fn checkout(
            &self,
            id: &Reference,
        ) -> Result<Option<Versioned<giftcert::redeem::Checkout>>, StoreError> {
            self.0.checkout(id)
        }
        fn idempotency(
            &self,
            key: &IdempotencyKey,
        ) -> Result<Option<IdempotencyRecord>, StoreError> {
            self.0.idempotency(key)
        }
        fn guard(&self, client: &Reference) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
            self.0.guard(client)
        }
        fn search(
            &self,
            query: &giftcert::store::CardQuery,
        ) -> Result<giftcert::store::Page<Versioned<GiftCard>>, StoreError> {
            self.0.search(query)
        }
        fn liability(
            &self,
            at: chrono::DateTime<chrono::Utc>,
        ) -> Result<giftcert::card::LiabilityReport, StoreError> {
            self.0.liability(at)
        }
        fn commit(&self, mut changes: Changes) -> Result<(), StoreError> {
            for write in &mut changes.cards {
                if let CardWrite::Update {
                    card,
                    expected_version,
                } = write
                {
                    if let Some(stored) = self.0.card(card.id())? {
                        *expected_version = stored.version;
                    }
                }
            }
            self.0.commit(changes)
        }
    }

    let failure = giftcert::testkit::check_store(Careless::default).unwrap_err();
    assert_eq!(
        failure.check,
        "updates check versions and commits are all or nothing"
    );
}

/// The protocol's rules (expired holds never count, an expired authorisation authorises
/// again, imports replay, a capture after a void says voided) hold on `MemoryStore`.
#[test]
fn memory_store_keeps_the_protocol_rules() {
    giftcert::testkit::check_protocol_rules(giftcert::MemoryStore::new).unwrap();
}

/// `MemoryStore`'s conflicts name their record, in its own words.
#[test]
fn memory_store_conflicts_name_their_record() {
    let seen = giftcert::testkit::check_conflict_records(giftcert::MemoryStore::new()).unwrap();
    let reasons: Vec<&str> = seen.iter().map(|(_, reason)| reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "it is at version 1, expected 2",
            "it already exists",
            "it does not follow entry 1",
            "it is at version Some(1), expected None",
            "it is recorded",
        ]
    );
}

/// The async kit passes on `MemoryStore`.
#[test]
fn memory_store_passes_the_async_conformance_kit() {
    use giftcert::testkit::{block_on, check_async_store};

    block_on(check_async_store(|| async { giftcert::MemoryStore::new() })).unwrap();
}

/// The async kit catches the same broken store as the blocking one: an [`AsyncStore`] that
/// forgets version checks fails it.
#[test]
fn the_async_kit_catches_a_store_that_ignores_versions() {
    use giftcert::store::AsyncStore;
    use giftcert::testkit::{block_on, check_async_store};
    use giftcert::{
        CardId, Code, GiftCard, IdempotencyKey, MemoryStore, Reference, StoreError,
        card::LedgerEntry,
        redeem::{CardWrite, Changes, Checkout, GuardWindow, IdempotencyRecord, Versioned},
    };

    /// Rewrites every update to the version currently stored, hiding conflicts.
    #[derive(Debug, Default)]
    struct CarelessAsync(MemoryStore);

    impl AsyncStore for CarelessAsync {
        async fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
            AsyncStore::card(&self.0, id).await
        }
        async fn card_by_code(
            &self,
            code: &Code,
        ) -> Result<Option<Versioned<GiftCard>>, StoreError> {
            AsyncStore::card_by_code(&self.0, code).await
        }
        async fn ledger(
            &self,
            card: CardId,
            from: u64,
            limit: usize,
        ) -> Result<Vec<LedgerEntry>, StoreError> {
            AsyncStore::ledger(&self.0, card, from, limit).await
        }
        async fn checkout(
            &self,
            id: &Reference,
        ) -> Result<Option<Versioned<Checkout>>, StoreError> {
            AsyncStore::checkout(&self.0, id).await
        }
        async fn idempotency(
            &self,
            key: &IdempotencyKey,
        ) -> Result<Option<IdempotencyRecord>, StoreError> {
            AsyncStore::idempotency(&self.0, key).await
        }
        async fn guard(
            &self,
            client: &Reference,
        ) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
            AsyncStore::guard(&self.0, client).await
        }
        async fn search(
            &self,
            query: &giftcert::store::CardQuery,
        ) -> Result<giftcert::store::Page<Versioned<GiftCard>>, StoreError> {
            AsyncStore::search(&self.0, query).await
        }
        async fn liability(
            &self,
            at: chrono::DateTime<chrono::Utc>,
        ) -> Result<giftcert::card::LiabilityReport, StoreError> {
            AsyncStore::liability(&self.0, at).await
        }
        async fn commit(&self, mut changes: Changes) -> Result<(), StoreError> {
            for write in &mut changes.cards {
                if let CardWrite::Update {
                    card,
                    expected_version,
                } = write
                {
                    if let Some(stored) = AsyncStore::card(&self.0, card.id()).await? {
                        *expected_version = stored.version;
                    }
                }
            }
            AsyncStore::commit(&self.0, changes).await
        }
    }

    let failure = block_on(check_async_store(|| async { CarelessAsync::default() })).unwrap_err();
    assert_eq!(
        failure.check,
        "updates check versions and commits are all or nothing"
    );
}

/// The protocol's rules hold on `MemoryStore` through the async driver too: the same checks.
#[test]
fn memory_store_keeps_the_protocol_rules_through_the_async_driver() {
    use giftcert::testkit::{block_on, check_async_protocol_rules};

    block_on(check_async_protocol_rules(|| async {
        giftcert::MemoryStore::new()
    }))
    .unwrap();
}

/// Through the async driver, `MemoryStore`'s conflicts name the same records in the same words.
#[test]
fn memory_store_conflicts_name_their_record_through_the_async_driver() {
    use giftcert::testkit::{block_on, check_async_conflict_records, check_conflict_records};

    let sync = check_conflict_records(giftcert::MemoryStore::new()).unwrap();
    let asynchronous =
        block_on(check_async_conflict_records(giftcert::MemoryStore::new())).unwrap();
    // Card ids are random: the reasons, and which kind of record each names, must agree.
    let words = |seen: Vec<(giftcert::redeem::Record, String)>| -> Vec<(String, String)> {
        seen.into_iter()
            .map(|(record, reason)| {
                (
                    format!("{record:?}")
                        .split(['(', ' '])
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    reason,
                )
            })
            .collect()
    };
    assert_eq!(words(asynchronous), words(sync));
}

/// Eight tasks through the async driver spend one card to zero and never overspend.
#[test]
fn memory_store_passes_the_async_concurrent_spending_check() {
    use giftcert::testkit::{block_on, check_async_concurrent_spending};

    block_on(check_async_concurrent_spending(vec![
        giftcert::MemoryStore::new(),
    ]))
    .unwrap();
}
