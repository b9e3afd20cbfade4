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

use super::backend;
use super::config::BackendKind;
use super::context::Context;
use super::frames::{self, ApiCall, CallKind};
use crate::hub::Kick;
use crate::invoke::{InvokeError, event};

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

/// Headers a forwarded request never carries over: they describe the connection rather
/// than the request, or a backend may trust them as the gateway's word (the client's
/// address), so only the gateway sets them.
const NOT_FORWARDED: [&str; 13] = [
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
];

/// True when a request header named `lower` (lower case) is the connection's or the
/// gateway's to set, never forwarded from a client.
pub(super) fn is_forwarding_header(lower: &str) -> bool {
    NOT_FORWARDED.contains(&lower) || lower.starts_with("proxy-")
}

/// The methods an API call may use.
pub(super) const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

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
    if let Some(path) = path
        && let Err(why) = check_path(path)
    {
        return error(400, call, why);
    }
    // A function is one URL: the event names the path.
    let path = path.filter(|_| config.backend == BackendKind::Http);
    let url = match backend_url(base, path) {
        Ok(url) => url,
        Err(why) => return error(400, call, why),
    };
    let method = call.method.to_ascii_uppercase();
    let method = match reqwest::Method::from_bytes(method.as_bytes()) {
        Ok(method) if METHODS.contains(&method.as_str()) => method,
        _ => return error(400, call, "bad method"),
    };
    let body = match call.body_bytes() {
        Ok(body) => body,
        Err(why) => return error(400, call, &why),
    };
    let mut headers = Vec::new();
    for (name, values) in &call.headers {
        let lower = name.to_ascii_lowercase();
        // Over the channel the device id is the gateway's word too.
        if is_forwarding_header(&lower) || lower == "x-ca-deviceid" {
            continue;
        }
        let Ok(name) = HeaderName::from_bytes(lower.as_bytes()) else {
            continue;
        };
        for value in values {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.push((name.clone(), value));
            }
        }
    }
    for (name, value) in [
        ("x-ca-deviceid", info.id.as_str()),
        ("x-forwarded-for", info.source_ip.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.push((HeaderName::from_static(name), value));
        }
    }
    let query: Vec<(String, String)> = call
        .querys
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let request = backend::Call {
        url,
        method,
        path: &call.path,
        query: &query,
        headers,
        body,
    };
    let timeout = node.core.limits.function_timeout;
    match backend::call(&node.channel.http, config.backend, request, timeout).await {
        Ok(answer) => Outcome {
            frame: frames::answer(
                answer.status,
                call.seq(),
                &answer.headers,
                &String::from_utf8_lossy(&answer.body),
            ),
            status: answer.status,
        },
        Err(failure) => error(failure.status(), call, failure.message()),
    }
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
