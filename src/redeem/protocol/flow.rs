//! The shared flows every operation is made of: retrying a commit from a fresh read, running
//! a request under its idempotency key, and drawing exactly the fresh codes a decision needs.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::operation::{Pool, Port};
use super::{Protocol, Redeemed};
use crate::card::CardId;
use crate::code::{Code, CodeError, MIN_CODE_BITS};
use crate::redeem::{
    Changes, Decision, IdempotencyKey, IdempotencyRecord, Outcome, RecordedRequest, RedeemError,
    StoreError,
};

/// How many codes are drawn before giving up on finding a free one.
const CODE_ATTEMPTS: u32 = 8;

impl Protocol {
    /// Commits the changes `attempt` builds from a fresh read, retrying on conflicts: a lost
    /// commit, or a store conflict on one of the attempt's reads ([`lost_read`]).
    pub(super) async fn retry<'p, T, F, Fut>(
        &self,
        port: &'p Port,
        mut attempt: F,
    ) -> Result<T, RedeemError>
    where
        F: FnMut(&'p Port, DateTime<Utc>) -> Fut,
        Fut: Future<Output = Result<(T, Changes), RedeemError>>,
    {
        for lost in 0..self.attempts {
            if lost > 0 {
                port.back_off(lost).await?;
            }
            let now = port.now().await?;
            let (result, changes) = match attempt(port, now).await {
                Ok(decided) => decided,
                Err(failed) if lost_read(&failed) => continue,
                Err(failed) => return Err(failed),
            };
            if changes.is_empty() {
                return Ok(result);
            }
            match port.commit(changes).await {
                Ok(()) => return Ok(result),
                Err(StoreError::Conflict { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Err(RedeemError::Contention {
            attempts: self.attempts,
        })
    }

    /// Runs a money-moving request under its idempotency key: a recorded answer for the same
    /// request is the result; for another request, a conflict; otherwise decide from a fresh
    /// read and commit with the record, retrying lost commits and attempts whose reads met a
    /// store conflict ([`lost_read`]).
    pub(super) async fn keyed<'p, T, F, Fut>(
        &self,
        port: &'p Port,
        key: IdempotencyKey,
        request: RecordedRequest,
        wrap: fn(T) -> Outcome,
        unwrap: fn(Outcome) -> Option<T>,
        mut decide: F,
    ) -> Result<Redeemed<T>, RedeemError>
    where
        T: Clone,
        F: FnMut(&'p Port, DateTime<Utc>, &'p Pool) -> Fut,
        Fut: Future<Output = Result<Decision<T>, RedeemError>>,
    {
        for lost in 0..self.attempts {
            if lost > 0 {
                port.back_off(lost).await?;
            }
            let attempt = async {
                if let Some(record) = port.idempotency(&key).await? {
                    if record.request != request {
                        return Err(RedeemError::IdempotencyConflict {
                            key: key.clone(),
                            first: Box::new(record.request),
                        });
                    }
                    let outcome = unwrap(record.outcome)
                        .ok_or(RedeemError::ReplayMismatch { key: key.clone() })?;
                    return Ok(Some(Redeemed {
                        outcome,
                        notifications: Vec::new(),
                        replayed: true,
                    }));
                }
                let now = port.now().await?;
                port.versions_clear();
                let decision = match decide(port, now, &port.pool).await {
                    Ok(decision) => decision,
                    // A code some card has (an import of a code in use) is a refusal, checked
                    // against the record like the others below.
                    Err(failed @ (RedeemError::Store(_) | RedeemError::Driver { .. }))
                        if !matches!(
                            failed,
                            RedeemError::Store(StoreError::DuplicateCode { .. })
                        ) =>
                    {
                        return Err(failed);
                    }
                    // A refusal commits nothing, so no version check would notice that it was
                    // decided from reads of different moments (a checkout read before another
                    // request's commit, its cards after): it is the answer only while what it
                    // read is still as read; otherwise the request is decided again. The same
                    // request sent twice may have landed under the key meanwhile, and what it
                    // did (a card disabled, a checkout captured) is then why this one is
                    // refused: its recorded answer is the answer.
                    Err(refused) => {
                        if port.still_as_read().await? && port.idempotency(&key).await?.is_none() {
                            return Err(refused);
                        }
                        return Ok(None);
                    }
                };
                let (outcome, notifications, mut changes) = port.split_decision(decision);
                changes.idempotency = Some(IdempotencyRecord {
                    key: key.clone(),
                    request: request.clone(),
                    outcome: wrap(outcome.clone()),
                    recorded_at: now,
                });
                match port.commit(changes).await {
                    Ok(()) => Ok(Some(Redeemed {
                        outcome,
                        notifications,
                        replayed: false,
                    })),
                    Err(StoreError::Conflict { .. }) => Ok(None),
                    // A fresh code another request took since it was drawn: drawn again.
                    Err(StoreError::DuplicateCode { .. }) => {
                        for (id, code) in port.pool.taken() {
                            if port.card_by_code(&code).await?.is_some() {
                                port.pool.remove(id);
                            }
                        }
                        Ok(None)
                    }
                    Err(other) => Err(other.into()),
                }
            };
            match attempt.await {
                Ok(Some(redeemed)) => return Ok(redeemed),
                // Lost: a commit or a read conflicted, or a refusal no longer holds.
                Ok(None) => {}
                Err(failed) if lost_read(&failed) => {}
                Err(failed) => return Err(failed),
            }
        }
        Err(RedeemError::Contention {
            attempts: self.attempts,
        })
    }

    /// Runs `read`, reads that decide nothing yet (a code looked up before its request is
    /// decided, a page's totals), again while one of them meets a store conflict
    /// ([`lost_read`]), with the same pauses and attempt budget as [`Protocol::retry`].
    pub(super) async fn reread<'p, T, F, Fut>(
        &self,
        port: &'p Port,
        mut read: F,
    ) -> Result<T, RedeemError>
    where
        F: FnMut(&'p Port) -> Fut,
        Fut: Future<Output = Result<T, RedeemError>>,
    {
        for lost in 0..self.attempts {
            if lost > 0 {
                port.back_off(lost).await?;
            }
            match read(port).await {
                Err(failed) if lost_read(&failed) => {}
                done => return done,
            }
        }
        Err(RedeemError::Contention {
            attempts: self.attempts,
        })
    }

    /// Runs a pure decision that may ask for fresh card ids and codes, fetching from the
    /// driver exactly as many as the decision turns out to need (so a numbered code sequence
    /// has no gaps), each checked to be free.
    ///
    /// A decision short of pairs is run once more on stand-ins (copies of a pair drawn) to
    /// count how many more it needs, and they are drawn together: a batch of n cards costs a
    /// few runs of the decision, not n (drawing one pair per run made a bulk issue
    /// quadratic: 4,000 cards took 6 s).
    pub(super) async fn decide_with_fresh<T>(
        &self,
        port: &Port,
        pool: &Pool,
        mut decide: impl FnMut(
            &mut dyn FnMut() -> Result<(CardId, Code), RedeemError>,
        ) -> Result<Decision<T>, RedeemError>,
    ) -> Result<Decision<T>, RedeemError> {
        loop {
            let mut drawn = pool.taken();
            let mut short = false;
            let result = {
                let mut fresh = || match drawn.next() {
                    Some(pair) => Ok(pair),
                    None => {
                        short = true;
                        Err(RedeemError::Contention { attempts: 0 })
                    }
                };
                decide(&mut fresh)
            };
            if !short {
                return result;
            }
            let Some(stand_in) = pool.last() else {
                let pair = self.fresh_pair(port, pool).await?;
                pool.add(pair);
                continue;
            };
            let mut drawn = pool.taken();
            let mut more = 0_usize;
            {
                let mut fresh = || {
                    Ok(drawn.next().unwrap_or_else(|| {
                        more += 1;
                        stand_in.clone()
                    }))
                };
                // Only the count matters: the outcome on stand-ins is thrown away.
                let _ = decide(&mut fresh);
            }
            for _ in 0..more.max(1) {
                let pair = self.fresh_pair(port, pool).await?;
                pool.add(pair);
            }
        }
    }

    /// A new card id and a code no card has yet, drawn by the driver: nor any pair already in
    /// `pool`, so that one request's new cards never share a code.
    pub(super) async fn fresh_pair(
        &self,
        port: &Port,
        pool: &Pool,
    ) -> Result<(CardId, Code), RedeemError> {
        if let Some(bits) = self.codes.entropy_bits()
            && bits < f64::from(MIN_CODE_BITS)
            && self.guard.store_budget().is_none()
        {
            return Err(RedeemError::WeakCodeGenerator {
                // At most 64 symbols of at most 6 bits: the floor fits.
                bits: bits.max(0.0).floor() as u32,
                min: MIN_CODE_BITS,
            });
        }
        for _ in 0..CODE_ATTEMPTS {
            let (id, code) = port.fresh().await?;
            let drawn = pool.taken().any(|(i, c)| i == id || c == code);
            if !drawn && port.card_by_code(&code).await?.is_none() {
                return Ok((id, code));
            }
        }
        Err(RedeemError::CodeGeneration(CodeError::TooManyCollisions {
            attempts: CODE_ATTEMPTS,
        }))
    }
}

/// Whether `failed` is a store conflict met on a read ([`StoreError::Conflict`]: a
/// serialisation failure or a deadlock the database aborted the read for, as serializable
/// PostgreSQL, CockroachDB and YugabyteDB do). The attempt that met it is lost like one whose
/// commit conflicted: it starts over from its reads after the same pause, and counts against
/// the same budget, so that [`RedeemError::Contention`] still ends a livelock.
fn lost_read(failed: &RedeemError) -> bool {
    matches!(failed, RedeemError::Store(StoreError::Conflict { .. }))
}
