//! Verifying AWS Signature Version 4 (`Authorization: AWS4-HMAC-SHA256 Credential=…,
//! SignedHeaders=…, Signature=…`), service `execute-api`, any region.
//!
//! The canonical request is rebuilt from the request as it arrived, following the SigV4
//! specification as botocore (`auth.SigV4Auth`) and the `aws-sigv4` crate sign it: the path
//! as sent, dot segments resolved, URI-encoded once more (so `@` → `%40`, `%3D` → `%253D`: non-S3 services sign
//! double-encoded paths); query pairs decoded, re-encoded and sorted; the signed headers
//! lower-cased, trimmed, sequential spaces folded; the body's SHA-256. The signature is
//! compared in constant time, and a request dated more than 15 minutes away from this
//! node's clock is refused (replays). The cheap checks (key, scope, date) run before the
//! body is read, so an unsigned caller cannot make the node buffer bodies.

use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::signing_keys::{SigningKeys, hmac};
use crate::config::SigV4Key;

/// The reason [`precheck`] gives for a key id that is not the node's.
pub const UNKNOWN_KEY: &str = "unknown access key id";
/// The reason [`precheck`] gives for a signature too far from the node's clock.
pub const SKEWED: &str = "the signature is more than 15 minutes away from this node's clock";

/// The only algorithm.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's date may be from this node's clock.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Everything but the unreserved characters is encoded (RFC 3986, as SigV4 demands).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same, keeping `/` (paths).
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// The parts of a request a signature covers.
#[derive(Debug)]
pub struct SignedRequest<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    /// The query as sent, without `?`.
    pub query: Option<&'a str>,
    /// All headers.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

/// The fields of the `Authorization` header.
#[derive(Debug)]
pub(crate) struct Authorization<'a> {
    /// `AKID/20261122/us-east-1/execute-api/aws4_request`.
    pub(crate) credential: &'a str,
    /// `host;x-amz-date`.
    pub(crate) signed_headers: &'a str,
    /// Hex.
    pub(crate) signature: &'a str,
}

pub(crate) fn parse_authorization(value: &str) -> Result<Authorization<'_>, String> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .ok_or("not an AWS4-HMAC-SHA256 authorization")?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    Ok(Authorization {
        credential: credential.ok_or("authorization without Credential")?,
        signed_headers: signed_headers.ok_or("authorization without SignedHeaders")?,
        signature: signature.ok_or("authorization without Signature")?,
    })
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `YYYYMMDDTHHMMSSZ` as a time.
pub(crate) fn parse_amz_date(text: &str) -> Result<SystemTime, String> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let at = time::PrimitiveDateTime::parse(text, format)
        .map_err(|e| format!("x-amz-date `{text}`: {e}"))?
        .assume_utc();
    Ok(SystemTime::from(at))
}

/// The path with `.` and `..` segments resolved, as signers normalize it (non-S3).
pub(crate) fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "." => {}
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
            }
            other => out.push(other),
        }
    }
    let mut normalized = out.join("/");
    if !normalized.starts_with('/') {
        normalized.insert(0, '/');
    }
    if (path.ends_with("/.") || path.ends_with("/..")) && !normalized.ends_with('/') {
        normalized.push('/');
    }
    normalized
}

pub(crate) fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let encode = |text: &str| {
                let decoded = percent_decode_str(text).decode_utf8_lossy().into_owned();
                utf8_percent_encode(&decoded, UNRESERVED).to_string()
            };
            (encode(key), encode(value))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn canonical_headers(headers: &HeaderMap, signed: &str) -> Result<String, String> {
    let mut out = String::new();
    for name in signed.split(';') {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(format!("signed header `{name}` is missing"));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Ok(out)
}

/// What a signed request claims, checked before its body is read: the key, the scope, the
/// date. Owned, so the request can be taken apart afterwards.
#[derive(Debug)]
pub struct Claim {
    /// `20261122`.
    date: String,
    /// The region signed for (any is accepted).
    region: String,
    /// `x-amz-date`.
    amz_date: String,
    /// `host;x-amz-date;…`.
    signed_headers: String,
    /// Hex.
    signature: String,
}

/// Checks everything but the signature itself: a known access key, a scope for `service`,
/// a date within 15 minutes of `now`, a signed host. `Err` says why (for the log).
pub fn precheck(
    key: &SigV4Key,
    service: &str,
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<Claim, String> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("no Authorization header")?;
    let auth = parse_authorization(header)?;
    let scope: Vec<&str> = auth.credential.split('/').collect();
    let [access_key_id, date, region, scope_service, terminator] = scope[..] else {
        return Err("malformed Credential".into());
    };
    if access_key_id != key.access_key_id {
        return Err(UNKNOWN_KEY.into());
    }
    if scope_service != service || terminator != "aws4_request" {
        return Err(format!(
            "the credential scope is for `{scope_service}`, not `{service}`"
        ));
    }
    if !auth.signed_headers.split(';').any(|h| h == "host") {
        return Err("the host header is not signed".into());
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or("no x-amz-date header")?;
    if date.len() != 8 || amz_date.get(..8) != Some(date) {
        return Err("x-amz-date and the credential scope disagree on the date".into());
    }
    let signed_at = parse_amz_date(amz_date)?;
    let skew = now
        .duration_since(signed_at)
        .unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(SKEWED.into());
    }
    Ok(Claim {
        date: date.to_owned(),
        region: region.to_owned(),
        amz_date: amz_date.to_owned(),
        signed_headers: auth.signed_headers.to_owned(),
        signature: auth.signature.to_owned(),
    })
}

/// Checks `claim`'s signature over `request` (which [`precheck`] passed) with `key`, its
/// signing key taken from `keys` (and kept there once it verified).
pub fn verify(
    key: &SigV4Key,
    keys: &SigningKeys,
    service: &str,
    claim: &Claim,
    request: &SignedRequest<'_>,
) -> Result<(), String> {
    let canonical = [
        request.method.to_owned(),
        utf8_percent_encode(&remove_dot_segments(request.path), PATH).to_string(),
        canonical_query(request.query),
        canonical_headers(request.headers, &claim.signed_headers)?,
        claim.signed_headers.clone(),
        sha256_hex(request.body),
    ]
    .join("\n");
    let scope = format!("{}/{}/{service}/aws4_request", claim.date, claim.region);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        claim.amz_date,
        sha256_hex(canonical.as_bytes())
    );
    let (date, region) = (claim.date.as_str(), claim.region.as_str());
    let (signing_key, kept) = keys.get(&key.secret_access_key, date, region, service);
    let expected = hex::encode(hmac(&signing_key, string_to_sign.as_bytes()));
    if bool::from(expected.as_bytes().ct_eq(claim.signature.as_bytes())) {
        if !kept {
            keys.keep(date, region, signing_key);
        }
        Ok(())
    } else {
        Err("the signature does not match".into())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const SERVICE: &str = "execute-api";

    fn key() -> SigV4Key {
        SigV4Key {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        }
    }

    /// Checks one request signed by botocore's `SigV4Auth` (service `execute-api`,
    /// `us-east-1`, at 2026-11-22T19:07:46Z).
    fn check(
        method: &str,
        host: &str,
        path: &str,
        query: Option<&str>,
        body: &[u8],
        signature: &str,
        now: SystemTime,
    ) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_str(host).unwrap());
        headers.insert("x-amz-date", HeaderValue::from_static("20261122T190746Z"));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}"
        );
        headers.insert(
            "authorization",
            HeaderValue::from_str(&authorization).unwrap(),
        );
        let claim = precheck(&key(), SERVICE, &headers, now)?;
        let request = SignedRequest {
            method,
            path,
            query,
            headers: &headers,
            body,
        };
        // Twice: with a fresh cache, and with the key it kept (when it verified).
        let keys = SigningKeys::default();
        let fresh = verify(&key(), &keys, SERVICE, &claim, &request);
        assert_eq!(
            keys.len(),
            usize::from(fresh.is_ok()),
            "kept only once verified"
        );
        assert_eq!(verify(&key(), &keys, SERVICE, &claim, &request), fresh);
        fresh
    }

    fn signed_at() -> SystemTime {
        parse_amz_date("20261122T190746Z").unwrap()
    }

    #[test]
    fn botocore_signatures_verify() {
        let now = signed_at() + Duration::from_secs(60);
        check(
            "GET",
            "example.amazonaws.com",
            "/",
            None,
            b"",
            "37af17f634a906635a28cc7d6cd94baccd55f483fd5c18aee68eabeb2ea2f9a1",
            now,
        )
        .unwrap();
        check(
            "POST",
            "127.0.0.1:8081",
            "/prod/@connections/a%3Db%20c",
            None,
            b"hello",
            "262e48bcbee50da097f6873cccd10985da419cc321c50a6b615a9dbfe6204625",
            now,
        )
        .unwrap();
        check(
            "GET",
            "example.amazonaws.com",
            "/./a/../b",
            Some("Param2=value2&Param1=va%20l"),
            b"",
            "d1682080359503191bf106ab99406d542ba49b7773683843330cd8a1eeb3c613",
            now,
        )
        .unwrap();
    }

    #[test]
    fn altered_or_stale_requests_are_refused() {
        let now = signed_at();
        let post = |body: &[u8], path: &str, now| {
            check(
                "POST",
                "127.0.0.1:8081",
                path,
                None,
                body,
                "262e48bcbee50da097f6873cccd10985da419cc321c50a6b615a9dbfe6204625",
                now,
            )
        };
        assert!(post(b"hello", "/prod/@connections/a%3Db%20c", now).is_ok());
        assert!(post(b"hellO", "/prod/@connections/a%3Db%20c", now).is_err());
        assert!(post(b"hello", "/prod/@connections/a%3Db%20d", now).is_err());
        let late = now + Duration::from_secs(16 * 60);
        assert!(post(b"hello", "/prod/@connections/a%3Db%20c", late).is_err());
        let early = now - Duration::from_secs(16 * 60);
        assert!(post(b"hello", "/prod/@connections/a%3Db%20c", early).is_err());
    }

    #[test]
    fn canonical_pieces_follow_the_specification() {
        assert_eq!(
            utf8_percent_encode("/prod/@connections/abc%3D", PATH).to_string(),
            "/prod/%40connections/abc%253D"
        );
        assert_eq!(remove_dot_segments("/./a/../b"), "/b");
        assert_eq!(remove_dot_segments("/a/b/.."), "/a/");
        assert_eq!(remove_dot_segments("/../.."), "/");
        assert_eq!(canonical_query(Some("b=2&a=x%20y&a=1")), "a=1&a=x%20y&b=2");
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("h:1"));
        headers.append("x-multi", HeaderValue::from_static("  a   b "));
        headers.append("x-multi", HeaderValue::from_static("c"));
        assert_eq!(
            canonical_headers(&headers, "host;x-multi").unwrap(),
            "host:h:1\nx-multi:a b,c\n"
        );
        assert!(canonical_headers(&headers, "host;x-absent").is_err());
    }

    #[test]
    fn bad_authorizations_are_refused_before_the_body() {
        let now = signed_at();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("h"));
        headers.insert("x-amz-date", HeaderValue::from_static("20261122T190746Z"));
        assert!(precheck(&key(), SERVICE, &headers, now).is_err());
        for bad in [
            "AWS4-HMAC-SHA256 Credential=OTHER/20261122/r/execute-api/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/r/s3/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/r/execute-api/aws4_request, SignedHeaders=x, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE//r/execute-api/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2026/r/execute-api/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE, SignedHeaders=host, Signature=00",
            "Basic abc",
        ] {
            headers.insert("authorization", HeaderValue::from_str(bad).unwrap());
            assert!(precheck(&key(), SERVICE, &headers, now).is_err(), "{bad}");
        }
    }
}
