//! Idempotency keys: repeating a request returns its first result and changes nothing.

use super::CheckoutId;
use crate::ident::text_newtype;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::card::{Attribution, CardId, CardSpec, Reference, ReversalReason};
use crate::money::Money;
use crate::redeem::Outcome;
use crate::redeem::{CardCommand, ReversalScope};

/// The longest key accepted.
const MAX_KEY_LEN: usize = 255;

text_newtype! {
    /// The key a host sends with each money-moving request (a UUID, an order step id...).
    ///
    /// Cheap to clone: the record and the store's index share the text.
    pub struct IdempotencyKey;
    error: IdempotencyKeyError;
    /// Checks and wraps a key: 1 to 255 printable ASCII characters.
    ///
    /// # Errors
    ///
    /// [`IdempotencyKeyError`].
    fn new(key) {
        if key.is_empty() {
            return Err(IdempotencyKeyError("it is empty"));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(IdempotencyKeyError("it is longer than 255 characters"));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IdempotencyKeyError(
                "only printable ASCII without spaces is allowed",
            ));
        }
    }
}

/// A key that is empty, too long or not printable ASCII.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid idempotency key: {0}")]
pub struct IdempotencyKeyError(&'static str);

/// FNV-1a: a stable 64-bit digest (the same in every process, so a database can keep it).
#[cfg(test)]
pub(crate) fn fingerprint(text: &str) -> u64 {
    let mut digest = Fnv1a::default();
    digest.add(text.as_bytes());
    digest.0
}

/// The canonical encoding of the cards an issue or an import asks for, digested with FNV-1a
/// into the fingerprint its idempotency record keeps.
///
/// The encoding is stable across versions (a record written by one version must match the
/// same request sent to the next), so it is spelled out here rather than taken from `Debug`
/// or serde: `giftcert-issue-v1`, then for each spec, in order, every field as
/// `name=` followed by `len:text` (`-` for a field that is not set), separated by `;`:
/// `value` (the amount at its currency's minor units, a space, the currency code: `25.00 EUR`), `order`, `purchaser`,
/// `recipient.name`, `recipient.email`, `message`, `tags` (the count, then each tag),
/// `metadata` (the count, then each key and value in key order), `expires` (RFC 3339 in UTC
/// with nanoseconds), and for an import `code` (the masked code). A change to this encoding
/// is a new version tag, never an edit.
pub(crate) fn spec_fingerprint(specs: &[CardSpec], code: Option<&str>) -> u64 {
    fn text(out: &mut Fnv1a, name: &str, value: Option<&str>) {
        out.add(name.as_bytes());
        out.add(b"=");
        match value {
            Some(value) => {
                out.add(value.len().to_string().as_bytes());
                out.add(b":");
                out.add(value.as_bytes());
            }
            None => out.add(b"-"),
        }
        out.add(b";");
    }
    let mut out = Fnv1a::default();
    out.add(b"giftcert-issue-v1;");
    for spec in specs {
        let value = spec.value.to_string();
        text(&mut out, "value", Some(&value));
        text(
            &mut out,
            "order",
            spec.order.as_ref().map(Reference::as_str),
        );
        text(
            &mut out,
            "purchaser",
            spec.purchaser.as_ref().map(Reference::as_str),
        );
        let recipient = spec.recipient.as_ref();
        text(
            &mut out,
            "recipient.name",
            recipient.and_then(|r| r.name.as_deref()),
        );
        text(
            &mut out,
            "recipient.email",
            recipient.and_then(|r| r.email.as_deref()),
        );
        text(&mut out, "message", spec.message.as_deref());
        text(&mut out, "tags", Some(&spec.tags.len().to_string()));
        for tag in &spec.tags {
            text(&mut out, "tag", Some(tag));
        }
        text(&mut out, "metadata", Some(&spec.metadata.len().to_string()));
        for (key, value) in &spec.metadata {
            text(&mut out, "key", Some(key));
            text(&mut out, "value", Some(value));
        }
        let expires = spec
            .expires_at
            .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
        text(&mut out, "expires", expires.as_deref());
    }
    if let Some(code) = code {
        text(&mut out, "code", Some(code));
    }
    out.finish()
}

/// FNV-1a fed as text is written, so that a digest of formatted text needs no `String`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The digest of what was written.
    pub(crate) const fn finish(self) -> u64 {
        self.0
    }
}

impl fmt::Write for Fnv1a {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.add(s.as_bytes());
        Ok(())
    }
}

/// What a money-moving request asked for, as its idempotency record keeps it: a request that
/// repeats a key must ask for the same thing.
///
/// Compared as a value; shown as `authorise c1 25.00 USD`, `capture c1`,
/// `capture c1 20.00 USD of the authorisation`, `change the authorisation of c1 to 30.00 USD`,
/// `void c1`, `refund c1 5.00 USD onto a new card`,
/// `refund c1 5.00 USD`, `issue 0123456789abcdef` (a digest of the cards asked for) or
/// `disable 0123... by staff:ana` (a back-office command, its card and its actor).
///
/// ```
/// use giftcert::{CheckoutId, ClientId, Currency, Money, Reference, redeem::RecordedRequest};
///
/// let request = RecordedRequest::Authorise {
///     checkout: CheckoutId::new("c1")?,
///     payable: Money::parse("25", Currency::USD)?,
/// };
/// assert_eq!(request.to_string(), "authorise c1 25.00 USD");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    tag = "operation",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum RecordedRequest {
    /// [`Redeemer::authorise`](crate::store::Redeemer::authorise).
    Authorise {
        /// The checkout.
        checkout: CheckoutId,
        /// What it asked to hold.
        payable: Money,
    },
    /// [`Redeemer::capture`](crate::store::Redeemer::capture).
    Capture {
        /// The checkout.
        checkout: CheckoutId,
    },
    /// [`Redeemer::void`](crate::store::Redeemer::void).
    Void {
        /// The checkout.
        checkout: CheckoutId,
    },
    /// [`Redeemer::refund`](crate::store::Redeemer::refund).
    Refund {
        /// The checkout.
        checkout: CheckoutId,
        /// What it asked to refund.
        amount: Money,
    },
    /// [`Redeemer::issue`](crate::store::Redeemer::issue).
    Issue {
        /// A stable digest of the cards asked for: FNV-1a of their canonical encoding
        /// (`giftcert-issue-v1`, every field of every spec), written as 16 hex digits so that
        /// no JSON reader rounds it.
        #[serde(with = "hex_u64")]
        fingerprint: u64,
    },
    /// [`Redeemer::import_card`](crate::store::Redeemer::import_card).
    Import {
        /// A stable digest of the card asked for and its masked code, as for
        /// [`RecordedRequest::Issue`].
        #[serde(with = "hex_u64")]
        fingerprint: u64,
    },
    /// [`Redeemer::refund_to`](crate::store::Redeemer::refund_to) onto one new card
    /// ([`RefundTo::NewCard`](crate::redeem::RefundTo::NewCard)).
    RefundToNewCard {
        /// The checkout.
        checkout: CheckoutId,
        /// What it asked to refund.
        amount: Money,
    },
    /// [`Redeemer::capture_part`](crate::store::Redeemer::capture_part).
    CapturePart {
        /// The checkout.
        checkout: CheckoutId,
        /// What it asked to capture (the rest of the holds is released).
        amount: Money,
    },
    /// [`Redeemer::change_authorisation`](crate::store::Redeemer::change_authorisation).
    ChangeAuthorisation {
        /// The checkout.
        checkout: CheckoutId,
        /// What it asked to hold instead.
        payable: Money,
    },
    /// [`Redeemer::amend`](crate::store::Redeemer::amend): a back-office command.
    Amend {
        /// The card.
        card: CardId,
        /// What was asked.
        command: CardCommand,
        /// Who asked, and why.
        by: Attribution,
    },
    /// [`Redeemer::replace_code`](crate::store::Redeemer::replace_code): a new code for a
    /// card whose code was lost.
    ReplaceCode {
        /// The card.
        card: CardId,
        /// Who asked, and why.
        by: Attribution,
    },
    /// [`Redeemer::reverse_purchase`](crate::store::Redeemer::reverse_purchase): the cards of
    /// a refunded or charged-back order blocked.
    ReversePurchase {
        /// The order.
        order: Reference,
        /// Which of its cards.
        scope: ReversalScope,
        /// Why.
        reason: ReversalReason,
        /// Who asked, and why.
        by: Attribution,
    },
}

impl fmt::Display for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordedRequest::Authorise { checkout, payable } => {
                write!(f, "authorise {checkout} {payable}")
            }
            RecordedRequest::Capture { checkout } => write!(f, "capture {checkout}"),
            RecordedRequest::Void { checkout } => write!(f, "void {checkout}"),
            RecordedRequest::Refund { checkout, amount } => write!(f, "refund {checkout} {amount}"),
            RecordedRequest::Issue { fingerprint } => write!(f, "issue {fingerprint:016x}"),
            RecordedRequest::Import { fingerprint } => write!(f, "import {fingerprint:016x}"),
            RecordedRequest::RefundToNewCard { checkout, amount } => {
                write!(f, "refund {checkout} {amount} onto a new card")
            }
            RecordedRequest::CapturePart { checkout, amount } => {
                write!(f, "capture {checkout} {amount} of the authorisation")
            }
            RecordedRequest::ChangeAuthorisation { checkout, payable } => {
                write!(f, "change the authorisation of {checkout} to {payable}")
            }
            RecordedRequest::Amend { card, command, by } => {
                write!(f, "{command} {card} by {}", by.actor())
            }
            RecordedRequest::ReplaceCode { card, by } => {
                write!(f, "replace the code of {card} by {}", by.actor())
            }
            RecordedRequest::ReversePurchase {
                order,
                scope,
                reason,
                by,
            } => {
                let cards = match scope {
                    ReversalScope::All => "every card".to_owned(),
                    ReversalScope::Cards(cards) => format!("{} card(s)", cards.len()),
                };
                write!(
                    f,
                    "reverse the purchase of {order} ({reason}, {cards}) by {}",
                    by.actor()
                )
            }
        }
    }
}

/// A `u64` as 16 lowercase hex digits.
mod hex_u64 {
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub(super) fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{value:016x}"))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(de::Error::custom(format!(
                "expected a fingerprint of 16 hex digits, found \"{text}\""
            )));
        }
        u64::from_str_radix(&text, 16).map_err(de::Error::custom)
    }
}

/// What a store keeps for a key: what was asked, and what was answered.
///
/// The outcome holds card ids and amounts, never codes: a replay returns the same outcome but
/// no notifications (they were handed over once, with the first result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyRecord {
    /// The key.
    pub key: IdempotencyKey,
    /// What was asked.
    pub request: RecordedRequest,
    /// The first result.
    pub outcome: Outcome,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn requests_show_the_operation_and_its_arguments() {
        let checkout = CheckoutId::new("c1").unwrap();
        let usd = |s| Money::parse(s, Currency::USD).unwrap();
        let shown = [
            RecordedRequest::Authorise {
                checkout: checkout.clone(),
                payable: usd("25"),
            },
            RecordedRequest::Capture {
                checkout: checkout.clone(),
            },
            RecordedRequest::Void {
                checkout: checkout.clone(),
            },
            RecordedRequest::Refund {
                checkout,
                amount: usd("5"),
            },
            RecordedRequest::Issue { fingerprint: 0xabc },
        ]
        .map(|r| r.to_string());
        assert_eq!(
            shown,
            [
                "authorise c1 25.00 USD",
                "capture c1",
                "void c1",
                "refund c1 5.00 USD",
                "issue 0000000000000abc",
            ]
        );
    }

    #[test]
    fn requests_round_trip_through_json_and_fingerprints_are_hex() {
        let issue = RecordedRequest::Issue {
            fingerprint: u64::MAX - 1,
        };
        let json = serde_json::to_string(&issue).unwrap();
        assert_eq!(
            json,
            r#"{"operation":"issue","fingerprint":"fffffffffffffffe"}"#
        );
        assert_eq!(
            serde_json::from_str::<RecordedRequest>(&json).unwrap(),
            issue
        );
        let err =
            serde_json::from_str::<RecordedRequest>(r#"{"operation":"issue","fingerprint":"12"}"#)
                .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("expected a fingerprint of 16 hex digits, found \"12\""),
            "{err}"
        );
        let authorise = RecordedRequest::Authorise {
            checkout: CheckoutId::new("c1").unwrap(),
            payable: Money::parse("25", Currency::USD).unwrap(),
        };
        let json = serde_json::to_string(&authorise).unwrap();
        assert_eq!(
            serde_json::from_str::<RecordedRequest>(&json).unwrap(),
            authorise
        );
    }

    #[test]
    fn the_streaming_digest_is_fnv1a_of_the_text() {
        use std::fmt::Write;
        let mut digest = Fnv1a::default();
        let (text, number) = ("ab", 12);
        write!(digest, "{text}-{number}").unwrap();
        assert_eq!(digest.finish(), fingerprint("ab-12"));
        assert_eq!(fingerprint(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fingerprint("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_issue_fingerprint_is_canonical_and_sees_every_field() {
        use crate::money::{Currency, Money};
        let base = CardSpec::new(Money::parse("25", Currency::EUR).unwrap());
        let of = |spec: &CardSpec| spec_fingerprint(std::slice::from_ref(spec), None);
        // Pinned: a record written by this version must match the same request in the next.
        assert_eq!(
            format!("{:016x}", of(&base)),
            format!(
                "{:016x}",
                fingerprint(
                    "giftcert-issue-v1;value=9:25.00 EUR;order=-;purchaser=-;recipient.name=-;\
                 recipient.email=-;message=-;tags=1:0;metadata=1:0;expires=-;"
                )
            )
        );
        let mut variants = vec![base.clone()];
        let mut with = |change: &dyn Fn(&mut CardSpec)| {
            let mut spec = base.clone();
            change(&mut spec);
            variants.push(spec);
        };
        with(&|s| s.value = Money::parse("25.01", Currency::EUR).unwrap());
        with(&|s| s.order = Some(Reference::new("o-1").unwrap()));
        with(&|s| s.purchaser = Some(Reference::new("p-1").unwrap()));
        with(&|s| s.message = Some("hi".into()));
        with(&|s| s.tags = vec!["a".into()]);
        with(&|s| {
            s.metadata.insert("k".into(), "v".into());
        });
        with(&|s| s.expires_at = Some(chrono::DateTime::UNIX_EPOCH));
        let prints: std::collections::HashSet<u64> = variants.iter().map(of).collect();
        assert_eq!(
            prints.len(),
            variants.len(),
            "every field changes the fingerprint"
        );
        assert_ne!(
            spec_fingerprint(std::slice::from_ref(&base), Some("****-AAAA")),
            spec_fingerprint(&[base], Some("****-BBBB"))
        );
    }
}
