//! A checkout as redemption sees it: the cards applied to it, its holds, captures and refunds, and where it stands.

use serde::{Deserialize, Serialize};

use super::*;
use crate::card::CardId;
use crate::card::Reference;
use crate::money::Currency;
use crate::money::Money;

/// A hold placed for a checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldRef {
    /// The card.
    pub card: CardId,
    /// The hold's number on the card.
    pub hold: u64,
    /// The amount held.
    pub amount: Money,
}

/// An amount on one card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardAmount {
    /// The card.
    pub card: CardId,
    /// The amount.
    pub amount: Money,
}

/// Where a checkout's gift card payment stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum CheckoutState {
    /// Codes can be applied and removed.
    Open,
    /// Holds are placed.
    Authorised {
        /// What the order cost.
        payable: Money,
        /// The holds, one per card used.
        holds: Vec<HoldRef>,
    },
    /// The money was spent.
    Captured {
        /// What the order cost.
        payable: Money,
        /// What each card paid, in the order used.
        captures: Vec<CardAmount>,
        /// What has been refunded, per card it was spent from.
        refunds: Vec<CardAmount>,
    },
    /// The holds were released (the payment failed); the checkout may authorise again.
    Voided,
}

impl CheckoutState {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            CheckoutState::Open => "open",
            CheckoutState::Authorised { .. } => "authorised",
            CheckoutState::Captured { .. } => "captured",
            CheckoutState::Voided => "voided",
        }
    }

    /// Where the payment stands, without the holds, captures and refunds.
    #[must_use]
    pub const fn stage(&self) -> PaymentStage {
        match self {
            CheckoutState::Open => PaymentStage::Open,
            CheckoutState::Authorised { .. } => PaymentStage::Authorised,
            CheckoutState::Captured { .. } => PaymentStage::Captured,
            CheckoutState::Voided => PaymentStage::Voided,
        }
    }
}

/// Where a checkout's gift card payment stands, by name alone ([`CheckoutState::stage`]):
/// serialised as `"open"`, `"authorised"`, `"captured"` or `"voided"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum PaymentStage {
    /// Codes can be applied and removed; nothing is held.
    #[default]
    Open,
    /// Holds are placed.
    Authorised,
    /// The money was spent.
    Captured,
    /// The holds were released; the checkout may authorise again.
    Voided,
}

crate::ident::reference_role! {
    /// A checkout, as the host names it (`"checkout-7"`, a cart's id): the key of a
    /// [`Checkout`], never a shopper's [`ClientId`](crate::redeem::ClientId), an order or a
    /// customer, so one passed for another does not compile:
    ///
    /// ```compile_fail
    /// use giftcert::redeem::{CheckoutId, ClientId};
    /// use giftcert::{Currency, MemoryStore, Redeemer};
    ///
    /// let redeemer = Redeemer::new(MemoryStore::new());
    /// let client = ClientId::new("ip:203.0.113.7").unwrap();
    /// let checkout = CheckoutId::new("checkout-7").unwrap();
    /// // The checkout where the client goes, and the client where the checkout goes.
    /// let _ = redeemer.apply_code(&checkout, &client, Currency::USD, "ABCD-EFGH-JKMN-PQR7");
    /// ```
    pub struct CheckoutId;
}

/// A checkout's gift cards and the state of their payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkout {
    pub(super) id: CheckoutId,
    pub(super) currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) customer: Option<Reference>,
    pub(super) applied: Vec<CardId>,
    pub(super) state: CheckoutState,
}

impl Checkout {
    /// A new open checkout.
    #[must_use]
    pub fn new(id: CheckoutId, currency: Currency, customer: Option<Reference>) -> Checkout {
        Checkout {
            id,
            currency,
            customer,
            applied: Vec::new(),
            state: CheckoutState::Open,
        }
    }

    /// Its reference.
    #[must_use]
    pub fn id(&self) -> &CheckoutId {
        &self.id
    }

    /// Its currency.
    #[must_use]
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// The customer, if known.
    #[must_use]
    pub fn customer(&self) -> Option<&Reference> {
        self.customer.as_ref()
    }

    /// The cards applied, in the order applied.
    #[must_use]
    pub fn applied(&self) -> &[CardId] {
        &self.applied
    }

    /// Where its payment stands.
    #[must_use]
    pub fn state(&self) -> &CheckoutState {
        &self.state
    }

    /// The cards a request on this checkout needs, in order: the applied ones while open, the
    /// held ones once authorised, the spent ones once captured.
    #[must_use]
    pub fn cards_needed(&self) -> Vec<CardId> {
        self.needed().collect()
    }

    /// [`Checkout::cards_needed`] without collecting them.
    pub(crate) fn needed(&self) -> NeededCards<'_> {
        match &self.state {
            CheckoutState::Open | CheckoutState::Voided => {
                NeededCards::Applied(self.applied.iter())
            }
            CheckoutState::Authorised { holds, .. } => NeededCards::Held(holds.iter()),
            CheckoutState::Captured { captures, .. } => NeededCards::Spent(captures.iter()),
        }
    }

    /// Takes the state out (leaving it open) for a decision that sets the next one; puts it
    /// back and refuses `operation` unless `accept` takes it.
    pub(super) fn take_state<T>(
        &mut self,
        operation: &'static str,
        accept: impl FnOnce(CheckoutState) -> Result<T, CheckoutState>,
    ) -> Result<T, RedeemError> {
        let state = std::mem::replace(&mut self.state, CheckoutState::Open);
        accept(state).map_err(|state| {
            self.state = state;
            self.refuse(operation)
        })
    }

    pub(super) fn refuse(&self, operation: &'static str) -> RedeemError {
        RedeemError::InvalidState {
            checkout: self.id.clone(),
            state: self.state.name(),
            operation,
        }
    }

    pub(super) fn ensure_editable(&self, operation: &'static str) -> Result<(), RedeemError> {
        match self.state {
            CheckoutState::Open | CheckoutState::Voided => Ok(()),
            _ => Err(self.refuse(operation)),
        }
    }
}

/// The ids of the cards a checkout needs, in order (see [`Checkout::cards_needed`]).
#[derive(Debug, Clone)]
pub(crate) enum NeededCards<'a> {
    Applied(std::slice::Iter<'a, CardId>),
    Held(std::slice::Iter<'a, HoldRef>),
    Spent(std::slice::Iter<'a, CardAmount>),
}

impl Iterator for NeededCards<'_> {
    type Item = CardId;

    fn next(&mut self) -> Option<CardId> {
        match self {
            NeededCards::Applied(ids) => ids.next().copied(),
            NeededCards::Held(holds) => holds.next().map(|h| h.card),
            NeededCards::Spent(spent) => spent.next().map(|c| c.card),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            NeededCards::Applied(ids) => ids.size_hint(),
            NeededCards::Held(holds) => holds.size_hint(),
            NeededCards::Spent(spent) => spent.size_hint(),
        }
    }
}

impl ExactSizeIterator for NeededCards<'_> {}
