//! Async code on a blocking client: [`run_ready`] finishes a future whose every `.await` meets
//! a ready future, so a store can write its SQL once as async functions and run it on both a
//! blocking and an async client.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Finishes `future` in one poll, on the calling thread: for futures that never wait, such as
/// async code driven by a blocking client (every `.await` meets a ready future). No runtime
/// is involved, so it is safe to call from any thread, inside an async runtime or not.
///
/// Returns `None` (and drops the future unfinished) if it was not ready after one poll: it
/// waited on something that a blocking driver cannot wake.
///
/// ```
/// use std::future;
///
/// use giftcert_store_support::run_ready;
///
/// assert_eq!(run_ready(async { future::ready(7).await + 1 }), Some(8));
/// assert_eq!(run_ready(future::pending::<()>()), None);
/// ```
pub fn run_ready<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use std::future;

    use super::*;

    #[test]
    fn run_ready_finishes_a_future_that_never_waits() {
        let ready = async { future::ready(7).await + 1 };
        assert_eq!(run_ready(ready), Some(8));
    }

    #[test]
    fn run_ready_gives_up_on_a_future_that_waits() {
        assert_eq!(run_ready(future::pending::<()>()), None);
    }
}
