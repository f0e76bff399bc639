//! Bugs planted at the store boundary, to show that the simulator finds them.

use std::collections::HashMap;

use crate::card::CardId;
use crate::redeem::CardWrite;
use crate::redeem::{Changes, StoreError};
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
