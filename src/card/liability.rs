//! The liability report: what a shop owes on its cards at an instant, per currency, and the
//! check that its ledgers add up (see [`LiabilityReport`]).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::card::{EntryKind, LedgerEntry};
use crate::money::{Currency, Money, MoneyError};

/// What a shop owes on its cards in one currency at an instant, and the flows that built it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Liability {
    /// The currency of every figure.
    pub currency: Currency,
    /// Cards not expired with a balance above zero.
    pub outstanding_cards: u64,
    /// Their balances (disabled cards included: the shop still owes them).
    pub outstanding: Money,
    /// What open holds keep aside (part of the outstanding value).
    pub held: Money,
    /// Value issued on new cards.
    pub issued: Money,
    /// Value loaded onto cards after issue (top-ups).
    pub reloaded: Money,
    /// Value spent (captured).
    pub redeemed: Money,
    /// Value refunded onto cards.
    pub refunded: Money,
    /// Manual corrections, signed.
    pub adjusted: Money,
    /// Value carried onto replacement cards (the replacement strategy's new cards).
    pub moved_in: Money,
    /// Value carried off the cards they replaced (equal to `moved_in` in a sound ledger).
    pub moved_out: Money,
    /// Value taken back from cards blocked because their purchase was refunded or charged
    /// back (a blocked card keeps nothing, so its value is here rather than outstanding).
    pub clawed_back: Money,
    /// Expired cards with a balance above zero.
    pub expired_cards: u64,
    /// Their balances: the breakage a shop may recognise.
    pub expired: Money,
}

impl Liability {
    /// A line of zeros in `currency`.
    #[must_use]
    pub const fn zero(currency: Currency) -> Liability {
        let zero = Money::zero(currency);
        Liability {
            currency,
            outstanding_cards: 0,
            outstanding: zero,
            held: zero,
            issued: zero,
            reloaded: zero,
            redeemed: zero,
            refunded: zero,
            adjusted: zero,
            moved_in: zero,
            moved_out: zero,
            clawed_back: zero,
            expired_cards: 0,
            expired: zero,
        }
    }

    /// Checks the identity issued + reloaded + refunded ± adjusted + moved in = outstanding +
    /// redeemed + expired + moved out + clawed back.
    ///
    /// # Errors
    ///
    /// [`Discrepancy::Unbalanced`] with both sides when they differ, [`Discrepancy::Overflow`]
    /// when a side cannot be summed, [`Discrepancy::Currency`] when a figure is in another
    /// currency than the line's.
    pub fn check(&self) -> Result<(), Discrepancy> {
        let currency = self.currency;
        let sources = [
            self.issued,
            self.reloaded,
            self.refunded,
            self.adjusted,
            self.moved_in,
        ];
        let uses = [
            self.outstanding,
            self.redeemed,
            self.expired,
            self.moved_out,
            self.clawed_back,
        ];
        if let Some(other) = sources
            .iter()
            .chain(&uses)
            .chain([&self.held])
            .find(|m| m.currency() != currency)
        {
            return Err(Discrepancy::Currency {
                currency,
                found: other.currency(),
            });
        }
        let sum = |terms: &[Money]| {
            Money::sum(currency, terms.iter().copied())
                .map_err(|_| Discrepancy::Overflow { currency })
        };
        let (sources, uses) = (sum(&sources)?, sum(&uses)?);
        if sources == uses {
            Ok(())
        } else {
            Err(Discrepancy::Unbalanced {
                currency,
                sources,
                uses,
            })
        }
    }
}

/// Where a [`Liability`] line does not add up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Discrepancy {
    /// The two sides of the identity differ.
    #[error(
        "{currency}: issued + reloaded + refunded + adjusted + moved in = {sources}, but \
         outstanding + redeemed + expired + moved out + clawed back = {uses}"
    )]
    Unbalanced {
        /// The line's currency.
        currency: Currency,
        /// Issued + reloaded + refunded + adjusted + moved in.
        sources: Money,
        /// Outstanding + redeemed + expired + moved out + clawed back.
        uses: Money,
    },
    /// A side of the identity is too large to sum.
    #[error("{currency}: the report's figures are too large to sum")]
    Overflow {
        /// The line's currency.
        currency: Currency,
    },
    /// A figure is in another currency than its line.
    #[error("{currency}: the line holds a figure in {found}")]
    Currency {
        /// The line's currency.
        currency: Currency,
        /// The other currency.
        found: Currency,
    },
}

/// What a shop owes on its cards at an instant, per currency, and the check that the ledgers
/// add up (finance's books, and ASC 606 breakage): one [`Liability`] line per currency, the
/// cards and value *outstanding* (spendable or disabled, still owed), what open holds keep aside, and the
/// flows that built it: value *issued*, *reloaded*, *redeemed* (captured), *refunded*,
/// *adjusted* (signed), moved to and from replacement cards, *clawed back* from cards whose
/// purchase was reversed, and the value left on *expired* cards (breakage). Every figure counts only the ledger entries stamped at or before the
/// report's instant. [`Liability::check`] is the identity every ledger keeps:
///
/// ```text
/// issued + reloaded + refunded ± adjusted + moved in
///     = outstanding + redeemed + expired + moved out + clawed back
/// ```
///
/// and says where it does not hold as a [`Discrepancy`] value, never a panic. The flows are
/// sums of entry amounts by kind; the stocks (outstanding, expired) are sums of each card's
/// balance after its last entry by the instant, which the card recorded itself: a ledger that
/// lost, doubled or altered an entry breaks the identity.
///
/// A store builds the report with a [`LiabilityTally`] from aggregates (one total per currency
/// and entry kind, one per currency and standing), or from whole histories
/// ([`LiabilityTally::add_history`]), so the same rules apply everywhere. A card counts as
/// expired from its [`EntryKind::Expired`] entry until an [`EntryKind::ExpiryChanged`] entry
/// moves its date past the moment of the change: a card past its date that no request or
/// sweep has marked yet is still outstanding.
///
/// ```
/// use chrono::{Duration, Utc};
/// use giftcert::card::{CardId, CardSpec, GiftCard, LiabilityTally};
/// use giftcert::{Code, Currency, Money, Reference};
///
/// let usd = |s: &str| Money::parse(s, Currency::USD);
/// let now = Utc::now();
/// let code = Code::parse("GIFT-2026-ABCD")?;
/// let (mut card, issued) = GiftCard::issue(CardId::from_u128(1), &code, CardSpec::new(usd("50")?), now)?;
/// let held = card.place_hold(usd("20")?, Reference::new("checkout-1")?, None, now, None)?;
/// let captured = card.capture(held.seq(), usd("20")?, now)?;
/// let mut history = vec![issued, held];
/// history.extend(captured);
///
/// let mut tally = LiabilityTally::new(now + Duration::seconds(1));
/// tally.add_history(&history)?;
/// let report = tally.finish();
/// let usd_line = report.currency(Currency::USD).ok_or("no USD line")?;
/// assert_eq!((usd_line.outstanding, usd_line.redeemed), (usd("30")?, usd("20")?));
/// assert!(report.discrepancies().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiabilityReport {
    at: DateTime<Utc>,
    lines: Vec<Liability>,
}

impl LiabilityReport {
    /// The instant it reports on: entries stamped at or before it count.
    #[must_use]
    pub const fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// One line per currency that has entries by the instant, in currency-code order.
    #[must_use]
    pub fn lines(&self) -> &[Liability] {
        &self.lines
    }

    /// The line of `currency`, if it has entries by the instant.
    #[must_use]
    pub fn currency(&self, currency: Currency) -> Option<&Liability> {
        self.lines.iter().find(|l| l.currency == currency)
    }

    /// Every line's [`Liability::check`] failure: empty when the ledgers add up.
    #[must_use]
    pub fn discrepancies(&self) -> Vec<Discrepancy> {
        self.lines.iter().filter_map(|l| l.check().err()).collect()
    }
}

/// Printed as finance reads it: one block per currency, then `ledgers add up` or each
/// discrepancy.
impl fmt::Display for LiabilityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "liability at {}",
            self.at.format("%Y-%m-%d %H:%M:%S UTC")
        )?;
        for l in &self.lines {
            writeln!(
                f,
                "{}: outstanding {} on {} cards (held {}); issued {}, reloaded {}, redeemed {}, \
                 refunded {}, adjusted {}, moved in {}, moved out {}, clawed back {}; expired {} \
                 on {} cards",
                l.currency,
                l.outstanding,
                l.outstanding_cards,
                l.held,
                l.issued,
                l.reloaded,
                l.redeemed,
                l.refunded,
                l.adjusted,
                l.moved_in,
                l.moved_out,
                l.clawed_back,
                l.expired,
                l.expired_cards
            )?;
        }
        let discrepancies = self.discrepancies();
        if discrepancies.is_empty() {
            write!(f, "ledgers add up")
        } else {
            for (i, d) in discrepancies.iter().enumerate() {
                if i > 0 {
                    writeln!(f)?;
                }
                write!(f, "discrepancy: {d}")?;
            }
            Ok(())
        }
    }
}

/// Whether a card's balance at the instant is owed or has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Standing {
    /// Owed: the card can pay, or could once enabled.
    Outstanding,
    /// The card expired: its balance is breakage.
    Expired,
}

/// The serde tags of the entry kinds a report counts (the `kind` column of the SQL stores),
/// with the report's terms they move.
const TAGS: &[(&str, Term)] = &[
    ("issued", Term::Issued),
    ("replacementOf", Term::MovedIn),
    ("held", Term::Held),
    ("captured", Term::Captured),
    ("released", Term::Released),
    ("refunded", Term::Refunded),
    ("replacedBy", Term::MovedOut),
    ("adjusted", Term::Adjusted),
    ("reloaded", Term::Reloaded),
    ("clawedBack", Term::ClawedBack),
];

/// What an entry kind's amount moves in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    Issued,
    MovedIn,
    Held,
    Captured,
    Released,
    Refunded,
    MovedOut,
    Adjusted,
    Reloaded,
    ClawedBack,
}

impl Term {
    fn of(kind: EntryKind) -> Option<Term> {
        Some(match kind {
            EntryKind::Issued => Term::Issued,
            EntryKind::ReplacementOf { .. } => Term::MovedIn,
            EntryKind::Held { .. } => Term::Held,
            EntryKind::Captured { .. } => Term::Captured,
            EntryKind::Released { .. } => Term::Released,
            EntryKind::Refunded => Term::Refunded,
            EntryKind::ReplacedBy { .. } => Term::MovedOut,
            EntryKind::Adjusted => Term::Adjusted,
            EntryKind::Reloaded => Term::Reloaded,
            EntryKind::ClawedBack => Term::ClawedBack,
            EntryKind::Expired
            | EntryKind::Disabled
            | EntryKind::Enabled
            | EntryKind::ExpiryChanged { .. }
            | EntryKind::CodeReplaced
            | EntryKind::Blocked { .. }
            | EntryKind::Unblocked => return None,
        })
    }
}

/// Builds a [`LiabilityReport`] from what a store sums: totals of entry amounts per currency
/// and kind ([`LiabilityTally::add_kind_total`]) and card balances per currency and standing
/// ([`LiabilityTally::add_cards`]), or from whole histories ([`LiabilityTally::add_history`]).
#[derive(Debug, Clone)]
pub struct LiabilityTally {
    at: DateTime<Utc>,
    lines: BTreeMap<Currency, Liability>,
}

impl LiabilityTally {
    /// The entry kinds whose amounts a report sums, by their serialised tag (the `type` of an
    /// entry's `kind`, as the SQL stores' `kind` column keeps it). Other kinds move no money.
    pub const COUNTED_KINDS: [&'static str; 10] = [
        "issued",
        "replacementOf",
        "held",
        "captured",
        "released",
        "refunded",
        "replacedBy",
        "adjusted",
        "reloaded",
        "clawedBack",
    ];

    /// An empty tally for a report at `at`.
    #[must_use]
    pub const fn new(at: DateTime<Utc>) -> LiabilityTally {
        LiabilityTally {
            at,
            lines: BTreeMap::new(),
        }
    }

    /// The instant reported on.
    #[must_use]
    pub const fn at(&self) -> DateTime<Utc> {
        self.at
    }

    fn line(&mut self, currency: Currency) -> &mut Liability {
        self.lines
            .entry(currency)
            .or_insert_with(|| Liability::zero(currency))
    }

    /// Adds `total`, the sum of the amounts of entries of the kind tagged `tag` (one of
    /// [`LiabilityTally::COUNTED_KINDS`]; any other tag moves nothing) stamped by the instant,
    /// to its currency's line: a hold adds to `held`, a capture to `redeemed` and takes off
    /// `held`, a release takes off `held`.
    ///
    /// # Errors
    ///
    /// [`MoneyError`] when a sum overflows.
    pub fn add_kind_total(&mut self, tag: &str, total: Money) -> Result<(), MoneyError> {
        match TAGS.iter().find(|(t, _)| *t == tag) {
            Some((_, term)) => self.add_term(*term, total),
            None => Ok(()),
        }
    }

    fn add_term(&mut self, term: Term, total: Money) -> Result<(), MoneyError> {
        let line = self.line(total.currency());
        let add = |to: &mut Money| -> Result<(), MoneyError> {
            *to = to.checked_add(total)?;
            Ok(())
        };
        match term {
            Term::Issued => add(&mut line.issued),
            Term::MovedIn => add(&mut line.moved_in),
            Term::Held => add(&mut line.held),
            Term::Captured => {
                add(&mut line.redeemed)?;
                line.held = line.held.checked_sub(total)?;
                Ok(())
            }
            Term::Released => {
                line.held = line.held.checked_sub(total)?;
                Ok(())
            }
            Term::Refunded => add(&mut line.refunded),
            Term::MovedOut => add(&mut line.moved_out),
            Term::Adjusted => add(&mut line.adjusted),
            Term::Reloaded => add(&mut line.reloaded),
            Term::ClawedBack => add(&mut line.clawed_back),
        }
    }

    /// Adds `count` cards with a balance above zero and `value`, the sum of the balances of
    /// cards in `standing` (each card's balance after its last entry by the instant; cards at
    /// zero add to `value` nothing and should not be counted).
    ///
    /// # Errors
    ///
    /// [`MoneyError`] when a sum overflows.
    pub fn add_cards(
        &mut self,
        standing: Standing,
        count: u64,
        value: Money,
    ) -> Result<(), MoneyError> {
        let line = self.line(value.currency());
        let (cards, sum) = match standing {
            Standing::Outstanding => (&mut line.outstanding_cards, &mut line.outstanding),
            Standing::Expired => (&mut line.expired_cards, &mut line.expired),
        };
        *sum = sum.checked_add(value)?;
        *cards = cards.saturating_add(count);
        Ok(())
    }

    /// Adds one card's history (its entries in order): the amounts of its entries stamped by
    /// the instant, and its balance after the last of them in its [`standing_at`].
    ///
    /// # Errors
    ///
    /// [`MoneyError`] when a sum overflows.
    pub fn add_history(&mut self, entries: &[LedgerEntry]) -> Result<(), MoneyError> {
        let at = self.at;
        for entry in entries.iter().filter(|e| e.at() <= at) {
            if let Some(term) = Term::of(entry.kind()) {
                self.add_term(term, entry.amount())?;
            }
        }
        if let Some((balance, standing)) = standing_at(entries, at) {
            let count = u64::from(balance.is_positive());
            self.add_cards(standing, count, balance)?;
        }
        Ok(())
    }

    /// The report.
    #[must_use]
    pub fn finish(self) -> LiabilityReport {
        LiabilityReport {
            at: self.at,
            lines: self.lines.into_values().collect(),
        }
    }
}

/// Whether an entry starts a card's expiry (`Some(true)`), ends it (`Some(false)`: a new date
/// after the change, or none), or leaves it as it was (`None`). The SQL stores apply the same
/// rule in their queries.
#[must_use]
pub fn expiry_effect(entry: &LedgerEntry) -> Option<bool> {
    match entry.kind() {
        EntryKind::Expired => Some(true),
        EntryKind::ExpiryChanged { to, .. } if to.is_none_or(|to| to > entry.at()) => Some(false),
        _ => None,
    }
}

/// A card's balance after its last entry stamped at or before `at`, and whether it had
/// expired then (see [`expiry_effect`]); `None` when it had no entry by then.
#[must_use]
pub fn standing_at(entries: &[LedgerEntry], at: DateTime<Utc>) -> Option<(Money, Standing)> {
    let mut last = None;
    let mut expired = false;
    for entry in entries.iter().filter(|e| e.at() <= at) {
        last = Some(entry.balance_after());
        if let Some(effect) = expiry_effect(entry) {
            expired = effect;
        }
    }
    let standing = if expired {
        Standing::Expired
    } else {
        Standing::Outstanding
    };
    last.map(|balance| (balance, standing))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::card::{CardId, CardSpec, GiftCard, Reference};
    use crate::code::Code;
    use chrono::{Duration, TimeZone};

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    fn t(day: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(day)
    }

    /// Every kind the report counts has the tag its serde form writes, and the tag and the
    /// kind move the same term: the SQL stores group by the tag, the memory store by the kind.
    #[test]
    fn counted_tags_are_the_serialised_kinds() {
        let card = CardId::from_u128(1);
        let kinds = [
            EntryKind::Issued,
            EntryKind::ReplacementOf { card },
            EntryKind::Held { hold: 1 },
            EntryKind::Captured { hold: 1 },
            EntryKind::Released {
                hold: 1,
                reason: crate::card::ReleaseReason::Voided,
            },
            EntryKind::Refunded,
            EntryKind::ReplacedBy { card },
            EntryKind::Adjusted,
            EntryKind::Reloaded,
            EntryKind::ClawedBack,
        ];
        assert_eq!(kinds.len(), LiabilityTally::COUNTED_KINDS.len());
        for (kind, tag) in kinds.into_iter().zip(LiabilityTally::COUNTED_KINDS) {
            let debug = format!("{kind:?}");
            let first = debug.split([' ', '{']).next().unwrap();
            let mut expected = first.to_owned();
            expected[..1].make_ascii_lowercase();
            assert_eq!(tag, expected);
            let by_tag = TAGS.iter().find(|(t, _)| *t == tag).map(|(_, term)| *term);
            assert_eq!(by_tag, Term::of(kind), "{tag}");
        }
    }

    #[test]
    fn a_sound_history_adds_up_and_a_lost_entry_does_not() {
        let code = Code::parse("GIFT-2026-ABCD").unwrap();
        let (mut card, issued) =
            GiftCard::issue(CardId::from_u128(1), &code, CardSpec::new(usd("50")), t(0)).unwrap();
        let order = Reference::new("o-1").unwrap();
        let held = card
            .place_hold(usd("30"), order.clone(), None, t(1), None)
            .unwrap();
        let captured = card.capture(held.seq(), usd("20"), t(1)).unwrap();
        let refunded = card.refund(usd("5"), order, None, t(2)).unwrap();
        let reloaded = card.reload(usd("10"), t(3)).unwrap();
        let adjusted = card.adjust(usd("-1"), None, t(3)).unwrap();
        let mut history = vec![issued, held];
        history.extend(captured);
        history.extend([refunded, reloaded, adjusted]);

        let mut tally = LiabilityTally::new(t(10));
        tally.add_history(&history).unwrap();
        let report = tally.finish();
        let line = report.currency(Currency::USD).unwrap();
        assert_eq!(line.outstanding, usd("44"));
        assert_eq!(line.outstanding_cards, 1);
        assert_eq!(line.held, usd("0"));
        assert_eq!(
            (
                line.issued,
                line.redeemed,
                line.refunded,
                line.reloaded,
                line.adjusted
            ),
            (usd("50"), usd("20"), usd("5"), usd("10"), usd("-1"))
        );
        assert_eq!(line.check(), Ok(()));

        // At day 1 only issue, hold and capture count.
        let mut early = LiabilityTally::new(t(1));
        early.add_history(&history).unwrap();
        let early = early.finish();
        let line = early.currency(Currency::USD).unwrap();
        assert_eq!((line.outstanding, line.redeemed), (usd("30"), usd("20")));

        let mut lossy = LiabilityTally::new(t(10));
        let without_refund: Vec<_> = history
            .iter()
            .filter(|e| e.kind() != EntryKind::Refunded)
            .cloned()
            .collect();
        lossy.add_history(&without_refund).unwrap();
        let lossy = lossy.finish();
        // 50 + 10 - 1 came in, but the card says 44 is left after 20 was spent.
        assert_eq!(
            lossy.discrepancies(),
            vec![Discrepancy::Unbalanced {
                currency: Currency::USD,
                sources: usd("59"),
                uses: usd("64"),
            }]
        );
        assert!(lossy.to_string().contains("discrepancy: USD"), "{lossy}");
    }

    #[test]
    fn a_blocked_card_owes_nothing_and_its_clawback_keeps_the_identity() {
        let code = Code::parse("GIFT-2026-ABCD").unwrap();
        let (mut card, issued) =
            GiftCard::issue(CardId::from_u128(1), &code, CardSpec::new(usd("50")), t(0)).unwrap();
        let held = card
            .place_hold(usd("30"), Reference::new("o-1").unwrap(), None, t(1), None)
            .unwrap();
        let captured = card.capture(held.seq(), usd("20"), t(1)).unwrap();
        let other = card
            .place_hold(usd("5"), Reference::new("o-2").unwrap(), None, t(2), None)
            .unwrap();
        let blocked = card
            .block(crate::card::ReversalReason::ChargedBack, t(3))
            .unwrap();
        let mut history = vec![issued, held];
        history.extend(captured);
        history.push(other);
        history.extend(blocked);
        let mut tally = LiabilityTally::new(t(10));
        tally.add_history(&history).unwrap();
        let report = tally.finish();
        let line = report.currency(Currency::USD).unwrap();
        assert_eq!(
            (line.outstanding, line.outstanding_cards, line.held),
            (usd("0"), 0, usd("0"))
        );
        assert_eq!((line.redeemed, line.clawed_back), (usd("20"), usd("30")));
        assert_eq!(line.check(), Ok(()));
        assert!(
            report.to_string().contains("clawed back 30.00 USD"),
            "{report}"
        );

        // A store that sums every kind but the clawback, as one whose query forgot the
        // `clawedBack` tag: the card's zero balance no longer adds up.
        let mut forgetful = LiabilityTally::new(t(10));
        for entry in history.iter().filter(|e| e.kind() != EntryKind::ClawedBack) {
            if let Some(term) = Term::of(entry.kind()) {
                forgetful.add_term(term, entry.amount()).unwrap();
            }
        }
        forgetful
            .add_cards(Standing::Outstanding, 0, usd("0"))
            .unwrap();
        assert_eq!(forgetful.finish().discrepancies().len(), 1);
    }

    #[test]
    fn an_expired_card_is_breakage_until_its_date_moves_ahead() {
        let code = Code::parse("GIFT-2026-ABCD").unwrap();
        let mut spec = CardSpec::new(usd("25"));
        spec.expires_at = Some(t(5));
        let (mut card, issued) = GiftCard::issue(CardId::from_u128(1), &code, spec, t(0)).unwrap();
        let expired = card.mark_expired(t(6)).unwrap().unwrap();
        let moved = card.change_expiry(Some(t(30)), t(8)).unwrap().unwrap();
        let history = [issued, expired, moved];
        let at = |day| {
            let mut tally = LiabilityTally::new(t(day));
            tally.add_history(&history).unwrap();
            tally.finish().currency(Currency::USD).cloned().unwrap()
        };
        // Past its date but not marked yet: still owed.
        assert_eq!((at(5).outstanding, at(5).expired), (usd("25"), usd("0")));
        let marked = at(7);
        assert_eq!((marked.outstanding, marked.expired), (usd("0"), usd("25")));
        assert_eq!((marked.outstanding_cards, marked.expired_cards), (0, 1));
        assert_eq!(marked.check(), Ok(()));
        assert_eq!((at(9).outstanding, at(9).expired), (usd("25"), usd("0")));
    }
}
