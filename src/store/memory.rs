//! [`MemoryStore`]: the embedded, thread-safe in-memory store.

use crate::redeem::{CheckoutId, ClientId};
use std::collections::hash_map::{Entry, RandomState};
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::card::{CardId, GiftCard};
use crate::card::{LedgerEntry, LiabilityReport, LiabilityTally};
use crate::code::Code;
use crate::redeem::Checkout;
use crate::redeem::GuardWindow;
use crate::redeem::{CardWrite, Changes, Record, StoreError, Versioned};
use crate::redeem::{IdempotencyKey, IdempotencyRecord};
use crate::store::{CardQuery, Page, Store};

/// How many independently locked parts the store has: requests on different cards rarely
/// wait for each other.
const SHARDS: usize = 16;
// A commit's shards fit a `u32` mask, and a shard is four bits of a hash.
const _: () = assert!(SHARDS == 16);

/// Maps keyed by card ids, hashed with std's randomly keyed SipHash.
type ById<V> = HashMap<CardId, V>;

/// The shard of a card: the top bits of its id's hash under the store's secret keys, so that
/// hosts' sequential ids spread as evenly as random ones.
fn card_shard(secret: &RandomState, id: CardId) -> usize {
    (secret.hash_one(id.as_u128()) >> 60) as usize
}

/// The shard of a key a client chose, from its secret hash: bits the maps inside a shard
/// index nothing by (hashbrown uses the lowest and the highest bits).
const fn hashed_shard(hash: u64) -> usize {
    ((hash >> 32) & 0xf) as usize
}

/// A hasher that hands back the `u64` it is given: the keys of a [`ClientMap`] are already
/// hashes. Anything else is folded in with std's hasher, so it never panics.
#[derive(Debug, Default, Clone, Copy)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        let mut hasher = std::hash::DefaultHasher::new();
        hasher.write_u64(self.0);
        hasher.write(bytes);
        self.0 = hasher.finish();
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Records under keys a client chooses (codes it types, checkout references, idempotency
/// keys, client addresses), by their hash under the store's secret SipHash keys.
///
/// The hash is computed once per call and picks both the shard and the bucket, where a std
/// `HashMap` would hash the key again for each lookup, insert and rehash. The secret keys keep
/// collisions impossible to plan, as `RandomState` does; the rare honest collision shares a
/// slot.
#[derive(Debug)]
struct ClientMap<K, V> {
    slots: HashMap<u64, Slot<K, V>, BuildHasherDefault<Prehashed>>,
}

#[derive(Debug)]
enum Slot<K, V> {
    One(K, V),
    Shared(Vec<(K, V)>),
}

impl<K, V> Default for ClientMap<K, V> {
    fn default() -> Self {
        ClientMap {
            slots: HashMap::default(),
        }
    }
}

impl<K: Eq, V> ClientMap<K, V> {
    fn get(&self, hash: u64, key: &K) -> Option<&V> {
        match self.slots.get(&hash)? {
            Slot::One(k, v) => (k == key).then_some(v),
            Slot::Shared(all) => all.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        }
    }

    fn get_mut(&mut self, hash: u64, key: &K) -> Option<&mut V> {
        match self.slots.get_mut(&hash)? {
            Slot::One(k, v) => (k == key).then_some(v),
            Slot::Shared(all) => all.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
        }
    }

    fn contains(&self, hash: u64, key: &K) -> bool {
        self.get(hash, key).is_some()
    }

    /// Removes the entries under `hash` whose value `matches` (a card's old code, found by
    /// the card it points at).
    fn remove_where(&mut self, hash: u64, matches: impl Fn(&V) -> bool) {
        let Entry::Occupied(mut occupied) = self.slots.entry(hash) else {
            return;
        };
        let empty = match occupied.get_mut() {
            Slot::One(_, v) => matches(v),
            Slot::Shared(all) => {
                all.retain(|(_, v)| !matches(v));
                all.is_empty()
            }
        };
        if empty {
            occupied.remove();
        }
    }

    /// Removes up to `limit` entries whose value is `stale`; returns how many.
    fn prune(&mut self, limit: usize, stale: impl Fn(&V) -> bool) -> usize {
        let mut removed = 0;
        self.slots.retain(|_, slot| {
            if removed >= limit {
                return true;
            }
            match slot {
                Slot::One(_, v) => {
                    let gone = stale(v);
                    removed += usize::from(gone);
                    !gone
                }
                Slot::Shared(all) => {
                    all.retain(|(_, v)| {
                        let gone = removed < limit && stale(v);
                        removed += usize::from(gone);
                        !gone
                    });
                    !all.is_empty()
                }
            }
        });
        removed
    }

    /// How many entries it holds.
    fn len(&self) -> usize {
        self.slots
            .values()
            .map(|slot| match slot {
                Slot::One(..) => 1,
                Slot::Shared(all) => all.len(),
            })
            .sum()
    }

    fn insert(&mut self, hash: u64, key: K, value: V) {
        let slot = match self.slots.entry(hash) {
            Entry::Vacant(vacant) => {
                vacant.insert(Slot::One(key, value));
                return;
            }
            Entry::Occupied(occupied) => occupied.into_mut(),
        };
        match slot {
            Slot::One(k, v) if *k == key => *v = value,
            Slot::One(..) => {
                let Slot::One(first_key, first) = std::mem::replace(slot, Slot::Shared(Vec::new()))
                else {
                    return;
                };
                *slot = Slot::Shared(vec![(first_key, first), (key, value)]);
            }
            Slot::Shared(all) => match all.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => *v = value,
                None => all.push((key, value)),
            },
        }
    }
}

#[derive(Debug)]
struct CardSlot {
    card: GiftCard,
    version: u64,
    ledger: Vec<LedgerEntry>,
    /// The secret hash of its code, which finds its entry in the code index (the store keeps
    /// no second copy of the code).
    code_hash: u64,
    /// When a sweep next has work on it ([`GiftCard::sweep_at`]), as its shard's `due` has it.
    due: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct Shard {
    cards: ById<CardSlot>,
    codes: ClientMap<Code, CardId>,
    // Boxed: the tables then hold a pointer per record, so the slack a hash table keeps (up to
    // half of it, and all of it again while it grows) costs 8 bytes a record, not 150 to 180.
    checkouts: ClientMap<CheckoutId, Box<Versioned<Checkout>>>,
    idempotency: ClientMap<IdempotencyKey, Box<IdempotencyRecord>>,
    guards: ClientMap<ClientId, Versioned<GuardWindow>>,
    /// The shard's cards by when a sweep next has work on them.
    due: BTreeSet<(DateTime<Utc>, CardId)>,
}

impl Shard {
    /// Files the card in `slot` under its new sweep time.
    fn refile(due: &mut BTreeSet<(DateTime<Utc>, CardId)>, slot: &mut CardSlot) {
        let id = slot.card.id();
        let next = slot.card.sweep_at();
        if next == slot.due {
            return;
        }
        if let Some(at) = slot.due {
            due.remove(&(at, id));
        }
        if let Some(at) = next {
            due.insert((at, id));
        }
        slot.due = next;
    }
}

/// How many records a [`MemoryStore`] holds, table by table ([`MemoryStore::sizes`]): what
/// pruning keeps bounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreSizes {
    /// Cards.
    pub cards: usize,
    /// Checkouts.
    pub checkouts: usize,
    /// Idempotency records.
    pub idempotency_records: usize,
    /// Guard windows.
    pub guard_windows: usize,
    /// Cards filed as due for a sweep at some time.
    pub due_cards: usize,
}

/// A thread-safe [`Store`] in memory, the default in every example.
///
/// Records are spread over 16 shards, each behind its own lock; a commit locks only the
/// shards it touches, in a fixed order, so it is atomic without a global lock.
#[derive(Debug)]
pub struct MemoryStore {
    shards: [Mutex<Shard>; SHARDS],
    /// The secret keys that hash what clients choose.
    secret: RandomState,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic elsewhere cannot leave a shard half-written: commits validate before they write.
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> MemoryStore {
        MemoryStore {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            secret: RandomState::new(),
        }
    }

    /// How many cards it holds.
    #[must_use]
    pub fn card_count(&self) -> usize {
        self.shards.iter().map(|s| lock(s).cards.len()).sum()
    }

    /// How many records each table holds: what [`Redeemer::prune`](crate::store::Redeemer::prune)
    /// keeps bounded (idempotency records and guard windows) beside what stays (cards,
    /// checkouts).
    #[must_use]
    pub fn sizes(&self) -> StoreSizes {
        self.shards
            .iter()
            .fold(StoreSizes::default(), |sizes, shard| {
                let shard = lock(shard);
                StoreSizes {
                    cards: sizes.cards + shard.cards.len(),
                    checkouts: sizes.checkouts + shard.checkouts.len(),
                    idempotency_records: sizes.idempotency_records + shard.idempotency.len(),
                    guard_windows: sizes.guard_windows + shard.guards.len(),
                    due_cards: sizes.due_cards + shard.due.len(),
                }
            })
    }

    /// A client-chosen key's hash under the store's secret keys. Each map holds one kind of
    /// key, so the text alone is hashed (no length or terminator to tell fields apart).
    fn hash(&self, key: &str) -> u64 {
        let mut hasher = self.secret.build_hasher();
        hasher.write(key.as_bytes());
        hasher.finish()
    }

    fn shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        // Both shard functions return four bits, so this never falls back.
        lock(self.shards.get(index).unwrap_or(&self.shards[0]))
    }

    /// Locks the shards in `mask` (bit `i` for shard `i`), in index order so that two commits
    /// never wait for each other in a cycle.
    fn lock_all(&self, mask: u32) -> Locked<'_> {
        let mut locked = Locked {
            guards: Vec::new(),
            few: [None, None, None],
        };
        let mut rest = mask;
        while rest != 0 {
            let index = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let guard = (index, self.shard(index));
            match locked.few.iter_mut().find(|slot| slot.is_none()) {
                Some(slot) => *slot = Some(guard),
                None => locked.guards.push(guard),
            }
        }
        locked
    }
}

/// The shards a commit touches, locked in index order: most commits touch one to three, kept
/// without allocating.
struct Locked<'a> {
    few: [Option<(usize, MutexGuard<'a, Shard>)>; 3],
    guards: Vec<(usize, MutexGuard<'a, Shard>)>,
}

impl Locked<'_> {
    fn get(&mut self, index: usize) -> Result<&mut Shard, StoreError> {
        self.few
            .iter_mut()
            .flatten()
            .chain(self.guards.iter_mut())
            .find(|(i, _)| *i == index)
            .map(|(_, guard)| &mut **guard)
            .ok_or_else(|| StoreError::corrupt("shard not locked"))
    }
}

fn check_version<T>(
    stored: Option<&Versioned<T>>,
    expected: Option<u64>,
    record: impl FnOnce() -> Record,
) -> Result<(), StoreError> {
    match (stored.map(|v| v.version), expected) {
        (None, None) => Ok(()),
        (Some(found), Some(expected)) if found == expected => Ok(()),
        (found, expected) => Err(StoreError::conflict(
            record(),
            format!("it is at version {found:?}, expected {expected:?}"),
        )),
    }
}

impl Store for MemoryStore {
    fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        Ok(self
            .shard(card_shard(&self.secret, id))
            .cards
            .get(&id)
            .map(|slot| Versioned {
                value: slot.card.clone(),
                version: slot.version,
            }))
    }

    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        let hash = self.hash(code.expose_secret());
        let id = self
            .shard(hashed_shard(hash))
            .codes
            .get(hash, code)
            .copied();
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
        let shard = self.shard(card_shard(&self.secret, card));
        let Some(slot) = shard.cards.get(&card) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(from_seq.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(slot.ledger.iter().skip(skip).take(limit).cloned().collect())
    }

    fn checkout(&self, id: &CheckoutId) -> Result<Option<Versioned<Checkout>>, StoreError> {
        let hash = self.hash(id.as_str());
        Ok(self
            .shard(hashed_shard(hash))
            .checkouts
            .get(hash, id)
            .map(|stored| Versioned::clone(stored)))
    }

    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        let hash = self.hash(key.as_str());
        Ok(self
            .shard(hashed_shard(hash))
            .idempotency
            .get(hash, key)
            .map(|record| IdempotencyRecord::clone(record)))
    }

    fn guard(&self, client: &ClientId) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
        let hash = self.hash(client.as_str());
        Ok(self
            .shard(hashed_shard(hash))
            .guards
            .get(hash, client)
            .cloned())
    }

    fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        // Each client-chosen key is hashed once; card ids are cheap to place again.
        let code_hashes: Vec<u64> = changes
            .cards
            .iter()
            .filter_map(|write| match write {
                CardWrite::Insert { code, .. } => Some(self.hash(code.expose_secret())),
                CardWrite::Update { .. } => None,
            })
            .collect();
        // A new code's hash, and the hash of the code it replaces as the card's slot had it
        // (checked again under the locks).
        let mut recodes = Vec::with_capacity(changes.codes.len());
        for write in &changes.codes {
            let old = self
                .shard(card_shard(&self.secret, write.card))
                .cards
                .get(&write.card)
                .map(|slot| slot.code_hash)
                .ok_or_else(|| {
                    StoreError::conflict(Record::Card(write.card), "it does not exist")
                })?;
            recodes.push((self.hash(write.code.expose_secret()), old));
        }
        let checkout_hash = changes
            .checkout
            .as_ref()
            .map(|w| self.hash(w.value.id().as_str()));
        let key_hash = changes
            .idempotency
            .as_ref()
            .map(|r| self.hash(r.key.as_str()));
        let guard_hash = changes
            .guard
            .as_ref()
            .map(|w| self.hash(w.value.client().as_str()));

        let mut mask = 0u32;
        let mut touch = |shard: usize| mask |= 1 << shard;
        for write in &changes.cards {
            let (CardWrite::Insert { card, .. } | CardWrite::Update { card, .. }) = write;
            touch(card_shard(&self.secret, card.id()));
        }
        for &hash in &code_hashes {
            touch(hashed_shard(hash));
        }
        for &(new, old) in &recodes {
            touch(hashed_shard(new));
            touch(hashed_shard(old));
        }
        for entry in &changes.entries {
            touch(card_shard(&self.secret, entry.card()));
        }
        for hash in [checkout_hash, key_hash, guard_hash].into_iter().flatten() {
            touch(hashed_shard(hash));
        }
        let mut locked = self.lock_all(mask);
        let missing_hash = || StoreError::corrupt("a key was not hashed");

        // Validate everything before writing anything.
        let mut next_seq = Vec::with_capacity(changes.cards.len());
        let mut codes = code_hashes.iter().copied();
        for write in &changes.cards {
            match write {
                CardWrite::Insert { card, code } => {
                    if locked
                        .get(card_shard(&self.secret, card.id()))?
                        .cards
                        .contains_key(&card.id())
                    {
                        return Err(StoreError::conflict(
                            Record::Card(card.id()),
                            "it already exists",
                        ));
                    }
                    let hash = codes.next().ok_or_else(missing_hash)?;
                    if locked.get(hashed_shard(hash))?.codes.contains(hash, code) {
                        return Err(StoreError::duplicate_code(code));
                    }
                    next_seq.push((card.id(), 1));
                }
                CardWrite::Update {
                    card,
                    expected_version,
                } => {
                    let shard = locked.get(card_shard(&self.secret, card.id()))?;
                    let slot = shard.cards.get(&card.id()).ok_or_else(|| {
                        StoreError::conflict(Record::Card(card.id()), "it does not exist")
                    })?;
                    if slot.version != *expected_version {
                        return Err(StoreError::conflict(
                            Record::Card(card.id()),
                            format!(
                                "it is at version {}, expected {expected_version}",
                                slot.version
                            ),
                        ));
                    }
                    next_seq.push((card.id(), slot.ledger.len() as u64 + 1));
                }
            }
        }
        changes.check_entries(next_seq)?;
        changes.check_codes()?;
        for (write, &(new, old)) in changes.codes.iter().zip(&recodes) {
            let slot = locked
                .get(card_shard(&self.secret, write.card))?
                .cards
                .get(&write.card);
            if slot.map(|s| s.code_hash) != Some(old) {
                return Err(StoreError::conflict(
                    Record::Card(write.card),
                    "its code changed since it was read",
                ));
            }
            let taken = locked
                .get(hashed_shard(new))?
                .codes
                .contains(new, &write.code)
                || changes
                    .cards
                    .iter()
                    .any(|c| matches!(c, CardWrite::Insert { code, .. } if *code == write.code));
            if taken {
                return Err(StoreError::duplicate_code(&write.code));
            }
        }
        if let (Some(write), Some(hash)) = (&changes.checkout, checkout_hash) {
            let stored = locked
                .get(hashed_shard(hash))?
                .checkouts
                .get(hash, write.value.id());
            check_version(stored.map(|b| &**b), write.expected_version, || {
                Record::Checkout(write.value.id().clone())
            })?;
        }
        if let (Some(record), Some(hash)) = (&changes.idempotency, key_hash) {
            if locked
                .get(hashed_shard(hash))?
                .idempotency
                .contains(hash, &record.key)
            {
                return Err(StoreError::conflict(
                    Record::Idempotency(record.key.clone()),
                    "it is recorded",
                ));
            }
        }
        if let (Some(write), Some(hash)) = (&changes.guard, guard_hash) {
            let stored = locked
                .get(hashed_shard(hash))?
                .guards
                .get(hash, write.value.client());
            check_version(stored, write.expected_version, || {
                Record::Guard(write.value.client().clone())
            })?;
        }

        // Write.
        let mut codes = code_hashes.iter().copied();
        for write in changes.cards {
            match write {
                CardWrite::Insert { card, code } => {
                    let id = card.id();
                    let hash = codes.next().ok_or_else(missing_hash)?;
                    locked.get(hashed_shard(hash))?.codes.insert(hash, code, id);
                    let shard = locked.get(card_shard(&self.secret, id))?;
                    let mut slot = CardSlot {
                        card,
                        version: 1,
                        ledger: Vec::new(),
                        code_hash: hash,
                        due: None,
                    };
                    Shard::refile(&mut shard.due, &mut slot);
                    shard.cards.insert(id, slot);
                }
                CardWrite::Update { card, .. } => {
                    let id = card.id();
                    let shard = locked.get(card_shard(&self.secret, id))?;
                    if let Some(slot) = shard.cards.get_mut(&id) {
                        slot.card = card;
                        slot.version += 1;
                        Shard::refile(&mut shard.due, slot);
                    }
                }
            }
        }
        for (write, (new, old)) in changes.codes.into_iter().zip(recodes) {
            let id = write.card;
            locked
                .get(hashed_shard(old))?
                .codes
                .remove_where(old, |card| *card == id);
            locked
                .get(hashed_shard(new))?
                .codes
                .insert(new, write.code, id);
            if let Some(slot) = locked.get(card_shard(&self.secret, id))?.cards.get_mut(&id) {
                slot.code_hash = new;
            }
        }
        for entry in changes.entries {
            let id = entry.card();
            if let Some(slot) = locked.get(card_shard(&self.secret, id))?.cards.get_mut(&id) {
                slot.ledger.push(entry);
            }
        }
        // Records that exist are overwritten where they lie; only new ones are inserted.
        if let Some(write) = changes.checkout {
            let hash = checkout_hash.ok_or_else(missing_hash)?;
            let version = write.expected_version.map_or(1, |v| v + 1);
            let checkouts = &mut locked.get(hashed_shard(hash))?.checkouts;
            match checkouts.get_mut(hash, write.value.id()) {
                Some(stored) => {
                    stored.value = write.value;
                    stored.version = version;
                }
                None => {
                    let key = write.value.id().clone();
                    let value = Box::new(Versioned {
                        value: write.value,
                        version,
                    });
                    checkouts.insert(hash, key, value);
                }
            }
        }
        if let Some(record) = changes.idempotency {
            let hash = key_hash.ok_or_else(missing_hash)?;
            let key = record.key.clone();
            locked
                .get(hashed_shard(hash))?
                .idempotency
                .insert(hash, key, Box::new(record));
        }
        if let Some(write) = changes.guard {
            let hash = guard_hash.ok_or_else(missing_hash)?;
            let version = write.expected_version.map_or(1, |v| v + 1);
            let guards = &mut locked.get(hashed_shard(hash))?.guards;
            match guards.get_mut(hash, write.value.client()) {
                Some(stored) => {
                    stored.value = write.value;
                    stored.version = version;
                }
                None => {
                    let key = write.value.client().clone();
                    let value = Versioned {
                        value: write.value,
                        version,
                    };
                    guards.insert(hash, key, value);
                }
            }
        }
        Ok(())
    }

    fn due_cards(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<CardId>, StoreError> {
        let mut due: Vec<(DateTime<Utc>, CardId)> = Vec::new();
        for shard in &self.shards {
            let shard = lock(shard);
            due.extend(
                shard
                    .due
                    .iter()
                    .take_while(|(at, _)| *at <= now)
                    .take(limit)
                    .copied(),
            );
        }
        due.sort_unstable();
        Ok(due.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    /// Scans the shards' records (a memory store has no index by time; a scan of a few
    /// million records is milliseconds) and deletes the old ones.
    fn prune_idempotency(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let mut removed = 0;
        for shard in &self.shards {
            if removed >= limit {
                break;
            }
            removed += lock(shard)
                .idempotency
                .prune(limit - removed, |record| record.recorded_at < before);
        }
        Ok(removed)
    }

    fn prune_guards(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let mut removed = 0;
        for shard in &self.shards {
            if removed >= limit {
                break;
            }
            removed += lock(shard)
                .guards
                .prune(limit - removed, |window| window.value.started_at() < before);
        }
        Ok(removed)
    }

    /// Scans every card (the shards locked together, as one commit locks them, so a page is
    /// consistent), keeps those the query selects, sorts them by issue time and id, and returns
    /// the first page: O(n log n) for n cards, about a millisecond per 10,000. A database store
    /// reads a page from an index instead.
    fn search(&self, query: &CardQuery) -> Result<Page<Versioned<GiftCard>>, StoreError> {
        let mut locked = self.lock_all(u32::MAX >> (32 - SHARDS));
        let mut found = Vec::new();
        for index in 0..SHARDS {
            let shard = locked.get(index)?;
            found.extend(
                shard
                    .cards
                    .values()
                    .filter(|slot| query.selects(&slot.card))
                    .map(|slot| Versioned {
                        value: slot.card.clone(),
                        version: slot.version,
                    }),
            );
        }
        drop(locked);
        found.sort_unstable_by_key(|c| (c.value.issued_at(), c.value.id()));
        found.truncate(query.limit().saturating_add(1));
        Ok(Page::from_overfetch(found, query.limit()))
    }

    /// Sums every card's ledger with the shards locked together (one consistent instant of the
    /// store): O(entries).
    fn liability(&self, at: DateTime<Utc>) -> Result<LiabilityReport, StoreError> {
        let mut locked = self.lock_all(u32::MAX >> (32 - SHARDS));
        let mut tally = LiabilityTally::new(at);
        for index in 0..SHARDS {
            for slot in locked.get(index)?.cards.values() {
                tally.add_history(&slot.ledger).map_err(|e| {
                    StoreError::corrupt(format!("the liability report cannot sum: {e}"))
                })?;
            }
        }
        Ok(tally.finish())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::card::CardSpec;
    use crate::money::Currency;
    use crate::money::Money;

    /// `count` new cards with their `Issued` entries, entries in reverse order of the cards.
    fn bulk_insert(count: u128) -> Changes {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let mut changes = Changes::default();
        for i in 0..count {
            let code = Code::parse(&format!("BULK{i:08}")).unwrap();
            let value = Money::parse("10", Currency::USD).unwrap();
            let (card, entry) =
                GiftCard::issue(CardId::from_u128(i + 1), &code, CardSpec::new(value), now)
                    .unwrap();
            changes.cards.push(CardWrite::Insert { card, code });
            changes.entries.insert(0, entry);
        }
        changes
    }

    #[test]
    fn a_bulk_commit_finds_each_cards_sequence_in_any_order() {
        for count in [3, 40] {
            let store = MemoryStore::new();
            store.commit(bulk_insert(count)).unwrap();
            assert_eq!(store.card_count(), count as usize);
        }
    }

    #[test]
    fn a_bulk_commit_refuses_an_entry_out_of_sequence_or_without_its_card() {
        for count in [3, 40] {
            let mut changes = bulk_insert(count);
            let repeated = changes.entries[1].clone();
            changes.entries.push(repeated);
            let store = MemoryStore::new();
            let err = store.commit(changes).unwrap_err();
            assert!(err.to_string().contains("does not follow entry 1"), "{err}");
            assert_eq!(store.card_count(), 0, "nothing is written");

            let mut changes = bulk_insert(count);
            changes.entries[0].card = CardId::from_u128(999);
            let err = MemoryStore::new().commit(changes).unwrap_err();
            assert!(err.to_string().contains("without its card"), "{err}");
        }
    }
}
