//! The coroutine plumbing: an [`Operation`] is a flow (an async block that never touches
//! I/O) polled with a no-op waker; each [`Need`] it posts through its [`Port`] suspends it
//! until the driver's [`Reply`].

use crate::redeem::{CheckoutId, ClientId};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, Utc};

use super::turn::{Jitter, PESSIMISTIC_AFTER, Turn, TurnHeld, backoff};
use super::{Need, Reply, Step};
use crate::card::{CardId, GiftCard, LedgerEntry, Notification, Reference};
use crate::code::Code;
use crate::redeem::{
    Changes, Checkout, Decision, GuardWindow, IdempotencyKey, IdempotencyRecord, RedeemError,
    StoreError, Versioned,
};

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What passes between an operation and its driver: the need it posted, the reply it got.
#[derive(Debug, Default)]
struct Exchange {
    need: Option<Need>,
    reply: Option<Result<Reply, StoreError>>,
}

/// The operation's side of the exchange, with the versions its reads saw, the fresh codes it
/// drew, and where it stands on the pessimistic path.
#[derive(Debug)]
pub(super) struct Port {
    exchange: Mutex<Exchange>,
    pub(super) versions: Mutex<Versions>,
    pub(super) pool: Pool,
    /// The turn shared by the operations of one [`Protocol`](super::Protocol).
    turn: Arc<Turn>,
    /// The turn, once this operation has taken it: held to its end.
    held: Mutex<Option<TurnHeld>>,
    /// The pauses' random numbers, seeded at the first lost commit.
    jitter: Mutex<Option<Jitter>>,
}

/// The versions a decision was computed from. A request reads a handful of cards, so a list
/// searched in order beats a hash map (no hashing, one allocation).
#[derive(Debug, Default)]
pub(super) struct Versions {
    cards: Vec<(CardId, u64)>,
    pub(super) checkout: Option<u64>,
    /// The checkout read, for a refusal to check that it is still as read.
    checkout_id: Option<CheckoutId>,
}

impl Versions {
    /// Notes that `card` was read at `version`, replacing an earlier note.
    pub(super) fn note(&mut self, card: CardId, version: u64) {
        match self.cards.iter_mut().find(|(id, _)| *id == card) {
            Some(noted) => noted.1 = version,
            None => self.cards.push((card, version)),
        }
    }

    /// Notes that `card` was read at `version`, unless it was noted already.
    fn note_first(&mut self, card: CardId, version: u64) {
        if self.card(card).is_none() {
            self.cards.push((card, version));
        }
    }

    /// The version `card` was read at.
    fn card(&self, card: CardId) -> Option<u64> {
        self.cards
            .iter()
            .find_map(|&(id, version)| (id == card).then_some(version))
    }
}

/// A need posted to the driver, ready once the driver has replied.
struct Ask<'a> {
    exchange: &'a Mutex<Exchange>,
    need: Option<Need>,
}

impl Future for Ask<'_> {
    type Output = Result<Reply, StoreError>;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut exchange = lock(self.exchange);
        if let Some(need) = self.need.take() {
            exchange.reply = None;
            exchange.need = Some(need);
            return Poll::Pending;
        }
        match exchange.reply.take() {
            Some(reply) => Poll::Ready(reply),
            None => Poll::Pending,
        }
    }
}

impl Port {
    async fn ask(&self, need: Need) -> Result<Reply, StoreError> {
        Ask {
            exchange: &self.exchange,
            need: Some(need),
        }
        .await
    }

    pub(super) async fn now(&self) -> Result<DateTime<Utc>, RedeemError> {
        match self.ask(Need::Now).await? {
            Reply::Now(now) => Ok(crate::clock::kept_instant(now)),
            other => Err(mismatch("Now", &other)),
        }
    }

    pub(super) async fn idempotency(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, RedeemError> {
        match self.ask(Need::Idempotency(key.clone())).await? {
            Reply::Idempotency(record) => Ok(record),
            other => Err(mismatch("Idempotency", &other)),
        }
    }

    pub(super) async fn checkout(
        &self,
        id: &CheckoutId,
    ) -> Result<Option<Versioned<Checkout>>, RedeemError> {
        match self.ask(Need::Checkout(id.clone())).await? {
            Reply::Checkout(found) => Ok(found),
            other => Err(mismatch("Checkout", &other)),
        }
    }

    pub(super) async fn card(
        &self,
        id: CardId,
    ) -> Result<Option<Versioned<GiftCard>>, RedeemError> {
        match self.ask(Need::Card(id)).await? {
            Reply::Card(found) => Ok(found),
            other => Err(mismatch("Card", &other)),
        }
    }

    /// A card the checkout names, which the store must have.
    pub(super) async fn existing_card(
        &self,
        id: CardId,
    ) -> Result<Versioned<GiftCard>, RedeemError> {
        self.card(id)
            .await?
            .ok_or_else(|| StoreError::corrupt(format!("card {id} is missing")).into())
    }

    pub(super) async fn card_by_code(
        &self,
        code: &Code,
    ) -> Result<Option<Versioned<GiftCard>>, RedeemError> {
        match self.ask(Need::CardByCode(code.clone())).await? {
            Reply::Card(found) => Ok(found),
            other => Err(mismatch("CardByCode", &other)),
        }
    }

    pub(super) async fn guard(
        &self,
        client: &ClientId,
    ) -> Result<Option<Versioned<GuardWindow>>, RedeemError> {
        match self.ask(Need::Guard(client.clone())).await? {
            Reply::Guard(found) => Ok(found),
            other => Err(mismatch("Guard", &other)),
        }
    }

    pub(super) async fn fresh(&self) -> Result<(CardId, Code), RedeemError> {
        match self.ask(Need::Fresh).await? {
            Reply::Fresh(drawn) => drawn.map_err(RedeemError::CodeGeneration),
            other => Err(mismatch("Fresh", &other)),
        }
    }

    pub(super) async fn new_card_id(&self) -> Result<CardId, RedeemError> {
        match self.ask(Need::NewCardId).await? {
            Reply::CardId(id) => Ok(id),
            other => Err(mismatch("NewCardId", &other)),
        }
    }

    /// Asks for a commit. While another operation has the turn, this one waits for it to be
    /// given back first; the holder waits for the commits under way before it reads again.
    pub(super) async fn commit(&self, changes: Changes) -> Result<(), StoreError> {
        let _in_flight = if lock(&self.held).is_some() {
            None
        } else {
            loop {
                match self.turn.try_enter() {
                    Ok(in_flight) => break Some(in_flight),
                    Err(wait) => match self.ask(Need::Turn(wait)).await? {
                        Reply::Resumed => {}
                        other => {
                            return Err(StoreError::corrupt(format!(
                                "the driver answered a turn with {}",
                                reply_name(&other)
                            )));
                        }
                    },
                }
            }
        };
        match self.ask(Need::Commit(Box::new(changes))).await? {
            Reply::Committed => Ok(()),
            other => Err(StoreError::corrupt(format!(
                "the driver answered a commit with {}",
                reply_name(&other)
            ))),
        }
    }

    pub(super) async fn back_off(&self, lost: u32) -> Result<(), RedeemError> {
        if lost < PESSIMISTIC_AFTER {
            let random = self.random().await?;
            return self.wait(Need::Wait(backoff(lost, random))).await;
        }
        if lock(&self.held).is_some() {
            return Ok(());
        }
        let held = loop {
            match self.turn.try_take() {
                Ok(held) => break held,
                Err(wait) => self.wait(Need::Turn(wait)).await?,
            }
        };
        *lock(&self.held) = Some(held);
        while let Err(wait) = self.turn.try_drained() {
            self.wait(Need::Turn(wait)).await?;
        }
        Ok(())
    }

    async fn wait(&self, need: Need) -> Result<(), RedeemError> {
        let name = match need {
            Need::Turn(_) => "Turn",
            _ => "Wait",
        };
        match self.ask(need).await? {
            Reply::Resumed => Ok(()),
            other => Err(mismatch(name, &other)),
        }
    }

    /// The next random number for a pause, asking the driver for a seed the first time.
    async fn random(&self) -> Result<u64, RedeemError> {
        let seeded = *lock(&self.jitter);
        let mut jitter = match seeded {
            Some(jitter) => jitter,
            None => match self.ask(Need::Seed).await? {
                Reply::Seed(seed) => Jitter::new(seed),
                other => return Err(mismatch("Seed", &other)),
            },
        };
        let random = jitter.next();
        *lock(&self.jitter) = Some(jitter);
        Ok(random)
    }

    /// Whether the checkout and cards the last decision read are still at the versions it
    /// read them at: a refusal is the answer only then, since a refusal commits nothing and
    /// so no version check would notice that it was decided from a state that no longer
    /// holds (a capture that lost to a void must answer that the checkout is voided).
    pub(super) async fn still_as_read(&self) -> Result<bool, RedeemError> {
        let (checkout, cards) = {
            let versions = lock(&self.versions);
            let checkout = versions.checkout_id.clone().zip(versions.checkout);
            (checkout, versions.cards.clone())
        };
        if let Some((id, version)) = checkout {
            if self.checkout(&id).await?.map(|c| c.version) != Some(version) {
                return Ok(false);
            }
        }
        for (card, version) in cards {
            if self.card(card).await?.map(|c| c.version) != Some(version) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub(super) async fn due_cards(
        &self,
        at: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<CardId>, RedeemError> {
        match self.ask(Need::DueCards { at, limit }).await? {
            Reply::DueCards(cards) => Ok(cards),
            other => Err(mismatch("DueCards", &other)),
        }
    }

    /// Cards bought by `order`, a page of them.
    pub(super) async fn order_cards(&self, order: Reference) -> Result<Vec<CardId>, RedeemError> {
        match self.ask(Need::OrderCards(order)).await? {
            Reply::OrderCards(cards) => Ok(cards),
            other => Err(mismatch("OrderCards", &other)),
        }
    }

    pub(super) async fn prune(&self, need: Need) -> Result<usize, RedeemError> {
        match self.ask(need).await? {
            Reply::Pruned(count) => Ok(count),
            other => Err(mismatch("Prune", &other)),
        }
    }

    pub(super) async fn ledger(
        &self,
        card: CardId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, RedeemError> {
        match self
            .ask(Need::Ledger {
                card,
                from_seq,
                limit,
            })
            .await?
        {
            Reply::Ledger(entries) => Ok(entries),
            other => Err(mismatch("Ledger", &other)),
        }
    }

    /// The checkout and the cards `ids` picks from it, noting their versions.
    pub(super) async fn checkout_and_cards(
        &self,
        id: &CheckoutId,
        ids: impl FnOnce(&Checkout) -> Vec<CardId>,
    ) -> Result<(Checkout, Vec<GiftCard>), RedeemError> {
        let stored = self
            .checkout(id)
            .await?
            .ok_or_else(|| RedeemError::UnknownCheckout(id.clone()))?;
        {
            let mut versions = lock(&self.versions);
            versions.checkout = Some(stored.version);
            versions.checkout_id = Some(id.clone());
        }
        let ids = ids(&stored.value);
        let mut cards = Vec::with_capacity(ids.len());
        for card in ids {
            let found = self.existing_card(card).await?;
            lock(&self.versions).note_first(card, found.version);
            cards.push(found.value);
        }
        Ok((stored.value, cards))
    }

    pub(super) fn versions_clear(&self) {
        *lock(&self.versions) = Versions::default();
    }

    pub(super) fn split_decision<T>(
        &self,
        decision: Decision<T>,
    ) -> (T, Vec<Notification>, Changes) {
        let versions = lock(&self.versions);
        decision.into_parts(|id| versions.card(id), versions.checkout)
    }
}

fn reply_name(reply: &Reply) -> &'static str {
    match reply {
        Reply::Now(_) => "Now",
        Reply::Idempotency(_) => "Idempotency",
        Reply::Checkout(_) => "Checkout",
        Reply::Card(_) => "Card",
        Reply::Guard(_) => "Guard",
        Reply::Fresh(_) => "Fresh",
        Reply::CardId(_) => "CardId",
        Reply::Committed => "Committed",
        Reply::Resumed => "Resumed",
        Reply::Seed(_) => "Seed",
        Reply::DueCards(_) => "DueCards",
        Reply::Pruned(_) => "Pruned",
        Reply::Ledger(_) => "Ledger",
        Reply::OrderCards(_) => "OrderCards",
    }
}

pub(super) fn mismatch(need: &'static str, reply: &Reply) -> RedeemError {
    RedeemError::Driver {
        need,
        reply: reply_name(reply),
    }
}

type Flow<T> = Pin<Box<dyn Future<Output = Result<T, RedeemError>> + Send>>;

/// One redemption request in progress: poll it, answer what it needs, until it is done.
pub struct Operation<T> {
    flow: Option<Flow<T>>,
    /// Shared with the flow, which owns the other end: one allocation for the exchange, the
    /// versions read and the fresh codes drawn.
    port: Arc<Port>,
}

impl<T> fmt::Debug for Operation<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operation")
            .field("done", &self.flow.is_none())
            .field("exchange", &*lock(&self.port.exchange))
            .finish()
    }
}

impl<T: Send + 'static> Operation<T> {
    pub(super) fn new<F, Fut>(turn: Arc<Turn>, flow: F) -> Operation<T>
    where
        F: FnOnce(Arc<Port>) -> Fut,
        Fut: Future<Output = Result<T, RedeemError>> + Send + 'static,
    {
        let port = Arc::new(Port {
            exchange: Mutex::default(),
            versions: Mutex::default(),
            pool: Pool::default(),
            turn,
            held: Mutex::new(None),
            jitter: Mutex::new(None),
        });
        Operation {
            flow: Some(Box::pin(flow(Arc::clone(&port)))),
            port,
        }
    }

    /// Runs the operation until it needs something ([`Step::Need`]) or is finished
    /// ([`Step::Done`]). After a need, [`Operation::reply`] before polling again; polling a
    /// finished operation, or polling without replying, is
    /// [`RedeemError::Driver`].
    pub fn poll(&mut self) -> Step<T> {
        let Some(flow) = self.flow.as_mut() else {
            return Step::Done(Err(RedeemError::Driver {
                need: "nothing",
                reply: "a poll after the end",
            }));
        };
        let mut cx = Context::from_waker(Waker::noop());
        match flow.as_mut().poll(&mut cx) {
            Poll::Ready(result) => {
                self.flow = None;
                Step::Done(result)
            }
            Poll::Pending => match lock(&self.port.exchange).need.take() {
                Some(need) => Step::Need(need),
                None => {
                    self.flow = None;
                    Step::Done(Err(RedeemError::Driver {
                        need: "a reply",
                        reply: "a poll without one",
                    }))
                }
            },
        }
    }

    /// Answers the need the last [`Operation::poll`] returned: the value asked for, or the
    /// store's error.
    pub fn reply(&mut self, reply: Result<Reply, StoreError>) {
        lock(&self.port.exchange).reply = Some(reply);
    }
}

/// The fresh card ids and codes an operation has drawn and not yet committed.
#[derive(Debug, Default)]
pub(super) struct Pool(Mutex<Vec<(CardId, Code)>>);

impl Pool {
    pub(super) fn taken(&self) -> std::vec::IntoIter<(CardId, Code)> {
        lock(&self.0).clone().into_iter()
    }

    pub(super) fn add(&self, pair: (CardId, Code)) {
        lock(&self.0).push(pair);
    }

    /// Drops the pair of card `id` (its code was taken meanwhile).
    pub(super) fn remove(&self, id: CardId) {
        lock(&self.0).retain(|(drawn, _)| *drawn != id);
    }

    /// The pair drawn last.
    pub(super) fn last(&self) -> Option<(CardId, Code)> {
        lock(&self.0).last().cloned()
    }
}
