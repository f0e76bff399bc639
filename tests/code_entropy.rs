//! Codes a guesser could find are issued only where the store-wide guess budget bounds every
//! client together: a generator stating fewer than `MIN_CODE_BITS` bits (pattern codes state
//! none) is refused before anything is written, and taken once the budget is on.

mod support;
use support::{key, usd};

use std::sync::Arc;

use chrono::Duration;
use giftcert::code::{
    Code, CodeError, CodeGenerator, MIN_CODE_BITS, MemorySequence, PatternCodeGenerator,
    RandomCodeGenerator,
};
use giftcert::redeem::{GuardPolicy, Protocol};
use giftcert::store::AsyncRedeemer;
use giftcert::testkit::block_on;
use giftcert::{CardSpec, Currency, MemoryStore, RedeemError, Redeemer};

fn pattern() -> Arc<dyn CodeGenerator> {
    Arc::new(PatternCodeGenerator::new("X-GC-{number}", MemorySequence::new()).unwrap())
}

fn budget() -> GuardPolicy {
    GuardPolicy::default().with_store_budget(100, Duration::hours(1))
}

fn issue(redeemer: &Redeemer<MemoryStore>) -> Result<(), RedeemError> {
    redeemer
        .issue(&key("gift"), vec![CardSpec::new(usd("100"))])
        .map(|_| ())
}

#[test]
fn pattern_codes_are_refused_without_a_store_budget_and_nothing_is_written() {
    assert_eq!(pattern().entropy_bits(), Some(0.0));
    let redeemer = Redeemer::new(MemoryStore::new()).with_code_generator(pattern());
    let err = issue(&redeemer).unwrap_err();
    assert_eq!(
        err,
        RedeemError::WeakCodeGenerator {
            bits: 0,
            min: MIN_CODE_BITS
        }
    );
    assert_eq!(
        err.to_string(),
        "the code generator's codes have about 0 bits of entropy, below the 40 a store without \
         a guess budget takes"
    );
    let report = redeemer.liability(chrono::Utc::now()).unwrap();
    assert!(report.currency(Currency::USD).is_none(), "{report:?}");

    let asynchronous = AsyncRedeemer::new(MemoryStore::new())
        .with_protocol(Protocol::default().with_code_generator(pattern()));
    let err = block_on(asynchronous.issue(&key("gift"), vec![CardSpec::new(usd("100"))]));
    assert!(matches!(err, Err(RedeemError::WeakCodeGenerator { .. })));
}

#[test]
fn pattern_codes_are_issued_under_a_store_budget() {
    let redeemer = Redeemer::new(MemoryStore::new())
        .with_code_generator(pattern())
        .with_guard(budget());
    issue(&redeemer).unwrap();
}

#[test]
fn a_weak_random_generator_is_refused_and_the_default_is_taken() {
    let weak = RandomCodeGenerator::builder()
        .length(6)
        .allow_weak_codes()
        .build()
        .unwrap();
    assert_eq!(CodeGenerator::entropy_bits(&weak), Some(30.0));
    let redeemer = Redeemer::new(MemoryStore::new()).with_code_generator(Arc::new(weak));
    assert_eq!(
        issue(&redeemer).unwrap_err(),
        RedeemError::WeakCodeGenerator {
            bits: 30,
            min: MIN_CODE_BITS
        }
    );

    let eight = RandomCodeGenerator::builder()
        .length(8)
        .allow_weak_codes()
        .build()
        .unwrap();
    assert_eq!(CodeGenerator::entropy_bits(&eight), Some(40.0));
    issue(&Redeemer::new(MemoryStore::new()).with_code_generator(Arc::new(eight))).unwrap();
    issue(&Redeemer::new(MemoryStore::new())).unwrap();
}

/// A host's own generator that states nothing is the host's to answer for.
#[test]
fn a_generator_that_states_nothing_is_trusted() {
    #[derive(Debug)]
    struct Host(RandomCodeGenerator);
    impl CodeGenerator for Host {
        fn generate(&self) -> Result<Code, CodeError> {
            self.0.generate()
        }
        fn check(&self, code: &Code) -> Result<(), CodeError> {
            self.0.check(code)
        }
    }
    let host = Host(RandomCodeGenerator::default());
    assert_eq!(host.entropy_bits(), None);
    issue(&Redeemer::new(MemoryStore::new()).with_code_generator(Arc::new(host))).unwrap();
}
