//! A second app and a fourth dialect on the gateway library, written outside it with its
//! public API only (the proof that its extension points are public):
//! - [`Echo`], an app: each message comes back to its sender (`whoami` answers the
//!   connection's id);
//! - [`Toy`], a function wire: its events are `{"kind","id","body"}`, an answer's body is
//!   the frame for the caller, and functions push with `POST /toy/{id}` (errors as
//!   `{"toy_error": …}`);
//! - [`Shout`], a client channel at `/shout`: every text frame comes back upper-cased,
//!   with no function involved.
//!
//! `src/main.rs` is a whole node binary on [`gateway::cli::NodeArgs`] and the builder.
//!
//! # Layout
//! - `lib.rs`: the three extensions.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::future::BoxFuture;
use gateway::channel::{ClientChannel, UpgradeRequest};
use gateway::hub::Outbound;
use gateway::socket::{self, Core, Ending, Event, Message, Socket};
use gateway::{FunctionCodec, FunctionWire, NodeInfo, PushError, PushTarget};
use lifecycle::{App, AppError, EventKind, LifecycleEvent, Payload, Reply};
use serde_json::{Value, json};

/// The echo app.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

#[async_trait]
impl App for Echo {
    async fn handle(&self, event: &LifecycleEvent) -> Result<Reply, AppError> {
        Ok(match (&event.kind, &event.payload) {
            (EventKind::Message { .. }, Some(Payload::Text(text))) if text == "whoami" => {
                Reply::ok().with_frame(Payload::Text(event.connection.id.clone()))
            }
            (EventKind::Message { .. }, Some(payload)) => Reply::ok().with_frame(payload.clone()),
            _ => Reply::ok(),
        })
    }
}

/// The toy wire.
#[derive(Debug, Clone, Copy, Default)]
pub struct Toy;

impl FunctionCodec for Toy {
    fn name(&self) -> &'static str {
        "toy"
    }

    fn event(&self, event: &LifecycleEvent, node: &NodeInfo) -> Value {
        let kind = match event.kind {
            EventKind::Connect => "connect",
            EventKind::Message { .. } => "message",
            EventKind::Disconnect { .. } => "disconnect",
        };
        let body = match &event.payload {
            Some(Payload::Text(text)) => Value::String(text.clone()),
            _ => Value::Null,
        };
        json!({ "kind": kind, "id": event.connection.id, "body": body, "push": node.push_url })
    }

    fn answer(&self, _event: &LifecycleEvent, status: u16, body: &[u8]) -> Reply {
        let reply = Reply::status(status);
        match String::from_utf8(body.to_vec()) {
            Ok(text) if !text.is_empty() => reply.with_frame(Payload::Text(text)),
            _ => reply,
        }
    }
}

impl FunctionWire for Toy {
    fn push_routes(&self) -> Router<PushTarget> {
        Router::new().route("/toy/{id}", post(toy_push))
    }

    fn push_error(&self, error: &PushError) -> Response {
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(json!({ "toy_error": error.message() }))).into_response()
    }
}

/// `POST /toy/{id}`: the body to connection `id`.
async fn toy_push(
    State(target): State<PushTarget>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match target.deliver(&id, Outbound::from_body(body)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(why) => Toy.push_error(&why),
    }
}

/// The shouting channel.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shout;

impl ClientChannel for Shout {
    fn name(&self) -> &'static str {
        "shout"
    }

    fn paths(&self) -> &'static [&'static str] {
        &["/shout"]
    }

    fn upgrade(
        self: Arc<Self>,
        core: Arc<Core>,
        request: UpgradeRequest,
    ) -> BoxFuture<'static, Response> {
        Box::pin(async move {
            if let Some(full) = socket::refuse_if_full(&core) {
                return full;
            }
            let alive = core.sessions.enter();
            let limits = core.limits.clone();
            request
                .ws
                .on_upgrade(&limits, move |mut socket| async move {
                    let _alive = alive;
                    let ending = shout(&mut socket).await;
                    socket.close(&ending, None).await;
                })
        })
    }

    fn push_error(&self, error: &PushError) -> Response {
        (
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST),
            error.message(),
        )
            .into_response()
    }
}

/// Answers every text frame upper-cased, until the client leaves.
async fn shout(socket: &mut Socket) -> Ending {
    loop {
        match socket.next().await {
            Event::Frame(Message::Text(text)) => {
                let loud = Message::Text(text.to_uppercase().into());
                if let Err(ending) = socket.send(loud).await {
                    return ending;
                }
            }
            Event::Frame(_) | Event::Flushed => {}
            Event::Ended(ending) => return ending,
        }
    }
}
