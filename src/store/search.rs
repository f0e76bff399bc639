//! Searching cards for a back office: filters, pages and the cursor that keeps paging stable.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::card::{CardId, CardStatus, GiftCard, Reference};
use crate::money::Currency;
use crate::redeem::Versioned;

/// A bad page size or cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The page size is 0 or above the maximum.
    #[error("a page holds 1 to {max} cards, not {given}")]
    Limit {
        /// The size asked for.
        given: usize,
        /// The largest allowed ([`CardQuery::MAX_LIMIT`]).
        max: usize,
    },
    /// The text is not a cursor this crate wrote.
    #[error("\"{shown}\" is not a search cursor")]
    Cursor {
        /// The text, cut to 40 characters.
        shown: String,
    },
}

/// Where a page ended: the next page starts after this card, in issue order.
///
/// Opaque to hosts: show it with `Display`, read it back with `FromStr`. Stores read its
/// position with [`Cursor::issued_at`] and [`Cursor::card`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cursor {
    issued_at: DateTime<Utc>,
    card: CardId,
}

impl Cursor {
    /// The cursor after `card`.
    #[must_use]
    pub const fn after(card: &GiftCard) -> Cursor {
        Cursor {
            issued_at: card.issued_at(),
            card: card.id(),
        }
    }

    /// When the last card of the page was issued.
    #[must_use]
    pub const fn issued_at(&self) -> DateTime<Utc> {
        self.issued_at
    }

    /// The last card of the page.
    #[must_use]
    pub const fn card(&self) -> CardId {
        self.card
    }

    /// Whether `card` comes after the cursor in issue order (then id).
    #[must_use]
    pub fn precedes(&self, card: &GiftCard) -> bool {
        (card.issued_at(), card.id()) > (self.issued_at, self.card)
    }
}

/// Written as `<seconds>.<nanoseconds>.<card id>`, which hosts should treat as opaque.
impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}.{}",
            self.issued_at.timestamp(),
            self.issued_at.timestamp_subsec_nanos(),
            self.card
        )
    }
}

impl FromStr for Cursor {
    type Err = SearchError;

    fn from_str(text: &str) -> Result<Cursor, SearchError> {
        let bad = || SearchError::Cursor {
            shown: text.chars().filter(|c| !c.is_control()).take(40).collect(),
        };
        let mut parts = text.splitn(3, '.');
        let (Some(secs), Some(nanos), Some(card)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let secs: i64 = secs.parse().map_err(|_| bad())?;
        let nanos: u32 = nanos.parse().map_err(|_| bad())?;
        let issued_at = DateTime::from_timestamp(secs, nanos).ok_or_else(bad)?;
        let card = card.parse().map_err(|_| bad())?;
        Ok(Cursor { issued_at, card })
    }
}

/// One page of search results and the cursor to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The results, in issue order.
    pub items: Vec<T>,
    /// Where to go on; `None` on the last page.
    pub next: Option<Cursor>,
}

impl Page<Versioned<GiftCard>> {
    /// A page from the first `limit + 1` matching cards in issue order, as a store reads them:
    /// one more than the page holds tells whether another page follows.
    #[must_use]
    pub fn from_overfetch(mut cards: Vec<Versioned<GiftCard>>, limit: usize) -> Self {
        let next = if cards.len() > limit {
            cards.truncate(limit);
            cards.last().map(|c| Cursor::after(&c.value))
        } else {
            None
        };
        Page { items: cards, next }
    }
}

/// A [`CardQuery`] names what to find (an order, a purchaser, a recipient's e-mail, a tag, a
/// status, a currency, cards expiring before a date: every filter given must match) and how
/// many cards a page holds (at most [`CardQuery::MAX_LIMIT`]). [`Store::search`] answers with a
/// [`Page`] of cards, in the order they were issued (then by id), and a [`Cursor`] to ask for
/// the next page.
///
/// The order is by issue time, which never changes, so paging is stable: a card is never on
/// two pages, and a card that exists when the search starts and still matches is on one of
/// them, however many cards are issued or updated meanwhile (new cards come after the others,
/// on the last pages). A cursor is opaque text for a host to hand back ([`Cursor`]'s
/// `Display` and `FromStr`).
///
/// Pages hold [`GiftCard`]s, which keep only a masked hint of their code.
///
/// ```
/// use giftcert::store::{CardQuery, MemoryStore, Redeemer, Store};
/// use giftcert::{CardSpec, Currency, IdempotencyKey, Money};
///
/// let redeemer = Redeemer::new(MemoryStore::new());
/// let mut spec = CardSpec::new(Money::parse("25", Currency::USD)?);
/// spec.tags = vec!["xmas".into()];
/// redeemer.issue(&IdempotencyKey::new("order-1")?, vec![spec.clone(), spec])?;
///
/// let query = CardQuery::new().by_tag("xmas").with_limit(1)?;
/// let first = redeemer.search(&query)?;
/// let next = first.next.clone().ok_or("a second page")?;
/// let second = redeemer.search(&query.after(next))?;
/// assert_eq!((first.items.len(), second.items.len()), (1, 1));
/// assert_ne!(first.items[0].value.id(), second.items[0].value.id());
/// assert!(second.next.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`Store::search`]: crate::store::Store::search
///
/// What to search for: each filter given must match (AND), and a page holds at most
/// [`CardQuery::limit`] cards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardQuery {
    order: Option<Reference>,
    purchaser: Option<Reference>,
    recipient: Option<String>,
    tag: Option<String>,
    status: Option<CardStatus>,
    currency: Option<Currency>,
    expires_before: Option<DateTime<Utc>>,
    after: Option<Cursor>,
    limit: usize,
}

impl Default for CardQuery {
    fn default() -> Self {
        CardQuery::new()
    }
}

impl CardQuery {
    /// The page size when none is given.
    pub const DEFAULT_LIMIT: usize = 50;

    /// The largest page: a page is read and sent at once.
    pub const MAX_LIMIT: usize = 1_000;

    /// Every card, [`CardQuery::DEFAULT_LIMIT`] to a page.
    #[must_use]
    pub const fn new() -> CardQuery {
        CardQuery {
            order: None,
            purchaser: None,
            recipient: None,
            tag: None,
            status: None,
            currency: None,
            expires_before: None,
            after: None,
            limit: CardQuery::DEFAULT_LIMIT,
        }
    }

    /// Cards bought by this order.
    #[must_use]
    pub fn by_order(mut self, order: Reference) -> CardQuery {
        self.order = Some(order);
        self
    }

    /// Cards bought by this purchaser.
    #[must_use]
    pub fn by_purchaser(mut self, purchaser: Reference) -> CardQuery {
        self.purchaser = Some(purchaser);
        self
    }

    /// Cards for the recipient with this e-mail address, in any letter case.
    #[must_use]
    pub fn by_recipient(mut self, email: &str) -> CardQuery {
        self.recipient = Some(normalise_email(email));
        self
    }

    /// Cards with this tag (exactly).
    #[must_use]
    pub fn by_tag(mut self, tag: impl Into<String>) -> CardQuery {
        self.tag = Some(tag.into());
        self
    }

    /// The cards `order` bought, as many as a page may hold ([`CardQuery::MAX_LIMIT`]): what
    /// the protocol's [`Need::OrderCards`](crate::redeem::Need::OrderCards) reads.
    pub(crate) fn bought_by(order: Reference) -> CardQuery {
        let mut query = CardQuery::new().by_order(order);
        query.limit = CardQuery::MAX_LIMIT;
        query
    }

    /// Cards whose stored status is `status` (a card past its date is
    /// [`CardStatus::Expired`] once a request or a sweep marks it).
    #[must_use]
    pub fn by_status(mut self, status: CardStatus) -> CardQuery {
        self.status = Some(status);
        self
    }

    /// Cards in this currency.
    #[must_use]
    pub fn by_currency(mut self, currency: Currency) -> CardQuery {
        self.currency = Some(currency);
        self
    }

    /// Cards whose expiry date is before `at` (cards that never expire do not match), `at`
    /// taken as every store keeps an instant ([`kept_instant`](crate::clock::kept_instant)): to
    /// the microsecond, within the years
    /// [`EARLIEST_EXPIRY_YEAR`](crate::card::EARLIEST_EXPIRY_YEAR) to
    /// [`LATEST_EXPIRY_YEAR`](crate::card::LATEST_EXPIRY_YEAR)
    /// that expiry dates fall in, so a date past year 9999 matches every card with an expiry
    /// date but the last microsecond's, one before year 1 none.
    #[must_use]
    pub fn expiring_before(mut self, at: DateTime<Utc>) -> CardQuery {
        self.expires_before = Some(crate::clock::kept_instant(at));
        self
    }

    /// The page after `cursor` (from the previous page's [`Page::next`]).
    #[must_use]
    pub fn after(mut self, cursor: Cursor) -> CardQuery {
        self.after = Some(cursor);
        self
    }

    /// At most `limit` cards a page.
    ///
    /// # Errors
    ///
    /// [`SearchError::Limit`] for 0 or more than [`CardQuery::MAX_LIMIT`]:
    ///
    /// ```
    /// use giftcert::store::CardQuery;
    ///
    /// assert!(CardQuery::new().with_limit(1_000).is_ok());
    /// let error = CardQuery::new().with_limit(1_001).unwrap_err();
    /// assert_eq!(error.to_string(), "a page holds 1 to 1000 cards, not 1001");
    /// ```
    pub fn with_limit(mut self, limit: usize) -> Result<CardQuery, SearchError> {
        if limit == 0 || limit > CardQuery::MAX_LIMIT {
            return Err(SearchError::Limit {
                given: limit,
                max: CardQuery::MAX_LIMIT,
            });
        }
        self.limit = limit;
        Ok(self)
    }

    /// The order filter.
    #[must_use]
    pub const fn order(&self) -> Option<&Reference> {
        self.order.as_ref()
    }

    /// The purchaser filter.
    #[must_use]
    pub const fn purchaser(&self) -> Option<&Reference> {
        self.purchaser.as_ref()
    }

    /// The recipient filter, in lower case (as [`CardQuery::recipient_key`] writes a card's).
    #[must_use]
    pub fn recipient(&self) -> Option<&str> {
        self.recipient.as_deref()
    }

    /// The tag filter.
    #[must_use]
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The status filter.
    #[must_use]
    pub const fn status(&self) -> Option<CardStatus> {
        self.status
    }

    /// The currency filter.
    #[must_use]
    pub const fn currency(&self) -> Option<Currency> {
        self.currency
    }

    /// The expiry filter: cards expiring strictly before this.
    #[must_use]
    pub const fn expires_before(&self) -> Option<DateTime<Utc>> {
        self.expires_before
    }

    /// Where the page starts.
    #[must_use]
    pub const fn cursor(&self) -> Option<Cursor> {
        self.after
    }

    /// The page size.
    #[must_use]
    pub const fn limit(&self) -> usize {
        self.limit
    }

    /// A card's recipient e-mail as the recipient filter compares it (lower case), for stores
    /// that keep it in a column of its own.
    #[must_use]
    pub fn recipient_key(card: &GiftCard) -> Option<String> {
        card.recipient()
            .and_then(|r| r.email.as_deref())
            .map(normalise_email)
    }

    /// Whether `card` passes every filter (the cursor aside).
    #[must_use]
    pub fn matches(&self, card: &GiftCard) -> bool {
        self.order.as_ref().is_none_or(|o| card.order() == Some(o))
            && self
                .purchaser
                .as_ref()
                .is_none_or(|p| card.purchaser() == Some(p))
            && self
                .recipient
                .as_ref()
                .is_none_or(|r| CardQuery::recipient_key(card).as_ref() == Some(r))
            && self
                .tag
                .as_ref()
                .is_none_or(|t| card.tags().iter().any(|c| c == t))
            && self.status.is_none_or(|s| card.status() == s)
            && self.currency.is_none_or(|c| card.currency() == c)
            && self
                .expires_before
                .is_none_or(|at| card.expires_at().is_some_and(|e| e < at))
    }

    /// Whether `card` belongs on this query's page: it passes the filters and comes after the
    /// cursor.
    #[must_use]
    pub fn selects(&self, card: &GiftCard) -> bool {
        self.after.is_none_or(|c| c.precedes(card)) && self.matches(card)
    }
}

fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_what_they_write_and_refuse_other_text() {
        let cursor = Cursor {
            issued_at: DateTime::from_timestamp(1_767_225_600, 123_456_789).unwrap(),
            card: CardId::from_u128(0xabc),
        };
        let text = cursor.to_string();
        assert_eq!(text.parse::<Cursor>(), Ok(cursor));
        for bad in ["", "1.2", "x.0.00000000000000000000000000000abc", "1.2.zz"] {
            assert!(
                matches!(bad.parse::<Cursor>(), Err(SearchError::Cursor { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_page_holds_one_to_a_thousand_cards() {
        assert_eq!(
            CardQuery::new().with_limit(0),
            Err(SearchError::Limit {
                given: 0,
                max: 1_000
            })
        );
        assert_eq!(CardQuery::new().with_limit(7).map(|q| q.limit()), Ok(7));
        assert_eq!(CardQuery::new().limit(), 50);
    }
}
