//! The redemption protocol as one sans-IO state machine, in the spirit of quinn-proto.
//!
//! A [`Request`] names an operation (apply or remove a code, check a balance, authorise,
//! capture, void, refund, issue, import, a back-office command, a sweep, a prune);
//! [`Protocol::start`] turns it into an [`Operation`], which owns every rule that makes money moves safe: replaying an idempotency key, refusing a key
//! reused for another request, retrying a lost commit from a fresh read, counting unknown codes
//! against the guard, releasing expired holds, drawing a new code when one is taken, pausing
//! between lost commits and taking the turn when it keeps losing. It reads
//! no clock, draws no random number and touches no store: [`Operation::poll`] says what it
//! needs next ([`Need`]), the driver answers with [`Operation::reply`], and in the end `poll`
//! yields the outcome.
//!
//! The crate has two drivers, each a loop of a few lines with no rule of its own: the sync
//! [`Redeemer`](crate::store::Redeemer) over a [`Store`](crate::store::Store) and the async
//! [`AsyncRedeemer`](crate::store::AsyncRedeemer) over an
//! [`AsyncStore`](crate::store::AsyncStore). A host with its own I/O can drive operations the
//! same way:
//!
//! ```
//! use giftcert::redeem::{Answer, Need, Protocol, Reply, Request, Step};
//! use giftcert::store::Store;
//! use giftcert::{CardId, CardSpec, Currency, IdempotencyKey, MemoryStore, Money};
//!
//! let store = MemoryStore::new();
//! let protocol = Protocol::default();
//! let spec = CardSpec::new(Money::parse("20", Currency::EUR)?);
//! let key = IdempotencyKey::new("batch-1")?;
//! let mut op = protocol.start(Request::Issue { key, specs: vec![spec] });
//! let issued = loop {
//!     let reply = match op.poll() {
//!         Step::Done(result) => break result?,
//!         Step::Need(Need::Now) => Ok(Reply::Now(chrono::Utc::now())),
//!         Step::Need(Need::Idempotency(key)) => store.idempotency(&key).map(Reply::Idempotency),
//!         Step::Need(Need::CardByCode(code)) => store.card_by_code(&code).map(Reply::Card),
//!         Step::Need(Need::Fresh) => Ok(Reply::Fresh(protocol.draw())),
//!         Step::Need(Need::Commit(changes)) => store.commit(*changes).map(|()| Reply::Committed),
//!         Step::Need(other) => unreachable!("issuing needs no {other:?}"),
//!     };
//!     op.reply(reply);
//! };
//! let Answer::Issue(issued) = issued else { unreachable!("an issue answers Issue") };
//! assert_eq!(issued.outcome.cards.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codes;
mod flow;
mod issue;
mod money;
mod office;
mod operation;
mod request;
mod settings;
mod step;
mod turn;
mod upkeep;

pub use self::operation::Operation;
pub use self::request::{Answer, Request};
pub use self::settings::Protocol;
pub use self::step::{AppliedCode, Need, Redeemed, Reply, Step};
#[cfg(feature = "testkit")]
pub(crate) use self::turn::PESSIMISTIC_AFTER;
pub use self::turn::TurnWait;
