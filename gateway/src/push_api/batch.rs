//! `POST /batch`: one payload to many connections of this node, one result each — the call
//! the chat's broadcasts use (a cloud would take one `@connections` call per recipient).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lifecycle::{BatchRequest, BatchResult};
use serde_json::json;

use super::PushState;
use crate::dialect::PushError;
use crate::hub::Outbound;

/// The route.
pub fn routes() -> Router<PushState> {
    Router::new().route("/batch", post(batch))
}

/// `error` as `{"error": …}`; missing credentials are 401 here.
pub fn error(error: &PushError) -> Response {
    let status = match error {
        PushError::Forbidden(_) => StatusCode::UNAUTHORIZED,
        other => StatusCode::from_u16(other.status()).unwrap_or(StatusCode::BAD_REQUEST),
    };
    (status, Json(json!({ "error": error.message() }))).into_response()
}

async fn batch(State(state): State<PushState>, body: Bytes) -> Response {
    let request: BatchRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(&PushError::BadRequest(format!("batch body: {e}"))),
    };
    let frame = match request.data_type.as_str() {
        "text" => Outbound::Text(request.data),
        "binary" => match STANDARD.decode(request.data) {
            Ok(bytes) => Outbound::Binary(bytes),
            Err(e) => {
                let why = format!("binary data is not base64: {e}");
                return error(&PushError::BadRequest(why));
            }
        },
        other => {
            let why = format!("dataType `{other}`: text or binary");
            return error(&PushError::BadRequest(why));
        }
    };
    if frame.len() > state.max_frame {
        return error(&PushError::PayloadTooLarge(state.max_frame));
    }
    let mut result = BatchResult::default();
    for id in request.ids {
        let delivery = state.hub.send(&id, frame.clone());
        result.results.insert(id, delivery);
    }
    Json(result).into_response()
}
