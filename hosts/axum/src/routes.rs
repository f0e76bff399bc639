//! Every route the host serves, with the role it needs: one table ([`ROUTES`]) that the router
//! is built from, so no route exists without a role.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, delete, get, post};
use giftcert::store::AsyncStore;

use crate::auth::Scope;
use crate::error::ApiError;
use crate::shop::Shop;
use crate::{auth, bigcommerce, centra, office, webhook};

/// The largest request body any route takes: 64 KiB, far more than any request needs; a larger
/// one is refused (413) before it is read whole.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// Anyone: the catalogue, and a shopper's own selection and checkout (which money moves
    /// are not).
    Shopper,
    /// Staff, with a bearer token holding the scope ([`StaffTokens`](crate::StaffTokens)):
    /// 401 without a staff token, 403 with one lacking the scope.
    Staff(Scope),
    /// The payment provider: a webhook signed with the shared secret
    /// ([`WebhookVerifier`](crate::WebhookVerifier)), 401 otherwise.
    Provider,
}

/// An HTTP method a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verb {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `DELETE`.
    Delete,
}

impl Verb {
    /// The method's name (`GET`).
    pub const fn name(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
        }
    }
}

/// One route: its method, its path (axum's `{param}` syntax) and the role it needs.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The method.
    pub verb: Verb,
    /// The path.
    pub path: &'static str,
    /// Who may call it.
    pub role: Role,
    /// What it does, in a line.
    pub summary: &'static str,
    endpoint: Endpoint,
}

impl Route {
    /// The route's operation id in the API's description (`applyCode`).
    pub fn operation_id(&self) -> String {
        let name = format!("{:?}", self.endpoint);
        let mut chars = name.chars();
        chars.next().map_or_else(String::new, |first| {
            first.to_ascii_lowercase().to_string() + chars.as_str()
        })
    }

    /// The names of the path's parameters, in order (`["id", "code"]`).
    pub fn parameters(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
    }
}

/// The handler behind a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Listing,
    CreateSelection,
    GetSelection,
    AddCertificate,
    AddCertificateByPath,
    AddCertificateWithAmount,
    Payment,
    PaymentResult,
    CreateCheckout,
    GetCheckout,
    ApplyCode,
    RemoveCode,
    RemoveCodeInBody,
    Authorise,
    Capture,
    Void,
    Refund,
    BalanceCheck,
    Card,
    Search,
    Disable,
    Enable,
    Adjust,
    Reload,
    ChangeExpiry,
    ReplaceCode,
    Unblock,
    ReversePurchase,
    Liability,
    OpenApi,
}

const fn route(
    verb: Verb,
    path: &'static str,
    role: Role,
    endpoint: Endpoint,
    summary: &'static str,
) -> Route {
    Route {
        verb,
        path,
        role,
        summary,
        endpoint,
    }
}

/// Every route the host serves, with the role it needs.
pub const ROUTES: &[Route] = &[
    route(
        Verb::Get,
        "/gift-certificates",
        Role::Shopper,
        Endpoint::Listing,
        "The gift certificates on sale, with their prices or bounds.",
    ),
    route(
        Verb::Post,
        "/selections",
        Role::Shopper,
        Endpoint::CreateSelection,
        "Open a selection (cart).",
    ),
    route(
        Verb::Get,
        "/selections/{id}",
        Role::Shopper,
        Endpoint::GetSelection,
        "A selection, with its lines, totals and order.",
    ),
    route(
        Verb::Post,
        "/selections/{id}/gift-certificates",
        Role::Shopper,
        Endpoint::AddCertificate,
        "Put a certificate in the selection, replacing any other line.",
    ),
    route(
        Verb::Post,
        "/selections/{id}/gift-certificates/{certificate}",
        Role::Shopper,
        Endpoint::AddCertificateByPath,
        "Put a predetermined-amount certificate in the selection.",
    ),
    route(
        Verb::Post,
        "/selections/{id}/gift-certificates/{certificate}/amount/{amount}",
        Role::Shopper,
        Endpoint::AddCertificateWithAmount,
        "Put an any-amount certificate of the given amount in the selection.",
    ),
    route(
        Verb::Post,
        "/selections/{id}/payment",
        Role::Shopper,
        Endpoint::Payment,
        "Start paying for the selection: its order, pending payment.",
    ),
    route(
        Verb::Post,
        "/selections/{id}/payment-result",
        Role::Provider,
        Endpoint::PaymentResult,
        "The payment provider's result; paid finalises the order and issues the cards.",
    ),
    route(
        Verb::Post,
        "/checkouts",
        Role::Shopper,
        Endpoint::CreateCheckout,
        "Open a checkout for a grand total.",
    ),
    route(
        Verb::Get,
        "/checkouts/{id}",
        Role::Shopper,
        Endpoint::GetCheckout,
        "A checkout, with its applied gift certificates and outstanding balance.",
    ),
    route(
        Verb::Post,
        "/checkouts/{id}/gift-certificates",
        Role::Shopper,
        Endpoint::ApplyCode,
        "Apply a gift certificate code to the checkout.",
    ),
    route(
        Verb::Delete,
        "/checkouts/{id}/gift-certificates",
        Role::Shopper,
        Endpoint::RemoveCodeInBody,
        "Remove an applied code, named in the body.",
    ),
    route(
        Verb::Delete,
        "/checkouts/{id}/gift-certificates/{code}",
        Role::Shopper,
        Endpoint::RemoveCode,
        "Remove an applied code, named in the path.",
    ),
    route(
        Verb::Post,
        "/checkouts/{id}/authorise",
        Role::Shopper,
        Endpoint::Authorise,
        "Authorise (hold) the applied gift credit.",
    ),
    route(
        Verb::Post,
        "/checkouts/{id}/capture",
        Role::Staff(Scope::PaymentsWrite),
        Endpoint::Capture,
        "Capture the authorised gift credit.",
    ),
    route(
        Verb::Post,
        "/checkouts/{id}/void",
        Role::Staff(Scope::PaymentsWrite),
        Endpoint::Void,
        "Release the authorised gift credit.",
    ),
    route(
        Verb::Post,
        "/checkouts/{id}/refund",
        Role::Staff(Scope::PaymentsWrite),
        Endpoint::Refund,
        "Refund captured gift credit to the cards.",
    ),
    route(
        Verb::Post,
        "/balance-checks",
        Role::Staff(Scope::CardsRead),
        Endpoint::BalanceCheck,
        "A card's balance, by its code.",
    ),
    route(
        Verb::Get,
        "/cards",
        Role::Staff(Scope::CardsRead),
        Endpoint::Search,
        "Find cards by status, currency or expiry.",
    ),
    route(
        Verb::Get,
        "/cards/{id}",
        Role::Staff(Scope::CardsRead),
        Endpoint::Card,
        "A card, with a page of its ledger.",
    ),
    route(
        Verb::Post,
        "/cards/{id}/disable",
        Role::Staff(Scope::CardsWrite),
        Endpoint::Disable,
        "Disable a card.",
    ),
    route(
        Verb::Post,
        "/cards/{id}/enable",
        Role::Staff(Scope::CardsWrite),
        Endpoint::Enable,
        "Enable a disabled card.",
    ),
    route(
        Verb::Post,
        "/cards/{id}/adjust",
        Role::Staff(Scope::CardsWrite),
        Endpoint::Adjust,
        "Adjust a card's balance, with a reason.",
    ),
    route(
        Verb::Post,
        "/cards/{id}/reload",
        Role::Staff(Scope::CardsWrite),
        Endpoint::Reload,
        "Add value to a card.",
    ),
    route(
        Verb::Post,
        "/cards/{id}/expiry",
        Role::Staff(Scope::CardsWrite),
        Endpoint::ChangeExpiry,
        "Change or remove a card's expiry.",
    ),
    route(
        Verb::Post,
        "/cards/{id}/replace-code",
        Role::Staff(Scope::CardsWrite),
        Endpoint::ReplaceCode,
        "Give a card a new code; the old one stops working.",
    ),
    route(
        Verb::Post,
        "/cards/{id}/unblock",
        Role::Staff(Scope::CardsWrite),
        Endpoint::Unblock,
        "Let a card blocked by a purchase reversal pay again.",
    ),
    route(
        Verb::Post,
        "/orders/{order}/reversal",
        Role::Staff(Scope::CardsWrite),
        Endpoint::ReversePurchase,
        "Block the cards of a refunded or charged-back order and claw back what is left.",
    ),
    route(
        Verb::Get,
        "/reports/liability",
        Role::Staff(Scope::ReportsRead),
        Endpoint::Liability,
        "The outstanding liability report, as JSON or CSV.",
    ),
    route(
        Verb::Get,
        "/openapi.json",
        Role::Shopper,
        Endpoint::OpenApi,
        "This API's description (OpenAPI 3.1).",
    ),
];

/// The handler of `endpoint`, under `verb`.
fn handler<S: AsyncStore + 'static>(endpoint: Endpoint) -> MethodRouter<Arc<Shop<S>>> {
    match endpoint {
        Endpoint::Listing => get(centra::listing::<S>),
        Endpoint::CreateSelection => post(centra::create_selection::<S>),
        Endpoint::GetSelection => get(centra::get_selection::<S>),
        Endpoint::AddCertificate => post(centra::add_certificate::<S>),
        Endpoint::AddCertificateByPath => post(centra::add_certificate_by_path::<S>),
        Endpoint::AddCertificateWithAmount => post(centra::add_certificate_with_amount::<S>),
        Endpoint::Payment => post(centra::payment::<S>),
        Endpoint::PaymentResult => post(centra::payment_result::<S>),
        Endpoint::CreateCheckout => post(bigcommerce::create_checkout::<S>),
        Endpoint::GetCheckout => get(bigcommerce::get_checkout::<S>),
        Endpoint::ApplyCode => post(bigcommerce::apply_code::<S>),
        Endpoint::RemoveCode => delete(bigcommerce::remove_code::<S>),
        Endpoint::RemoveCodeInBody => delete(bigcommerce::remove_code_in_body::<S>),
        Endpoint::Authorise => post(bigcommerce::authorise::<S>),
        Endpoint::Capture => post(bigcommerce::capture::<S>),
        Endpoint::Void => post(bigcommerce::void::<S>),
        Endpoint::Refund => post(bigcommerce::refund::<S>),
        Endpoint::BalanceCheck => post(office::balance_check::<S>),
        Endpoint::Card => get(office::card::<S>),
        Endpoint::Search => get(office::search::<S>),
        Endpoint::Disable => post(office::disable::<S>),
        Endpoint::Enable => post(office::enable::<S>),
        Endpoint::Adjust => post(office::adjust::<S>),
        Endpoint::Reload => post(office::reload::<S>),
        Endpoint::ChangeExpiry => post(office::change_expiry::<S>),
        Endpoint::ReplaceCode => post(office::replace_code::<S>),
        Endpoint::Unblock => post(office::unblock::<S>),
        Endpoint::ReversePurchase => post(office::reverse_purchase::<S>),
        Endpoint::Liability => get(office::liability::<S>),
        Endpoint::OpenApi => get(|| async { axum::Json(crate::openapi::document()) }),
    }
}

/// The request tracing [`trace_layer`] makes.
type Trace = tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    fn(&axum::extract::Request) -> tracing::Span,
>;

/// One `tracing` span per request, with its method and its route's template
/// (`/checkouts/{id}/gift-certificates/{code}`), never the URI itself, which may hold a code;
/// its end is logged at `INFO` with the status and the time taken.
fn trace_layer() -> Trace {
    fn span(request: &axum::extract::Request) -> tracing::Span {
        let route = request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map_or("(no route)", |path| path.as_str());
        tracing::info_span!("request", method = %request.method(), route)
    }
    tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(span as fn(&axum::extract::Request) -> tracing::Span)
        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO))
}

/// The shop's routes, over `shop`: each route of [`ROUTES`] behind the check its role needs.
pub fn router<S: AsyncStore + 'static>(shop: Shop<S>) -> Router {
    let state = Arc::new(shop);
    let mut router = Router::new();
    for route in ROUTES {
        let method_router = handler::<S>(route.endpoint);
        let guarded = match route.role {
            Role::Shopper => method_router,
            Role::Staff(scope) => method_router.route_layer(axum::middleware::from_fn_with_state(
                (state.clone(), scope),
                auth::require_staff::<S>,
            )),
            Role::Provider => method_router.route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                webhook::require_signature::<S>,
            )),
        };
        router = router.route(route.path, guarded);
    }
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::edge::limit_requests::<S>,
        ))
        .layer(trace_layer())
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each handler is behind exactly one route, and money moves are never shopper routes.
    #[test]
    fn every_endpoint_has_one_route_and_money_moves_need_staff() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert_ne!(a.endpoint, b.endpoint, "{} twice", a.path);
                assert!(
                    a.path != b.path || a.verb != b.verb,
                    "{} {} twice",
                    a.verb.name(),
                    a.path
                );
            }
        }
        for money in [Endpoint::Capture, Endpoint::Void, Endpoint::Refund] {
            let route = ROUTES.iter().find(|r| r.endpoint == money).expect("routed");
            assert_eq!(
                route.role,
                Role::Staff(Scope::PaymentsWrite),
                "{}",
                route.path
            );
        }
        let paid = ROUTES
            .iter()
            .find(|r| r.endpoint == Endpoint::PaymentResult);
        assert_eq!(paid.map(|r| r.role), Some(Role::Provider));
    }
}
