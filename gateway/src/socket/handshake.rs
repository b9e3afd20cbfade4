//! The handshake: the register function runs before the upgrade completes, and its answer
//! is the handshake's answer, as on all three clouds. Accepted: `101` (with the
//! subprotocol the function chose); refused: the status it chose; failed: 502 (503 when
//! its dependency is down); timed out: 504.
//!
//! The connection is in the hub from the start, so frames that functions push to it while
//! register runs (the chat's welcome) queue up and go out right after the upgrade, in order.
//! Cleanup never runs before register has answered, and runs exactly once for a connection
//! register accepted (or timed out on), however the handshake ends.
//!
//! A handshake is one request, as on AWS: the authorizer's event and the `$connect` event
//! carry the same `requestId`, and every answer (101 or a refusal) names it in
//! `x-amzn-RequestId`, so a client's failed connect can be found in the functions' logs.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lifecycle::{ConnectionInfo, EventKind, Payload, Reply};
use tokio::sync::oneshot;
use tracing::Instrument;

use super::cleanup::cleanup;
use super::pending::Pending;
use super::session;
use super::sessions::SessionGuard;
use super::upgrade::WsUpgrade;
use super::{AppState, Core, connection_info, refuse_if_full, span_of};
use crate::hub::QueueBound;
use crate::invoke::authorizer::{Naming, Refused};
use crate::invoke::{InvokeError, event};
use crate::metrics;

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
    core: &Arc<Core>,
    info: &Arc<ConnectionInfo>,
    request_id: String,
    alive: SessionGuard,
) -> oneshot::Receiver<(Result<Reply, InvokeError>, SessionGuard)> {
    let (tx, rx) = oneshot::channel();
    let (core, info) = (core.clone(), info.clone());
    let task = async move {
        let timeout = core.limits.function_timeout;
        let mut connect = event(&info, EventKind::Connect, None);
        connect.request_id = request_id;
        let outcome = core.functions.invoke(&connect, timeout).await;
        if let Err((outcome, alive)) = tx.send((outcome, alive)) {
            core.hub.remove(&info.id);
            if owes_cleanup(&outcome) {
                let held = Arc::new(info.held());
                cleanup(&core, &held, 1006, "the client left during register").await;
            }
            drop(alive);
        }
    };
    tokio::spawn(task.in_current_span());
    rx
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, why.to_owned()).into_response()
}

/// `GET /ws` (or wherever a node serves plain WebSocket): register, then upgrade or refuse.
pub async fn upgrade(
    // The shutdown signal is not kept: the node's shutdown reaches a session as its kick.
    State((core, _)): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    ws: WsUpgrade,
) -> Response {
    if let Some(full) = refuse_if_full(&core) {
        return full;
    }
    // Counted from here, the authorizer included: a shutdown waits for a handshake under
    // way before it stops the functions that handshake calls.
    let alive = core.sessions.enter();
    let mut info = connection_info(&core, peer, &uri, &headers);
    let span = span_of(&info);
    let request_id = crate::ids::request_id();
    if let Some(authorizer) = &core.authorizer {
        let naming = Naming {
            stage: &core.stage,
            api_id: &core.api_id,
            domain: core.functions.domain(),
        };
        let timeout = core.limits.function_timeout;
        match authorizer
            .authorize(&info, naming, &request_id, timeout)
            .instrument(span.clone())
            .await
        {
            Ok(allowed) => info.authorizer = Some(Arc::new(allowed)),
            Err(refused) => {
                if let Refused::Failed(why) = &refused {
                    tracing::warn!(parent: &span, %why, "the authorizer failed");
                }
                metrics::handshake("unauthorized");
                let status = StatusCode::from_u16(refused.status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let answer = (status, axum::Json(refused.body())).into_response();
                return with_request_id(answer, &request_id);
            }
        }
    }
    let answer = accept(core, Arc::new(info), request_id.clone(), ws, alive)
        .instrument(span)
        .await;
    with_request_id(answer, &request_id)
}

/// `answer` naming the handshake's request in `x-amzn-RequestId`.
fn with_request_id(mut answer: Response, request_id: &str) -> Response {
    if let Ok(value) = axum::http::HeaderValue::from_str(request_id) {
        answer.headers_mut().insert("x-amzn-requestid", value);
    }
    answer
}

/// The rest of a handshake, once the connection has its id (and its log span).
async fn accept(
    core: Arc<Core>,
    info: Arc<ConnectionInfo>,
    request_id: String,
    ws: WsUpgrade,
    alive: SessionGuard,
) -> Response {
    // Register sees the whole handshake; the hub and the session keep only what later
    // events carry, for as long as the connection lasts.
    let held = Arc::new(info.held());
    let handle = core.hub.insert(held.clone(), QueueBound::of(&core.limits));
    let register = spawn_register(&core, &info, request_id, alive);
    let Ok((outcome, alive)) = register.await else {
        // The register task panicked: nothing is known about the connection.
        core.hub.remove(&info.id);
        return refuse(StatusCode::BAD_GATEWAY, "register failed");
    };
    let reply = match outcome {
        Ok(reply) if reply.accepts() => reply,
        outcome => {
            core.hub.remove(&info.id);
            if owes_cleanup(&outcome) {
                cleanup(&core, &held, 1006, "register timed out").await;
            }
            drop(alive);
            return refusal(&info, outcome);
        }
    };
    metrics::handshake("accepted");
    drop(info);
    let pending = Pending::new(core.clone(), held, alive);
    let mut ws = ws;
    if let Some(chosen) = reply.subprotocol {
        // A function may answer the client's whole list (Tencent's sample echoes it): the
        // first of them the client offered is the one.
        let chosen: Vec<String> = chosen.split(',').map(|p| p.trim().to_owned()).collect();
        ws = ws.protocols(chosen);
    }
    // The session keeps no span: a span lives in the log subscriber for as long as it is
    // held (0.2–0.5 KiB a connection measured at `info`), so each message's work and the
    // cleanup open their own.
    ws.on_upgrade(&core.limits, move |socket| {
        session::run(pending, socket, handle)
    })
}

/// The handshake's answer to a register that did not accept. The details (function URLs)
/// go to the log, never to the client.
pub fn refusal(info: &ConnectionInfo, outcome: Result<Reply, InvokeError>) -> Response {
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
