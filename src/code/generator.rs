//! The [`CodeGenerator`] trait and [`generate_unique`].

use std::fmt;
use std::sync::Arc;

use super::{Code, CodeError};

/// A way of making new codes, and of telling whether a typed code could be one of them.
///
/// The crate ships [`RandomCodeGenerator`](crate::code::RandomCodeGenerator) (the default) and
/// [`PatternCodeGenerator`](crate::code::PatternCodeGenerator); hosts may write their own.
///
/// # Contract
///
/// - `generate` returns a candidate that `check` accepts. It does not look at any store:
///   uniqueness is [`generate_unique`]'s job and, finally, the store's.
/// - `check` is cheap and pure (no store, no clock, no randomness), so a service can refuse a
///   mistyped code before it spends a store call, and before it counts as a guess.
pub trait CodeGenerator: Send + Sync + fmt::Debug {
    /// A fresh candidate code (not checked against any store).
    ///
    /// # Errors
    ///
    /// When no code can be made: a pattern's sequence is exhausted or failed
    /// ([`CodeError::SequenceExhausted`], [`CodeError::SequenceFailed`]), or the random source
    /// failed ([`CodeError::RandomSource`]).
    fn generate(&self) -> Result<Code, CodeError>;

    /// Whether `code` could have come from this generator (format, prefix, check character).
    ///
    /// # Errors
    ///
    /// The first rule `code` breaks, as a [`CodeError`] naming the code masked.
    fn check(&self, code: &Code) -> Result<(), CodeError>;

    /// How many bits a guesser who knows every other code this generator made must still
    /// guess to find one more of its codes. The protocol issues no code from a generator below
    /// [`MIN_CODE_BITS`](crate::code::MIN_CODE_BITS) unless the store-wide guess budget is on
    /// ([`GuardPolicy::with_store_budget`](crate::redeem::GuardPolicy::with_store_budget)).
    /// `None`, the default, states nothing: the host answers for its generator.
    fn entropy_bits(&self) -> Option<f64> {
        None
    }
}

impl<G: CodeGenerator + ?Sized> CodeGenerator for &G {
    fn generate(&self) -> Result<Code, CodeError> {
        (**self).generate()
    }

    fn check(&self, code: &Code) -> Result<(), CodeError> {
        (**self).check(code)
    }
    fn entropy_bits(&self) -> Option<f64> {
        (**self).entropy_bits()
    }
}

impl<G: CodeGenerator + ?Sized> CodeGenerator for Box<G> {
    fn generate(&self) -> Result<Code, CodeError> {
        (**self).generate()
    }

    fn check(&self, code: &Code) -> Result<(), CodeError> {
        (**self).check(code)
    }
    fn entropy_bits(&self) -> Option<f64> {
        (**self).entropy_bits()
    }
}

impl<G: CodeGenerator + ?Sized> CodeGenerator for Arc<G> {
    fn generate(&self) -> Result<Code, CodeError> {
        (**self).generate()
    }

    fn check(&self, code: &Code) -> Result<(), CodeError> {
        (**self).check(code)
    }
    fn entropy_bits(&self) -> Option<f64> {
        (**self).entropy_bits()
    }
}

/// A code that `exists` says is unused, trying at most `max_attempts` candidates.
///
/// `exists` is the host's look-up (in its store, say); its error type `E` only has to take a
/// [`CodeError`] in (`From<CodeError>`), which `CodeError` itself, `Box<dyn Error>` and the
/// host's own `thiserror` enums with a `#[from] CodeError` variant do.
///
/// Checking and then inserting is not atomic: another process may take the same code in
/// between. The store must still refuse a duplicate on insert (a unique key); with 80 random
/// bits this is a safety net, not a path a shop will see.
///
/// # Errors
///
/// - the first error of `exists`, unchanged;
/// - the generator's error, converted (an exhausted sequence is not retried);
/// - [`CodeError::TooManyCollisions`] when every one of `max_attempts` candidates existed
///   (with `max_attempts` of 0, none is tried).
///
/// ```
/// use std::collections::HashSet;
/// use giftcert::{Code, code::{generate_unique, CodeError, MemorySequence, PatternCodeGenerator}};
///
/// let numbering = PatternCodeGenerator::new("X-GC-{number}", MemorySequence::new())?;
/// let taken: HashSet<Code> = [Code::parse("X-GC-1")?].into();
///
/// let code = generate_unique(&numbering, 3, |c| Ok::<_, CodeError>(taken.contains(c)))?;
/// assert_eq!(code.expose_secret(), "XGC2");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate_unique<G, E, F>(generator: &G, max_attempts: u32, mut exists: F) -> Result<Code, E>
where
    G: CodeGenerator + ?Sized,
    E: From<CodeError>,
    F: FnMut(&Code) -> Result<bool, E>,
{
    for _ in 0..max_attempts {
        let candidate = generator.generate()?;
        if !exists(&candidate)? {
            return Ok(candidate);
        }
    }
    Err(CodeError::TooManyCollisions {
        attempts: max_attempts,
    }
    .into())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Hands out the given codes in order, then reports an exhausted sequence.
    #[derive(Debug)]
    struct Scripted(Mutex<Vec<&'static str>>);

    impl Scripted {
        fn new(codes: &[&'static str]) -> Scripted {
            Scripted(Mutex::new(codes.iter().rev().copied().collect()))
        }
    }

    impl CodeGenerator for Scripted {
        fn generate(&self) -> Result<Code, CodeError> {
            let next = self.0.lock().unwrap().pop();
            Code::parse(next.ok_or(CodeError::SequenceExhausted)?)
        }

        fn check(&self, _: &Code) -> Result<(), CodeError> {
            Ok(())
        }
    }

    #[derive(Debug, PartialEq, thiserror::Error)]
    enum HostError {
        #[error("store is down")]
        StoreDown,
        #[error(transparent)]
        Code(#[from] CodeError),
    }

    #[test]
    fn collisions_are_retried_until_an_unused_code() {
        let generator = Scripted::new(&["AAAA", "BBBB", "CCCC"]);
        let taken = [Code::parse("AAAA").unwrap(), Code::parse("BBBB").unwrap()];
        let mut asked = 0;
        let code = generate_unique(&generator, 5, |c| {
            asked += 1;
            Ok::<_, CodeError>(taken.contains(c))
        })
        .unwrap();
        assert_eq!(code.expose_secret(), "CCCC");
        assert_eq!(asked, 3);
    }

    #[test]
    fn collisions_beyond_the_bound_are_a_typed_error() {
        let generator = Scripted::new(&["AAAA", "BBBB", "CCCC", "DDDD"]);
        let mut asked = 0;
        let err = generate_unique(&generator, 3, |_| {
            asked += 1;
            Ok::<_, CodeError>(true)
        })
        .unwrap_err();
        assert_eq!(err, CodeError::TooManyCollisions { attempts: 3 });
        assert_eq!(
            err.to_string(),
            "every one of 3 generated codes already exists, expected an unused one"
        );
        assert_eq!(asked, 3);
    }

    #[test]
    fn zero_attempts_tries_nothing() {
        let generator = Scripted::new(&["AAAA"]);
        let err = generate_unique(&generator, 0, |_| -> Result<bool, CodeError> {
            panic!("nothing should be looked up")
        })
        .unwrap_err();
        assert_eq!(err, CodeError::TooManyCollisions { attempts: 0 });
    }

    #[test]
    fn an_error_from_exists_propagates_unchanged() {
        let generator = Scripted::new(&["AAAA", "BBBB"]);
        let err = generate_unique(&generator, 5, |_| Err(HostError::StoreDown)).unwrap_err();
        assert_eq!(err, HostError::StoreDown);
    }

    #[test]
    fn a_generator_error_is_not_retried() {
        let generator = Scripted::new(&["AAAA"]);
        let err = generate_unique(&generator, 5, |_| Ok::<_, HostError>(true)).unwrap_err();
        assert_eq!(err, HostError::Code(CodeError::SequenceExhausted));
    }

    #[test]
    fn works_through_a_trait_object() {
        let generator: Arc<dyn CodeGenerator> = Arc::new(Scripted::new(&["AAAA"]));
        let code = generate_unique(&*generator, 1, |_| Ok::<_, CodeError>(false)).unwrap();
        assert_eq!(code.expose_secret(), "AAAA");
        let code = generate_unique(&Scripted::new(&["BBBB"]), 1, |_| Ok::<_, CodeError>(false));
        assert!(code.is_ok());
    }
}
