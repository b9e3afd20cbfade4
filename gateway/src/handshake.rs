//! The handshake: the register function runs before the upgrade completes, and its answer
//! is the handshake's answer, as on all three clouds. Accepted: `101` (with the
//! subprotocol the function chose); refused: the status it chose; failed: 502 (503 when
//! its dependency is down); timed out: 504.
//!
//! The connection is in the hub from the start, so frames that functions push to it while
//! register runs (the chat's welcome) queue up and go out right after the upgrade, in order.
//! Cleanup never runs before register has answered, and runs exactly once for a connection
//! register accepted (or timed out on), however the handshake ends.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use lifecycle::{ConnectionInfo, EventKind, LifecycleEvent, Payload, Reply};
use tokio::sync::{oneshot, watch};
use tracing::Instrument;

use crate::Gateway;
use crate::functions::InvokeError;
use crate::ids::{new_id, now_ms};
use crate::metrics;
use crate::session;
use crate::sessions::SessionGuard;
use crate::socket::Socket;

/// The app listener's state: the node, and the shutdown signal sessions watch.
pub type AppState = (Arc<Gateway>, watch::Receiver<bool>);

/// A connection whose register accepted it, until its session starts. Dropped without
/// starting (the upgrade failed), it leaves the hub and its cleanup runs, counted as a live
/// session so a shutdown waits for it.
pub struct Pending {
    /// The node.
    pub gateway: Arc<Gateway>,
    /// The connection.
    pub info: Arc<ConnectionInfo>,
    /// Counts the connection until its cleanup is done.
    alive: Option<SessionGuard>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("id", &self.info.id)
            .finish()
    }
}

impl Pending {
    /// Hands the connection to its session.
    pub fn start(mut self) -> (Arc<Gateway>, Arc<ConnectionInfo>, SessionGuard) {
        let alive = self.alive.take().expect("a pending connection starts once");
        (self.gateway.clone(), self.info.clone(), alive)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some(alive) = self.alive.take() else {
            return;
        };
        self.gateway.hub.remove(&self.info.id);
        // Outside a runtime (a runtime being torn down) there is nothing to run it on:
        // the lease ends the record instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (gateway, info) = (self.gateway.clone(), self.info.clone());
            let span = span_of(&info);
            runtime.spawn(
                async move {
                    session::cleanup(&gateway, &info, 1006, "the handshake did not complete").await;
                    drop(alive);
                }
                .instrument(span),
            );
        }
    }
}

/// Whether a register outcome leaves a record behind that cleanup must undo: an
/// acceptance, or a timeout (the function may have recorded it after all). A refusal or a
/// failure gets no cleanup, as on the clouds.
fn owes_cleanup(outcome: &Result<Reply, InvokeError>) -> bool {
    match outcome {
        Ok(reply) => reply.accepts(),
        Err(InvokeError::TimedOut(_)) => true,
        Err(InvokeError::Failed { .. }) => false,
    }
}

/// Runs register on a task of its own, so a client that leaves mid-register (dropping the
/// handshake) cannot cut it short: then the task itself runs cleanup after it, never
/// before. The outcome reaches the handshake through the returned channel.
fn spawn_register(
    gateway: &Arc<Gateway>,
    info: &Arc<ConnectionInfo>,
    alive: SessionGuard,
) -> oneshot::Receiver<(Result<Reply, InvokeError>, SessionGuard)> {
    let (tx, rx) = oneshot::channel();
    let (gateway, info) = (gateway.clone(), info.clone());
    let task = async move {
        let timeout = gateway.config.limits.function_timeout;
        let outcome = gateway
            .functions
            .invoke(&event(&info, EventKind::Connect, None), timeout)
            .await;
        if let Err((outcome, alive)) = tx.send((outcome, alive)) {
            gateway.hub.remove(&info.id);
            if owes_cleanup(&outcome) {
                session::cleanup(&gateway, &info, 1006, "the client left during register").await;
            }
            drop(alive);
        }
    };
    tokio::spawn(task.in_current_span());
    rx
}

/// The span every log line about a connection is in: its id, and the room it asked for
/// (the `room` query parameter, the chat's and Alibaba's convention; empty without one).
pub fn span_of(info: &ConnectionInfo) -> tracing::Span {
    tracing::info_span!("conn", id = %info.id, room = info.query("room").unwrap_or(""))
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
pub fn connection_info(
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

/// The 503 a full node answers a handshake with (every channel counts against one limit).
pub fn refuse_if_full(gateway: &Gateway) -> Option<Response> {
    (gateway.hub.len() >= gateway.config.limits.max_connections).then(|| {
        metrics::handshake("full");
        refuse(StatusCode::SERVICE_UNAVAILABLE, "too many connections")
    })
}

/// `GET /ws`: register, then upgrade or refuse.
pub async fn upgrade(
    State((gateway, shutdown)): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(full) = refuse_if_full(&gateway) {
        return full;
    }
    let info = Arc::new(connection_info(&gateway, peer, &uri, &headers));
    let span = span_of(&info);
    accept(gateway, info, ws, shutdown).instrument(span).await
}

/// The rest of a handshake, once the connection has its id (and its log span).
async fn accept(
    gateway: Arc<Gateway>,
    info: Arc<ConnectionInfo>,
    ws: WebSocketUpgrade,
    shutdown: watch::Receiver<bool>,
) -> Response {
    let limits = gateway.config.limits.clone();
    let handle = gateway.hub.insert(info.clone(), limits.queue_bound());
    let register = spawn_register(&gateway, &info, gateway.sessions.enter());
    let Ok((outcome, alive)) = register.await else {
        // The register task panicked: nothing is known about the connection.
        gateway.hub.remove(&info.id);
        return refuse(StatusCode::BAD_GATEWAY, "register failed");
    };
    let reply = match outcome {
        Ok(reply) if reply.accepts() => reply,
        outcome => {
            gateway.hub.remove(&info.id);
            if owes_cleanup(&outcome) {
                session::cleanup(&gateway, &info, 1006, "register timed out").await;
            }
            drop(alive);
            return refusal(&info, outcome);
        }
    };
    metrics::handshake("accepted");
    let pending = Pending {
        gateway: gateway.clone(),
        info,
        alive: Some(alive),
    };
    let mut ws = crate::socket::sized(ws, &gateway.config.limits);
    if let Some(chosen) = reply.subprotocol {
        // A function may answer the client's whole list (Tencent's sample echoes it): the
        // first of them the client offered is the one.
        let chosen: Vec<String> = chosen.split(',').map(|p| p.trim().to_owned()).collect();
        ws = ws.protocols(chosen);
    }
    let span = tracing::Span::current();
    // The socket is wrapped here, not inside `run`: an argument moved out stays part of
    // the task's size, and every idle connection pays for it.
    ws.on_upgrade(move |socket| {
        let socket = Socket::new(socket, &pending.gateway.config.limits);
        session::run(pending, socket, handle, shutdown).instrument(span)
    })
}

/// The handshake's answer to a register that did not accept. The details (function URLs)
/// go to the log, never to the client.
pub(crate) fn refusal(info: &ConnectionInfo, outcome: Result<Reply, InvokeError>) -> Response {
    metrics::handshake(match &outcome {
        Ok(_) => "refused",
        Err(InvokeError::TimedOut(_)) => "timed_out",
        Err(InvokeError::Failed { .. }) => "failed",
    });
    match outcome {
        Ok(reply) => {
            let status = StatusCode::from_u16(reply.status)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::FORBIDDEN);
            let why = match &reply.frame {
                Some(Payload::Text(text)) => text.clone(),
                _ => "the register function refused the connection".to_owned(),
            };
            tracing::debug!(id = %info.id, %status, "register refused");
            refuse(status, &why)
        }
        Err(err) => {
            tracing::warn!(id = %info.id, %err, "register failed");
            match err {
                InvokeError::TimedOut(_) => refuse(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the register function timed out",
                ),
                InvokeError::Failed {
                    unavailable: true, ..
                } => refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the register function is unavailable",
                ),
                InvokeError::Failed { .. } => {
                    refuse(StatusCode::BAD_GATEWAY, "the register function failed")
                }
            }
        }
    }
}
