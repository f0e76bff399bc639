//! The pessimistic path: the turn an operation that kept losing commits takes, and the pauses
//! between lost commits.
//!
//! Both are rules of the protocol, decided here; a driver only carries out the waits they ask
//! for ([`Need::Wait`](super::Need::Wait), [`Need::Turn`](super::Need::Turn)).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// After this many lost commits an operation takes the turn (the conformance kit's contention
/// checks allow one attempt more).
pub(crate) const PESSIMISTIC_AFTER: u32 = 4;

/// The longest pause between two attempts is `2^MAX_BACKOFF_EXPONENT` microseconds.
const MAX_BACKOFF_EXPONENT: u32 = 10;

/// The turn that operations which kept losing take one at a time. While one has it, the other
/// operations started from the same [`Protocol`](super::Protocol) hold back their commits, and
/// it waits for the commits already under way to land before it reads again, so that no other
/// request of the same process can make it lose once more. Other processes on the same
/// database do not see it: against them only the pauses help.
#[derive(Debug, Default)]
pub(crate) struct Turn {
    state: Mutex<TurnState>,
    /// Signalled on every change of `state.generation`, for threads that block.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct TurnState {
    /// Whether an operation has the turn.
    taken: bool,
    /// Commits under way of operations without the turn.
    in_flight: usize,
    /// Counts the changes a waiter may be waiting for.
    generation: u64,
    /// Threads blocked on the condition variable: with none, a change signals nothing (no
    /// system call on the commit path).
    sleeping: usize,
    /// Tasks parked until the next change.
    parked: Vec<Waker>,
}

fn lock(turn: &Turn) -> MutexGuard<'_, TurnState> {
    turn.state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Turn {
    /// Takes the turn, or says what to wait on before trying again.
    pub(crate) fn try_take(self: &Arc<Turn>) -> Result<TurnHeld, TurnWait> {
        let mut state = lock(self);
        if std::mem::replace(&mut state.taken, true) {
            return Err(self.wait_on(&state));
        }
        Ok(TurnHeld(Arc::clone(self)))
    }

    /// Whether every commit that began before the turn was taken has been answered, or what
    /// to wait on until then.
    pub(crate) fn try_drained(self: &Arc<Turn>) -> Result<(), TurnWait> {
        let state = lock(self);
        if state.in_flight == 0 {
            Ok(())
        } else {
            Err(self.wait_on(&state))
        }
    }

    /// Counts a commit under way while no operation has the turn, or says what to wait on
    /// before trying again.
    pub(crate) fn try_enter(self: &Arc<Turn>) -> Result<InFlight, TurnWait> {
        let mut state = lock(self);
        if state.taken {
            return Err(self.wait_on(&state));
        }
        state.in_flight += 1;
        Ok(InFlight(Arc::clone(self)))
    }

    fn wait_on(self: &Arc<Turn>, state: &TurnState) -> TurnWait {
        TurnWait {
            turn: Arc::clone(self),
            seen: state.generation,
        }
    }

    /// Records a change and wakes every waiter, blocked or parked.
    fn change(&self, mut state: MutexGuard<'_, TurnState>) {
        state.generation = state.generation.wrapping_add(1);
        let parked = std::mem::take(&mut state.parked);
        let sleeping = state.sleeping > 0;
        drop(state);
        if sleeping {
            self.changed.notify_all();
        }
        for waker in parked {
            waker.wake();
        }
    }
}

/// The turn, held; dropping it (the operation finished, or was dropped) gives it to the next.
#[derive(Debug)]
pub(crate) struct TurnHeld(Arc<Turn>);

impl Drop for TurnHeld {
    fn drop(&mut self) {
        let mut state = lock(&self.0);
        state.taken = false;
        self.0.change(state);
    }
}

/// A commit under way while no operation has the turn; dropping it (the commit answered, or
/// the operation dropped) lets the turn's holder go on.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Turn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = lock(&self.0);
        state.in_flight -= 1;
        if state.in_flight == 0 {
            self.0.change(state);
        }
    }
}

/// What an operation waits on before it may go on along the pessimistic path
/// ([`Need::Turn`](super::Need::Turn)): the turn changing hands, or the commits under way
/// landing. A driver blocks its thread ([`TurnWait::block`]), parks its task
/// ([`TurnWait::park`]) or, in a scheduler of its own, polls [`TurnWait::is_over`]; then it
/// answers [`Reply::Resumed`](super::Reply::Resumed).
pub struct TurnWait {
    turn: Arc<Turn>,
    seen: u64,
}

impl fmt::Debug for TurnWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnWait")
            .field("over", &self.is_over())
            .finish()
    }
}

impl TurnWait {
    /// Whether what it waits on has changed since the operation asked.
    #[must_use]
    pub fn is_over(&self) -> bool {
        lock(&self.turn).generation != self.seen
    }

    /// Blocks this thread until the wait is over.
    pub fn block(&self) {
        let mut state = lock(&self.turn);
        while state.generation == self.seen {
            state.sleeping += 1;
            state = self
                .turn
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.sleeping -= 1;
        }
    }

    /// Parks the task that awaits it until the wait is over.
    pub fn park(&self) -> impl Future<Output = ()> + Send + '_ {
        Parked(self)
    }
}

/// Ready once the wait is over; until then its task is parked, and woken on the next change.
struct Parked<'a>(&'a TurnWait);

impl Future for Parked<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = lock(&self.0.turn);
        if state.generation != self.0.seen {
            return Poll::Ready(());
        }
        // A task that polls its futures together (a join) is woken once for all of them.
        if !state.parked.iter().any(|w| w.will_wake(cx.waker())) {
            state.parked.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The pause before the next attempt after `lost` lost commits, drawn from `random`: none
/// after the first (a yield), then up to `2^lost` microseconds (at most about a millisecond),
/// so that racing requests spread out instead of colliding again in step.
pub(crate) fn backoff(lost: u32, random: u64) -> Duration {
    if lost <= 1 {
        return Duration::ZERO;
    }
    let ceiling = 1_u64 << lost.min(MAX_BACKOFF_EXPONENT);
    Duration::from_micros(random % ceiling)
}

/// SplitMix64: the pauses' random numbers, from a seed the driver supplies once per
/// operation ([`Need::Seed`](super::Need::Seed)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Jitter {
        Jitter(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_turn_makes_others_wait_until_it_is_given_back() {
        let turn = Arc::new(Turn::default());
        let held = turn.try_take().expect("free");
        let wait = turn.try_enter().expect_err("taken");
        assert!(!wait.is_over());
        assert!(turn.try_take().is_err());
        drop(held);
        assert!(wait.is_over());
        wait.block();
        assert!(turn.try_enter().is_ok());
    }

    #[test]
    fn the_holder_waits_for_commits_under_way() {
        let turn = Arc::new(Turn::default());
        let in_flight = turn.try_enter().expect("free");
        let _held = turn.try_take().expect("free");
        let wait = turn.try_drained().expect_err("one commit under way");
        drop(in_flight);
        assert!(wait.is_over());
        assert!(turn.try_drained().is_ok());
    }

    #[test]
    fn backoff_grows_with_the_losses_and_stays_under_its_ceiling() {
        let mut jitter = Jitter::new(7);
        assert_eq!(backoff(1, jitter.next()), Duration::ZERO);
        for lost in 2..40 {
            let ceiling = 1_u64 << lost.min(MAX_BACKOFF_EXPONENT);
            assert!(backoff(lost, jitter.next()) < Duration::from_micros(ceiling));
        }
        let pauses: std::collections::BTreeSet<_> =
            (0..64).map(|_| backoff(10, jitter.next())).collect();
        assert!(pauses.len() > 32, "the pauses spread out: {pauses:?}");
    }
}
