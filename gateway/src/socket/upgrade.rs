//! The WebSocket upgrade (RFC 6455 §4.2), taken over from the HTTP server: the request's
//! checks, the `101` with its accept key and chosen subprotocol, and the upgraded socket
//! wrapped for the node — the WebSocket library reads it, and every byte written goes
//! through one [`Outbox`] — so a session can write pushed frames from their shared
//! payloads rather than through the library's per-connection buffer.
//!
//! Its checks and answers are those of axum's `WebSocketUpgrade`, which it replaces (405
//! for a method other than `GET`, 400 for a missing or wrong header, 426 when the
//! connection cannot be upgraded), but for a version other than 13: 426 naming the one it
//! speaks in `Sec-WebSocket-Version`, as §4.2.2 asks.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::{Role, WebSocketConfig};

use super::outbox::Outbox;
use super::ws::Socket;

use crate::config::Limits;

/// Bytes the WebSocket library may hold of its own frames (pongs, a ping, the close)
/// while the socket takes nothing, and queue beyond what was pushed: a client whose
/// unread pongs fill even that is not reading, and the next ping finds no room (the
/// session closes it as too slow).
const LIBRARY_SLACK: usize = 8 * 1024;

/// A request to upgrade to WebSocket, checked.
#[derive(Debug)]
pub struct WsUpgrade {
    /// The client's `Sec-WebSocket-Key`, which the answer's accept key is made from.
    key: HeaderValue,
    /// The connection, once the `101` is written.
    on_upgrade: OnUpgrade,
    /// The subprotocols the client offered, in its order.
    offered: Vec<HeaderValue>,
    /// The one chosen, if any.
    chosen: Option<HeaderValue>,
}

/// Why a request is not a WebSocket upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeRejection {
    /// Not a `GET`.
    #[error("Request method must be `GET`")]
    MethodNotGet,
    /// `Connection` lacks `upgrade`.
    #[error("Connection header did not include 'upgrade'")]
    NoConnectionUpgrade,
    /// `Upgrade` is not `websocket`.
    #[error("`Upgrade` header did not include 'websocket'")]
    NotWebSocket,
    /// `Sec-WebSocket-Version` is not 13.
    #[error("`Sec-WebSocket-Version` header did not include '13'")]
    WrongVersion,
    /// No `Sec-WebSocket-Key`.
    #[error("`Sec-WebSocket-Key` header missing")]
    NoKey,
    /// The HTTP server cannot hand this connection over (HTTP/1.0).
    #[error("WebSocket request couldn't be upgraded since no upgrade state was present")]
    NotUpgradable,
}

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        let status = match self {
            UpgradeRejection::MethodNotGet => StatusCode::METHOD_NOT_ALLOWED,
            UpgradeRejection::NotUpgradable | UpgradeRejection::WrongVersion => {
                StatusCode::UPGRADE_REQUIRED
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let mut answer = (status, self.to_string()).into_response();
        if self == UpgradeRejection::WrongVersion {
            answer.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        answer
    }
}

/// True when `name`'s value is `value`, in any case.
fn header_is(headers: &HeaderMap, name: HeaderName, value: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

/// True when `name`'s comma-separated tokens include `token`, in any case.
fn header_has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

impl<S: Send + Sync> FromRequestParts<S> for WsUpgrade {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if parts.method != Method::GET {
            return Err(UpgradeRejection::MethodNotGet);
        }
        let headers = &parts.headers;
        if !header_has_token(headers, header::CONNECTION, "upgrade") {
            return Err(UpgradeRejection::NoConnectionUpgrade);
        }
        if !header_is(headers, header::UPGRADE, "websocket") {
            return Err(UpgradeRejection::NotWebSocket);
        }
        if !header_is(headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return Err(UpgradeRejection::WrongVersion);
        }
        let key = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .ok_or(UpgradeRejection::NoKey)?
            .clone();
        let offered = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .filter_map(|p| HeaderValue::from_bytes(p.trim_ascii()).ok())
            .collect();
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(UpgradeRejection::NotUpgradable)?;
        Ok(WsUpgrade {
            key,
            on_upgrade,
            offered,
            chosen: None,
        })
    }
}

impl WsUpgrade {
    /// Chooses the first of `ours` that the client offered (none when it offered none of
    /// them: the answer then names no subprotocol, and the client decides).
    pub fn protocols<I>(mut self, ours: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.chosen = ours.into_iter().find_map(|ours| {
            self.offered
                .iter()
                .find(|offered| offered.as_bytes() == ours.as_ref().as_bytes())
                .cloned()
        });
        self
    }

    /// Answers `101 Switching Protocols`; once the client has it, the connection becomes a
    /// [`Socket`] under `limits`, and `session` runs on it as a task of its own (the
    /// upgrade's task ends there: nothing of it stays with an idle connection).
    #[must_use = "the 101 must be returned for the upgrade to happen"]
    pub fn on_upgrade<C, F>(self, limits: &Limits, session: C) -> Response
    where
        C: FnOnce(Socket) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let (config, outbox_limit) = configure(limits);
        let write_timeout = limits.write_timeout;
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(err) => {
                    tracing::debug!(%err, "the upgrade failed");
                    return;
                }
            };
            let io = Outbox::new(TokioIo::new(upgraded), outbox_limit);
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
            tokio::spawn(session(Socket::new(ws, write_timeout)));
        });
        let accept = tungstenite::handshake::derive_accept_key(self.key.as_bytes());
        let mut answer = Response::new(axum::body::Body::empty());
        *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = answer.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(chosen) = self.chosen {
            headers.insert(header::SEC_WEBSOCKET_PROTOCOL, chosen);
        }
        answer
    }
}

/// The WebSocket library's settings under `limits`, and the bound on the library's own
/// bytes in the write queue.
///
/// Frames far over the message limit are refused by the library (the session closes with
/// 1009 for anything over it). The library writes its frames through at once
/// (`write_buffer_size` 0: its buffer only holds what the queue refuses) and may hold
/// [`LIBRARY_SLACK`] of them; the queue refuses them past what a pass gathers, one whole
/// message and that slack.
fn configure(limits: &Limits) -> (WebSocketConfig, usize) {
    let max = limits.max_message_bytes;
    let config = WebSocketConfig::default()
        .max_message_size(Some(max + 1024))
        .max_frame_size(Some(max + 1024))
        .read_buffer_size(limits.read_buffer_bytes.max(1))
        .write_buffer_size(0)
        .max_write_buffer_size(LIBRARY_SLACK);
    let outbox_limit = limits.write_buffer_bytes + max + LIBRARY_SLACK;
    (config, outbox_limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn connection_tokens_are_matched_whole_and_in_any_case() {
        let h = headers(&[("connection", "keep-alive, Upgrade")]);
        assert!(header_has_token(&h, header::CONNECTION, "upgrade"));
        let h = headers(&[("connection", "upgrades")]);
        assert!(!header_has_token(&h, header::CONNECTION, "upgrade"));
        let h = headers(&[("upgrade", "WebSocket")]);
        assert!(header_is(&h, header::UPGRADE, "websocket"));
    }
}
