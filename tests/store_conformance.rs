//! `MemoryStore` passes the public store conformance kit.

#[test]
fn memory_store_passes_the_conformance_kit() {
    giftcert::testkit::check_store(giftcert::MemoryStore::new).unwrap();
}

/// A store that forgets version checks must fail the kit: the kit can catch a broken store.
#[test]
fn the_kit_catches_a_store_that_ignores_versions() {
    use giftcert::testkit::sim::planted::ignore_versions;

    let failure = giftcert::testkit::check_store(|| ignore_versions(giftcert::MemoryStore::new()))
        .unwrap_err();
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

/// The async kit catches the same broken store as the blocking one, driven as an
/// [`AsyncStore`](giftcert::store::AsyncStore).
#[test]
fn the_async_kit_catches_a_store_that_ignores_versions() {
    use giftcert::testkit::sim::planted::ignore_versions;
    use giftcert::testkit::{block_on, check_async_store};

    let failure = block_on(check_async_store(|| async {
        ignore_versions(giftcert::MemoryStore::new())
    }))
    .unwrap_err();
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

/// A `CommitHook` that commits unchanged is the store it wraps, through both drivers: every
/// read, search, report, sweep and prune is forwarded (a forgotten one fails these checks).
#[test]
fn a_forwarding_commit_hook_is_the_store_it_wraps() {
    use giftcert::MemoryStore;
    use giftcert::testkit::{
        CommitHook, block_on, check_async_liability, check_async_search, check_async_upkeep,
        check_liability, check_search, check_upkeep,
    };

    let forward = || CommitHook::forward(MemoryStore::new());
    check_upkeep(forward).unwrap();
    check_search(forward).unwrap();
    check_liability(forward).unwrap();
    block_on(check_async_upkeep(|| async { forward() })).unwrap();
    block_on(check_async_search(|| async { forward() })).unwrap();
    block_on(check_async_liability(|| async { forward() })).unwrap();
}
