//! [`MemoryStore`]: the embedded, thread-safe in-memory store.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
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
// Shards are chosen by the top four bits of a hash, and a commit's shards fit a `u32` mask.
const _: () = assert!(SHARDS == 16);

/// FxHash (rustc's hasher): a few instructions per word, fixed across runs, and no defence
/// against chosen collisions.
///
/// It is used only where nobody outside the process can choose the keys to collide on purpose:
/// to pick one of 16 shards (a host that sends colliding keys can only make its own requests
/// share a lock, which changes nothing but their speed), and for maps keyed by [`CardId`]s,
/// which the store never takes from a client (they are 128 random bits from
/// [`CardId::random`], or ids the host's own database gave). Maps keyed by what a client
/// chooses (codes it types, checkout references, idempotency keys, client addresses) keep
/// std's `RandomState`, whose per-process secret keys make collisions impossible to plan.
#[derive(Debug, Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_u128(&mut self, n: u128) {
        // Truncation intended: the two halves are added one after the other.
        self.add(n as u64);
        self.add((n >> 64) as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the best-mixed bits at the top; hashbrown indexes buckets by the
        // low bits, so bring the top ones down (as rustc-hash 2 does).
        self.0.rotate_left(26)
    }
}

/// Maps keyed by card ids (see [`FxHasher`] for why that is safe).
type ById<V> = HashMap<CardId, V, BuildHasherDefault<FxHasher>>;

#[derive(Debug)]
struct CardSlot {
    card: GiftCard,
    version: u64,
    ledger: Vec<LedgerEntry>,
}

#[derive(Debug, Default)]
struct Shard {
    cards: ById<CardSlot>,
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
    shards: [Mutex<Shard>; SHARDS],
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

/// The shard a key lives in: the same key always lands in the same shard.
fn shard_of<K: Hash + ?Sized>(key: &K) -> usize {
    let mut hasher = FxHasher::default();
    key.hash(&mut hasher);
    // Mixed once more, so that the cards of one shard do not share any bits of the hash their
    // shard's map indexes them by; the top four bits of a product are the best mixed.
    let hash = hasher.0 ^ (hasher.0 >> 32);
    (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60) as usize
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
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
        }
    }

    fn shard<K: Hash + ?Sized>(&self, key: &K) -> MutexGuard<'_, Shard> {
        lock(&self.shards[shard_of(key)])
    }

    /// Locks the shards in `mask` (bit `i` for shard `i`), in index order so that two commits
    /// never wait for each other in a cycle.
    fn lock_all(&self, mask: u32) -> Locked<'_> {
        Locked {
            guards: std::array::from_fn(|i| (mask & (1 << i) != 0).then(|| lock(&self.shards[i]))),
        }
    }

    /// How many cards it holds.
    #[must_use]
    pub fn card_count(&self) -> usize {
        self.shards.iter().map(|s| lock(s).cards.len()).sum()
    }
}

/// The shards a commit touches, locked in index order.
struct Locked<'a> {
    guards: [Option<MutexGuard<'a, Shard>>; SHARDS],
}

impl Locked<'_> {
    fn get(&mut self, index: usize) -> Result<&mut Shard, StoreError> {
        self.guards
            .get_mut(index)
            .and_then(Option::as_deref_mut)
            .ok_or_else(|| StoreError::Corrupt("shard not locked".to_owned()))
    }
}

/// The sequence number each card written in a commit expects next.
///
/// A commit writes a handful of cards, so a list searched from the front beats a map; a bulk
/// issue of thousands is sorted once and searched by halves.
struct NextSeq {
    slots: Vec<(CardId, u64)>,
    sorted: bool,
}

impl NextSeq {
    /// Above this many cards the list is sorted.
    const LINEAR: usize = 16;

    fn with_capacity(n: usize) -> NextSeq {
        NextSeq {
            slots: Vec::with_capacity(n),
            sorted: false,
        }
    }

    fn push(&mut self, card: CardId, next: u64) {
        self.slots.push((card, next));
    }

    /// Call once every card is pushed.
    fn seal(&mut self) {
        if self.slots.len() > Self::LINEAR {
            // A card written twice in one commit expects the same number both times (or the
            // commit already failed), so which duplicate survives does not matter.
            self.slots.sort_unstable_by_key(|(id, _)| *id);
            self.sorted = true;
        }
    }

    fn get_mut(&mut self, card: CardId) -> Option<&mut u64> {
        let index = if self.sorted {
            self.slots.binary_search_by_key(&card, |(id, _)| *id).ok()
        } else {
            self.slots.iter().position(|(id, _)| *id == card)
        };
        index
            .and_then(|i| self.slots.get_mut(i))
            .map(|(_, next)| next)
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
        let mut mask = 0u32;
        let mut touch = |shard: usize| mask |= 1 << shard;
        for write in &changes.cards {
            match write {
                CardWrite::Insert { card, code } => {
                    touch(shard_of(&card.id()));
                    touch(shard_of(code));
                }
                CardWrite::Update { card, .. } => touch(shard_of(&card.id())),
            }
        }
        for entry in &changes.entries {
            touch(shard_of(&entry.card()));
        }
        if let Some(w) = &changes.checkout {
            touch(shard_of(w.value.id()));
        }
        if let Some(r) = &changes.idempotency {
            touch(shard_of(&r.key));
        }
        if let Some(w) = &changes.guard {
            touch(shard_of(w.value.client()));
        }
        let mut locked = self.lock_all(mask);

        // Validate everything before writing anything.
        let mut next_seq = NextSeq::with_capacity(changes.cards.len());
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
                    next_seq.push(card.id(), 1);
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
                    next_seq.push(card.id(), slot.ledger.len() as u64 + 1);
                }
            }
        }
        next_seq.seal();
        for entry in &changes.entries {
            let expected = next_seq.get_mut(entry.card()).ok_or_else(|| {
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

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::card::CardSpec;
    use crate::currency::Currency;
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
