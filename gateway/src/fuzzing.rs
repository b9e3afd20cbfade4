//! Entry points for the fuzz targets in `fuzz/` (compiled only under `--cfg fuzzing`, as
//! cargo-fuzz builds): thin wrappers that call the crate's own parsers, never copies, so
//! what the fuzzers find is in the code the node runs.

use std::sync::Arc;
use std::time::SystemTime;

use axum::http::HeaderMap;
use lifecycle::{ConnectionInfo, Reply};

use crate::auth::sigv4;
use crate::channel::aliyun::frames;
use crate::config::SigV4Key;

pub use crate::channel::aliyun::frames::{ApiCall, CallKind, ClientFrame};

/// Alibaba's channel: one client text frame, as the channel reads it.
pub fn aliyun_parse(text: &str) -> Result<ClientFrame, String> {
    frames::parse(text)
}

/// Alibaba's channel: the `x-ca-seq` of a frame that is not a well-formed call.
pub fn aliyun_seq_of(text: &str) -> Option<&str> {
    frames::seq_of(text)
}

/// Alibaba's channel: the error answer frame the channel sends for a bad frame.
pub fn aliyun_error_answer(status: u16, seq: Option<&str>, message: &str) -> String {
    frames::error_answer(status, seq, message)
}

/// Alibaba's channel: `RF#<reason>`.
pub fn aliyun_register_failed(reason: &str) -> String {
    frames::register_failed(reason)
}

/// Alibaba's API proxy: the backend URL a call to `path` is sent to under `base`, or why
/// the path is refused.
pub fn aliyun_backend_url(base: &str, path: &str) -> Result<reqwest::Url, &'static str> {
    crate::channel::aliyun::calls::backend_url(base, Some(path))
}

/// Alibaba's API proxy: the check on a call's path (also what routes it to a function).
pub fn aliyun_check_path(path: &str) -> Result<(), &'static str> {
    crate::channel::aliyun::calls::check_path(path)
}

/// SigV4: the path with its dot segments resolved.
pub fn sigv4_remove_dot_segments(path: &str) -> String {
    sigv4::remove_dot_segments(path)
}

/// SigV4: the canonical query string.
pub fn sigv4_canonical_query(query: Option<&str>) -> String {
    sigv4::canonical_query(query)
}

/// SigV4: the canonical headers block for the `signed` header list.
pub fn sigv4_canonical_headers(headers: &HeaderMap, signed: &str) -> Result<String, String> {
    sigv4::canonical_headers(headers, signed)
}

/// SigV4: an `Authorization` header's `(Credential, SignedHeaders, Signature)`.
pub fn sigv4_parse_authorization(value: &str) -> Result<[&str; 3], String> {
    sigv4::parse_authorization(value).map(|a| [a.credential, a.signed_headers, a.signature])
}

/// SigV4: `x-amz-date`.
pub fn sigv4_parse_amz_date(text: &str) -> Result<SystemTime, String> {
    sigv4::parse_amz_date(text)
}

/// SigV4: the whole check the push API makes (precheck, then the signature over the
/// request), with the clock at `now`; `Err` says which step refused.
pub fn sigv4_check(
    key: &SigV4Key,
    now: SystemTime,
    request: &sigv4::SignedRequest<'_>,
) -> Result<(), String> {
    let claim = sigv4::precheck(key, "execute-api", request.headers, now)?;
    // Twice over one cache: a key kept after the first must verify exactly as a fresh one.
    let keys = crate::auth::SigningKeys::default();
    let fresh = sigv4::verify(key, &keys, "execute-api", &claim, request);
    let kept = sigv4::verify(key, &keys, "execute-api", &claim, request);
    assert_eq!(fresh, kept, "a kept signing key decides as a fresh one");
    fresh
}

pub use crate::auth::SignedRequest;

/// The handshake's HTTP status for a register `reply` that did not accept.
pub fn handshake_refusal(info: &Arc<ConnectionInfo>, reply: Reply) -> u16 {
    crate::socket::refusal(info, Ok(reply)).status().as_u16()
}
