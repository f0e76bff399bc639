//! Back-office commands on one card: disable, enable, adjust, reload, move or remove its
//! expiry, and replace a lost code.
//!
//! Staff change cards by hand every day. Each change here is a pure decision over the card as
//! read, leaving one ledger entry with the [`Attribution`] the host gives (who, and why);
//! [`Protocol::amend`](crate::redeem::Protocol::amend) runs it under an idempotency key with
//! the protocol's retries, and both drivers offer it as `amend`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::card::{
    Attribution, CardId, CardStatus, CodeHint, ExpiryPolicy, GiftCard, Notification,
};
use crate::catalogue::AmountBounds;
use crate::code::Code;
use crate::money::Money;

/// What a back-office command does to a card.
///
/// Shown as `disable`, `enable`, `unblock`, `adjust -5.00 USD`, `reload 25.00 USD` or
/// `expiry 2027-06-30T00:00:00Z` (`expiry none` to remove it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    tag = "command",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum CardCommand {
    /// Stop the card paying: nothing more can be held on it (open holds may still be captured
    /// or voided).
    Disable,
    /// Let a disabled card pay again.
    Enable,
    /// Let a card blocked by a purchase reversal pay again (what was clawed back stays off
    /// it; see [`GiftCard::unblock`]).
    Unblock,
    /// Correct the balance by a signed amount in the card's currency, as a new entry (a
    /// mistake is corrected, never edited away). The balance may not fall below what is held.
    Adjust {
        /// The correction: positive adds value, negative takes it away.
        change: Money,
    },
    /// Load more money onto the card (a top-up), within `bounds` when given (the
    /// certificate's limits on what a buyer may pick). The expiry moves as the protocol's
    /// [`ExpiryPolicy`] says for a load: under the US preset to five years from this load
    /// (12 CFR 1005.20), never earlier than it was; the move is an entry of its own.
    Reload {
        /// What is loaded, in the card's currency.
        amount: Money,
        /// The limits the load must fall within, if any.
        bounds: Option<AmountBounds>,
    },
    /// Move the expiry date, or remove it (`None`): a goodwill extension. A card that had
    /// expired pays again when the new date is still ahead.
    ChangeExpiry {
        /// The new date, or none for a card that never expires.
        expires_at: Option<DateTime<Utc>>,
    },
}

impl fmt::Display for CardCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardCommand::Disable => f.write_str("disable"),
            CardCommand::Enable => f.write_str("enable"),
            CardCommand::Unblock => f.write_str("unblock"),
            CardCommand::Adjust { change } => write!(f, "adjust {change}"),
            CardCommand::Reload { amount, .. } => write!(f, "reload {amount}"),
            CardCommand::ChangeExpiry { expires_at: None } => f.write_str("expiry none"),
            CardCommand::ChangeExpiry {
                expires_at: Some(at),
            } => write!(
                f,
                "expiry {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
        }
    }
}

/// The card after a back-office command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Amended {
    /// The card.
    pub card: CardId,
    /// The command carried out.
    pub command: CardCommand,
    /// The card's status afterwards.
    pub status: CardStatus,
    /// Its balance afterwards.
    pub balance: Money,
    /// Its expiry date afterwards.
    pub expires_at: Option<DateTime<Utc>>,
    /// The sequence number of the (first) entry the command wrote, or none when the card was
    /// already as asked (enabling an enabled card, the same expiry again). A reload that moves
    /// the expiry writes a second entry after it.
    pub entry: Option<u64>,
}

/// A back-office command the card itself does not refuse, but the shop's rules do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// A reload outside the certificate's limits.
    #[error("a reload of {amount} is outside the limits {bounds}")]
    OutsideBounds {
        /// What was to be loaded.
        amount: Money,
        /// The limits.
        bounds: AmountBounds,
    },
}

/// Carries out `command` on `card` (as read at `now`), attributing the entries it writes to
/// `by`; a reload moves the expiry as `expiry` says for a load. Holds past their time limit
/// are released first, so they never count against an adjustment.
///
/// # Errors
///
/// [`RedeemError::Card`] when the card refuses: disabling a disabled or replaced card, an
/// adjustment in another currency or below what is held, a reload of a card that cannot pay,
/// any change to a replaced card; [`RedeemError::Command`] for a reload outside its bounds;
/// [`RedeemError::Expiry`] when the new expiry cannot be represented.
pub fn amend(
    card: GiftCard,
    command: CardCommand,
    by: &Attribution,
    now: DateTime<Utc>,
    expiry: &ExpiryPolicy,
) -> Result<Decision<Amended>, RedeemError> {
    let mut card = card;
    let mut entries = card.release_expired_holds(now);
    let mut done = Vec::with_capacity(2);
    match command {
        CardCommand::Disable => done.push(card.disable(now)?),
        CardCommand::Enable => done.extend(card.enable(now)?),
        CardCommand::Unblock => done.extend(card.unblock(now)?),
        CardCommand::Adjust { change } => done.push(card.adjust(change, None, now)?),
        CardCommand::Reload { amount, bounds } => {
            if let Some(bounds) = bounds.filter(|b| !b.contains(&amount)) {
                return Err(CommandError::OutsideBounds { amount, bounds }.into());
            }
            done.push(card.reload(amount, now)?);
            let moved = expiry.after_load(card.expires_at(), now)?;
            done.extend(card.change_expiry(moved, now)?);
        }
        CardCommand::ChangeExpiry { expires_at } => {
            done.extend(card.change_expiry(expires_at, now)?);
        }
    }
    let seq = done.first().map(crate::card::LedgerEntry::seq);
    entries.extend(done.into_iter().map(|entry| entry.attributed(by.clone())));
    let outcome = Amended {
        card: card.id(),
        command,
        status: card.status_at(now),
        balance: card.balance(),
        expires_at: card.expires_at(),
        entry: seq,
    };
    let mut decision = Decision::new(outcome);
    if !entries.is_empty() {
        decision.entries = entries;
        decision.updated = vec![card];
    }
    Ok(decision)
}

/// A card under a new code ([`Request::ReplaceCode`](crate::redeem::Request::ReplaceCode)).
///
/// Masked: the new code itself is in the [`Notification::CodeReplaced`](crate::card::Notification::CodeReplaced)
/// of the first answer only, since this outcome is what the idempotency record keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeReplaced {
    /// The card (the same id, balance and holds as before).
    pub card: CardId,
    /// Its new code, masked.
    pub code: CodeHint,
    /// The sequence number of the [`EntryKind::CodeReplaced`](crate::card::EntryKind::CodeReplaced) entry.
    pub entry: u64,
}

/// Gives `card` (as read at `now`) the new `code`, attributing the entry to `by`, with the
/// notification that hands the code to the card's owner.
///
/// # Errors
///
/// [`RedeemError::Card`] for a replaced card (replace the code of the card that carries its
/// value).
pub fn replace_code(
    card: GiftCard,
    code: Code,
    by: &Attribution,
    now: DateTime<Utc>,
) -> Result<Decision<CodeReplaced>, RedeemError> {
    let mut card = card;
    let entry = card.replace_code(&code, now)?;
    let outcome = CodeReplaced {
        card: card.id(),
        code: CodeHint::from(&code),
        entry: entry.seq(),
    };
    let mut decision = Decision::new(outcome);
    decision.notifications.push(Notification::CodeReplaced {
        card: card.id(),
        code: code.clone(),
        recipient: card.recipient().cloned(),
    });
    decision.entries = vec![entry.attributed(by.clone())];
    decision.recoded = vec![(card, code)];
    Ok(decision)
}
