//! Proof of identity for the staff routes: bearer tokens kept only as SHA-256 hashes.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use giftcert::Reference;
use giftcert::redeem::ClientId;
use giftcert::store::AsyncStore;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::error::ApiError;
use crate::shop::Shop;

/// What a staff token lets its holder do, named as in `GIFTCERT_STAFF_TOKEN_SHA256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// `payments:write`: capture, void and refund a checkout's gift credit.
    PaymentsWrite,
    /// `cards:read`: a card, its ledger, a balance by code, a search.
    CardsRead,
    /// `cards:write`: disable, enable, adjust, reload, change the expiry, replace a lost code.
    CardsWrite,
    /// `reports:read`: the liability report.
    ReportsRead,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 4] = [
        Scope::PaymentsWrite,
        Scope::CardsRead,
        Scope::CardsWrite,
        Scope::ReportsRead,
    ];

    /// The scope's name (`cards:read`).
    pub const fn name(self) -> &'static str {
        match self {
            Scope::PaymentsWrite => "payments:write",
            Scope::CardsRead => "cards:read",
            Scope::CardsWrite => "cards:write",
            Scope::ReportsRead => "reports:read",
        }
    }

    /// The scope named `name`, if any.
    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.name() == name)
    }

    const fn bit(self) -> u8 {
        match self {
            Scope::PaymentsWrite => 1,
            Scope::CardsRead => 2,
            Scope::CardsWrite => 4,
            Scope::ReportsRead => 8,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Scope`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(Scope::ALL.into_iter().filter(|s| self.contains(*s)))
            .finish()
    }
}

impl Scopes {
    /// No scope.
    pub const fn none() -> Scopes {
        Scopes(0)
    }

    /// Every scope.
    pub fn all() -> Scopes {
        Scope::ALL.into_iter().fold(Scopes::none(), Scopes::with)
    }

    /// These scopes and `scope`.
    pub const fn with(self, scope: Scope) -> Scopes {
        Scopes(self.0 | scope.bit())
    }

    /// Whether `scope` is one of these.
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }
}

/// The staff bearer tokens the host accepts, each with its scopes, held only as their SHA-256
/// hashes.
#[derive(Clone, Default)]
pub struct StaffTokens {
    tokens: Vec<([u8; 32], Scopes)>,
}

impl fmt::Debug for StaffTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaffTokens")
            .field("count", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn from_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

impl StaffTokens {
    /// No staff token: every staff route answers 401.
    pub fn none() -> StaffTokens {
        StaffTokens::default()
    }

    /// Also accepts `token`, with every scope (only its hash is kept).
    pub fn with_token(self, token: &str) -> StaffTokens {
        self.with_scoped_token(token, Scopes::all())
    }

    /// Also accepts `token` for `scopes` only (only its hash is kept).
    pub fn with_scoped_token(mut self, token: &str, scopes: Scopes) -> StaffTokens {
        self.tokens.push((hash(token), scopes));
        self
    }

    /// Also accepts the token whose SHA-256 is `hex` (64 hex digits), with every scope, or
    /// `None` when `hex` is not such a hash.
    pub fn with_hash_hex(mut self, hex: &str) -> Option<StaffTokens> {
        self.tokens.push((from_hex(hex)?, Scopes::all()));
        Some(self)
    }

    /// The tokens `list` gives (the form of `GIFTCERT_STAFF_TOKEN_SHA256`): entries separated
    /// by commas, each a token's SHA-256 as 64 hex digits, then optionally the token's scopes
    /// separated by spaces (`<hash> cards:read reports:read`). An entry without scopes has
    /// every scope.
    ///
    /// # Errors
    ///
    /// When a hash is not 64 hex digits or a scope is unknown; the message gives the entry's
    /// position, not its text.
    pub fn from_hash_list(list: &str) -> Result<StaffTokens, String> {
        let mut tokens = StaffTokens::none();
        for (index, entry) in list.split(',').enumerate() {
            let mut words = entry.split_whitespace();
            let Some(hex) = words.next() else {
                continue;
            };
            let digest = from_hex(hex)
                .ok_or_else(|| format!("staff token hash {} is not 64 hex digits", index + 1))?;
            let mut scopes = Scopes::none();
            let mut named = false;
            for word in words {
                let scope = Scope::from_name(word).ok_or_else(|| {
                    let known: Vec<&str> = Scope::ALL.iter().map(|s| s.name()).collect();
                    format!(
                        "staff token {} names an unknown scope, expected {}",
                        index + 1,
                        known.join(", ")
                    )
                })?;
                scopes = scopes.with(scope);
                named = true;
            }
            tokens
                .tokens
                .push((digest, if named { scopes } else { Scopes::all() }));
        }
        Ok(tokens)
    }

    /// How many tokens are accepted.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is accepted (every staff route answers 401).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The scopes of `token` when it is one of the accepted tokens, comparing every hash in
    /// constant time.
    #[cfg(test)]
    fn scopes_of(&self, token: &str) -> Option<Scopes> {
        self.identify(token).map(|(scopes, _)| scopes)
    }

    /// The scopes of `token` and the staff member it names, when it is one of the accepted
    /// tokens: every hash is compared, in constant time.
    fn identify(&self, token: &str) -> Option<(Scopes, StaffActor)> {
        let presented = hash(token);
        let mut found = Choice::from(0);
        let mut scopes = 0_u8;
        for (known, granted) in &self.tokens {
            let same = known.ct_eq(&presented);
            found |= same;
            scopes = u8::conditional_select(&scopes, &granted.0, same);
        }
        bool::from(found).then(|| (Scopes(scopes), StaffActor::of(&presented)))
    }
}

/// The staff member a request's token names, as the ledger records who made a change:
/// `staff:` and the first twelve hex digits of the token's SHA-256 (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffActor(Reference);

impl StaffActor {
    fn of(digest: &[u8; 32]) -> StaffActor {
        let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        // `staff:` and twelve hex digits always make a valid reference.
        StaffActor(Reference::new(&format!("staff:{hex}")).expect("a reference"))
    }

    /// The actor, as a reference.
    pub fn reference(&self) -> &Reference {
        &self.0
    }

    /// The actor as the unknown-code guard counts it: its balance checks by code count
    /// against it, as a shopper's against their address.
    pub fn client(&self) -> ClientId {
        ClientId::new(self.0.as_str())
            .unwrap_or_else(|_| unreachable!("a reference is a valid client id"))
    }
}

/// Lets a request through only with `Authorization: Bearer <staff token>` of a token holding
/// `scope`: else 401 (no token, or not a staff token) or 403 (a staff token without the scope),
/// with a JSON body naming the problem, never the token presented.
pub(crate) async fn require_staff<S: AsyncStore + 'static>(
    State((shop, scope)): State<(Arc<Shop<S>>, Scope)>,
    request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let Some(header) = header else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_credentials",
            "this staff route needs an Authorization: Bearer token",
        )
        .into_response();
    };
    let scopes = header
        .strip_prefix("Bearer ")
        .and_then(|token| shop.staff.identify(token.trim()));
    match scopes {
        Some((scopes, actor)) if scopes.contains(scope) => {
            let mut request = request;
            request.extensions_mut().insert(actor);
            next.run(request).await
        }
        Some(_) => ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("this staff route needs a token with the scope {scope}"),
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the bearer token is not a staff token",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_list_accepts_exactly_its_tokens_with_their_scopes() {
        // SHA-256 of "abc" and of "abd".
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let abd = "a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9";
        let tokens =
            StaffTokens::from_hash_list(&format!(" {abc} ,{abd} cards:read  reports:read,"))
                .expect("list");
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens.scopes_of("abc"), Some(Scopes::all()));
        let reader = tokens.scopes_of("abd").expect("abd");
        assert!(reader.contains(Scope::CardsRead) && reader.contains(Scope::ReportsRead));
        assert!(!reader.contains(Scope::CardsWrite) && !reader.contains(Scope::PaymentsWrite));
        assert_eq!(tokens.scopes_of("abe"), None);
        assert_eq!(tokens.scopes_of(""), None);
        let error = StaffTokens::from_hash_list(&format!("{abc},zz")).expect_err("bad entry");
        assert!(error.contains("hash 2"), "{error}");
        assert!(!error.contains("zz"), "{error}");
        let error =
            StaffTokens::from_hash_list(&format!("{abc} cards:rule")).expect_err("bad scope");
        assert!(
            error.contains("staff token 1") && error.contains("cards:read"),
            "{error}"
        );
        assert!(StaffTokens::from_hash_list("").expect("empty").is_empty());
    }

    #[test]
    fn scopes_name_themselves_and_sets_hold_what_was_added() {
        for scope in Scope::ALL {
            assert_eq!(Scope::from_name(scope.name()), Some(scope));
            assert!(Scopes::none().with(scope).contains(scope));
            assert!(!Scopes::none().contains(scope));
            assert!(Scopes::all().contains(scope));
            for other in Scope::ALL.into_iter().filter(|o| *o != scope) {
                assert!(!Scopes::none().with(scope).contains(other));
            }
        }
    }
}
