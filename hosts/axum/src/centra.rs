//! Centra's Shop API for selling gift certificates: the listing, selections, payment and the
//! payment result that finalises the order and issues the cards.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use giftcert::catalogue::CatalogueListing;
use giftcert::clock::{Clock, SystemClock};
use giftcert::redeem::{Answer, IssuedCard};
use giftcert::shop::{
    CertificateLine, GiftMessage, OrderStatus, PaymentOutcome, RemovedLine, Totals,
};
use giftcert::store::AsyncStore;
use giftcert::{
    Currency, EmailAddress, Notification, Order, OrderId, PaymentDetails, PaymentResult,
    PriceBasis, Selection, SelectionPolicy,
};
use serde::{Deserialize, Serialize};

use crate::amount::Amount;
use crate::error::{ApiError, Body, Params};
use crate::service::unexpected;
use crate::shop::{Shop, fresh_id, lock};

/// A selection (cart) and the order placed from it, if any.
#[derive(Debug, Clone)]
pub(crate) struct SelectionRecord {
    selection: Selection,
    order: Option<Order>,
}

/// The selection as the shop shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SelectionBody {
    selection: String,
    currency: Currency,
    gift_certificates: Vec<CertificateLine>,
    totals: Option<Totals>,
    order: Option<Order>,
    /// What the last change took out (Centra: products, or the previous certificate).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    removed: Vec<RemovedLine>,
}

impl<S> Shop<S> {
    fn selection_body(&self, id: &str, record: &SelectionRecord) -> SelectionBody {
        let selection = &record.selection;
        SelectionBody {
            selection: id.to_owned(),
            currency: selection.currency(),
            gift_certificates: selection.certificates().to_vec(),
            // An empty selection has no totals to show.
            totals: Totals::compute(selection, std::iter::empty::<(String, _)>(), &self.totals)
                .ok(),
            order: record.order.clone(),
            removed: Vec::new(),
        }
    }
}

/// Why a selection with `order` can no longer change, if it cannot: once an order is placed
/// the provider may be charging for it, and a changed selection would leave the charge with no
/// order to finalise and no card to issue. Only a failed payment frees the selection.
fn locked(id: &str, order: &Order) -> Option<ApiError> {
    match order.status() {
        OrderStatus::PaymentFailed => None,
        OrderStatus::AwaitingPayment => Some(ApiError::new(
            StatusCode::CONFLICT,
            "order_pending",
            format!(
                "selection {id} has order {} awaiting its payment result: it can no longer \
                 change",
                order.id()
            ),
        )),
        OrderStatus::Paid | OrderStatus::Finalised => Some(ApiError::new(
            StatusCode::CONFLICT,
            "order_already_paid",
            format!(
                "selection {id} was paid (order {}): start a new selection",
                order.id()
            ),
        )),
        status => Some(ApiError::new(
            StatusCode::CONFLICT,
            "order_placed",
            format!(
                "selection {id} has order {} ({status}): it can no longer change",
                order.id()
            ),
        )),
    }
}

fn unknown_selection() -> ApiError {
    ApiError::not_found("selection", "unknown_selection")
}

/// `GET /gift-certificates`: the catalogue in Centra's shape.
pub(crate) async fn listing<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
) -> Json<CatalogueListing> {
    Json(shop.catalogue.listing(&shop.formats))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewSelection {
    currency: Currency,
}

/// `POST /selections`: an empty selection in a currency, under Centra's exclusive rules.
pub(crate) async fn create_selection<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Body(new): Body<NewSelection>,
) -> (StatusCode, Json<SelectionBody>) {
    let id = fresh_id("sel-");
    let record = SelectionRecord {
        selection: Selection::new(
            new.currency,
            PriceBasis::TaxIncluded,
            SelectionPolicy::exclusive(),
        ),
        order: None,
    };
    let body = shop.selection_body(&id, &record);
    lock(&shop.selections).insert(id, record);
    (StatusCode::CREATED, Json(body))
}

/// `GET /selections/{id}`.
pub(crate) async fn get_selection<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
) -> Result<Json<SelectionBody>, ApiError> {
    let selections = lock(&shop.selections);
    let record = selections.get(&id).ok_or_else(unknown_selection)?;
    Ok(Json(shop.selection_body(&id, record)))
}

fn one() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AddCertificate {
    gift_certificate: String,
    /// The buyer's value for an any-amount certificate, in the selection's currency.
    #[serde(default)]
    amount: Option<Amount>,
    #[serde(default = "one")]
    quantity: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AmountOnly {
    #[serde(default)]
    amount: Option<Amount>,
}

fn add_to_selection<S>(
    shop: &Shop<S>,
    id: &str,
    certificate: &str,
    amount: Option<Amount>,
    quantity: u64,
) -> Result<Json<SelectionBody>, ApiError> {
    let mut selections = lock(&shop.selections);
    let record = selections.get_mut(id).ok_or_else(unknown_selection)?;
    if let Some(refusal) = record.order.as_ref().and_then(|order| locked(id, order)) {
        return Err(refusal);
    }
    let change = record.selection.add_certificate_from(
        &shop.catalogue,
        certificate,
        amount.map(|a| a.0),
        quantity,
    )?;
    // Only a failed order is left behind: the selection changed, and a new payment places a
    // new order.
    record.order = None;
    let mut body = shop.selection_body(id, record);
    body.removed = change.removed().to_vec();
    Ok(Json(body))
}

/// `POST /selections/{id}/gift-certificates` with `{"giftCertificate": "gift-1", "amount": 100}`.
pub(crate) async fn add_certificate<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    Body(add): Body<AddCertificate>,
) -> Result<Json<SelectionBody>, ApiError> {
    add_to_selection(&shop, &id, &add.gift_certificate, add.amount, add.quantity)
}

/// `POST /selections/{id}/gift-certificates/{giftCertificate}`, Centra's path form; an
/// any-amount certificate takes `{"amount": X}` in the body.
pub(crate) async fn add_certificate_by_path<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params((id, certificate)): Params<(String, String)>,
    crate::error::OptionalBody(body): crate::error::OptionalBody<AmountOnly>,
) -> Result<Json<SelectionBody>, ApiError> {
    let amount = body.and_then(|b| b.amount);
    add_to_selection(&shop, &id, &certificate, amount, 1)
}

/// `POST /selections/{id}/gift-certificates/{giftCertificate}/amount/{amount}`.
pub(crate) async fn add_certificate_with_amount<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params((id, certificate, amount)): Params<(String, String, String)>,
) -> Result<Json<SelectionBody>, ApiError> {
    let amount: Amount = serde_json::from_value(serde_json::Value::String(amount))
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_amount", e.to_string()))?;
    add_to_selection(&shop, &id, &certificate, Some(amount), 1)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PaymentRequest {
    payment_method: String,
    email: String,
    #[serde(default)]
    recipient_email: Option<String>,
    #[serde(default)]
    gift_message: Option<String>,
}

/// The selection with the order just placed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentBody {
    selection: SelectionBody,
    order: Order,
}

/// `POST /selections/{id}/payment`: places the order with a payment method the policy allows
/// for gift certificates (invoice and gift credit are refused), the buyer's e-mail and an
/// optional gift message kept on the order.
pub(crate) async fn payment<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    Body(request): Body<PaymentRequest>,
) -> Result<Json<PaymentBody>, ApiError> {
    let method = shop
        .methods
        .iter()
        .find(|m| m.id() == request.payment_method)
        .cloned()
        .ok_or_else(|| {
            let known: Vec<&str> = shop.methods.iter().map(|m| m.id()).collect();
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_payment_method",
                format!(
                    "unknown payment method, expected one of {}",
                    known.join(", ")
                ),
            )
        })?;
    let mut details = PaymentDetails::new(method, EmailAddress::new(&request.email)?);
    if let Some(recipient) = &request.recipient_email {
        details = details.with_recipient(EmailAddress::new(recipient)?);
    }
    if let Some(message) = &request.gift_message {
        details = details.with_gift_message(GiftMessage::new(message)?);
    }
    let order_id = OrderId::new(&fresh_id("o-"))?;

    let mut selections = lock(&shop.selections);
    let record = selections.get_mut(&id).ok_or_else(unknown_selection)?;
    if let Some(order) = &record.order {
        // The same payment again (a retry) answers the order it placed; another one is
        // refused, naming the order, which stays payable.
        if order.status() == OrderStatus::AwaitingPayment && order.payment() == &details {
            return Ok(Json(PaymentBody {
                selection: shop.selection_body(&id, record),
                order: order.clone(),
            }));
        }
        if let Some(refusal) = locked(&id, order) {
            return Err(refusal);
        }
    }
    let order = Order::place(
        order_id,
        record.selection.clone(),
        details,
        &shop.payment_policy,
        &shop.totals,
    )?;
    record.order = Some(order.clone());
    Ok(Json(PaymentBody {
        selection: shop.selection_body(&id, record),
        order,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PaymentResultRequest {
    /// `paid` or `failed`, as the payment provider reported it.
    result: PaymentResult,
}

/// The messages a real host would e-mail. This demo sends no e-mail, so it hands them back:
/// they carry the codes whole, and are shown once.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EmailOutbox {
    note: &'static str,
    messages: Vec<Notification>,
}

impl EmailOutbox {
    pub(crate) fn new(messages: Vec<Notification>) -> EmailOutbox {
        EmailOutbox {
            note: "not sent: this demo has no e-mail, so these are the messages the host would \
                   e-mail (they hold the codes whole and are shown only once)",
            messages,
        }
    }
}

/// The payment result's effect: the order, the cards issued (masked) and the e-mails.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PaymentResultBody {
    /// `paid`, `failed` or `alreadySettled`.
    outcome: &'static str,
    order: Order,
    issued_cards: Vec<IssuedCard>,
    email_outbox: EmailOutbox,
}

/// `POST /selections/{id}/payment-result`: on `paid` the order finalises (a completed
/// `noshipment` shipment) and the cards are issued, once per order however often this is
/// called.
pub(crate) async fn payment_result<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    Body(request): Body<PaymentResultRequest>,
) -> Result<Json<PaymentResultBody>, ApiError> {
    let (outcome, order) = {
        let mut selections = lock(&shop.selections);
        let record = selections.get_mut(&id).ok_or_else(unknown_selection)?;
        let order = record.order.as_mut().ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_order",
                format!("selection {id} has no order: POST its payment first"),
            )
        })?;
        let outcome = match order.report_payment(request.result, SystemClock.now()) {
            PaymentOutcome::Paid { .. } => "paid",
            PaymentOutcome::Failed => "failed",
            _ => "alreadySettled",
        };
        (outcome, order.clone())
    };
    // Issuing is keyed by the order id: a repeated or concurrent report issues nothing twice,
    // and one that failed halfway issues the rest. A failed order has nothing to issue.
    let issued = if matches!(order.status(), OrderStatus::Paid | OrderStatus::Finalised) {
        match shop.cards.run(order.issue_request()?).await? {
            Answer::IssueForOrder(issued) => Some(issued),
            other => return Err(unexpected(&other).into()),
        }
    } else {
        None
    };
    let (issued_cards, messages) =
        issued.map_or_else(Default::default, |i| (i.outcome.cards, i.notifications));
    Ok(Json(PaymentResultBody {
        outcome,
        order,
        issued_cards,
        email_outbox: EmailOutbox::new(messages),
    }))
}
