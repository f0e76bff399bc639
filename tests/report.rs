//! The back office's reads on `MemoryStore`: the search and the liability report, through both
//! drivers, and the report against random histories.

use giftcert::MemoryStore;
use giftcert::testkit::{
    block_on, check_async_liability, check_async_search, check_liability, check_search,
};

#[test]
fn memory_store_passes_the_search_checks() {
    check_search(MemoryStore::new).unwrap();
    block_on(check_async_search(|| async { MemoryStore::new() })).unwrap();
}

#[test]
fn memory_store_passes_the_liability_checks() {
    check_liability(MemoryStore::new).unwrap();
    block_on(check_async_liability(|| async { MemoryStore::new() })).unwrap();
}
