//! Tencent Cloud API Gateway WebSocket with SCF functions: register (`connecting`),
//! transport (`data send`), cleanup (`closing`), and the reverse push API.
//!
//! Followed: Tencent Cloud's SCF documentation "How It Works → Data Structures"
//! (tencentcloud.com/document/product/583/31437) and its function samples (583/31438):
//! the register event carries `requestContext` and `websocket` (`secWebSocketProtocol` and
//! `secWebSocketExtensions` only when the client sent them); the register answer's `errNo`
//! decides (0 accepts; a non-200 or a timeout refuses) and its `secWebSocketProtocol`
//! picks one subprotocol; the transport and cleanup events carry only `websocket`; the
//! gateway ignores answer bodies, and a non-200 transport answer is a failure on which the
//! gateway drops the client; reverse pushes answer `{"errNo":0,"errMsg":"ok"}`.
//!
//! Ours on top (documented in README): the register event also carries `headers`,
//! `queryString` and `requestContext.pushUrl` (the push URL of the node holding the
//! connection); a refused register answers the handshake 403; a failed transport (a
//! non-200, unreachable, timed out) closes the client with 1011 instead of a bare FIN.
//!
//! # Layout
//! - `event.rs`: the event JSON and the meaning of answers.
//! - `push.rs`: the reverse push API (`POST /`) and its `errNo` errors.

mod event;
mod push;

use axum::Router;
use axum::response::Response;
use lifecycle::{LifecycleEvent, Reply};
use serde_json::Value;

use super::{FunctionWire, PushError, PushTarget};
use crate::invoke::{FunctionCodec, InvokeError, NodeInfo};

/// The Tencent wire.
#[derive(Debug, Clone, Copy)]
pub struct Tencent;

impl FunctionWire for Tencent {
    fn push_routes(&self) -> Router<PushTarget> {
        push::routes()
    }

    fn push_error(&self, error: &PushError) -> Response {
        push::error(error)
    }

    /// The reverse push carries the frame as a JSON string (escaped, or base64).
    fn push_body_limit(&self, max_frame: usize) -> usize {
        super::json_frame_limit(max_frame)
    }
}

impl FunctionCodec for Tencent {
    fn name(&self) -> &'static str {
        "tencent"
    }

    fn event(&self, event: &LifecycleEvent, node: &NodeInfo) -> Value {
        event::encode(event, node)
    }

    fn answer(&self, event: &LifecycleEvent, status: u16, body: &[u8]) -> Reply {
        event::answer(event, status, body)
    }

    fn failed(&self, event: &LifecycleEvent, error: &InvokeError) -> Option<Reply> {
        event::failed(event, error)
    }
}
