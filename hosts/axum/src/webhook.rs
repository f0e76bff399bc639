//! The payment provider's webhook: `Giftcert-Signature: t=<unix>,v1=<hex>`, an HMAC-SHA256
//! over `t + "." + body`, within a tolerance window, each signature accepted once.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use giftcert::store::AsyncStore;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::ApiError;
use crate::shop::Shop;

/// The header the provider signs its calls in.
pub const SIGNATURE_HEADER: &str = "Giftcert-Signature";

/// How many signatures seen within the window are remembered at most.
const MAX_SEEN: usize = 100_000;

/// Checks the provider's signatures with a shared secret.
pub struct WebhookVerifier {
    secret: Vec<u8>,
    tolerance_secs: i64,
    seen: Mutex<HashMap<Vec<u8>, i64>>,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("tolerance_secs", &self.tolerance_secs)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

impl WebhookVerifier {
    /// A verifier for `secret` with the default 5-minute tolerance.
    pub fn new(secret: &[u8]) -> WebhookVerifier {
        WebhookVerifier {
            secret: secret.to_vec(),
            tolerance_secs: 300,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The hex signature of `body` at `timestamp` (what the provider sends as `v1`).
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        self.mac(timestamp, body)
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn mac(&self, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// Why `header` does not sign `body` now, or `None` when it does (and is then remembered).
    fn refuse(&self, header: &str, body: &[u8], now: i64) -> Option<(&'static str, &'static str)> {
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
                Some(("v1", v)) => signatures.extend(decode_hex(v)),
                _ => {}
            }
        }
        let Some(timestamp) = timestamp else {
            return Some(("bad_signature", "the signature header has no valid t="));
        };
        if (now - timestamp).abs() > self.tolerance_secs {
            return Some((
                "stale_signature",
                "the signature's timestamp is outside the window",
            ));
        }
        let matched = signatures
            .into_iter()
            .find(|sig| self.mac(timestamp, body).verify_slice(sig).is_ok());
        let Some(signature) = matched else {
            return Some(("bad_signature", "no v1 signature matches the body"));
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, t| (now - *t).abs() <= self.tolerance_secs);
        if seen.contains_key(&signature) {
            return Some((
                "replayed_signature",
                "this signed call was already accepted",
            ));
        }
        if seen.len() >= MAX_SEEN {
            return Some(("busy", "too many signed calls in the window; retry later"));
        }
        seen.insert(signature, timestamp);
        None
    }
}

/// Lets a provider call through only with a valid, fresh, unseen signature; else 401.
pub(crate) async fn require_signature<S: AsyncStore + 'static>(
    State(shop): State<Arc<Shop<S>>>,
    request: Request,
    next: Next,
) -> Response {
    let refused =
        |code, message| ApiError::new(StatusCode::UNAUTHORIZED, code, message).into_response();
    let Some(verifier) = shop.webhook.as_ref() else {
        return refused(
            "no_webhook_secret",
            "the host has no webhook secret configured",
        );
    };
    let (parts, body) = request.into_parts();
    let Some(header) = parts
        .headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return refused(
            "missing_signature",
            "this provider route needs a Giftcert-Signature header",
        );
    };
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the body is too large",
        )
        .into_response();
    };
    if let Some((code, message)) = verifier.refuse(&header, &bytes, unix_now()) {
        return refused(code, message);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
