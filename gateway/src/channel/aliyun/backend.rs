//! Calling a backend, the one way every API of the channel does (register, unregister,
//! calls over the channel, plain HTTP APIs): as an HTTP service (the request as it came,
//! the answer as it is) or as a Function Compute event function ([`fc`](super::fc)).
//!
//! What comes back is bounded ([`MAX_ANSWER_BYTES`]) and timed (the node's function
//! timeout, for the whole call and again for reading the answer); its hop-by-hop headers
//! are dropped.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::config::BackendKind;
use super::fc;
use crate::invoke::read_capped;

/// Largest backend answer relayed.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// One call to a backend.
#[derive(Debug)]
pub struct Call<'a> {
    /// Where: the HTTP service's URL for this path, or the function's URL.
    pub url: reqwest::Url,
    /// The API's method.
    pub method: reqwest::Method,
    /// The API's path as the client called it (the FC event's `path`).
    pub path: &'a str,
    /// Query parameters.
    pub query: &'a [(String, String)],
    /// Headers, as they go to the backend.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A backend's answer.
#[derive(Debug)]
pub struct Answer {
    /// Its status.
    pub status: u16,
    /// Its headers, hop-by-hop ones dropped, a repeated one's values joined with `,`.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: Vec<u8>,
}

/// Why a backend gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It did not answer in time (504).
    TimedOut,
    /// It could not be reached, or its answer could not be read (502).
    Failed,
    /// The function ran and failed (502).
    FunctionFailed,
    /// The function's return is not an API answer (503, as API Gateway answers).
    Malformed(String),
}

impl Failure {
    /// The status the client gets.
    pub fn status(&self) -> u16 {
        match self {
            Failure::TimedOut => 504,
            Failure::Failed | Failure::FunctionFailed => 502,
            Failure::Malformed(_) => 503,
        }
    }

    /// What `x-ca-error-message` says.
    pub fn message(&self) -> &'static str {
        match self {
            Failure::TimedOut => "Backend service request timeout",
            Failure::Failed => "Backend service connect failed",
            Failure::FunctionFailed => "Backend function failed",
            Failure::Malformed(_) => "Backend function answer malformed",
        }
    }
}

/// Makes `call` the way `kind` says, within `timeout`.
pub async fn call(
    http: &reqwest::Client,
    kind: BackendKind,
    call: Call<'_>,
    timeout: Duration,
) -> Result<Answer, Failure> {
    let request = match kind {
        BackendKind::Http => {
            let mut url = call.url;
            if !call.query.is_empty() {
                url.query_pairs_mut().extend_pairs(call.query);
            }
            let mut request = http.request(call.method, url).body(call.body);
            for (name, value) in call.headers {
                request = request.header(name, value);
            }
            request
        }
        BackendKind::Fc => {
            let headers = call
                .headers
                .iter()
                .filter_map(|(name, value)| {
                    Some((name.to_string(), value.to_str().ok()?.to_owned()))
                })
                .collect();
            let request = fc::ApiRequest {
                path: call.path,
                method: call.method.as_str(),
                headers,
                query: call.query,
                body: &call.body,
            };
            http.post(call.url)
                .header("content-type", "application/octet-stream")
                .header("x-fc-invocation-type", "Sync")
                .body(fc::event(&request))
        }
    };
    let response = match tokio::time::timeout(timeout, request.send()).await {
        Err(_) => return Err(Failure::TimedOut),
        Ok(Err(err)) => {
            tracing::warn!(%err, "backend call failed");
            return Err(Failure::Failed);
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    let function_failed = response.headers().contains_key("x-fc-error-type");
    let headers = relayed(response.headers());
    let body = match tokio::time::timeout(timeout, read_capped(response, MAX_ANSWER_BYTES)).await {
        Ok(Ok(body)) => body,
        Ok(Err(err)) => {
            tracing::warn!(?err, "reading a backend's answer failed");
            return Err(Failure::Failed);
        }
        Err(_) => return Err(Failure::TimedOut),
    };
    match kind {
        BackendKind::Http => Ok(Answer {
            status,
            headers,
            body,
        }),
        BackendKind::Fc if function_failed || !(200..300).contains(&status) => {
            tracing::warn!(status, error = %String::from_utf8_lossy(&body[..body.len().min(512)]), "backend function failed");
            Err(Failure::FunctionFailed)
        }
        BackendKind::Fc => match fc::answer(&body) {
            Ok(answer) => Ok(Answer {
                status: answer.status,
                headers: answer
                    .headers
                    .into_iter()
                    .filter(|(name, _)| relayable(&name.to_ascii_lowercase()))
                    .collect(),
                body: answer.body,
            }),
            Err(why) => {
                tracing::warn!(%why, "a backend function's answer is malformed");
                Err(Failure::Malformed(why))
            }
        },
    }
}

/// Headers of an answer that describe the connection to the backend, not the answer:
/// never relayed (nor the length of a body that is re-encoded).
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

/// True when a header named `lower` (lower case) goes on to the client: not hop-by-hop,
/// not a proxy's, not the channel's own `x-ca-seq`.
fn relayable(lower: &str) -> bool {
    !HOP_BY_HOP.contains(&lower) && !lower.starts_with("proxy-") && lower != "x-ca-seq"
}

/// An answer's headers as relayed: every relayable one, the values of a repeated one
/// joined with `,` (an answer frame's header values are strings), in order.
fn relayed(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut relayed: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let name = name.as_str();
        if !relayable(name) {
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
