//! The socket core: what every WebSocket connection of a node goes through, whatever its
//! channel — the upgrade, the session (limits, pings, timeouts, the close), transport (its
//! messages through the functions) and the rate limit — over [`Core`], the part of a node
//! a connection needs.
//!
//! # Layout
//! - `mod.rs`: [`Core`]; [`connection_info`], [`span_of`], [`refuse_if_full`], which every
//!   channel's upgrade uses.
//! - `upgrade.rs`: [`WsUpgrade`], the upgrade taken over from the HTTP server (its checks,
//!   the `101`, the socket wrapped for the node).
//! - `outbox.rs`: the write queue every byte leaves through: pushed frames from their
//!   shared payloads, gathered into one vectored write.
//! - `ws.rs`: [`Socket`], one upgraded WebSocket: writes under a deadline, bounded queues,
//!   the close handshake and close codes as RFC 6455 says; [`Ending`].
//! - `read_gate.rs`: the socket's read side polled only when the socket woke it, not on
//!   every pass of its session (each pushed frame wakes one).
//! - `handshake.rs`: `/ws`: register before the upgrade; the handshake's answer is register's.
//! - `session.rs`: one connection from upgrade to cleanup; [`pump`], the loop moving frames
//!   both ways, which channels reuse with their own [`Framing`]; [`linger`] after `CR`.
//! - `pending.rs`: a connection between register's acceptance and its session.
//! - `cleanup.rs`: [`cleanup`], the disconnect event, run once per connection.
//! - `inbound.rs`: [`Inbound`], where a session hands messages, and waits for room.
//! - `transport.rs`: a plain connection's messages through transport (in order, or
//!   concurrently where the dialect invokes so).
//! - `rate.rs`: [`RateLimit`], a token bucket.
//! - `sessions.rs`: [`Sessions`], counting live sessions so a shutdown waits for cleanups.

mod cleanup;
mod handshake;
mod inbound;
mod outbox;
mod pending;
mod rate;
mod read_gate;
mod session;
mod sessions;
mod transport;
mod upgrade;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use lifecycle::ConnectionInfo;
use tokio::sync::watch;

pub use cleanup::cleanup;
pub use handshake::{refusal, upgrade};
pub use inbound::Inbound;
pub use rate::RateLimit;
pub use session::{Framing, PLAIN, Raw, SideChannel, linger, pump};
pub use sessions::{SessionGuard, Sessions};
pub use tungstenite::protocol::CloseFrame;
pub use tungstenite::{Message, Utf8Bytes};
pub use upgrade::{UpgradeRejection, WsUpgrade};
pub use ws::{Ending, Event, Goodbye, Socket, Upgraded};

use crate::config::Limits;
use crate::hub::Hub;
use crate::ids::{new_id, now_ms};
use crate::invoke::Functions;
use crate::invoke::authorizer::Authorizer;
use crate::metrics;

/// What a connection needs of its node: the hub it is held in, the functions its
/// lifecycle runs, the limits it lives under, the push URL its functions are told, and the
/// count of live sessions a shutdown waits on.
#[derive(Debug)]
pub struct Core {
    /// This node's connections.
    pub hub: Arc<Hub>,
    /// Where the lifecycle functions run.
    pub functions: Functions,
    /// Per-connection and per-node limits.
    pub limits: Limits,
    /// The push-back URL this node advertises (in events and connection records).
    pub push_url: String,
    /// Live sessions, for graceful shutdown.
    pub sessions: Arc<Sessions>,
    /// The stage this node serves (AWS: the WebSocket's path, the `@connections` prefix;
    /// a call for another stage is refused).
    pub stage: Arc<str>,
    /// The `$connect` authorizer plain handshakes pass first, if any.
    pub authorizer: Option<Authorizer>,
    /// The API id and the domain the authorizer's event names.
    pub api_id: Arc<str>,
}

/// The app listener's state: the node's core, and the shutdown signal a channel's
/// connection watches until its device binds and is held in the hub; a held connection
/// hears the shutdown as its kick ([`crate::hub::Hub::shut_down`]).
pub type AppState = (Arc<Core>, watch::Receiver<bool>);

/// The span every log line about a connection is in: its id, and the room it asked for
/// (the `room` query parameter, a common convention; empty without one).
pub fn span_of(info: &ConnectionInfo) -> tracing::Span {
    tracing::info_span!("conn", id = %info.id, room = info.query("room").unwrap_or(""))
}

/// What the handshake tells the functions about the connection, under a fresh id.
pub fn connection_info(
    core: &Core,
    peer: SocketAddr,
    uri: &Uri,
    headers: &HeaderMap,
) -> ConnectionInfo {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    ConnectionInfo {
        id: new_id(),
        source_ip: peer.ip().to_string(),
        user_agent: text(header::USER_AGENT),
        connected_at_ms: now_ms(),
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
        query: url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
        protocols: text(header::SEC_WEBSOCKET_PROTOCOL),
        extensions: text(header::SEC_WEBSOCKET_EXTENSIONS),
        push_url: core.push_url.clone(),
        authorizer: None,
    }
}

/// The 503 a full node answers a handshake with (every channel counts against one limit).
pub fn refuse_if_full(core: &Core) -> Option<Response> {
    (core.hub.len() >= core.limits.max_connections).then(|| {
        metrics::handshake("full");
        let mut answer = (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
        // A refused handshake names its request too, as every handshake answer does.
        if let Ok(id) = axum::http::HeaderValue::from_str(&crate::ids::request_id()) {
            answer.headers_mut().insert("x-amzn-requestid", id);
        }
        answer
    })
}
