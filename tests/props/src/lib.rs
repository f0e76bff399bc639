//! What the core's property suites share. The suites are this package's tests
//! (`tests/props/tests`), kept out of the core package so that its examples and tests do not
//! build proptest; `cargo test --workspace` runs them.

use proptest::test_runner::{Config, FileFailurePersistence};

/// 1,000 cases, and failing seeds kept in `proptest-regressions/<file>` (committed, under
/// `tests/props`), where every later run replays them first.
pub fn config(file: &'static str) -> Config {
    Config {
        cases: 1000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..Config::default()
    }
}
