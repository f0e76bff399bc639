//! What the property suites share.

use proptest::test_runner::{Config, FileFailurePersistence};

/// 1,000 cases, and failing seeds kept in `proptest-regressions/<file>` (committed), where
/// every later run replays them first.
pub fn config(file: &'static str) -> Config {
    Config {
        cases: 1000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..Config::default()
    }
}
