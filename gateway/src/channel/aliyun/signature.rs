//! Alibaba API Gateway's APP signatures ("摘要签名"), checked as the gateway checks them
//! on an API whose auth type is APP: the notify API and the HTTP APIs.
//!
//! Followed: "使用摘要签名认证方式调用API" (help.aliyun.com 29475) and the clients Alibaba
//! publishes (`api-gateway-demo-sign-python`, `-java`, `apigateway-sdk-core`). The string
//! signed is
//!
//! ```text
//! METHOD \n Accept \n Content-MD5 \n Content-Type \n Date \n
//! name:value \n …   (each header X-Ca-Signature-Headers lists, sorted, named as listed)
//! path[?k=v&k&…]    (query and form parameters, decoded, sorted; form over query; the
//!                    first value of a key; a blank value signs as the bare key)
//! ```
//!
//! and `X-Ca-Signature` is its base64 HMAC (`X-Ca-Signature-Method`: `HmacSHA256`, the
//! default, or `HmacSHA1`) under the app's secret, the app named by `X-Ca-Key`.
//! `Content-MD5`, when sent, must be the body's. `X-Ca-Timestamp` (ms) must lie within 15
//! minutes of now (Alibaba lets a caller leave it out; this gateway does not, so a
//! signature cannot be replayed for ever); an `X-Ca-Nonce` is refused when seen within
//! that window. Refusals carry Alibaba's status and `X-Ca-Error-Message` (the classic
//! instances' table: `Invalid AppKey`, `Empty Signature` (404), `Invalid Timestamp`,
//! `Timestamp Expired`, `Invalid Content-MD5`, `Nonce Used`, and ``Invalid Signature,
//! Server StringToSign:`…` `` with each newline as `#`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use axum::http::{HeaderMap, Method};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

use super::config::AppKey;
use super::nonces::{NonceRefused, Nonces};

/// How far a timestamp may be from now, either way (and how long a nonce is kept).
pub const WINDOW_MS: u64 = 15 * 60 * 1000;

/// Most header names `X-Ca-Signature-Headers` may list (checked before any work on them).
const MAX_SIGNED_HEADERS: usize = 64;

/// Most parameters (query and form) a signed call may carry.
const MAX_PARAMETERS: usize = 256;

/// Headers that are lines of their own, or the signature itself: never in the header block.
const NOT_IN_BLOCK: [&str; 6] = [
    "x-ca-signature",
    "x-ca-signature-headers",
    "accept",
    "content-md5",
    "content-type",
    "date",
];

/// Why a signed call was refused: Alibaba's status and `X-Ca-Error-Message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status.
    pub status: u16,
    /// The message.
    pub message: String,
}

impl Refusal {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
        }
    }
}

/// The apps whose signatures a node accepts, and the nonces they used.
pub struct AppSignatures {
    /// App key → secret.
    secrets: HashMap<String, String>,
    /// Nonces seen within the window.
    nonces: Nonces,
}

impl fmt::Debug for AppSignatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSignatures")
            .field("apps", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A request, as far as its signature covers it.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// Its method.
    pub method: &'a Method,
    /// Its path, as sent (percent-encoded).
    pub path: &'a str,
    /// Its query, as sent.
    pub query: Option<&'a str>,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its body.
    pub body: &'a [u8],
}

/// True when `headers` claim an APP signature (an app key or a signature).
pub fn claims(headers: &HeaderMap) -> bool {
    headers.contains_key("x-ca-key") || headers.contains_key("x-ca-signature")
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

impl AppSignatures {
    /// Accepting the signatures of `apps`, remembering up to `max_nonces` nonces.
    pub fn new(apps: &[AppKey], max_nonces: usize) -> Self {
        AppSignatures {
            secrets: apps
                .iter()
                .map(|app| (app.key.clone(), app.secret.clone()))
                .collect(),
            nonces: Nonces::new(max_nonces, WINDOW_MS),
        }
    }

    /// The checks that need no body (the app is known, a signature is there, the
    /// timestamp is within the window): a caller failing them gets no body read.
    pub fn precheck(&self, headers: &HeaderMap, now_ms: u64) -> Result<(), Refusal> {
        self.secret(headers)?;
        if header(headers, "x-ca-signature").is_empty() {
            return Err(Refusal::new(404, "Empty Signature"));
        }
        timestamp(headers, now_ms)?;
        Ok(())
    }

    fn secret(&self, headers: &HeaderMap) -> Result<&str, Refusal> {
        let key = header(headers, "x-ca-key");
        self.secrets
            .get(key)
            .map(String::as_str)
            .filter(|_| !key.is_empty())
            .ok_or_else(|| Refusal::new(400, "Invalid AppKey"))
    }

    /// Checks `request`'s signature at `now_ms`; then records its nonce (only a valid
    /// signature spends one, so nobody can burn another caller's nonces).
    pub fn verify(&self, request: &Signed<'_>, now_ms: u64) -> Result<(), Refusal> {
        let headers = request.headers;
        let secret = self.secret(headers)?;
        let signature = header(headers, "x-ca-signature");
        if signature.is_empty() {
            return Err(Refusal::new(404, "Empty Signature"));
        }
        let at = timestamp(headers, now_ms)?;
        let md5 = header(headers, "content-md5");
        if !md5.is_empty() && md5 != content_md5(request.body) {
            return Err(Refusal::new(400, "Invalid Content-MD5"));
        }
        let method = match header(headers, "x-ca-signature-method") {
            "" | "HmacSHA256" => Algorithm::Sha256,
            "HmacSHA1" => Algorithm::Sha1,
            _ => return Err(Refusal::new(400, "Invalid Signature Method")),
        };
        let to_sign = string_to_sign(request)?;
        let expected = sign(secret, method, &to_sign);
        if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
            let echoed = to_sign.replace('\n', "#");
            return Err(Refusal::new(
                400,
                format!("Invalid Signature, Server StringToSign:`{echoed}`"),
            ));
        }
        let nonce = header(headers, "x-ca-nonce");
        if !nonce.is_empty() {
            let key = header(headers, "x-ca-key");
            match self.nonces.record(key, nonce, at, now_ms) {
                Ok(()) => {}
                Err(NonceRefused::Used) => return Err(Refusal::new(400, "Nonce Used")),
                Err(NonceRefused::Full) => {
                    return Err(Refusal::new(503, "Too many signed calls within 15 minutes"));
                }
            }
        }
        Ok(())
    }
}

/// `X-Ca-Timestamp` in ms, within the window of `now_ms`.
fn timestamp(headers: &HeaderMap, now_ms: u64) -> Result<u64, Refusal> {
    let at: u64 = header(headers, "x-ca-timestamp")
        .trim()
        .parse()
        .map_err(|_| Refusal::new(400, "Invalid Timestamp"))?;
    if at.abs_diff(now_ms) > WINDOW_MS {
        return Err(Refusal::new(400, "Timestamp Expired"));
    }
    Ok(at)
}

/// The HMAC an `X-Ca-Signature-Method` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `HmacSHA256`, the default.
    Sha256,
    /// `HmacSHA1`.
    Sha1,
}

/// `Content-MD5` of `body`: its MD5, base64.
pub fn content_md5(body: &[u8]) -> String {
    STANDARD.encode(Md5::digest(body))
}

/// The base64 HMAC of `to_sign` under `secret`.
pub fn sign(secret: &str, algorithm: Algorithm, to_sign: &str) -> String {
    match algorithm {
        Algorithm::Sha256 => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes a key of any length");
            mac.update(to_sign.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        }
        Algorithm::Sha1 => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes a key of any length");
            mac.update(to_sign.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        }
    }
}

/// The string `request`'s signature is over; `Err` when it lists or carries more than the
/// caps allow.
pub fn string_to_sign(request: &Signed<'_>) -> Result<String, Refusal> {
    let headers = request.headers;
    let mut out = String::new();
    out.push_str(request.method.as_str());
    out.push('\n');
    for line in ["accept", "content-md5", "content-type", "date"] {
        out.push_str(header(headers, line));
        out.push('\n');
    }
    let listed = header(headers, "x-ca-signature-headers");
    let mut names: Vec<&str> = Vec::new();
    for name in listed.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if names.len() == MAX_SIGNED_HEADERS {
            return Err(Refusal::new(400, "Too many signed headers"));
        }
        if NOT_IN_BLOCK.contains(&name.to_ascii_lowercase().as_str()) || names.contains(&name) {
            continue;
        }
        names.push(name);
    }
    names.sort_unstable();
    for name in names {
        out.push_str(name);
        out.push(':');
        out.push_str(header(headers, &name.to_ascii_lowercase()).trim());
        out.push('\n');
    }
    let path = percent_encoding::percent_decode_str(request.path).decode_utf8_lossy();
    out.push_str(&path);
    let form = header(headers, "content-type")
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded");
    let mut parameters = first_values(request.query.unwrap_or("").as_bytes())?;
    if form {
        // A form's value wins over the query's.
        parameters.extend(first_values(request.body)?);
    }
    if !parameters.is_empty() {
        out.push('?');
        let mut first = true;
        for (key, value) in &parameters {
            if !first {
                out.push('&');
            }
            first = false;
            out.push_str(key);
            if !value.trim().is_empty() {
                out.push('=');
                out.push_str(value);
            }
        }
    }
    Ok(out)
}

/// The headers that sign a `method` call of `path` (no query) with `body` of
/// `content_type` as `app`, at `now_ms`, with `nonce`: what this node sends when it
/// forwards a notify to another node that accepts only APP signatures.
pub fn signed_headers(
    app: &AppKey,
    method: &Method,
    path: &str,
    content_type: &str,
    body: &[u8],
    now_ms: u64,
    nonce: &str,
) -> Vec<(&'static str, String)> {
    // Accept is signed: an HTTP client that adds its own would break the signature.
    let mut headers = vec![
        ("accept", "application/json".to_owned()),
        ("content-type", content_type.to_owned()),
        ("content-md5", content_md5(body)),
        ("x-ca-key", app.key.clone()),
        ("x-ca-timestamp", now_ms.to_string()),
        ("x-ca-nonce", nonce.to_owned()),
        (
            "x-ca-signature-headers",
            "x-ca-key,x-ca-nonce,x-ca-timestamp".to_owned(),
        ),
    ];
    let mut map = HeaderMap::new();
    for (name, value) in &headers {
        if let Ok(value) = axum::http::HeaderValue::from_str(value) {
            map.insert(*name, value);
        }
    }
    let request = Signed {
        method,
        path,
        query: None,
        headers: &map,
        body,
    };
    if let Ok(to_sign) = string_to_sign(&request) {
        headers.push((
            "x-ca-signature",
            sign(&app.secret, Algorithm::Sha256, &to_sign),
        ));
    }
    headers
}

/// The first value of each key of `pairs` (`k=v&…`, decoded), by key; `Err` past the cap.
fn first_values(pairs: &[u8]) -> Result<BTreeMap<String, String>, Refusal> {
    let mut values = BTreeMap::new();
    for (i, (key, value)) in url::form_urlencoded::parse(pairs).enumerate() {
        if i >= MAX_PARAMETERS {
            return Err(Refusal::new(400, "Too many parameters"));
        }
        if !key.is_empty() {
            values
                .entry(key.into_owned())
                .or_insert_with(|| value.into_owned());
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    /// Vectors from Alibaba's open-source gateway (Higress's hmac-auth tests), recomputed
    /// independently with Python's hmac.
    #[test]
    fn known_signatures_are_reproduced() {
        let get = headers(&[
            ("accept", "application/json"),
            ("content-type", "application/json"),
            ("x-ca-timestamp", "1646365291734"),
            ("x-ca-nonce", "787dd0c2-7bd8-41cd-9c19-62c05ea524a2"),
            ("x-ca-key", "appKey"),
            (
                "x-ca-signature-headers",
                "x-ca-key,x-ca-nonce,x-ca-timestamp",
            ),
        ]);
        let request = Signed {
            method: &Method::GET,
            path: "/Third/Tools/checkSign",
            query: None,
            headers: &get,
            body: b"",
        };
        let to_sign = string_to_sign(&request).unwrap();
        assert_eq!(
            to_sign,
            "GET\napplication/json\n\napplication/json\n\nx-ca-key:appKey\nx-ca-nonce:787dd0c2-7bd8-41cd-9c19-62c05ea524a2\nx-ca-timestamp:1646365291734\n/Third/Tools/checkSign"
        );
        assert_eq!(
            sign("appSecret", Algorithm::Sha256, &to_sign),
            "EdJSFAMOWyXZOpXhevZnjuS0ZafnwnCqaSk5hz+tXo8="
        );
        assert_eq!(
            sign("appSecret", Algorithm::Sha1, &to_sign),
            "gr6OOcKuuL0badPOkKpEbWOzVwQ="
        );

        let form = headers(&[
            ("accept", "application/json"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-ca-timestamp", "1646646682418"),
            ("x-ca-nonce", "ca5a6753-b76c-4fff-a9d9-e5bb643e8cdf"),
            ("x-ca-key", "appKey"),
            (
                "x-ca-signature-headers",
                "x-ca-key,x-ca-nonce,x-ca-timestamp",
            ),
        ]);
        let request = Signed {
            method: &Method::POST,
            path: "/Third/User/getNyAccessToken",
            query: None,
            headers: &form,
            body: b"nickname=nickname&room_id=6893&uuid=uuid&photo=photo",
        };
        let to_sign = string_to_sign(&request).unwrap();
        assert!(to_sign.ends_with("?nickname=nickname&photo=photo&room_id=6893&uuid=uuid"));
        assert_eq!(
            sign("appSecret", Algorithm::Sha256, &to_sign),
            "gmf9xq0hc95Hmt+7G+OocS009ka3v1v0rvfshKzYc3w="
        );
    }

    /// Alibaba's Python demo: names as listed (mixed case), query sorted, a blank value as
    /// the bare key, the first of repeated values, decoded values.
    #[test]
    fn the_python_demos_spelling_is_read_as_it_signs() {
        let demo = headers(&[
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
            ("X-Ca-Key", "appKey"),
            ("X-Ca-Nonce", "n1"),
            ("X-Ca-Timestamp", "1646365291734"),
            (
                "X-Ca-Signature-Headers",
                "X-Ca-Key,X-Ca-Nonce,X-Ca-Timestamp",
            ),
        ]);
        let request = Signed {
            method: &Method::GET,
            path: "/p",
            query: Some("b=2&a=1"),
            headers: &demo,
            body: b"",
        };
        assert_eq!(
            sign(
                "appSecret",
                Algorithm::Sha256,
                &string_to_sign(&request).unwrap()
            ),
            "A+fa686Hh8KcZT4xOGiRHgJYCFXHsUYO7BpNweBFaJA="
        );
        let request = Signed {
            query: Some("z=a+b&e=&a=1&a=2&s=%20"),
            ..request
        };
        assert!(
            string_to_sign(&request)
                .unwrap()
                .ends_with("/p?a=1&e&s&z=a b")
        );
    }

    fn signed_now(now: u64, nonce: &str, body: &[u8], secret: &str) -> HeaderMap {
        let mut map = headers(&[
            ("x-ca-key", "app"),
            ("x-ca-timestamp", &now.to_string()),
            ("x-ca-nonce", nonce),
            ("content-md5", &content_md5(body)),
            (
                "x-ca-signature-headers",
                "x-ca-key,x-ca-nonce,x-ca-timestamp",
            ),
        ]);
        let to_sign = string_to_sign(&Signed {
            method: &Method::POST,
            path: "/notify",
            query: None,
            headers: &map,
            body,
        })
        .unwrap();
        let signature = sign(secret, Algorithm::Sha256, &to_sign);
        map.insert("x-ca-signature", HeaderValue::from_str(&signature).unwrap());
        map
    }

    #[test]
    fn each_refusal_has_alibabas_status_and_message() {
        let apps = AppSignatures::new(
            &[AppKey {
                key: "app".into(),
                secret: "secret".into(),
            }],
            100,
        );
        let now = 1_700_000_000_000;
        let check = |headers: &HeaderMap, body: &[u8], at: u64| {
            apps.verify(
                &Signed {
                    method: &Method::POST,
                    path: "/notify",
                    query: None,
                    headers,
                    body,
                },
                at,
            )
        };
        let good = signed_now(now, "n1", b"hi", "secret");
        assert_eq!(check(&good, b"hi", now), Ok(()));
        let refused =
            |headers: &HeaderMap, body: &[u8], at: u64| check(headers, body, at).unwrap_err();
        assert_eq!(refused(&good, b"hi", now).message, "Nonce Used");
        let forged = signed_now(now, "n2", b"hi", "not the secret");
        let why = refused(&forged, b"hi", now);
        assert_eq!(why.status, 400);
        assert!(
            why.message
                .starts_with("Invalid Signature, Server StringToSign:`POST#"),
            "{why:?}"
        );
        let other_body = signed_now(now, "n3", b"hi", "secret");
        assert_eq!(
            refused(&other_body, b"ho", now).message,
            "Invalid Content-MD5"
        );
        let late = signed_now(now, "n4", b"hi", "secret");
        assert_eq!(
            refused(&late, b"hi", now + WINDOW_MS + 1).message,
            "Timestamp Expired"
        );
        let mut unknown = signed_now(now, "n5", b"hi", "secret");
        unknown.insert("x-ca-key", HeaderValue::from_static("stranger"));
        assert_eq!(refused(&unknown, b"hi", now).message, "Invalid AppKey");
        let mut unsigned = signed_now(now, "n6", b"hi", "secret");
        unsigned.remove("x-ca-signature");
        assert_eq!(
            refused(&unsigned, b"hi", now),
            Refusal::new(404, "Empty Signature")
        );
        let mut undated = signed_now(now, "n7", b"hi", "secret");
        undated.remove("x-ca-timestamp");
        assert_eq!(refused(&undated, b"hi", now).message, "Invalid Timestamp");
        // A forged call spent no nonce: the genuine one still passes.
        let genuine = signed_now(now, "n2", b"hi", "secret");
        assert_eq!(check(&genuine, b"hi", now), Ok(()));
    }
}
