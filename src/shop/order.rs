//! The purchase flow: a paid selection holding gift certificates becomes a finalised order and
//! the cards to issue (Centra and Spryker).
//!
//! 1. [`Order::place`] takes the selection and the [`PaymentDetails`] (method, e-mail, optional
//!    recipient and Centra's `giftMessage`, kept on the order) and checks the method against
//!    the [`PaymentPolicy`].
//! 2. The host reports the payment result with [`Order::report_payment`] and `now`:
//!    - paid: every gift-certificate line gets a completed shipment with no shipping method
//!      ([`NO_SHIPMENT`], Spryker's `"noshipment"`), and an order holding only certificates is
//!      finalised (Centra); one [`CardToIssue`] per certificate *unit* comes back, with a
//!      [`CertificateNotification`] for the host to e-mail;
//!    - failed: the order is marked failed and nothing is issued;
//!    - any result on an order that already had one: [`PaymentOutcome::AlreadySettled`],
//!      nothing is issued again.
//!
//! The flow is pure: no clock, no randomness, no I/O. Cards are issued *from* the
//! [`CardToIssue`] values, each carrying a stable [`issue_key`](CardToIssue::issue_key) so the
//! host can issue idempotently; the code is generated at that step, and the library never
//! sends mail. [`Order::cards_to_issue`] gives the same values again for a paid order, so an
//! issuing step that crashed can be retried.

use crate::ident::text_newtype;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::card::Reference;
use crate::code::mask_typed;
use crate::money::Money;
use crate::redeem::{RedeemError, Request, StoreError};
use crate::shop::Selection;
use crate::shop::{PaymentError, PaymentMethod, PaymentPolicy};
use crate::shop::{Totals, TotalsError, TotalsSettings};

use super::*;

/// The shipping method of the completed shipment that carries gift certificates (Spryker's
/// `"noshipment"` constant).
pub const NO_SHIPMENT: &str = "noshipment";

const MAX_ORDER_ID_LEN: usize = 64;

/// Everything that can go wrong placing or advancing an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PurchaseError {
    /// The order id is empty, too long, or uses other characters than `A-Z a-z 0-9 - _ .`.
    #[error("invalid order id \"{id}\": {reason}")]
    InvalidOrderId {
        /// The id given (at most 64 characters of it).
        id: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The e-mail address is not usable (the address is left out of the message: it is
    /// personal data).
    #[error("invalid e-mail address: {reason}")]
    InvalidEmail {
        /// Why it was refused.
        reason: &'static str,
    },
    /// The gift message is empty, too long or holds control characters.
    #[error("invalid gift message: {reason}")]
    InvalidGiftMessage {
        /// Why it was refused.
        reason: &'static str,
    },
    /// A shipping method name that is empty or too long.
    #[error("invalid shipping method \"{method}\": {reason}")]
    InvalidShippingMethod {
        /// The name given (at most 64 characters of it).
        method: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An order needs at least one line.
    #[error("cannot place an order for an empty selection")]
    EmptySelection,
    /// The step asked for does not fit the order's status.
    #[error("order is {found}, expected {expected}")]
    WrongStatus {
        /// The status the step needs.
        expected: OrderStatus,
        /// The order's status.
        found: OrderStatus,
    },
    /// The order has no products to ship.
    #[error("order has no products to ship")]
    NothingToShip,
    /// An order read from JSON whose parts disagree.
    #[error("order is inconsistent: {0}")]
    Inconsistent(&'static str),
    /// The payment method may not pay for this selection.
    #[error(transparent)]
    Payment(#[from] PaymentError),
    /// The totals could not be computed.
    #[error(transparent)]
    Totals(#[from] TotalsError),
}

text_newtype! {
    /// An order id the host picks (`"o-1001"`): 1 to 64 characters from `A-Z a-z 0-9 - _ .`.
    pub struct OrderId;
    error: PurchaseError;
    /// Checks and wraps an order id.
    ///
    /// # Errors
    ///
    /// [`PurchaseError::InvalidOrderId`] when empty, longer than 64 characters, or using other
    /// characters than ASCII letters, digits, `-`, `_` and `.`.
    fn new(id) {
        if let Some(reason) = crate::ident::identifier_problem(id) {
            return Err(PurchaseError::InvalidOrderId {
                id: crate::ident::shown(id),
                reason,
            });
        }
    }
}

/// A gift certificate applied as credit to an order: its code and the balance it can give.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GiftCredit {
    code: String,
    balance: Money,
}

impl GiftCredit {
    /// The code as the buyer typed it (a secret: do not log it).
    #[must_use]
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The balance it can give.
    #[must_use]
    pub const fn balance(&self) -> Money {
        self.balance
    }
}

/// Codes are secrets: shown masked.
impl fmt::Debug for GiftCredit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GiftCredit")
            .field("code", &mask_typed(&self.code))
            .field("balance", &self.balance)
            .finish()
    }
}

/// What the buyer gives when paying (Centra's `POST /payment`): the method, their e-mail, an
/// optional recipient and gift message, and gift credit for the product part.
///
/// ```
/// use giftcert::{EmailAddress, PaymentDetails, PaymentKind, PaymentMethod, shop::GiftMessage};
///
/// let details = PaymentDetails::new(
///     PaymentMethod::new("card", PaymentKind::Card)?,
///     EmailAddress::new("buyer@example.com")?,
/// )
/// .with_recipient(EmailAddress::new("friend@example.com")?)
/// .with_gift_message(GiftMessage::new("ABC")?);
/// assert_eq!(details.gift_message().map(|m| m.as_str()), Some("ABC"));
/// assert_eq!(details.deliver_to().as_str(), "friend@example.com");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentDetails {
    method: PaymentMethod,
    email: EmailAddress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recipient: Option<EmailAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gift_message: Option<GiftMessage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    gift_credit: Vec<GiftCredit>,
}

impl PaymentDetails {
    /// Paying with `method`; the buyer's address is `email`.
    #[must_use]
    pub const fn new(method: PaymentMethod, email: EmailAddress) -> PaymentDetails {
        PaymentDetails {
            method,
            email,
            recipient: None,
            gift_message: None,
            gift_credit: Vec::new(),
        }
    }

    /// Sends the cards to `recipient` instead of the buyer.
    #[must_use]
    pub fn with_recipient(mut self, recipient: EmailAddress) -> PaymentDetails {
        self.recipient = Some(recipient);
        self
    }

    /// Attaches Centra's `giftMessage`; it is kept on the order.
    #[must_use]
    pub fn with_gift_message(mut self, message: GiftMessage) -> PaymentDetails {
        self.gift_message = Some(message);
        self
    }

    /// Applies a gift certificate (`code` as the buyer typed it, `balance` it can give) as
    /// credit. It pays the product part of the order only.
    #[must_use]
    pub fn with_gift_credit(mut self, code: impl Into<String>, balance: Money) -> PaymentDetails {
        self.gift_credit.push(GiftCredit {
            code: code.into(),
            balance,
        });
        self
    }

    /// The method paying what credit does not.
    #[must_use]
    pub fn method(&self) -> &PaymentMethod {
        &self.method
    }

    /// The buyer's address.
    #[must_use]
    pub fn email(&self) -> &EmailAddress {
        &self.email
    }

    /// The recipient's address, when not the buyer.
    #[must_use]
    pub fn recipient(&self) -> Option<&EmailAddress> {
        self.recipient.as_ref()
    }

    /// Where the cards go: the recipient, or else the buyer.
    #[must_use]
    pub fn deliver_to(&self) -> &EmailAddress {
        self.recipient.as_ref().unwrap_or(&self.email)
    }

    /// The gift message.
    #[must_use]
    pub fn gift_message(&self) -> Option<&GiftMessage> {
        self.gift_message.as_ref()
    }

    /// The gift certificates applied as credit, in the order applied.
    #[must_use]
    pub fn gift_credit(&self) -> &[GiftCredit] {
        &self.gift_credit
    }
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum OrderStatus {
    /// Placed; no payment result yet.
    AwaitingPayment,
    /// The payment failed; nothing was issued.
    PaymentFailed,
    /// Paid; the certificates are issued, products still wait for their shipment.
    Paid,
    /// Paid and every shipment completed.
    Finalised,
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OrderStatus::AwaitingPayment => "awaiting payment",
            OrderStatus::PaymentFailed => "payment failed",
            OrderStatus::Paid => "paid",
            OrderStatus::Finalised => "finalised",
        })
    }
}

/// What a shipment carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ShipmentContents {
    /// The gift certificates: nothing physical, shipped with [`NO_SHIPMENT`].
    GiftCertificates,
    /// The products.
    Products,
}

/// A completed shipment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    method: String,
    contents: ShipmentContents,
    completed_at: DateTime<Utc>,
}

impl Shipment {
    /// The shipping method ([`NO_SHIPMENT`] for gift certificates).
    #[must_use]
    pub fn method(&self) -> &str {
        &self.method
    }

    /// What it carried.
    #[must_use]
    pub const fn contents(&self) -> ShipmentContents {
        self.contents
    }

    /// When it was completed.
    #[must_use]
    pub const fn completed_at(&self) -> DateTime<Utc> {
        self.completed_at
    }
}

/// A payment result, as the payment provider reported it to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum PaymentResult {
    /// The outstanding balance was paid.
    Paid,
    /// The payment failed.
    Failed,
}

/// What reporting a payment result did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
#[non_exhaustive]
pub enum PaymentOutcome {
    /// The order is paid: issue these cards and send the notification.
    Paid {
        /// One per certificate unit (empty for an order of products only).
        cards: Vec<CardToIssue>,
        /// The e-mail to send (none when there are no cards).
        notification: Option<CertificateNotification>,
    },
    /// The payment failed; nothing is issued.
    Failed,
    /// The order already had a payment result: nothing is issued again.
    AlreadySettled {
        /// The order's status, unchanged.
        status: OrderStatus,
    },
}

/// An order placed from a selection, through payment to finalisation.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use giftcert::{Catalogue, CertificateDefinition, Currency, EmailAddress, Order, OrderId, PaymentDetails, PaymentKind, PaymentMethod, PaymentPolicy, PaymentResult, PriceBasis, Selection, SelectionPolicy, TotalsSettings, shop::{OrderStatus, PaymentOutcome, NO_SHIPMENT}};
/// use rust_decimal::Decimal;
///
/// let catalogue = Catalogue::new()
///     .with(CertificateDefinition::any_amount("gift-1", "Dynamic gift certificate")?)?;
/// let mut cart = Selection::new(Currency::USD, PriceBasis::TaxIncluded, SelectionPolicy::exclusive());
/// cart.add_certificate_from(&catalogue, "gift-1", Some(Decimal::from(100)), 1)?;
///
/// let details = PaymentDetails::new(
///     PaymentMethod::new("card", PaymentKind::Card)?,
///     EmailAddress::new("buyer@example.com")?,
/// );
/// let mut order = Order::place(
///     OrderId::new("o-1")?, cart, details, &PaymentPolicy::default(), &TotalsSettings::default(),
/// )?;
/// let now = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).single().ok_or("no such time")?;
/// let PaymentOutcome::Paid { cards, .. } = order.report_payment(PaymentResult::Paid, now) else {
///     return Err("expected a paid outcome".into());
/// };
/// assert_eq!(cards.len(), 1);
/// assert_eq!(order.status(), OrderStatus::Finalised);
/// assert_eq!(order.shipments()[0].method(), NO_SHIPMENT);
///
/// // The same result again issues nothing.
/// assert!(matches!(
///     order.report_payment(PaymentResult::Paid, now),
///     PaymentOutcome::AlreadySettled { .. }
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "OrderRepr")]
pub struct Order {
    id: OrderId,
    status: OrderStatus,
    selection: Selection,
    totals: Totals,
    payment: PaymentDetails,
    #[serde(skip_serializing_if = "Option::is_none")]
    paid_at: Option<DateTime<Utc>>,
    shipments: Vec<Shipment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderRepr {
    id: OrderId,
    status: OrderStatus,
    selection: Selection,
    totals: Totals,
    payment: PaymentDetails,
    #[serde(default)]
    paid_at: Option<DateTime<Utc>>,
    #[serde(default)]
    shipments: Vec<Shipment>,
}

impl TryFrom<OrderRepr> for Order {
    type Error = PurchaseError;

    fn try_from(r: OrderRepr) -> Result<Self, Self::Error> {
        let inconsistent = PurchaseError::Inconsistent;
        if r.selection.is_empty() {
            return Err(PurchaseError::EmptySelection);
        }
        if r.totals.currency() != r.selection.currency() {
            return Err(inconsistent(
                "totals and selection are in different currencies",
            ));
        }
        let has = |contents| r.shipments.iter().any(|s| s.contents == contents);
        let certificates_shipped = has(ShipmentContents::GiftCertificates);
        let products_shipped = has(ShipmentContents::Products);
        let consistent = match r.status {
            OrderStatus::AwaitingPayment | OrderStatus::PaymentFailed => {
                r.paid_at.is_none() && r.shipments.is_empty()
            }
            OrderStatus::Paid => {
                r.paid_at.is_some()
                    && !r.selection.products().is_empty()
                    && !products_shipped
                    && certificates_shipped == r.selection.holds_certificates()
            }
            OrderStatus::Finalised => {
                r.paid_at.is_some()
                    && certificates_shipped == r.selection.holds_certificates()
                    && products_shipped != r.selection.products().is_empty()
            }
        };
        if !consistent || r.shipments.len() > 2 {
            return Err(inconsistent(
                "its status does not match its payment and shipments",
            ));
        }
        Ok(Order {
            id: r.id,
            status: r.status,
            selection: r.selection,
            totals: r.totals,
            payment: r.payment,
            paid_at: r.paid_at,
            shipments: r.shipments,
        })
    }
}

impl Order {
    /// Places an order for `selection`, to be paid as `payment` says (Centra's
    /// `POST /payment`). The totals are computed with the payment's gift credit.
    ///
    /// # Errors
    ///
    /// [`PurchaseError::EmptySelection`], [`PurchaseError::Payment`] when `policy` bars the
    /// method for a selection holding gift certificates, and [`PurchaseError::Totals`] when the
    /// totals cannot be computed (see [`Totals::compute`]).
    pub fn place(
        id: OrderId,
        selection: Selection,
        payment: PaymentDetails,
        policy: &PaymentPolicy,
        settings: &TotalsSettings,
    ) -> Result<Order, PurchaseError> {
        if selection.is_empty() {
            return Err(PurchaseError::EmptySelection);
        }
        policy.check(&selection, &payment.method)?;
        let credit = payment
            .gift_credit
            .iter()
            .map(|c| (c.code.clone(), c.balance));
        let totals = Totals::compute(&selection, credit, settings)?;
        Ok(Order {
            id,
            status: OrderStatus::AwaitingPayment,
            selection,
            totals,
            payment,
            paid_at: None,
            shipments: Vec::new(),
        })
    }

    /// Applies the payment result the host received (Centra's `POST /payment-result`).
    ///
    /// On [`PaymentResult::Paid`] the gift certificates get a completed [`NO_SHIPMENT`]
    /// shipment at `now`; an order of certificates only is [`OrderStatus::Finalised`], one with
    /// products is [`OrderStatus::Paid`] until [`Order::complete_product_shipment`]. The
    /// outcome lists one [`CardToIssue`] per certificate unit and the notification to send.
    ///
    /// On [`PaymentResult::Failed`] the order is [`OrderStatus::PaymentFailed`] and nothing is
    /// issued. On an order that already has a result, whatever is reported, the outcome is
    /// [`PaymentOutcome::AlreadySettled`] and nothing changes or is issued again.
    #[must_use = "the outcome lists the cards to issue and the e-mail to send"]
    pub fn report_payment(&mut self, result: PaymentResult, now: DateTime<Utc>) -> PaymentOutcome {
        if self.status != OrderStatus::AwaitingPayment {
            return PaymentOutcome::AlreadySettled {
                status: self.status,
            };
        }
        match result {
            PaymentResult::Failed => {
                self.status = OrderStatus::PaymentFailed;
                PaymentOutcome::Failed
            }
            PaymentResult::Paid => {
                self.paid_at = Some(now);
                if self.selection.holds_certificates() {
                    self.shipments.push(Shipment {
                        method: NO_SHIPMENT.to_owned(),
                        contents: ShipmentContents::GiftCertificates,
                        completed_at: now,
                    });
                }
                self.status = if self.selection.products().is_empty() {
                    OrderStatus::Finalised
                } else {
                    OrderStatus::Paid
                };
                let cards = self.cards_to_issue();
                let notification = self.notification();
                PaymentOutcome::Paid {
                    cards,
                    notification,
                }
            }
        }
    }

    /// Records the products' completed shipment by `method` at `now`, finalising a paid order.
    ///
    /// # Errors
    ///
    /// [`PurchaseError::WrongStatus`] unless the order is [`OrderStatus::Paid`],
    /// [`PurchaseError::NothingToShip`] for an order without products, and
    /// [`PurchaseError::InvalidShippingMethod`] for an empty or over-long method name.
    pub fn complete_product_shipment(
        &mut self,
        method: &str,
        now: DateTime<Utc>,
    ) -> Result<(), PurchaseError> {
        if self.selection.products().is_empty() {
            return Err(PurchaseError::NothingToShip);
        }
        if self.status != OrderStatus::Paid {
            return Err(PurchaseError::WrongStatus {
                expected: OrderStatus::Paid,
                found: self.status,
            });
        }
        let invalid = |reason| PurchaseError::InvalidShippingMethod {
            method: method.chars().take(MAX_ORDER_ID_LEN).collect(),
            reason,
        };
        if method.trim().is_empty() {
            return Err(invalid("it is empty"));
        }
        if method.chars().count() > MAX_ORDER_ID_LEN {
            return Err(invalid("it is longer than 64 characters"));
        }
        self.shipments.push(Shipment {
            method: method.to_owned(),
            contents: ShipmentContents::Products,
            completed_at: now,
        });
        self.status = OrderStatus::Finalised;
        Ok(())
    }

    /// The [`Request`] that issues the cards this order bought ([`Order::cards_to_issue`]),
    /// under a key the protocol makes from the order id, so that each is issued once however
    /// often the request runs.
    ///
    /// # Errors
    ///
    /// [`RedeemError::OrderNotPaid`] for an order awaiting its payment or whose payment
    /// failed: there is nothing to issue, and saying so is the caller's cue not to send an
    /// e-mail. [`RedeemError::Store`] never in practice: an order id is always a valid
    /// reference.
    pub fn issue_request(&self) -> Result<Request, RedeemError> {
        let order = Reference::new(self.id.as_str())
            .map_err(|e| StoreError::corrupt(format!("an order id is no reference: {e}")))?;
        if !matches!(self.status, OrderStatus::Paid | OrderStatus::Finalised) {
            return Err(RedeemError::OrderNotPaid {
                order,
                status: self.status.to_string(),
            });
        }
        let specs = self
            .cards_to_issue()
            .iter()
            .map(CardToIssue::card_spec)
            .collect();
        Ok(Request::IssueForOrder { order, specs })
    }

    /// The cards a paid order issues, one per certificate unit, numbered from 1 in line order;
    /// empty before payment or after a failed one. The same values every time, so an issuing
    /// step that stopped halfway can be run again (skipping the issue keys already issued).
    #[must_use]
    pub fn cards_to_issue(&self) -> Vec<CardToIssue> {
        if !matches!(self.status, OrderStatus::Paid | OrderStatus::Finalised) {
            return Vec::new();
        }
        let units = self
            .selection
            .certificates()
            .iter()
            .flat_map(|line| (0..line.quantity()).map(move |_| line));
        units
            .zip(1..=u32::MAX)
            .map(|(line, unit)| CardToIssue {
                order_id: self.id.clone(),
                unit,
                definition: line.definition().clone(),
                value: line.value(),
                purpose: line.purpose(),
                recipient: self.payment.deliver_to().clone(),
                gift_message: self.payment.gift_message.clone(),
            })
            .collect()
    }

    /// The e-mail for the host to send for a paid order holding gift certificates.
    #[must_use]
    pub fn notification(&self) -> Option<CertificateNotification> {
        let cards = self.cards_to_issue();
        if cards.is_empty() {
            return None;
        }
        Some(CertificateNotification {
            to: self.payment.deliver_to().clone(),
            buyer: self.payment.email.clone(),
            order_id: self.id.clone(),
            gift_message: self.payment.gift_message.clone(),
            cards,
        })
    }

    /// The order id.
    #[must_use]
    pub fn id(&self) -> &OrderId {
        &self.id
    }

    /// Where the order stands.
    #[must_use]
    pub const fn status(&self) -> OrderStatus {
        self.status
    }

    /// The selection it was placed from.
    #[must_use]
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// Its totals, with the gift credit applied.
    #[must_use]
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// The payment details, with the gift message.
    #[must_use]
    pub fn payment(&self) -> &PaymentDetails {
        &self.payment
    }

    /// The gift message kept on the order.
    #[must_use]
    pub fn gift_message(&self) -> Option<&GiftMessage> {
        self.payment.gift_message.as_ref()
    }

    /// When the payment succeeded.
    #[must_use]
    pub const fn paid_at(&self) -> Option<DateTime<Utc>> {
        self.paid_at
    }

    /// The completed shipments.
    #[must_use]
    pub fn shipments(&self) -> &[Shipment] {
        &self.shipments
    }
}
