//! Reverse push: `POST /` with `{"websocket":{"action":"data send"|"closing",
//! "secConnectionID":…,"dataType":"text"|"binary","data":…}}`, answered
//! `{"errNo":0,"errMsg":"ok"}`; a failure carries the HTTP status as `errNo` too.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::wire::{PushError, PushTarget, frame_of_data};

/// The route.
pub fn routes() -> Router<PushTarget> {
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

async fn reverse_push(State(target): State<PushTarget>, body: Bytes) -> Response {
    let bad = |why: &str| error(&PushError::BadRequest(why.to_owned()));
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return bad("body is not JSON");
    };
    let ws = &value["websocket"];
    let Some(id) = ws["secConnectionID"].as_str() else {
        return bad("missing websocket.secConnectionID");
    };
    let done = match ws["action"].as_str() {
        Some("data send") => {
            let Some(data) = ws["data"].as_str() else {
                return bad("missing websocket.data");
            };
            frame_of_data(data, ws["dataType"].as_str()).and_then(|frame| target.deliver(id, frame))
        }
        Some("closing") => target.close(id),
        other => {
            return bad(&format!(
                "websocket.action {other:?}: `data send` or `closing`"
            ));
        }
    };
    match done {
        Ok(()) => ok(),
        Err(why) => error(&why),
    }
}
