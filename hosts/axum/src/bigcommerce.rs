//! BigCommerce's Storefront checkout with gift certificates as a payment method: applying and
//! removing codes, the checkout's `giftCertificates` and `outstandingBalance`, and the money
//! moves (authorise, capture, void, refund) under an `Idempotency-Key`.
//!
//! Every figure of a checkout comes from the library: the order's [`Totals`] over the cards
//! the driver reads ([`AsyncRedeemer::checkout_cards`](giftcert::store::AsyncRedeemer::checkout_cards)),
//! in the protocol's allocation order, and the [`CheckoutView`] of them, which shows what each
//! card pays, holds, captured and refunded and what is left to pay. This module only translates
//! requests into library calls and those values into BigCommerce's JSON.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use giftcert::clock::{Clock, SystemClock};
use giftcert::code::Code;
use giftcert::redeem::{
    Answer, Authorisation, Captured, CheckoutCards, PaymentStage, RefundOutcome, RefundTo, Request,
    Voided,
};
use giftcert::redeem::{CheckoutId, ClientId};
use giftcert::shop::{CheckoutView, GiftCertificateView, ProductLine};
use giftcert::store::AsyncStore;
use giftcert::{
    Currency, IdempotencyKey, Money, PriceBasis, RedeemError, Selection, SelectionPolicy, TaxRate,
    Totals, TotalsSettings,
};
use serde::{Deserialize, Serialize};

use crate::amount::{Amount, MoneyInput};
use crate::centra::EmailOutbox;
use crate::error::{ApiError, Body, OptionalBody, Params};
use crate::service::{ServiceError, unexpected};
use crate::shop::{Shop, fresh_id, lock};

/// The longest `Idempotency-Key` header accepted (the store's limit is 255, and the key is
/// scoped by the checkout id).
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// A checkout as the shop keeps it: what it costs. The cards applied to it live in the store.
#[derive(Debug, Clone)]
pub(crate) struct CheckoutRecord {
    reference: CheckoutId,
    currency: Currency,
    tax_included: bool,
    lines: Vec<LineItem>,
    pricing: Pricing,
    /// What the order costs before gift certificates, as the library priced it at creation.
    grand_total: Money,
    created_time: String,
}

/// How the order is priced: a bare grand total from elsewhere, or the cart's lines here.
#[derive(Debug, Clone)]
enum Pricing {
    GrandTotal(Money),
    Lines(Selection),
}

impl Pricing {
    /// The order's totals with the checkout's cards paying in the protocol's order.
    fn totals(&self, cards: &CheckoutCards, settings: &TotalsSettings) -> Result<Totals, ApiError> {
        match self {
            Pricing::GrandTotal(total) => Totals::for_grand_total(*total, cards),
            Pricing::Lines(cart) => Totals::with_checkout(cart, cards, settings),
        }
        .map_err(wrong_sum)
    }
}

/// A cart line, as sent and shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LineItem {
    sku: String,
    quantity: u64,
    /// The price of one unit, in the checkout's currency.
    unit_price: Amount,
    /// The tax rate in percent (`"25"`).
    tax_rate: Amount,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewCheckout {
    currency: Currency,
    /// What the order costs, when the cart is priced elsewhere.
    #[serde(default)]
    grand_total: Option<Amount>,
    /// The cart's lines, priced here.
    #[serde(default)]
    lines: Vec<LineItem>,
    /// Whether line prices include tax (BigCommerce's `isTaxIncluded`).
    #[serde(default = "yes")]
    tax_included: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CurrencyBody {
    code: Currency,
    decimal_places: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CartBody {
    currency: CurrencyBody,
    is_tax_included: bool,
    line_items: Vec<LineItem>,
}

/// The checkout in BigCommerce's shape.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckoutBody {
    id: String,
    cart: CartBody,
    subtotal: Money,
    tax_total: Money,
    /// What the order costs, before gift certificates.
    grand_total: Money,
    gift_certificates: Vec<GiftCertificateView>,
    /// `grandTotal` less what the gift certificates pay.
    outstanding_balance: Money,
    is_store_credit_applied: bool,
    /// Where the gift certificate payment stands: `open`, `authorised`, `captured`, `voided`.
    gift_certificate_payment: PaymentStage,
    created_time: String,
}

fn unknown_checkout() -> ApiError {
    ApiError::not_found("checkout", "unknown_checkout")
}

fn wrong_sum(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("checkout amounts do not add up: {e}"))
}

/// The checkout in BigCommerce's shape: the library's totals and view of `cards`, as they are.
fn checkout_body(
    id: &str,
    record: &CheckoutRecord,
    cards: &CheckoutCards,
    settings: &TotalsSettings,
) -> Result<CheckoutBody, ApiError> {
    let totals = record.pricing.totals(cards, settings)?;
    let view = CheckoutView::new(cards, &totals).map_err(wrong_sum)?;
    Ok(CheckoutBody {
        id: id.to_owned(),
        cart: CartBody {
            currency: CurrencyBody {
                code: record.currency,
                decimal_places: record.currency.minor_units(),
            },
            is_tax_included: record.tax_included,
            line_items: record.lines.clone(),
        },
        subtotal: totals.subtotal(),
        tax_total: totals.tax_total(),
        grand_total: view.grand_total,
        is_store_credit_applied: false,
        gift_certificates: view.gift_certificates,
        outstanding_balance: view.outstanding_balance,
        gift_certificate_payment: view.stage,
        created_time: record.created_time.clone(),
    })
}

fn record_of<S>(shop: &Shop<S>, id: &str) -> Result<CheckoutRecord, ApiError> {
    lock(&shop.checkouts)
        .get(id)
        .cloned()
        .ok_or_else(unknown_checkout)
}

/// The checkout as it stands now.
async fn current<S: AsyncStore + 'static>(
    shop: &Shop<S>,
    id: &str,
    record: &CheckoutRecord,
) -> Result<CheckoutBody, ApiError> {
    let cards = shop.cards.checkout_cards(record.reference.clone()).await?;
    checkout_body(id, record, &cards, &shop.totals)
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// The cart of `lines`, checked by pricing it with the library's totals (tax first, on the
/// original prices); returns it with its totals.
fn price_lines(
    currency: Currency,
    tax_included: bool,
    lines: &[LineItem],
    settings: &TotalsSettings,
) -> Result<(Selection, Totals), ApiError> {
    let basis = if tax_included {
        PriceBasis::TaxIncluded
    } else {
        PriceBasis::TaxExcluded
    };
    let mut cart = Selection::new(currency, basis, SelectionPolicy::mixed());
    for line in lines {
        let rate = TaxRate::new(line.tax_rate.0)
            .map_err(|e| invalid("invalid_tax_rate", e.to_string()))?;
        let unit = line.unit_price.in_currency(currency)?;
        cart.add_product(ProductLine::new(&line.sku, unit, line.quantity, rate)?)?;
    }
    let totals = Totals::compute(&cart, std::iter::empty::<(String, Money)>(), settings)
        .map_err(|e| invalid("invalid_cart", e.to_string()))?;
    Ok((cart, totals))
}

/// `POST /checkouts`: a checkout in a currency, with either a `grandTotal` or `lines` to price.
pub(crate) async fn create_checkout<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Body(new): Body<NewCheckout>,
) -> Result<(StatusCode, Json<CheckoutBody>), ApiError> {
    let currency = new.currency;
    let (pricing, grand_total) = match (new.grand_total, new.lines.is_empty()) {
        (Some(total), true) => {
            let total = total.in_currency(currency)?;
            (Pricing::GrandTotal(total), total)
        }
        (None, false) => {
            let (cart, totals) = price_lines(currency, new.tax_included, &new.lines, &shop.totals)?;
            (Pricing::Lines(cart), totals.grand_total())
        }
        _ => {
            return Err(invalid(
                "invalid_checkout",
                "expected either grandTotal or lines, not both or neither",
            ));
        }
    };
    if !grand_total.is_positive() {
        return Err(invalid(
            "invalid_amount",
            format!("grand total must be above zero, found {grand_total}"),
        ));
    }
    let id = fresh_id("chk-");
    let reference = CheckoutId::new(&id).map_err(ApiError::internal)?;
    let record = CheckoutRecord {
        reference,
        currency,
        tax_included: new.tax_included,
        lines: new.lines,
        pricing,
        grand_total,
        created_time: SystemClock.now().to_rfc3339(),
    };
    let body = current(&shop, &id, &record).await?;
    lock(&shop.checkouts).insert(id, record);
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /checkouts/{checkoutId}`.
pub(crate) async fn get_checkout<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
) -> Result<Json<CheckoutBody>, ApiError> {
    let record = record_of(&shop, &id)?;
    Ok(Json(current(&shop, &id, &record).await?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ApplyCode {
    gift_certificate_code: String,
}

/// The guard's client: the peer's IP address, or behind trusted proxies the address they
/// forwarded ([`TrustedProxies::client`](crate::edge::TrustedProxies::client)), an IPv6
/// address folded to its /64.
fn client_of<S>(shop: &Shop<S>, peer: SocketAddr, headers: &HeaderMap) -> ClientId {
    giftcert::redeem::client_ip(shop.proxies.client(peer.ip(), headers))
}

/// `POST /checkouts/{checkoutId}/gift-certificates` with `{"giftCertificateCode": "..."}`.
/// Unknown codes count against the peer's IP: the 21st distinct one in an hour is `429`.
pub(crate) async fn apply_code<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(apply): Body<ApplyCode>,
) -> Result<Json<CheckoutBody>, ApiError> {
    let record = record_of(&shop, &id)?;
    let code = Code::parse(&apply.gift_certificate_code).map_err(RedeemError::InvalidCode)?;
    shop.cards
        .run(Request::ApplyCode {
            client: client_of(&shop, peer, &headers),
            checkout: record.reference.clone(),
            currency: record.currency,
            code,
        })
        .await?;
    Ok(Json(current(&shop, &id, &record).await?))
}

/// `DELETE /checkouts/{checkoutId}/gift-certificates/{code}`, BigCommerce's form, which puts
/// the code in the URL (and so in access logs): [`remove_code_in_body`] keeps it out.
///
/// A code that is unknown and a code that is not on this checkout get the same answer, so
/// this endpoint cannot be used to find out which codes exist without passing the guard.
pub(crate) async fn remove_code<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params((id, code)): Params<(String, String)>,
) -> Result<Json<CheckoutBody>, ApiError> {
    remove(&shop, client_of(&shop, peer, &headers), &id, &code).await
}

/// `DELETE /checkouts/{checkoutId}/gift-certificates` with `{"giftCertificateCode": "..."}`:
/// as [`remove_code`], the code in the body.
pub(crate) async fn remove_code_in_body<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Params(id): Params<String>,
    Body(body): Body<ApplyCode>,
) -> Result<Json<CheckoutBody>, ApiError> {
    let client = client_of(&shop, peer, &headers);
    remove(&shop, client, &id, &body.gift_certificate_code).await
}

async fn remove<S: AsyncStore + 'static>(
    shop: &Shop<S>,
    client: ClientId,
    id: &str,
    code: &str,
) -> Result<Json<CheckoutBody>, ApiError> {
    let record = record_of(shop, id)?;
    let code = Code::parse(code).map_err(RedeemError::InvalidCode)?;
    let request = Request::RemoveCode {
        client,
        checkout: record.reference.clone(),
        code,
    };
    match shop.cards.run(request).await {
        Ok(_) => {}
        Err(ServiceError::Refused(
            RedeemError::UnknownCode(_)
            | RedeemError::NotApplied { .. }
            | RedeemError::UnknownCheckout(_),
        )) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_applied",
                "that gift certificate is not applied to this checkout",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Json(current(shop, id, &record).await?))
}

/// The `Idempotency-Key` header, scoped to `checkout` (a checkout, or a card) so that two never share a
/// key.
pub(crate) fn idempotency_key(
    headers: &HeaderMap,
    checkout: &str,
) -> Result<IdempotencyKey, ApiError> {
    let bad = |message: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            message.to_owned(),
        )
    };
    let Some(value) = headers.get("idempotency-key") else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "idempotency_key_required",
            "this request moves money: send an Idempotency-Key header, and the same one when \
             retrying",
        ));
    };
    let text = value
        .to_str()
        .map_err(|_| bad("invalid idempotency key: only printable ASCII is allowed"))?;
    if text.len() > MAX_IDEMPOTENCY_KEY {
        return Err(bad(
            "invalid idempotency key: it is longer than 200 characters",
        ));
    }
    IdempotencyKey::new(text).map_err(|e| bad(&e.to_string()))?;
    IdempotencyKey::new(&format!("{checkout}/{text}")).map_err(|e| bad(&e.to_string()))
}

/// A money move's answer: the library's outcome, whether it is a replay, and the checkout.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MoveBody<T> {
    #[serde(flatten)]
    outcome: T,
    /// Whether this is the recorded answer to an earlier request with the same key.
    replayed: bool,
    checkout: CheckoutBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_outbox: Option<EmailOutbox>,
}

/// The move's outcome under a name of its own.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum MoveOutcome {
    Authorisation(Authorisation),
    Capture(Captured),
    Void(Voided),
    Refund(RefundOutcome),
}

/// A checkout with no code applied has nothing to move.
fn nothing_applied(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Refused(RedeemError::UnknownCheckout(_)) => ApiError::new(
            StatusCode::CONFLICT,
            "no_gift_certificates",
            "no gift certificate is applied to this checkout",
        ),
        e => e.into(),
    }
}

/// What a money move asks for, its body read.
enum MoveRequest {
    /// Hold the certificates' part of this amount (the grand total when `None`).
    Authorise(Option<MoneyInput>),
    Capture,
    Void,
    Refund(MoneyInput),
}

/// The library's answer to a move, under the move's name.
fn moved(
    done: Result<Answer, ServiceError>,
) -> Result<(MoveOutcome, bool, Vec<giftcert::Notification>), ApiError> {
    let (outcome, replayed, notifications) = match done.map_err(nothing_applied)? {
        Answer::Authorise(r) => (
            MoveOutcome::Authorisation(r.outcome),
            r.replayed,
            r.notifications,
        ),
        Answer::Capture(r) => (MoveOutcome::Capture(r.outcome), r.replayed, r.notifications),
        Answer::Void(r) => (MoveOutcome::Void(r.outcome), r.replayed, r.notifications),
        Answer::Refund(r) => (MoveOutcome::Refund(r.outcome), r.replayed, r.notifications),
        other => return Err(unexpected(&other).into()),
    };
    Ok((outcome, replayed, notifications))
}

/// Every money move: the checkout-scoped `Idempotency-Key`, the checkout, the move itself
/// (the library decides replays, conflicts and state), and the answer with the checkout as
/// it stands after it.
async fn move_money<S: AsyncStore + 'static>(
    shop: &Shop<S>,
    id: &str,
    headers: &HeaderMap,
    request: MoveRequest,
) -> Result<Json<MoveBody<MoveOutcome>>, ApiError> {
    let key = idempotency_key(headers, id)?;
    let record = record_of(shop, id)?;
    let checkout = record.reference.clone();
    let request = match request {
        MoveRequest::Authorise(body) => {
            let payable = match body {
                Some(input) => input.in_currency(record.currency)?,
                None => record.grand_total,
            };
            if payable.amount() > record.grand_total.amount() {
                return Err(invalid(
                    "amount_exceeds_total",
                    format!(
                        "cannot authorise {payable} on a checkout whose grand total is {}",
                        record.grand_total
                    ),
                ));
            }
            Request::Authorise {
                key,
                checkout,
                payable,
            }
        }
        MoveRequest::Capture => Request::Capture { key, checkout },
        MoveRequest::Void => Request::Void { key, checkout },
        MoveRequest::Refund(input) => Request::Refund {
            key,
            checkout,
            amount: input.in_currency(record.currency)?,
            to: RefundTo::CardsUsed,
        },
    };
    let (outcome, replayed, notifications) = moved(shop.cards.run(request).await)?;
    Ok(Json(MoveBody {
        outcome,
        replayed,
        checkout: current(shop, id, &record).await?,
        email_outbox: (!notifications.is_empty()).then(|| EmailOutbox::new(notifications)),
    }))
}

/// `POST /checkouts/{checkoutId}/authorise`: holds the gift certificates' part of `amount`
/// (by default the grand total), the cards paying in the protocol's allocation order.
pub(crate) async fn authorise<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    headers: HeaderMap,
    OptionalBody(body): OptionalBody<MoneyInput>,
) -> Result<Json<MoveBody<MoveOutcome>>, ApiError> {
    move_money(&shop, &id, &headers, MoveRequest::Authorise(body)).await
}

/// `POST /checkouts/{checkoutId}/capture`: spends what was authorised.
pub(crate) async fn capture<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    headers: HeaderMap,
) -> Result<Json<MoveBody<MoveOutcome>>, ApiError> {
    move_money(&shop, &id, &headers, MoveRequest::Capture).await
}

/// `POST /checkouts/{checkoutId}/void`: releases the holds (the other payment failed).
pub(crate) async fn void<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    headers: HeaderMap,
) -> Result<Json<MoveBody<MoveOutcome>>, ApiError> {
    move_money(&shop, &id, &headers, MoveRequest::Void).await
}

/// `POST /checkouts/{checkoutId}/refund` with `{"amount": "10.00"}`: gives captured money
/// back to the cards.
pub(crate) async fn refund<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    headers: HeaderMap,
    Body(input): Body<MoneyInput>,
) -> Result<Json<MoveBody<MoveOutcome>>, ApiError> {
    move_money(&shop, &id, &headers, MoveRequest::Refund(input)).await
}
