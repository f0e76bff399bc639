//! Bugs planted at the store boundary, to show that the simulator finds them.

use std::collections::HashMap;

use crate::card::{CardId, CardStatus, EntryKind, LedgerEntry, ReleaseReason};
use crate::redeem::CardWrite;
use crate::redeem::{Changes, Record, StoreError};
use crate::store::Store;
use crate::testkit::{CommitFn, CommitHook};

/// A store that ignores versions: every write wins over whatever was committed meanwhile
/// (each expected version is replaced by the stored one and entries are numbered after
/// the stored ledger), as a store that forgets its `WHERE version = $2` would behave.
/// Made by [`ignore_versions`].
pub type IgnoreVersions<S> = CommitHook<S, CommitFn<S>>;

/// `inner`, its versions ignored: see [`IgnoreVersions`].
pub fn ignore_versions<S: Store>(inner: S) -> IgnoreVersions<S> {
    CommitHook::new(inner, commit_ignoring_versions::<S>)
}

fn commit_ignoring_versions<S: Store>(inner: &S, mut changes: Changes) -> Result<(), StoreError> {
    let mut next: HashMap<CardId, u64> = HashMap::new();
    for write in &mut changes.cards {
        if let CardWrite::Update {
            card,
            expected_version,
        } = write
        {
            if let Some(stored) = inner.card(card.id())? {
                *expected_version = stored.version;
            }
            let len = inner.ledger(card.id(), 1, usize::MAX)?.len() as u64;
            next.insert(card.id(), len + 1);
        }
    }
    for entry in &mut changes.entries {
        if let Some(seq) = next.get_mut(&entry.card) {
            entry.seq = *seq;
            *seq += 1;
        }
    }
    if let Some(write) = &mut changes.checkout {
        write.expected_version = inner.checkout(write.value.id())?.map(|s| s.version);
    }
    if let Some(write) = &mut changes.guard {
        write.expected_version = inner.guard(write.value.client())?.map(|s| s.version);
    }
    inner.commit(changes)
}

/// A store that checks every version but the checkout's: a write to a checkout wins over
/// whatever was committed to it meanwhile, as a store whose checkout `UPDATE` forgets its
/// `WHERE version = $2` would behave. Made by [`ignore_checkout_versions`].
pub type IgnoreCheckoutVersions<S> = CommitHook<S, CommitFn<S>>;

/// `inner`, its checkouts' versions ignored: see [`IgnoreCheckoutVersions`].
pub fn ignore_checkout_versions<S: Store>(inner: S) -> IgnoreCheckoutVersions<S> {
    CommitHook::new(inner, |inner: &S, mut changes: Changes| {
        if let Some(write) = &mut changes.checkout {
            write.expected_version = inner.checkout(write.value.id())?.map(|s| s.version);
        }
        inner.commit(changes)
    })
}

/// A store that writes every expiry date one second later than asked: a card stays
/// spendable a second past its date, an off-by-one on a bound. Made by [`late_expiry`].
pub type LateExpiry<S> = CommitHook<S, CommitFn<S>>;

/// `inner`, writing expiry dates a second late: see [`LateExpiry`].
pub fn late_expiry<S: Store>(inner: S) -> LateExpiry<S> {
    CommitHook::new(inner, |inner: &S, mut changes: Changes| {
        for write in &mut changes.cards {
            let (card, stored) = match write {
                CardWrite::Insert { card, .. } => (card, None),
                CardWrite::Update { card, .. } => {
                    let stored = inner.card(card.id())?.map(|s| s.value.expires_at());
                    (card, stored)
                }
            };
            if stored.is_none_or(|at| at != card.expires_at()) {
                let late = card
                    .expires_at()
                    .map(|at| at + chrono::Duration::seconds(1));
                card.set_expires_at(late);
            }
        }
        inner.commit(changes)
    })
}

/// A store that refuses, as a conflict, every commit taking a code off a checkout, as a store
/// checking the wrong record's version would: removing a code never succeeds. Made by
/// [`refuse_code_removals`].
pub type RefuseCodeRemovals<S> = CommitHook<S, CommitFn<S>>;

/// `inner`, refusing to take codes off checkouts: see [`RefuseCodeRemovals`].
pub fn refuse_code_removals<S: Store>(inner: S) -> RefuseCodeRemovals<S> {
    CommitHook::new(inner, |inner: &S, changes: Changes| {
        if let Some(write) = &changes.checkout {
            let stored = inner.checkout(write.value.id())?;
            let before = stored.map_or(0, |s| s.value.applied().len());
            if write.value.applied().len() < before {
                return Err(StoreError::conflict(
                    Record::Checkout(write.value.id().clone()),
                    "planted: a removal never matches",
                ));
            }
        }
        inner.commit(changes)
    })
}

/// A store that, after a partial capture, releases the rest of a hold in the ledger but puts
/// the same amount back on hold: the shopper's remainder stays held. Made by
/// [`keep_remainder_holds`].
pub type KeepRemainderHolds<S> = CommitHook<S, CommitFn<S>>;

/// `inner`, keeping remainders held: see [`KeepRemainderHolds`].
pub fn keep_remainder_holds<S: Store>(inner: S) -> KeepRemainderHolds<S> {
    CommitHook::new(inner, |inner: &S, mut changes: Changes| {
        let remainders: Vec<LedgerEntry> = changes
            .entries
            .iter()
            .filter(|e| {
                matches!(
                    e.kind(),
                    EntryKind::Released {
                        reason: ReleaseReason::Remainder,
                        ..
                    }
                )
            })
            .cloned()
            .collect();
        for released in remainders {
            let Some(reference) = released.reference().cloned() else {
                continue;
            };
            for write in &mut changes.cards {
                if let CardWrite::Update { card, .. } = write {
                    if card.id() == released.card() {
                        let until = released.at() + chrono::Duration::minutes(30);
                        if let Ok(entry) = card.place_hold(
                            released.amount(),
                            reference.clone(),
                            None,
                            released.at(),
                            Some(until),
                        ) {
                            changes.entries.push(entry);
                        }
                    }
                }
            }
        }
        inner.commit(changes)
    })
}

/// A store that commits a purchase reversal's answer but not its blocks: the blocked cards'
/// writes and their entries are dropped, so a card whose purchase was charged back still
/// pays. Made by [`forget_blocks`].
pub type ForgetBlocks<S> = CommitHook<S, CommitFn<S>>;

/// `inner`, forgetting blocks: see [`ForgetBlocks`].
pub fn forget_blocks<S: Store>(inner: S) -> ForgetBlocks<S> {
    CommitHook::new(inner, |inner: &S, mut changes: Changes| {
        let blocked: Vec<CardId> = changes
            .cards
            .iter()
            .filter_map(|write| match write {
                CardWrite::Update { card, .. } if card.status() == CardStatus::Blocked => {
                    Some(card.id())
                }
                _ => None,
            })
            .collect();
        changes.cards.retain(|write| match write {
            CardWrite::Update { card, .. } => !blocked.contains(&card.id()),
            CardWrite::Insert { .. } => true,
        });
        changes.entries.retain(|e| !blocked.contains(&e.card()));
        inner.commit(changes)
    })
}
