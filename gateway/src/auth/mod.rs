//! Who may call the push API: a bearer token, or an AWS Signature V4 as the clouds' SDKs
//! make it.
//!
//! # Layout
//! - `mod.rs`: [`check`], deciding on a request's headers (and body, for a signature).
//! - `sigv4.rs`: verifying a Signature V4 `Authorization` header.
//! - `signing_keys.rs`: the derived signing keys, kept by date and region.

pub(crate) mod signing_keys;
pub(crate) mod sigv4;

use axum::http::{HeaderMap, Method, header};
use subtle::ConstantTimeEq;

use crate::config::PushAuth;

pub use signing_keys::SigningKeys;
pub use sigv4::SignedRequest;

/// True when `headers` carries a SigV4 `Authorization` (its body must be read to check).
pub fn is_signed(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(sigv4::ALGORITHM))
}

/// True when `headers` carries the bearer token (compared in constant time). An empty
/// token (a `PushAuth` built around [`PushAuth::validate`]) matches nothing.
pub fn has_token(auth: &PushAuth, headers: &HeaderMap) -> bool {
    let Some(token) = &auth.token else {
        return false;
    };
    if token.trim().is_empty() {
        return false;
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.as_bytes())))
}

/// The service the push API's signatures are for (API Gateway's management API).
const SERVICE: &str = "execute-api";

/// The signature checks that need no body; `Err` is the reason, for the log only.
pub fn precheck_signature(auth: &PushAuth, headers: &HeaderMap) -> Result<sigv4::Claim, String> {
    let Some(key) = &auth.sigv4 else {
        return Err("this node accepts no AWS signatures (no key configured)".into());
    };
    // An empty id or secret would let anyone sign: such a key verifies nothing.
    key.validate().map_err(|e| e.to_string())?;
    sigv4::precheck(key, SERVICE, headers, std::time::SystemTime::now())
}

/// Checks a signed request whose [`precheck_signature`] passed, with the signing keys
/// kept in `keys` (one cache per `auth`); `Err` is for the log only.
pub fn check_signature(
    auth: &PushAuth,
    keys: &SigningKeys,
    claim: &sigv4::Claim,
    method: &Method,
    path_and_query: (&str, Option<&str>),
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let Some(key) = &auth.sigv4 else {
        return Err("this node accepts no AWS signatures (no key configured)".into());
    };
    let request = SignedRequest {
        method: method.as_str(),
        path: path_and_query.0,
        query: path_and_query.1,
        headers,
        body,
    };
    sigv4::verify(key, keys, SERVICE, claim, &request)
}
