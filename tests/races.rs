//! A capture or void that loses a race on its checkout answers the state the checkout is in,
//! on MemoryStore through both drivers (the SQLite and PostgreSQL stores run the same check in
//! their own tests).

use giftcert::MemoryStore;
use giftcert::testkit::{block_on, check_async_refusal_races, check_refusal_races};

#[test]
fn a_thousand_forced_races_answer_the_state_met_through_the_sync_driver() {
    check_refusal_races(MemoryStore::new, 1_000).unwrap();
}

#[test]
fn a_thousand_forced_races_answer_the_state_met_through_the_async_driver() {
    block_on(check_async_refusal_races(
        || std::future::ready(MemoryStore::new()),
        1_000,
    ))
    .unwrap();
}
