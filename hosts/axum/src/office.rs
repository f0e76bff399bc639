//! The back office over HTTP, for staff: a balance by code, a card with its ledger, the card
//! commands (disable, enable, unblock, adjust, reload, a new expiry, a new code for a lost
//! one), a refunded or charged-back order's cards blocked, search, and the liability report in
//! JSON or CSV. Every change needs an `Idempotency-Key` and a
//! reason, and its ledger entry names the staff member whose token made it.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use giftcert::card::{
    Attribution, CardStatus, GiftCard, LedgerEntry, Liability, Reason, ReversalReason,
};
use giftcert::redeem::{
    Amended, Answer, BalanceCheck, CardCommand, CodeReplaced, Request, Reversal, ReversalScope,
};
use giftcert::store::{AsyncStore, CardQuery, Cursor};
use giftcert::{CardId, Currency, Reference};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::amount::MoneyInput;
use crate::auth::StaffActor;
use crate::bigcommerce::idempotency_key;
use crate::centra::EmailOutbox;
use crate::error::{ApiError, Body, Params, QueryParams};
use crate::service::unexpected;
use crate::shop::Shop;

/// The most ledger entries one page of `GET /cards/{id}` shows.
const MAX_LEDGER_PAGE: usize = 500;

fn unknown_card() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unknown_card", "no card has this id")
}

fn card_id(text: &str) -> Result<CardId, ApiError> {
    text.parse().map_err(|_| unknown_card())
}

fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        format!("{field}: {reason}"),
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct BalanceRequest {
    code: String,
}

/// `POST /balance-checks` with `{"code": "..."}` (the code in the body, never in a URL): what
/// the card can pay. Unknown codes count against the staff member in the guard.
pub(crate) async fn balance_check<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Extension(actor): Extension<StaffActor>,
    Body(request): Body<BalanceRequest>,
) -> Result<Json<BalanceCheck>, ApiError> {
    let checked = shop
        .cards
        .redeemer()
        .check_balance(&actor.client(), &request.code)
        .await?;
    Ok(Json(checked))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LedgerPage {
    /// The first entry's sequence number (from 1).
    #[serde(default)]
    from: Option<u64>,
    /// How many entries, at most [`MAX_LEDGER_PAGE`].
    #[serde(default)]
    limit: Option<usize>,
}

/// A card and a page of its ledger.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CardBody {
    card: GiftCard,
    ledger: Vec<LedgerEntry>,
    /// The `from` of the next page, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_from: Option<u64>,
}

/// `GET /cards/{id}?from=1&limit=100`: the card (its code masked) and a page of its ledger.
pub(crate) async fn card<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    QueryParams(page): QueryParams<LedgerPage>,
) -> Result<Json<CardBody>, ApiError> {
    let id = card_id(&id)?;
    let limit = page.limit.unwrap_or(100);
    if !(1..=MAX_LEDGER_PAGE).contains(&limit) {
        return Err(invalid(
            "limit",
            format!("expected 1 to {MAX_LEDGER_PAGE}, found {limit}"),
        ));
    }
    let from = page.from.unwrap_or(1).max(1);
    let redeemer = shop.cards.redeemer();
    let card = redeemer.card(id).await?.ok_or_else(unknown_card)?;
    let history = redeemer.history(id).await?;
    let mut ledger: Vec<LedgerEntry> = history
        .into_iter()
        .filter(|entry| entry.seq() >= from)
        .take(limit + 1)
        .collect();
    let next_from = (ledger.len() > limit).then(|| ledger[limit].seq());
    ledger.truncate(limit);
    Ok(Json(CardBody {
        card,
        ledger,
        next_from,
    }))
}

/// Why a change was made, as the ledger keeps it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReasonOnly {
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AdjustRequest {
    change: MoneyInput,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReloadRequest {
    amount: MoneyInput,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ExpiryRequest {
    /// The new expiry date, or `null` for none.
    expires_at: Option<DateTime<Utc>>,
    reason: String,
}

/// A command's answer: the card after it, and whether this was a replay.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AmendBody {
    amended: Amended,
    replayed: bool,
}

fn attribution(actor: &StaffActor, reason: &str) -> Result<Attribution, ApiError> {
    let reason = Reason::new(reason).map_err(|e| invalid("reason", e))?;
    Ok(Attribution::new(actor.reference().clone(), reason))
}

/// The card's currency, for an amount that may leave it out.
async fn currency_of<S: AsyncStore + 'static>(
    shop: &Shop<S>,
    card: CardId,
) -> Result<Currency, ApiError> {
    let found = shop.cards.redeemer().card(card).await?;
    found.map(|card| card.currency()).ok_or_else(unknown_card)
}

async fn amend<S: AsyncStore + 'static>(
    shop: &Shop<S>,
    id: &str,
    headers: &HeaderMap,
    actor: &StaffActor,
    command: CardCommand,
    reason: &str,
) -> Result<Json<AmendBody>, ApiError> {
    let card = card_id(id)?;
    let by = attribution(actor, reason)?;
    let key = idempotency_key(headers, &format!("card:{card}"))?;
    let request = Request::Amend {
        key,
        card,
        command,
        by,
    };
    match shop.cards.run(request).await? {
        Answer::Amend(done) => Ok(Json(AmendBody {
            replayed: done.replayed,
            amended: done.outcome,
        })),
        other => Err(unexpected(&other).into()),
    }
}

/// `POST /cards/{id}/disable` with `{"reason": "..."}`: the card stops paying.
pub(crate) async fn disable<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    Extension(actor): Extension<StaffActor>,
    headers: HeaderMap,
    Body(body): Body<ReasonOnly>,
) -> Result<Json<AmendBody>, ApiError> {
    amend(
        &shop,
        &id,
        &headers,
        &actor,
        CardCommand::Disable,
        &body.reason,
    )
    .await
}

/// `POST /cards/{id}/unblock` with `{"reason": "..."}`: a card blocked by a purchase reversal
/// pays again (what was clawed back stays off it).
pub(crate) async fn unblock<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    Extension(actor): Extension<StaffActor>,
    headers: HeaderMap,
    Body(body): Body<ReasonOnly>,
) -> Result<Json<AmendBody>, ApiError> {
    amend(
        &shop,
        &id,
        &headers,
        &actor,
        CardCommand::Unblock,
        &body.reason,
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReversalRequest {
    /// `refunded` or `chargedBack`.
    cause: ReversalReason,
    /// The cards to block, for a partial refund; every card of the order when absent.
    #[serde(default)]
    cards: Option<Vec<CardId>>,
    reason: String,
}

/// A reversal's answer: per card, what it had paid for, what was clawed back and released.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReversalBody {
    reversal: Reversal,
    replayed: bool,
}

/// `POST /orders/{order}/reversal` with `{"cause": "refunded" | "chargedBack", "cards": [...],
/// "reason": "..."}`: the order's cards (or those named) are blocked and what is left on them
/// clawed back, under the request's `Idempotency-Key`.
pub(crate) async fn reverse_purchase<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(order): Params<String>,
    Extension(actor): Extension<StaffActor>,
    headers: HeaderMap,
    Body(body): Body<ReversalRequest>,
) -> Result<Json<ReversalBody>, ApiError> {
    let order = Reference::new(&order).map_err(|e| invalid("order", e))?;
    let scope = match body.cards {
        None => ReversalScope::All,
        Some(cards) if cards.is_empty() => {
            return Err(invalid(
                "cards",
                "name at least one card, or leave it out for all",
            ));
        }
        Some(cards) => ReversalScope::Cards(cards),
    };
    let by = attribution(&actor, &body.reason)?;
    let key = idempotency_key(&headers, &format!("order:{order}"))?;
    let request = Request::ReversePurchase {
        key,
        order,
        scope,
        reason: body.cause,
        by,
    };
    match shop.cards.run(request).await? {
        Answer::ReversePurchase(done) => Ok(Json(ReversalBody {
            reversal: done.outcome,
            replayed: done.replayed,
        })),
        other => Err(unexpected(&other).into()),
    }
}

/// `POST /cards/{id}/enable` with `{"reason": "..."}`: a disabled card pays again.
pub(crate) async fn enable<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    Extension(actor): Extension<StaffActor>,
    headers: HeaderMap,
    Body(body): Body<ReasonOnly>,
) -> Result<Json<AmendBody>, ApiError> {
    amend(
        &shop,
        &id,
        &headers,
        &actor,
        CardCommand::Enable,
        &body.reason,
    )
    .await
}

/// `POST /cards/{id}/adjust` with `{"change": {"amount": "-5.00"}, "reason": "..."}`: a signed
/// correction, as a new ledger entry.
pub(crate) async fn adjust<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    Extension(actor): Extension<StaffActor>,
    headers: HeaderMap,
    Body(body): Body<AdjustRequest>,
) -> Result<Json<AmendBody>, ApiError> {
    let currency = currency_of(&shop, card_id(&id)?).await?;
    let change = body.change.in_currency(currency)?;
    let command = CardCommand::Adjust { change };
    amend(&shop, &id, &headers, &actor, command, &body.reason).await
}

/// `POST /cards/{id}/reload` with `{"amount": {"amount": "25.00"}, "reason": "..."}`: a top-up.
pub(crate) async fn reload<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    Extension(actor): Extension<StaffActor>,
    headers: HeaderMap,
    Body(body): Body<ReloadRequest>,
) -> Result<Json<AmendBody>, ApiError> {
    let currency = currency_of(&shop, card_id(&id)?).await?;
    let amount = body.amount.in_currency(currency)?;
    let command = CardCommand::Reload {
        amount,
        bounds: None,
    };
    amend(&shop, &id, &headers, &actor, command, &body.reason).await
}

/// `POST /cards/{id}/expiry` with `{"expiresAt": "2027-06-30T00:00:00Z" | null, "reason": ...}`.
pub(crate) async fn change_expiry<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    Extension(actor): Extension<StaffActor>,
    headers: HeaderMap,
    Body(body): Body<ExpiryRequest>,
) -> Result<Json<AmendBody>, ApiError> {
    let command = CardCommand::ChangeExpiry {
        expires_at: body.expires_at,
    };
    amend(&shop, &id, &headers, &actor, command, &body.reason).await
}

/// A new code's answer: the card's new code masked, and the e-mail that hands the code to the
/// card's owner.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReplacedBody {
    replaced: CodeReplaced,
    replayed: bool,
    email_outbox: EmailOutbox,
}

/// `POST /cards/{id}/replace-code` with `{"reason": "..."}`: a lost code stops working and the
/// card, its balance and holds, carry on under a new one.
pub(crate) async fn replace_code<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    Params(id): Params<String>,
    Extension(actor): Extension<StaffActor>,
    headers: HeaderMap,
    Body(body): Body<ReasonOnly>,
) -> Result<Json<ReplacedBody>, ApiError> {
    let card = card_id(&id)?;
    let by = attribution(&actor, &body.reason)?;
    let key = idempotency_key(&headers, &format!("card:{card}"))?;
    match shop
        .cards
        .run(Request::ReplaceCode { key, card, by })
        .await?
    {
        Answer::ReplaceCode(done) => Ok(Json(ReplacedBody {
            replaced: done.outcome,
            replayed: done.replayed,
            email_outbox: EmailOutbox::new(done.notifications),
        })),
        other => Err(unexpected(&other).into()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    status: Option<CardStatus>,
    #[serde(default)]
    currency: Option<Currency>,
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    purchaser: Option<String>,
    #[serde(default)]
    recipient_email: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    expiring_before: Option<DateTime<Utc>>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
}

/// One page of cards.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchBody {
    cards: Vec<GiftCard>,
    /// The `cursor` of the next page, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// `GET /cards?status=active&currency=USD&tag=...&expiringBefore=...&limit=50&cursor=...`.
pub(crate) async fn search<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    QueryParams(query): QueryParams<SearchQuery>,
) -> Result<Json<SearchBody>, ApiError> {
    let mut search = CardQuery::new();
    if let Some(status) = query.status {
        search = search.by_status(status);
    }
    if let Some(currency) = query.currency {
        search = search.by_currency(currency);
    }
    if let Some(order) = &query.order {
        search = search.by_order(Reference::new(order).map_err(|e| invalid("order", e))?);
    }
    if let Some(purchaser) = &query.purchaser {
        search =
            search.by_purchaser(Reference::new(purchaser).map_err(|e| invalid("purchaser", e))?);
    }
    if let Some(email) = &query.recipient_email {
        search = search.by_recipient(email);
    }
    if let Some(tag) = &query.tag {
        search = search.by_tag(tag.clone());
    }
    if let Some(at) = query.expiring_before {
        search = search.expiring_before(at);
    }
    if let Some(cursor) = &query.cursor {
        let cursor: Cursor = cursor
            .parse()
            .map_err(|_| invalid("cursor", "not a cursor this host gave"))?;
        search = search.after(cursor);
    }
    let search = search
        .with_limit(query.limit.unwrap_or(50))
        .map_err(|e| invalid("limit", e))?;
    let page = shop.cards.redeemer().search(&search).await?;
    Ok(Json(SearchBody {
        cards: page.items.into_iter().map(|v| v.value).collect(),
        next: page.next.map(|c| c.to_string()),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReportQuery {
    /// The report's instant; now by default.
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    /// `json` (the default) or `csv`.
    #[serde(default)]
    format: Option<String>,
}

/// The columns of the liability report, in order, as its CSV header names them.
const REPORT_COLUMNS: [&str; 14] = [
    "currency",
    "outstandingCards",
    "outstanding",
    "held",
    "issued",
    "reloaded",
    "redeemed",
    "refunded",
    "adjusted",
    "movedIn",
    "movedOut",
    "expiredCards",
    "expired",
    "balanced",
];

/// A line's figures in [`REPORT_COLUMNS`]'s order, amounts as exact decimals.
fn report_row(line: &Liability) -> [String; 14] {
    let money = |m: giftcert::Money| m.amount().to_string();
    [
        line.currency.code().to_owned(),
        line.outstanding_cards.to_string(),
        money(line.outstanding),
        money(line.held),
        money(line.issued),
        money(line.reloaded),
        money(line.redeemed),
        money(line.refunded),
        money(line.adjusted),
        money(line.moved_in),
        money(line.moved_out),
        line.expired_cards.to_string(),
        money(line.expired),
        line.check().is_ok().to_string(),
    ]
}

/// `GET /reports/liability?at=2026-12-31T23:59:59Z&format=csv`: what the shop owes on its cards
/// per currency, and whether each line's identity holds; JSON, or CSV for accountants.
pub(crate) async fn liability<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    QueryParams(query): QueryParams<ReportQuery>,
) -> Result<Response, ApiError> {
    let at = query.at.unwrap_or_else(Utc::now);
    let report = shop.cards.redeemer().liability(at).await?;
    match query.format.as_deref() {
        None | Some("json") => {
            let lines: Vec<Value> = report
                .lines()
                .iter()
                .map(|line| {
                    let row = report_row(line);
                    let object: serde_json::Map<String, Value> = REPORT_COLUMNS
                        .iter()
                        .zip(row)
                        .map(|(name, value)| {
                            let value = match *name {
                                "balanced" => Value::Bool(value == "true"),
                                "currency" => Value::String(value),
                                "outstandingCards" | "expiredCards" => {
                                    json!(value.parse::<u64>().unwrap_or_default())
                                }
                                _ => Value::String(value),
                            };
                            ((*name).to_owned(), value)
                        })
                        .collect();
                    Value::Object(object)
                })
                .collect();
            let discrepancies: Vec<String> = report
                .discrepancies()
                .iter()
                .map(ToString::to_string)
                .collect();
            Ok(Json(json!({
                "at": report.at(),
                "lines": lines,
                "discrepancies": discrepancies,
            }))
            .into_response())
        }
        Some("csv") => {
            let mut csv = REPORT_COLUMNS.join(",");
            csv.push_str("\r\n");
            for line in report.lines() {
                csv.push_str(&report_row(line).join(","));
                csv.push_str("\r\n");
            }
            Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
        }
        Some(_) => Err(invalid("format", "expected json or csv")),
    }
}
