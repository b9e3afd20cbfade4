//! The handshake: the register function runs before the upgrade completes, and its answer
//! is the handshake's answer, as on all three clouds. Accepted: `101` (with the
//! subprotocol the function chose); refused: the status it chose; failed: 502 (503 when
//! its dependency is down); timed out: 504.
//!
//! The connection is in the hub from the start, so frames that functions push to it while
//! register runs (the chat's welcome) queue up and go out right after the upgrade, in order.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use lifecycle::{ConnectionInfo, EventKind, LifecycleEvent, Payload};
use tokio::sync::watch;

use crate::Gateway;
use crate::functions::InvokeError;
use crate::ids::{new_id, now_ms};
use crate::session;

/// The app listener's state: the node, and the shutdown signal sessions watch.
pub type AppState = (Arc<Gateway>, watch::Receiver<bool>);

/// A connection between its handshake and the start of its session. Dropped without
/// starting (the upgrade failed, the client left mid-register), it leaves the hub, and if
/// register may have recorded it, cleanup runs so no record outlives it.
pub struct Pending {
    /// The node.
    pub gateway: Arc<Gateway>,
    /// The connection.
    pub info: Arc<ConnectionInfo>,
    /// Register ran (or may have): cleanup is owed unless it refused or failed.
    owes_cleanup: bool,
    /// The session took over (hub entry and cleanup are its business now).
    started: bool,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("id", &self.info.id)
            .field("owes_cleanup", &self.owes_cleanup)
            .finish()
    }
}

impl Pending {
    /// Hands the connection to its session.
    pub fn start(mut self) -> (Arc<Gateway>, Arc<ConnectionInfo>) {
        self.started = true;
        (self.gateway.clone(), self.info.clone())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.started {
            return;
        }
        self.gateway.hub.remove(&self.info.id);
        // Outside a runtime (a runtime being torn down) there is nothing to run it on:
        // the lease ends the record instead.
        if let (true, Ok(runtime)) = (self.owes_cleanup, tokio::runtime::Handle::try_current()) {
            let (gateway, info) = (self.gateway.clone(), self.info.clone());
            runtime.spawn(async move {
                session::cleanup(&gateway, &info, 1006, "the handshake did not complete").await;
            });
        }
    }
}

/// The event of kind `kind` for `info`, now.
pub fn event(
    info: &Arc<ConnectionInfo>,
    kind: EventKind,
    payload: Option<Payload>,
) -> LifecycleEvent {
    LifecycleEvent {
        kind,
        connection: info.clone(),
        request_id: new_id(),
        at_ms: now_ms(),
        payload,
    }
}

/// What the handshake tells the functions about the connection.
fn connection_info(
    gateway: &Gateway,
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
        push_url: gateway.config.push_url.clone(),
    }
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, why.to_owned()).into_response()
}

/// `GET /ws`: register, then upgrade or refuse.
pub async fn upgrade(
    State((gateway, shutdown)): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if gateway.hub.len() >= gateway.config.limits.max_connections {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "too many connections");
    }
    let alive = gateway.sessions.enter();
    let limits = gateway.config.limits.clone();
    let info = Arc::new(connection_info(&gateway, peer, &uri, &headers));
    let handle = gateway.hub.insert(info.clone(), limits.outbound_queue);
    let mut pending = Pending {
        gateway: gateway.clone(),
        info: info.clone(),
        owes_cleanup: true,
        started: false,
    };
    let verdict = gateway
        .functions
        .invoke(
            &event(&info, EventKind::Connect, None),
            limits.function_timeout,
        )
        .await;
    let reply = match verdict {
        Ok(reply) if reply.accepts() => reply,
        Ok(reply) => {
            pending.owes_cleanup = false;
            let status = StatusCode::from_u16(reply.status)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::FORBIDDEN);
            let why = match &reply.frame {
                Some(Payload::Text(text)) => text.clone(),
                _ => "the register function refused the connection".to_owned(),
            };
            tracing::debug!(id = %info.id, %status, "register refused");
            return refuse(status, &why);
        }
        Err(err) => {
            pending.owes_cleanup = false;
            tracing::warn!(id = %info.id, %err, "register failed");
            let status = match err {
                InvokeError::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
                InvokeError::Failed {
                    unavailable: true, ..
                } => StatusCode::SERVICE_UNAVAILABLE,
                InvokeError::Failed { .. } => StatusCode::BAD_GATEWAY,
            };
            return refuse(status, &err.to_string());
        }
    };
    // The socket layer refuses frames far over the limit; the session closes with 1009
    // for anything over it.
    let max = limits.max_message_bytes;
    let mut ws = ws.max_message_size(max + 1024).max_frame_size(max + 1024);
    if let Some(protocol) = reply.subprotocol {
        ws = ws.protocols([protocol]);
    }
    ws.on_upgrade(move |socket| session::run(pending, socket, handle, shutdown, alive))
}
