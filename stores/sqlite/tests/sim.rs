//! The deterministic simulator over `SqliteStore`: a fixed set of seeds, each on a fresh file,
//! keeps every invariant with faults injected at the store boundary, and runs exactly as it
//! does over the in-memory model store.

use std::sync::atomic::{AtomicUsize, Ordering};

use giftcert::MemoryStore;
use giftcert::testkit::sim::{SimConfig, Simulator};
use giftcert_sqlite::SqliteStore;
use giftcert_store_support::CodeKey;

/// The seeds run against SQLite (each run opens a file, so fewer than over the model store).
const SEEDS: std::ops::Range<u64> = 0..200;

fn key() -> CodeKey {
    CodeKey::new(b"giftcert-sqlite simulation key!!").unwrap()
}

/// Every seed keeps every invariant over SQLite, and its trace is the model store's: the
/// store answers every request as the model does.
#[test]
fn sqlite_keeps_every_invariant_seed_by_seed_as_the_model_does() {
    let dir = tempfile::tempdir().unwrap();
    let files = AtomicUsize::new(0);
    let sqlite = Simulator::new(SimConfig::default(), || {
        let n = files.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open(dir.path().join(format!("sim-{n}.db")), key()).unwrap()
    });
    let model = Simulator::new(SimConfig::default(), MemoryStore::new);
    for seed in SEEDS {
        let run = match sqlite.run(seed) {
            Ok(run) => run,
            Err(failure) => panic!("{}", sqlite.shrink(seed).unwrap_or(failure)),
        };
        assert_eq!(run, model.run(seed).unwrap(), "seed {seed} ran differently");
    }
}
