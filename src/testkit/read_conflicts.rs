//! A store conflict met on a read (a serialisation failure or a deadlock the database aborted
//! the read for, as serializable PostgreSQL does) loses the attempt like a lost commit: the
//! request starts over from its reads, through both drivers, and one that meets a conflict on
//! every attempt ends in [`RedeemError::Contention`] with nothing held; and the simulator keeps
//! its invariants with reads refused so.

use crate::redeem::{CheckoutId, ClientId};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::{CommitFn, CommitHook, block_on};
use crate::card::{CardId, CardSpec, GiftCard, LedgerEntry, LiabilityReport};
use crate::card::{Notification, verify_ledger};
use crate::code::Code;
use crate::money::{Currency, Money};
use crate::redeem::{
    Changes, Checkout, GuardWindow, IdempotencyKey, IdempotencyRecord, Protocol, Record,
    RedeemError, StoreError, Versioned,
};
use crate::store::{AsyncRedeemer, CardQuery, MemoryStore, Page, Redeemer, Store};

/// The reads [`FlakyReads`] can be told to refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Card,
    CardByCode,
    Checkout,
    Idempotency,
    Guard,
    /// Every read of the five above.
    Any,
}

/// A [`MemoryStore`] whose next reads of one kind fail with [`StoreError::Conflict`] on
/// [`Record::Transaction`], as a serializable database refuses them.
#[derive(Debug, Default)]
struct FlakyReads {
    inner: MemoryStore,
    /// The kind of read refused, and how many more are.
    armed: Mutex<Option<(Read, u32)>>,
    /// How many reads were refused.
    refused: Mutex<u32>,
}

impl FlakyReads {
    fn arm(&self, read: Read, times: u32) {
        *self.armed.lock().unwrap() = Some((read, times));
        *self.refused.lock().unwrap() = 0;
    }

    fn disarm(&self) -> u32 {
        *self.armed.lock().unwrap() = None;
        *self.refused.lock().unwrap()
    }

    fn check(&self, read: Read) -> Result<(), StoreError> {
        let mut armed = self.armed.lock().unwrap();
        match armed.as_mut() {
            Some((kind, left)) if *left > 0 && (*kind == read || *kind == Read::Any) => {
                *left -= 1;
                *self.refused.lock().unwrap() += 1;
                Err(StoreError::conflict(
                    Record::Transaction,
                    "could not serialize access due to read/write dependencies (SQLSTATE 40001)",
                ))
            }
            _ => Ok(()),
        }
    }
}

impl Store for FlakyReads {
    fn card(&self, id: CardId) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.check(Read::Card)?;
        self.inner.card(id)
    }

    fn card_by_code(&self, code: &Code) -> Result<Option<Versioned<GiftCard>>, StoreError> {
        self.check(Read::CardByCode)?;
        self.inner.card_by_code(code)
    }

    fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.inner.ledger(card, from_seq, limit)
    }

    fn checkout(&self, id: &CheckoutId) -> Result<Option<Versioned<Checkout>>, StoreError> {
        self.check(Read::Checkout)?;
        self.inner.checkout(id)
    }

    fn idempotency(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.check(Read::Idempotency)?;
        self.inner.idempotency(key)
    }

    fn guard(&self, client: &ClientId) -> Result<Option<Versioned<GuardWindow>>, StoreError> {
        self.check(Read::Guard)?;
        self.inner.guard(client)
    }

    fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        self.inner.commit(changes)
    }

    fn search(&self, query: &CardQuery) -> Result<Page<Versioned<GiftCard>>, StoreError> {
        self.inner.search(query)
    }

    fn liability(&self, at: DateTime<Utc>) -> Result<LiabilityReport, StoreError> {
        self.inner.liability(at)
    }

    fn due_cards(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<CardId>, StoreError> {
        self.inner.due_cards(now, limit)
    }

    fn prune_idempotency(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.inner.prune_idempotency(before, limit)
    }

    fn prune_guards(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.inner.prune_guards(before, limit)
    }
}

const ATTEMPTS: u32 = 6;

fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::EUR).unwrap()
}

fn key(name: &str) -> IdempotencyKey {
    IdempotencyKey::new(name).unwrap()
}

fn reference<T: std::str::FromStr<Err = crate::card::ReferenceError>>(name: &str) -> T {
    name.parse().unwrap()
}

/// The requests one order makes, run by either driver.
trait Orders {
    fn store(&self) -> &FlakyReads;
    fn issue(&self, amount: Money) -> Result<(CardId, String), RedeemError>;
    fn apply(&self, checkout: &CheckoutId, code: &str) -> Result<(), RedeemError>;
    fn authorise(&self, checkout: &CheckoutId, payable: Money) -> Result<Money, RedeemError>;
    fn capture(&self, checkout: &CheckoutId) -> Result<(), RedeemError>;
}

fn first_code(notifications: &[Notification]) -> String {
    match notifications.first() {
        Some(Notification::CardIssued { code, .. }) => code.expose_secret().to_owned(),
        other => panic!("an issue notifies its code, not {other:?}"),
    }
}

impl Orders for Redeemer<FlakyReads> {
    fn store(&self) -> &FlakyReads {
        Redeemer::store(self)
    }

    fn issue(&self, amount: Money) -> Result<(CardId, String), RedeemError> {
        let issued = Redeemer::issue(self, &key("issue"), vec![CardSpec::new(amount)])?;
        Ok((
            issued.outcome.cards[0].card,
            first_code(&issued.notifications),
        ))
    }

    fn apply(&self, checkout: &CheckoutId, code: &str) -> Result<(), RedeemError> {
        self.apply_code(&reference("client"), checkout, Currency::EUR, code)
            .map(drop)
    }

    fn authorise(&self, checkout: &CheckoutId, payable: Money) -> Result<Money, RedeemError> {
        let auth = Redeemer::authorise(self, &key(&format!("auth-{checkout}")), checkout, payable)?;
        Ok(auth.outcome.credit)
    }

    fn capture(&self, checkout: &CheckoutId) -> Result<(), RedeemError> {
        Redeemer::capture(self, &key(&format!("capture-{checkout}")), checkout).map(drop)
    }
}

impl Orders for AsyncRedeemer<CommitHook<FlakyReads, CommitFn<FlakyReads>>> {
    fn store(&self) -> &FlakyReads {
        AsyncRedeemer::store(self).inner()
    }

    fn issue(&self, amount: Money) -> Result<(CardId, String), RedeemError> {
        let issued = block_on(AsyncRedeemer::issue(
            self,
            &key("issue"),
            vec![CardSpec::new(amount)],
        ))?;
        Ok((
            issued.outcome.cards[0].card,
            first_code(&issued.notifications),
        ))
    }

    fn apply(&self, checkout: &CheckoutId, code: &str) -> Result<(), RedeemError> {
        block_on(self.apply_code(&reference("client"), checkout, Currency::EUR, code)).map(drop)
    }

    fn authorise(&self, checkout: &CheckoutId, payable: Money) -> Result<Money, RedeemError> {
        let auth = block_on(AsyncRedeemer::authorise(
            self,
            &key(&format!("auth-{checkout}")),
            checkout,
            payable,
        ))?;
        Ok(auth.outcome.credit)
    }

    fn capture(&self, checkout: &CheckoutId) -> Result<(), RedeemError> {
        block_on(AsyncRedeemer::capture(
            self,
            &key(&format!("capture-{checkout}")),
            checkout,
        ))
        .map(drop)
    }
}

fn sync_driver() -> Redeemer<FlakyReads> {
    Redeemer::new(FlakyReads::default()).with_attempts(ATTEMPTS)
}

fn async_driver() -> AsyncRedeemer<CommitHook<FlakyReads, CommitFn<FlakyReads>>> {
    AsyncRedeemer::new(CommitHook::forward(FlakyReads::default()))
        .with_protocol(Protocol::default().with_attempts(ATTEMPTS))
}

/// The card as stored, its ledger checked against its balance.
fn stored(orders: &impl Orders, card: CardId) -> GiftCard {
    let store = &orders.store().inner;
    let card = store.card(card).unwrap().expect("the card").value;
    let ledger = store.ledger(card.id(), 1, 1_000).unwrap();
    verify_ledger(card.id(), card.balance(), &ledger).expect("the ledger sums to the balance");
    card
}

/// Each request of an order meets `times` conflicts on `read` and still goes through.
fn orders_go_through_read_conflicts(orders: &impl Orders) {
    let (card, code) = orders.issue(eur("100")).unwrap();
    let cases = [
        (Read::CardByCode, 1),
        (Read::CardByCode, 3),
        (Read::Card, 1),
        (Read::Card, 4),
        (Read::Checkout, 2),
        (Read::Idempotency, 2),
        (Read::Guard, 2),
        (Read::Any, 1),
        (Read::Any, 5),
    ];
    let mut spent = Money::zero(Currency::EUR);
    for (n, (read, times)) in cases.into_iter().enumerate() {
        let checkout = reference(&format!("order-{n}"));
        let store = orders.store();
        store.arm(read, times);
        orders.apply(&checkout, &code).unwrap();
        let in_apply = store.disarm();
        store.arm(read, times);
        let credit = orders.authorise(&checkout, eur("1")).unwrap();
        let in_authorise = store.disarm();
        assert_eq!(credit, eur("1"), "{read:?} x{times}");
        store.arm(read, times);
        orders.capture(&checkout).unwrap();
        let in_capture = store.disarm();
        spent = spent.checked_add(eur("1")).unwrap();
        // Each request reads a card and its checkout; only apply reads the code and the guard,
        // and authorise and capture the key.
        let expected = |reads: bool| if reads { times } else { 0 };
        assert_eq!(
            in_apply,
            expected(matches!(
                read,
                Read::CardByCode | Read::Guard | Read::Checkout | Read::Any
            )),
            "apply, {read:?} x{times}"
        );
        for (request, refused) in [("authorise", in_authorise), ("capture", in_capture)] {
            assert_eq!(
                refused,
                expected(matches!(
                    read,
                    Read::Card | Read::Checkout | Read::Idempotency | Read::Any
                )),
                "{request}, {read:?} x{times}"
            );
        }
        let now = stored(orders, card);
        assert_eq!(now.balance(), eur("100").checked_sub(spent).unwrap());
        assert!(
            now.holds().is_empty(),
            "{read:?} x{times}: {:?}",
            now.holds()
        );
    }
}

/// A conflict on every attempt's card read ends in contention after the attempt budget, each
/// attempt counted, and leaves nothing held; once the reads succeed the same order goes
/// through.
fn a_read_conflict_on_every_attempt_ends_in_contention(orders: &impl Orders) {
    let (card, code) = orders.issue(eur("10")).unwrap();
    let checkout = reference("order-contended");
    let store = orders.store();

    store.arm(Read::CardByCode, u32::MAX);
    let applied = orders.apply(&checkout, &code);
    assert_eq!(applied, Err(RedeemError::Contention { attempts: ATTEMPTS }));
    assert_eq!(store.disarm(), ATTEMPTS, "one refused lookup per attempt");
    assert!(store.inner.checkout(&checkout).unwrap().is_none());

    orders.apply(&checkout, &code).unwrap();
    store.arm(Read::Card, u32::MAX);
    let authorised = orders.authorise(&checkout, eur("4"));
    assert_eq!(
        authorised,
        Err(RedeemError::Contention { attempts: ATTEMPTS })
    );
    assert_eq!(
        store.disarm(),
        ATTEMPTS,
        "one refused card read per attempt"
    );
    let after = stored(orders, card);
    assert!(
        after.holds().is_empty(),
        "nothing held: {:?}",
        after.holds()
    );
    assert_eq!(after.balance(), eur("10"));
    assert_eq!(after.available(), eur("10"));
    assert!(
        store
            .inner
            .idempotency(&key("auth-order-contended"))
            .unwrap()
            .is_none()
    );

    assert_eq!(orders.authorise(&checkout, eur("4")), Ok(eur("4")));
    orders.capture(&checkout).unwrap();
    let after = stored(orders, card);
    assert_eq!(after.balance(), eur("6"));
    assert!(after.holds().is_empty());
}

#[test]
fn the_sync_driver_retries_an_attempt_whose_read_conflicted() {
    orders_go_through_read_conflicts(&sync_driver());
}

#[test]
fn the_async_driver_retries_an_attempt_whose_read_conflicted() {
    orders_go_through_read_conflicts(&async_driver());
}

#[test]
fn the_sync_driver_ends_read_conflicts_on_every_attempt_in_contention() {
    a_read_conflict_on_every_attempt_ends_in_contention(&sync_driver());
}

#[test]
fn the_async_driver_ends_read_conflicts_on_every_attempt_in_contention() {
    a_read_conflict_on_every_attempt_ends_in_contention(&async_driver());
}

/// The simulator with a tenth of the reads refused as conflicts: every answer still matches
/// the model and every invariant holds, seed by seed.
#[test]
fn the_simulator_keeps_every_invariant_with_reads_refused_as_conflicts() {
    use super::sim::{SimConfig, Simulator};

    let config = SimConfig {
        read_conflict: 100,
        ..SimConfig::default()
    };
    let simulator = Simulator::new(config, MemoryStore::new);
    for seed in 0..300 {
        if let Err(failure) = simulator.run(seed) {
            panic!("{}", simulator.shrink(seed).unwrap_or(failure));
        }
    }
}
