//! API calls a device makes over the channel: forwarded as HTTP to the configured backends
//! with `x-ca-deviceid` (as Alibaba's gateway does), or, without backends, handed to the
//! node's functions as lifecycle events (`REGISTER` → connect, `UNREGISTER` → disconnect,
//! any other API → a message routed by its path).
//!
//! An API path is the client's: it is refused (400) with a control character (raw or
//! percent-encoded: the URL parser would drop a tab or newline after the check), a dot
//! segment or a backslash, and the path the backend request will carry is checked again,
//! after URL parsing, to lie under the backend URL's own path.

use std::sync::Arc;

use lifecycle::{ConnectionInfo, EventKind, Payload};
use reqwest::header::{HeaderName, HeaderValue};

use super::context::Context;
use super::frames::{self, ApiCall, CallKind};
use crate::hub::Kick;
use crate::invoke::{InvokeError, event, read_capped};

/// An API call's answer frame, and its status.
#[derive(Debug)]
pub struct Outcome {
    /// The JSON frame for the device.
    pub frame: String,
    /// Its status.
    pub status: u16,
}

fn error(status: u16, call: &ApiCall, message: &str) -> Outcome {
    Outcome {
        frame: frames::error_answer(status, call.seq(), message),
        status,
    }
}

/// Headers a forwarded call never carries over: they describe the socket rather than the
/// call, or a backend may trust them as the gateway's word (the device id, the client's
/// address), so only the gateway sets them.
const NOT_FORWARDED: [&str; 14] = [
    "host",
    "content-length",
    "connection",
    "upgrade",
    "transfer-encoding",
    "keep-alive",
    "te",
    "trailer",
    "expect",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
    "x-ca-deviceid",
];

/// The methods an API call may use.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// Largest backend answer relayed to a device.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Answers `call` from `info`'s device.
pub(super) async fn handle(node: &Context, info: &Arc<ConnectionInfo>, call: &ApiCall) -> Outcome {
    if node.channel.config.has_backends() {
        forward(node, info, call).await
    } else {
        as_event(node, info, call).await
    }
}

async fn forward(node: &Context, info: &ConnectionInfo, call: &ApiCall) -> Outcome {
    let config = &node.channel.config;
    let target = match call.kind() {
        CallKind::Register => config.register_url.as_deref().map(|url| (url, None)),
        CallKind::Unregister => config.unregister_url.as_deref().map(|url| (url, None)),
        CallKind::Common => config
            .api_url
            .as_deref()
            .map(|base| (base, Some(call.path.as_str()))),
    };
    let Some((base, path)) = target else {
        return error(404, call, "no backend serves this API");
    };
    let mut url = match backend_url(base, path) {
        Ok(url) => url,
        Err(why) => return error(400, call, why),
    };
    if !call.querys.is_empty() {
        url.query_pairs_mut().extend_pairs(&call.querys);
    }
    let method = call.method.to_ascii_uppercase();
    let method = match reqwest::Method::from_bytes(method.as_bytes()) {
        Ok(method) if METHODS.contains(&method.as_str()) => method,
        _ => return error(400, call, "bad method"),
    };
    let body = match call.body_bytes() {
        Ok(body) => body,
        Err(why) => return error(400, call, &why),
    };
    let mut request = node.channel.http.request(method, url).body(body);
    for (name, values) in &call.headers {
        let lower = name.to_ascii_lowercase();
        if NOT_FORWARDED.contains(&lower.as_str()) || lower.starts_with("proxy-") {
            continue;
        }
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        for value in values {
            if let Ok(value) = HeaderValue::from_str(value) {
                request = request.header(name.clone(), value);
            }
        }
    }
    request = request
        .header("x-ca-deviceid", info.id.as_str())
        .header("x-forwarded-for", info.source_ip.as_str());
    let timeout = node.core.limits.function_timeout;
    let response = match tokio::time::timeout(timeout, request.send()).await {
        Err(_) => return error(504, call, "the backend timed out"),
        Ok(Err(err)) => {
            tracing::warn!(device = %info.id, %err, "backend call failed");
            return error(502, call, "the backend failed");
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    let headers = answer_headers(response.headers());
    let body = match tokio::time::timeout(timeout, read_capped(response, MAX_ANSWER_BYTES)).await {
        Ok(Ok(body)) => body,
        _ => return error(502, call, "reading the backend's answer failed"),
    };
    Outcome {
        frame: frames::answer(
            status,
            call.seq(),
            &headers,
            &String::from_utf8_lossy(&body),
        ),
        status,
    }
}

/// Headers of a backend's answer that describe the connection to the backend, not the
/// answer: never relayed to the device (nor the length of a body the frame re-encodes).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "proxy-authenticate",
];

/// A backend answer's headers as the device's answer frame carries them: every one but
/// the hop-by-hop ones (and the gateway's own `x-ca-seq`), the values of a repeated one
/// joined with `,` (the frame's header values are strings), in order.
fn answer_headers(headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    let mut relayed: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let name = name.as_str();
        if HOP_BY_HOP.contains(&name) || name.starts_with("proxy-") || name == "x-ca-seq" {
            continue;
        }
        let Ok(value) = value.to_str() else {
            continue;
        };
        match relayed.iter_mut().find(|(seen, _)| seen == name) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(value);
            }
            None => relayed.push((name.to_owned(), value.to_owned())),
        }
    }
    relayed
}

/// `base` with the call's `path` under its own path. Only the path comes from the client:
/// it is set as a path, never parsed as part of a URL, so it cannot change the host
/// (`@evil.example/x`, `//evil.example`). The path the request will carry (after the URL
/// parser dropped tabs and newlines and resolved dot segments) is checked again: it must
/// still lie under the base path, with no dot segment.
pub(crate) fn backend_url(base: &str, path: Option<&str>) -> Result<reqwest::Url, &'static str> {
    let mut url = reqwest::Url::parse(base).map_err(|_| "the backend URL is malformed")?;
    if let Some(path) = path {
        check_path(path)?;
        let base_path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base_path}{path}"));
        check_sent_path(url.path(), &base_path)?;
    }
    Ok(url)
}

/// An API path: starts with `/`, has no control character (a byte below 0x20, or 0x7f;
/// raw or percent-encoded: the URL parser drops tabs and newlines, which would join the
/// dots around them into a `..`), no `.`/`..` segment (even percent-encoded) and no
/// backslash, so it cannot climb out of the backend's base path.
pub(crate) fn check_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("an API path starts with /");
    }
    if has_control(path.as_bytes()) {
        return Err("an API path has no control characters");
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(path).collect();
    if has_control(&decoded) {
        return Err("an API path has no control characters, even percent-encoded");
    }
    if has_dot_segment(&String::from_utf8_lossy(&decoded)) {
        return Err("an API path has no . or .. segments");
    }
    Ok(())
}

/// The path a backend request will carry, as the URL parser made it: under `base_path`
/// (without its trailing `/`), and without a dot segment.
fn check_sent_path(sent: &str, base_path: &str) -> Result<(), &'static str> {
    let under_base = sent
        .strip_prefix(base_path)
        .is_some_and(|rest| rest.starts_with('/'));
    let decoded = percent_encoding::percent_decode_str(sent).decode_utf8_lossy();
    if !under_base || has_dot_segment(&decoded) || has_control(decoded.as_bytes()) {
        return Err("an API path stays under the backend's base path");
    }
    Ok(())
}

fn has_control(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b < 0x20 || b == 0x7f)
}

/// A `.` or `..` segment, or a backslash (some servers read it as `/`).
fn has_dot_segment(path: &str) -> bool {
    path.contains('\\') || path.split('/').any(|s| s == "." || s == "..")
}

async fn as_event(node: &Context, info: &Arc<ConnectionInfo>, call: &ApiCall) -> Outcome {
    let core = &node.core;
    let body = match call.body_bytes() {
        Ok(body) => body,
        Err(why) => return error(400, call, &why),
    };
    let (kind, payload) = match call.kind() {
        CallKind::Register => (EventKind::Connect, None),
        CallKind::Unregister => (
            EventKind::Disconnect {
                status_code: 1000,
                reason: "unregistered".into(),
            },
            None,
        ),
        CallKind::Common => {
            if let Err(why) = check_path(&call.path) {
                return error(400, call, why);
            }
            let payload = match String::from_utf8(body) {
                Ok(text) => Payload::Text(text),
                Err(e) => Payload::Binary(e.into_bytes()),
            };
            (
                EventKind::Message {
                    route: call.path.clone(),
                },
                Some(payload),
            )
        }
    };
    let timeout = core.limits.function_timeout;
    match core
        .functions
        .invoke(&event(info, kind, payload), timeout)
        .await
    {
        Ok(reply) => {
            if let Some(close) = &reply.close {
                core.hub
                    .kick(&info.id, Kick::new(close.code, close.reason.clone()));
            }
            let body = match &reply.frame {
                Some(Payload::Text(text)) => text.clone(),
                Some(Payload::Binary(bytes)) => {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                }
                None => String::new(),
            };
            Outcome {
                frame: frames::answer(reply.status, call.seq(), &[], &body),
                status: reply.status,
            }
        }
        Err(InvokeError::TimedOut(_)) => error(504, call, "the function timed out"),
        Err(err) => {
            tracing::warn!(device = %info.id, %err, "function failed");
            error(502, call, "the function failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backend_url;

    #[test]
    fn a_client_path_never_changes_the_backend_host() {
        let url =
            |path| backend_url("http://10.0.0.1:9000/api/", Some(path)).map(|u| u.to_string());
        assert_eq!(url("/chat").unwrap(), "http://10.0.0.1:9000/api/chat");
        for hostile in ["//evil.example/x", "/@evil.example", "/x?y#z"] {
            let joined = url(hostile).unwrap();
            assert!(
                joined.starts_with("http://10.0.0.1:9000/api/"),
                "{hostile}: {joined}"
            );
        }
        for escaping in [
            "@evil.example/x",
            "http://evil.example/",
            "/../admin",
            "/a/%2e%2e/admin",
            "/%2E./admin",
            "/a\\..\\admin",
            "/./x",
        ] {
            assert!(url(escaping).is_err(), "{escaping}");
        }
    }

    /// The URL parser drops tabs and newlines: `.\t.` would become `..` after the check.
    #[test]
    fn control_characters_are_refused_raw_or_encoded() {
        let url = |path| backend_url("http://10.0.0.1:9000/api", Some(path));
        for hostile in [
            "/.\t./admin",
            "/..\t/admin",
            "/%2e\t%2e/admin",
            "/.\n./admin",
            "/.\r./admin",
            "/%2e%09%2e/admin",
            "/a%0d%0a/b",
            "/x\u{7f}",
            "/x%7F",
            "/x%00",
        ] {
            assert!(url(hostile).is_err(), "{hostile:?}");
        }
        assert_eq!(
            url("/chat/a%20b").unwrap().as_str(),
            "http://10.0.0.1:9000/api/chat/a%20b"
        );
    }

    #[test]
    fn the_sent_path_must_stay_under_the_base() {
        use super::check_sent_path;
        assert!(check_sent_path("/api/chat", "/api").is_ok());
        assert!(check_sent_path("/chat", "").is_ok());
        assert!(check_sent_path("/admin", "/api").is_err());
        assert!(check_sent_path("/apix/chat", "/api").is_err());
        assert!(check_sent_path("/api/%2e%2e/x", "/api").is_err());
    }
}
