//! Proof of identity for the staff routes: bearer tokens kept only as SHA-256 hashes.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use giftcert::store::AsyncStore;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::error::ApiError;
use crate::shop::Shop;

/// The staff bearer tokens the host accepts, held only as their SHA-256 hashes.
#[derive(Clone, Default)]
pub struct StaffTokens {
    hashes: Vec<[u8; 32]>,
}

impl fmt::Debug for StaffTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaffTokens")
            .field("count", &self.hashes.len())
            .finish_non_exhaustive()
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl StaffTokens {
    /// No staff token: every staff route answers 401.
    pub fn none() -> StaffTokens {
        StaffTokens::default()
    }

    /// Also accepts `token` (only its hash is kept).
    pub fn with_token(mut self, token: &str) -> StaffTokens {
        self.hashes.push(hash(token));
        self
    }

    /// Also accepts the token whose SHA-256 is `hex` (64 hex digits), or `None` when `hex` is
    /// not such a hash.
    pub fn with_hash_hex(mut self, hex: &str) -> Option<StaffTokens> {
        let hex = hex.trim().as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.chunks(2)) {
            let text = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(text, 16).ok()?;
        }
        self.hashes.push(out);
        Some(self)
    }

    /// The tokens whose SHA-256 hashes `list` gives, as 64 hex digits each, separated by
    /// commas (the form of `GIFTCERT_STAFF_TOKEN_SHA256`).
    ///
    /// # Errors
    ///
    /// When an entry is not 64 hex digits; the message gives its position, not its text.
    pub fn from_hash_list(list: &str) -> Result<StaffTokens, String> {
        let mut tokens = StaffTokens::none();
        for (index, entry) in list.split(',').enumerate() {
            if entry.trim().is_empty() {
                continue;
            }
            tokens = tokens
                .with_hash_hex(entry)
                .ok_or_else(|| format!("staff token hash {} is not 64 hex digits", index + 1))?;
        }
        Ok(tokens)
    }

    /// How many tokens are accepted.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether no token is accepted (every staff route answers 401).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether `token` is one of the accepted tokens, comparing hashes in constant time.
    fn accepts(&self, token: &str) -> bool {
        let presented = hash(token);
        let mut found = Choice::from(0);
        for known in &self.hashes {
            found |= known.ct_eq(&presented);
        }
        found.into()
    }
}

/// Lets a request through only with `Authorization: Bearer <staff token>`; else 401 with a
/// JSON body naming the problem (never the token presented).
pub(crate) async fn require_staff<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
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
    match header.strip_prefix("Bearer ") {
        Some(token) if shop.staff.accepts(token.trim()) => next.run(request).await,
        _ => ApiError::new(
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
    fn a_hash_list_accepts_exactly_its_tokens() {
        // SHA-256 of "abc".
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let tokens = StaffTokens::from_hash_list(&format!(" {abc} ,")).expect("list");
        assert_eq!(tokens.len(), 1);
        assert!(tokens.accepts("abc"));
        assert!(!tokens.accepts("abd"));
        assert!(!tokens.accepts(""));
        let error = StaffTokens::from_hash_list(&format!("{abc},zz")).expect_err("bad entry");
        assert!(error.contains("hash 2"), "{error}");
        assert!(!error.contains("zz"), "{error}");
        assert!(StaffTokens::from_hash_list("").expect("empty").is_empty());
    }
}
