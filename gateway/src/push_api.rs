//! The push-back API functions call to reach connections held by this node.
//!
//! | call | body | answer |
//! |---|---|---|
//! | `POST /` | Tencent reverse push: `{"websocket":{"action":"data send"\|"closing","secConnectionID":…,"dataType":…,"data":…}}` | 200, or 410 for an unknown id |
//! | `POST /@connections/{id}` | the raw payload (UTF-8 → text frame, else binary) | 200 / 410 |
//! | `GET /@connections/{id}` | — | `{"connectedAt","lastActiveAt","identity":{"sourceIp"}}` (epoch ms) / 410 |
//! | `DELETE /@connections/{id}` | — | 204 / 410 |
//! | `POST /batch` | `{"ids":[…],"data":…,"dataType":"text"\|"binary"}` | `{"results":{id:"sent"\|"gone"\|"overflow"}}` |
//!
//! A bad body is 400 with a reason; a missing or wrong bearer token (when one is set) 401.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chat::{BatchRequest, BatchResult, Delivery};
use serde_json::{Value, json};

use crate::hub::{Hub, Kick, Outbound};

/// What the push API needs.
#[derive(Debug, Clone)]
pub struct PushState {
    /// This node's connections.
    pub hub: Arc<Hub>,
    /// Required bearer token, if any.
    pub token: Option<String>,
}

/// The push-back routes.
pub fn router(state: PushState) -> Router {
    Router::new()
        .route("/", post(tencent_push))
        .route("/batch", post(batch))
        .route(
            "/@connections/{id}",
            get(describe).post(post_to).delete(close),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

async fn require_token(
    State(state): State<PushState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
        }
    }
    next.run(request).await
}

fn bad_request(why: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": why.into() })),
    )
        .into_response()
}

fn gone() -> Response {
    (
        StatusCode::GONE,
        Json(json!({ "error": "no such connection on this node" })),
    )
        .into_response()
}

/// The frame a push carries; `Err` is why the body is bad.
fn frame(data: String, data_type: Option<&str>) -> Result<Outbound, String> {
    match data_type {
        None | Some("text") => Ok(Outbound::Text(data)),
        Some("binary") => STANDARD
            .decode(data)
            .map(Outbound::Binary)
            .map_err(|e| format!("binary data is not base64: {e}")),
        Some(other) => Err(format!("dataType `{other}`: text or binary")),
    }
}

async fn tencent_push(State(state): State<PushState>, body: Bytes) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("body is not JSON");
    };
    let ws = &value["websocket"];
    let Some(id) = ws["secConnectionID"].as_str() else {
        return bad_request("missing websocket.secConnectionID");
    };
    match ws["action"].as_str() {
        Some("data send") => {
            let Some(data) = ws["data"].as_str() else {
                return bad_request("missing websocket.data");
            };
            let frame = match frame(data.to_owned(), ws["dataType"].as_str()) {
                Ok(frame) => frame,
                Err(why) => return bad_request(why),
            };
            match state.hub.send(id, frame) {
                Delivery::Gone => gone(),
                delivery => Json(json!({ "result": delivery })).into_response(),
            }
        }
        Some("closing") => {
            if state.hub.kick(id, Kick::ByFunction) {
                Json(json!({ "result": "closing" })).into_response()
            } else {
                gone()
            }
        }
        other => bad_request(format!(
            "websocket.action {other:?}: `data send` or `closing`"
        )),
    }
}

async fn batch(State(state): State<PushState>, body: Bytes) -> Response {
    let request: BatchRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return bad_request(format!("batch body: {e}")),
    };
    let frame = match frame(request.data, Some(request.data_type.as_str())) {
        Ok(frame) => frame,
        Err(why) => return bad_request(why),
    };
    let mut result = BatchResult::default();
    for id in request.ids {
        let delivery = state.hub.send(&id, frame.clone());
        result.results.insert(id, delivery);
    }
    Json(result).into_response()
}

async fn post_to(State(state): State<PushState>, Path(id): Path<String>, body: Bytes) -> Response {
    let frame = match String::from_utf8(body.to_vec()) {
        Ok(text) => Outbound::Text(text),
        Err(e) => Outbound::Binary(e.into_bytes()),
    };
    match state.hub.send(&id, frame) {
        Delivery::Gone => gone(),
        _ => StatusCode::OK.into_response(),
    }
}

async fn describe(State(state): State<PushState>, Path(id): Path<String>) -> Response {
    match state.hub.info(&id) {
        Some(info) => Json(json!({
            "connectedAt": info.connected_at_ms,
            "lastActiveAt": info.last_active_ms.load(std::sync::atomic::Ordering::Relaxed),
            "identity": { "sourceIp": info.source_ip },
        }))
        .into_response(),
        None => gone(),
    }
}

async fn close(State(state): State<PushState>, Path(id): Path<String>) -> Response {
    if state.hub.kick(&id, Kick::ByFunction) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        gone()
    }
}
