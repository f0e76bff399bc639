//! Every refusal as a JSON body `{"error": {"code": "...", "message": "..."}}`, and the
//! extractors that turn axum's own rejections into the same shape.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use giftcert::RedeemError;
use giftcert::card::CardError;
use giftcert::catalogue::CatalogueError;
use giftcert::clock::{Clock, SystemClock};
use giftcert::money::MoneyError;
use giftcert::shop::{PurchaseError, SelectionError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::service::ServiceError;

/// A refused request: a status, a stable machine-readable code and a message for people.
///
/// Messages never hold a whole gift card code: the library prints codes masked, and text that
/// came from the client is left out (see [`ApiError::from`] for [`JsonRejection`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `404` for an id the shop does not know.
    pub fn not_found(what: &'static str, code: &'static str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, format!("no such {what}"))
    }

    /// `500`, with the detail kept out of the body (it is printed to stderr instead).
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        eprintln!("giftcert-axum-shop: internal error: {detail}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the shop could not complete the request",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Replaces text the client sent (quoted by serde in its messages) with `…`, so that a code
/// typed into the wrong field is never echoed back or logged.
fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    // serde quotes input strings with `"` and unknown variants or fields with backticks; field
    // names are ours, but an unknown variant is the client's text.
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..=start]);
        rest = &rest[start + 1..];
        match rest.find('"') {
            Some(end) => {
                out.push('…');
                out.push('"');
                rest = &rest[end + 1..];
            }
            None => {
                out.push('…');
                rest = "";
            }
        }
    }
    out.push_str(rest);
    if let Some(at) = out.find("unknown variant `") {
        let open = at + "unknown variant `".len();
        if let Some(len) = out[open..].find('`') {
            out.replace_range(open..open + len, "…");
        }
    }
    out
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let code = match &rejection {
            JsonRejection::JsonDataError(_) => "invalid_body",
            JsonRejection::JsonSyntaxError(_) => "malformed_json",
            JsonRejection::MissingJsonContentType(_) => "expected_json",
            _ => "unreadable_body",
        };
        ApiError::new(rejection.status(), code, redact(&rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            redact(&rejection.body_text()),
        )
    }
}

impl ApiError {
    /// `429 too_many_requests`: the client sent more requests than its limit; try again in
    /// `seconds`.
    pub(crate) fn too_many_requests(seconds: u64) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "too_many_requests",
            message: format!("too many requests; try again in {seconds} seconds"),
            retry_after: Some(seconds),
        }
    }
}

/// A JSON body whose every rejection (wrong content type, malformed JSON, wrong types) is an
/// [`ApiError`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Body(value))
    }
}

/// A JSON body that may be left out (an empty body is `None`); a body that is sent must be JSON
/// of the right shape.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OptionalBody<T>(pub(crate) Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), "unreadable_body", redact(&e.body_text())))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(None));
        }
        let Json(value) = Json::<T>::from_bytes(&bytes)?;
        Ok(OptionalBody(Some(value)))
    }
}

/// Path parameters whose rejection is an [`ApiError`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Params(value))
    }
}

/// The error code naming what is wrong with an amount: its currency, its decimals, its size.
pub(crate) fn money_code(e: &MoneyError) -> &'static str {
    match e {
        MoneyError::CurrencyMismatch { .. }
        | MoneyError::UnknownCurrency { .. }
        | MoneyError::InvalidCurrencyCode { .. } => "wrong_currency",
        MoneyError::TooManyDecimals { .. } => "too_many_decimals",
        MoneyError::AboveMaximum { .. } | MoneyError::Overflow { .. } => "amount_too_large",
        _ => "invalid_amount",
    }
}

/// Query parameters whose rejection is an [`ApiError`] (`422 invalid_query`, the client's text
/// not echoed).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_query",
                    redact(&e.body_text()),
                )
            })?;
        Ok(QueryParams(value))
    }
}

impl From<RedeemError> for ApiError {
    fn from(e: RedeemError) -> ApiError {
        let (status, code) = match &e {
            RedeemError::TooManyAttempts(guard) => {
                let wait = (guard.retry_after - SystemClock.now()).num_seconds();
                let seconds = u64::try_from(wait).unwrap_or(0).max(1);
                return ApiError {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: "too_many_unknown_codes",
                    message: format!(
                        "too many unknown gift certificate codes; try again in {seconds} seconds"
                    ),
                    retry_after: Some(seconds),
                };
            }
            RedeemError::InvalidCode(_) => (StatusCode::BAD_REQUEST, "invalid_code"),
            RedeemError::UnknownCode(_) => (StatusCode::NOT_FOUND, "unknown_code"),
            RedeemError::UnknownCheckout(_) => (StatusCode::NOT_FOUND, "unknown_checkout"),
            RedeemError::NotApplied { .. } => (StatusCode::NOT_FOUND, "not_applied"),
            RedeemError::CardCurrency { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "wrong_currency")
            }
            RedeemError::Money(money) | RedeemError::Card(CardError::Money(money)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, money_code(money))
            }
            RedeemError::Card(CardError::Blocked { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "card_blocked")
            }
            RedeemError::Card(_) | RedeemError::EmptyCard(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "card_refused")
            }
            RedeemError::RefundExceedsCapture { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_capture")
            }
            RedeemError::Allocation(_) | RedeemError::NotPositive { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount")
            }
            RedeemError::InvalidState { .. } => (StatusCode::CONFLICT, "invalid_state"),
            RedeemError::AuthorisationExpired(_) => (StatusCode::CONFLICT, "authorisation_expired"),
            RedeemError::IdempotencyConflict { .. } => {
                (StatusCode::CONFLICT, "idempotency_key_reused")
            }
            RedeemError::Contention { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            RedeemError::OrderAlreadyIssued { .. } => {
                (StatusCode::CONFLICT, "order_already_issued")
            }
            RedeemError::OrderNotPaid { .. } => (StatusCode::CONFLICT, "order_not_paid"),
            RedeemError::WeakImportedCode { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "weak_code"),
            RedeemError::UnknownCard(_) => (StatusCode::NOT_FOUND, "unknown_card"),
            RedeemError::NothingToReverse { .. } => (StatusCode::NOT_FOUND, "no_cards_for_order"),
            RedeemError::NotOnOrder { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "not_on_order"),
            RedeemError::Store(giftcert::StoreError::Unavailable { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
            }
            _ => return ApiError::internal(&e),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        match e {
            ServiceError::Refused(e) => e.into(),
            ServiceError::Stopped(reason) => ApiError::internal(reason),
        }
    }
}

impl From<CatalogueError> for ApiError {
    fn from(e: CatalogueError) -> ApiError {
        let (status, code) = match &e {
            CatalogueError::UnknownCertificate(_) => {
                (StatusCode::NOT_FOUND, "unknown_gift_certificate")
            }
            CatalogueError::CurrencyNotOffered { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "wrong_currency")
            }
            CatalogueError::Money(money) => (StatusCode::UNPROCESSABLE_ENTITY, money_code(money)),
            CatalogueError::AmountRequired { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "amount_required")
            }
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<SelectionError> for ApiError {
    fn from(e: SelectionError) -> ApiError {
        match e {
            SelectionError::Catalogue(e) => e.into(),
            SelectionError::Money(e) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                money_code(&e),
                e.to_string(),
            ),
            e => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "selection_refused",
                e.to_string(),
            ),
        }
    }
}

impl From<PurchaseError> for ApiError {
    fn from(e: PurchaseError) -> ApiError {
        let code = match &e {
            PurchaseError::Payment(_) => "payment_method_not_allowed",
            PurchaseError::EmptySelection => "empty_selection",
            PurchaseError::InvalidEmail { .. } => "invalid_email",
            PurchaseError::InvalidGiftMessage { .. } => "invalid_gift_message",
            _ => "order_refused",
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_quoted_client_text_and_unknown_variants() {
        assert_eq!(
            redact("amount: invalid type: string \"ABCD-EFGH\", expected a number"),
            "amount: invalid type: string \"…\", expected a number"
        );
        assert_eq!(
            redact("result: unknown variant `SECRET`, expected `paid` or `failed`"),
            "result: unknown variant `…`, expected `paid` or `failed`"
        );
        assert_eq!(
            redact("missing field `currency`"),
            "missing field `currency`"
        );
        assert_eq!(redact("cut \"open"), "cut \"…");
    }
}
