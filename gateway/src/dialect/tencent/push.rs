//! Reverse push: `POST /` with `{"websocket":{"action":"data send"|"closing",
//! "secConnectionID":…,"dataType":"text"|"binary","data":…}}`, answered
//! `{"errNo":0,"errMsg":"ok"}`; a failure carries the HTTP status as `errNo` too.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lifecycle::Delivery;
use serde_json::{Value, json};

use crate::dialect::PushError;
use crate::hub::{Kick, Outbound};
use crate::push_api::PushState;

/// The route.
pub fn routes() -> Router<PushState> {
    Router::new().route("/", post(reverse_push))
}

/// `error` as `{"errNo": <status>, "errMsg": …}` with that status.
pub fn error(error: &PushError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({ "errNo": error.status(), "errMsg": error.message() });
    (status, Json(body)).into_response()
}

fn ok() -> Response {
    Json(json!({ "errNo": 0, "errMsg": "ok" })).into_response()
}

async fn reverse_push(State(state): State<PushState>, body: Bytes) -> Response {
    let bad = |why: &str| error(&PushError::BadRequest(why.to_owned()));
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return bad("body is not JSON");
    };
    let ws = &value["websocket"];
    let Some(id) = ws["secConnectionID"].as_str() else {
        return bad("missing websocket.secConnectionID");
    };
    match ws["action"].as_str() {
        Some("data send") => {
            let Some(data) = ws["data"].as_str() else {
                return bad("missing websocket.data");
            };
            let frame = match ws["dataType"].as_str() {
                None | Some("text") => Outbound::text(data),
                Some("binary") => match STANDARD.decode(data) {
                    Ok(bytes) => Outbound::binary(bytes),
                    Err(e) => return bad(&format!("binary data is not base64: {e}")),
                },
                Some(other) => return bad(&format!("dataType `{other}`: text or binary")),
            };
            if frame.len() > state.max_frame {
                return error(&PushError::PayloadTooLarge(state.max_frame));
            }
            match state.hub.send(id, frame) {
                Delivery::Sent => ok(),
                Delivery::Gone => error(&PushError::Gone),
                Delivery::Overflow => error(&PushError::LimitExceeded(
                    "the connection's outbound queue is full: it is closed as too slow".into(),
                )),
            }
        }
        Some("closing") => {
            let kick = Kick::new(crate::close_code::NORMAL, "closed by a function");
            if state.hub.kick(id, kick) {
                ok()
            } else {
                error(&PushError::Gone)
            }
        }
        other => bad(&format!(
            "websocket.action {other:?}: `data send` or `closing`"
        )),
    }
}
