//! Storage: the [`Store`] contract a host implements, the in-memory [`MemoryStore`], and the
//! [`Redeemer`] that drives the redemption decisions over a store.
//!
//! A store keeps cards, their ledgers, checkouts, idempotency records and guard windows, each
//! read with its version ([`Versioned`](crate::redeem::Versioned)), and commits one request's
//! [`Changes`](crate::redeem::Changes) atomically with
//! version checks (see [`Store`] for the rules). The database stores live in crates of their
//! own (`giftcert-sqlite`, `giftcert-postgres`) and pass the same conformance kit
//! (`giftcert::testkit`, feature `testkit`). A back office finds cards with a [`CardQuery`],
//! a page at a time ([`Store::search`]), and books what is owed with [`Store::liability`].
//!
//! ```
//! use giftcert::store::{MemoryStore, Redeemer, Store};
//! use giftcert::{CardSpec, Currency, IdempotencyKey, Money};
//!
//! let redeemer = Redeemer::new(MemoryStore::new());
//! let issued = redeemer.issue(
//!     &IdempotencyKey::new("order-1")?,
//!     vec![CardSpec::new(Money::parse("25", Currency::USD)?)],
//! )?;
//! let card = issued.outcome.cards[0].card;
//! assert_eq!(redeemer.store().card(card)?.map(|c| c.value.balance()), Some(Money::parse("25", Currency::USD)?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod async_redeemer;
mod async_store;
mod contract;
mod memory;
pub(crate) mod operations;
mod redeemer;
mod search;

pub use self::async_redeemer::AsyncRedeemer;
pub use self::async_store::AsyncStore;
pub use self::contract::Store;
pub use self::memory::{MemoryStore, StoreSizes};
pub use self::redeemer::Redeemer;
pub use self::search::{CardQuery, Cursor, Page, SearchError};
