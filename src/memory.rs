//! [`MemoryStore`]: the embedded, thread-safe in-memory store.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash};
use std::sync::{Mutex, MutexGuard};

use crate::card::{CardId, GiftCard};
use crate::code::Code;
use crate::guard::GuardWindow;
use crate::idempotency::{IdempotencyKey, IdempotencyRecord};
use crate::ledger::{LedgerEntry, Reference};
use crate::redemption::Checkout;
use crate::store::{CardWrite, Changes, Store, StoreError, Versioned, Write};

/// How many independently locked parts the store has: requests on different cards rarely
/// wait for each other.
const SHARDS: usize = 16;

#[derive(Debug)]
struct CardSlot {
    card: GiftCard,
    version: u64,
    ledger: Vec<LedgerEntry>,
}

#[derive(Debug, Default)]
struct Shard {
    cards: HashMap<CardId, CardSlot>,
    codes: HashMap<Code, CardId>,
    checkouts: HashMap<Reference, Versioned<Checkout>>,
    idempotency: HashMap<IdempotencyKey, IdempotencyRecord>,
    guards: HashMap<Reference, Versioned<GuardWindow>>,
}

/// A thread-safe [`Store`] in memory, the default in every example.
///
/// Records are spread over 16 shards, each behind its own lock; a commit locks only the
/// shards it touches, in a fixed order, so it is atomic without a global lock.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

fn shard_of<K: Hash + ?Sized>(key: &K) -> usize {
    // A fixed hasher: the same key always lands in the same shard.
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
    usize::try_from(hash % SHARDS as u64).unwrap_or(0)
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic elsewhere cannot leave a shard half-written: commits validate before they write.
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn conflict(what: String) -> StoreError {
    StoreError::Conflict(what)
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> MemoryStore {
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    fn shard<K: Hash + ?Sized>(&self, key: &K) -> MutexGuard<'_, Shard> {
        lock(&self.shards[shard_of(key)])
    }

    /// How many cards it holds.
    #[must_use]
    pub fn card_count(&self) -> usize {
        self.shards.iter().map(|s| lock(s).cards.len()).sum()
    }
}

/// The shards a commit touches, locked in index order.
struct Locked<'a> {
    guards: Vec<(usize, MutexGuard<'a, Shard>)>,
}

impl Locked<'_> {
    fn get(&mut self, index: usize) -> Result<&mut Shard, StoreError> {
        self.guards
            .iter_mut()
            .find(|(i, _)| *i == index)
            .map(|(_, g)| &mut **g)
            .ok_or_else(|| StoreError::Corrupt("shard not locked".to_owned()))
    }
}

fn check_version<T>(
    stored: Option<&Versioned<T>>,
    expected: Option<u64>,
    what: &str,
) -> Result<(), StoreError> {
    match (stored.map(|v| v.version), expected) {
        (None, None) => Ok(()),
        (Some(found), Some(expected)) if found == expected => Ok(()),
        (found, expected) => Err(conflict(format!(
            "{what} is at version {found:?}, expected {expected:?}"
        ))),
    }
}

impl Store for MemoryStore {
    fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        Ok(self.shard(&id).cards.get(&id).map(|slot| Versioned {
            value: slot.card.clone(),
            version: slot.version,
        }))
    }

    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        let id = self.shard(code).codes.get(code).copied();
        match id {
            Some(id) => self.card(id),
            None => Ok(None),
        }
    }

    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let shard = self.shard(&card);
        let Some(slot) = shard.cards.get(&card) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(from_seq.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(slot.ledger.iter().skip(skip).take(limit).cloned().collect())
    }

    fn checkout(&self, id: &Reference) -> Result<Option<Versioned<Checkout>>, StoreError> {
        Ok(self.shard(id).checkouts.get(id).cloned())
    }

    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.shard(key).idempotency.get(key).cloned())
    }

    fn guard(&self, client: &Reference) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
        Ok(self.shard(client).guards.get(client).cloned())
    }

    fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        let mut indices = Vec::new();
        for write in &changes.cards {
            match write {
                CardWrite::Insert { card, code } => {
                    indices.push(shard_of(&card.id()));
                    indices.push(shard_of(code));
                }
                CardWrite::Update { card, .. } => indices.push(shard_of(&card.id())),
            }
        }
        indices.extend(changes.entries.iter().map(|e| shard_of(&e.card())));
        if let Some(w) = &changes.checkout {
            indices.push(shard_of(w.value.id()));
        }
        if let Some(r) = &changes.idempotency {
            indices.push(shard_of(&r.key));
        }
        if let Some(w) = &changes.guard {
            indices.push(shard_of(w.value.client()));
        }
        indices.sort_unstable();
        indices.dedup();
        let mut locked = Locked {
            guards: indices
                .iter()
                .map(|&i| (i, lock(&self.shards[i])))
                .collect(),
        };

        // Validate everything before writing anything.
        let mut next_seq: HashMap<CardId, u64> = HashMap::new();
        for write in &changes.cards {
            match write {
                CardWrite::Insert { card, code } => {
                    if locked
                        .get(shard_of(&card.id()))?
                        .cards
                        .contains_key(&card.id())
                    {
                        return Err(conflict(format!("card {} already exists", card.id())));
                    }
                    if locked.get(shard_of(code))?.codes.contains_key(code) {
                        return Err(StoreError::DuplicateCode(code.masked()));
                    }
                    next_seq.insert(card.id(), 1);
                }
                CardWrite::Update {
                    card,
                    expected_version,
                } => {
                    let shard = locked.get(shard_of(&card.id()))?;
                    let slot = shard
                        .cards
                        .get(&card.id())
                        .ok_or_else(|| conflict(format!("card {} does not exist", card.id())))?;
                    if slot.version != *expected_version {
                        return Err(conflict(format!(
                            "card {} is at version {}, expected {expected_version}",
                            card.id(),
                            slot.version
                        )));
                    }
                    next_seq.insert(card.id(), slot.ledger.len() as u64 + 1);
                }
            }
        }
        for entry in &changes.entries {
            let expected = next_seq.get_mut(&entry.card()).ok_or_else(|| {
                conflict(format!("entry for card {} without its card", entry.card()))
            })?;
            if entry.seq() != *expected {
                return Err(conflict(format!(
                    "entry {} of card {} does not follow entry {}",
                    entry.seq(),
                    entry.card(),
                    *expected - 1
                )));
            }
            *expected += 1;
        }
        if let Some(Write {
            value,
            expected_version,
        }) = &changes.checkout
        {
            let shard = locked.get(shard_of(value.id()))?;
            check_version(
                shard.checkouts.get(value.id()),
                *expected_version,
                "checkout",
            )?;
        }
        if let Some(record) = &changes.idempotency {
            if locked
                .get(shard_of(&record.key))?
                .idempotency
                .contains_key(&record.key)
            {
                return Err(conflict(format!(
                    "idempotency key {} is recorded",
                    record.key
                )));
            }
        }
        if let Some(Write {
            value,
            expected_version,
        }) = &changes.guard
        {
            let shard = locked.get(shard_of(value.client()))?;
            check_version(
                shard.guards.get(value.client()),
                *expected_version,
                "guard window",
            )?;
        }

        // Write.
        for write in changes.cards {
            match write {
                CardWrite::Insert { card, code } => {
                    let id = card.id();
                    locked.get(shard_of(&code))?.codes.insert(code, id);
                    locked.get(shard_of(&id))?.cards.insert(
                        id,
                        CardSlot {
                            card,
                            version: 1,
                            ledger: Vec::new(),
                        },
                    );
                }
                CardWrite::Update { card, .. } => {
                    let id = card.id();
                    if let Some(slot) = locked.get(shard_of(&id))?.cards.get_mut(&id) {
                        slot.card = card;
                        slot.version += 1;
                    }
                }
            }
        }
        for entry in changes.entries {
            let id = entry.card();
            if let Some(slot) = locked.get(shard_of(&id))?.cards.get_mut(&id) {
                slot.ledger.push(entry);
            }
        }
        if let Some(Write {
            value,
            expected_version,
        }) = changes.checkout
        {
            let version = expected_version.map_or(1, |v| v + 1);
            locked
                .get(shard_of(value.id()))?
                .checkouts
                .insert(value.id().clone(), Versioned { value, version });
        }
        if let Some(record) = changes.idempotency {
            locked
                .get(shard_of(&record.key))?
                .idempotency
                .insert(record.key.clone(), record);
        }
        if let Some(Write {
            value,
            expected_version,
        }) = changes.guard
        {
            let version = expected_version.map_or(1, |v| v + 1);
            locked
                .get(shard_of(value.client()))?
                .guards
                .insert(value.client().clone(), Versioned { value, version });
        }
        Ok(())
    }
}
