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
use lifecycle::{BatchOutcome, BatchRequest, BatchResult, Delivery};
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

/// The frame a batch carries (`dataType` `text`, or `binary` as base64), held to `max_frame`
/// bytes: the HTTP call and a linked-in app's direct path refuse the same requests.
pub fn frame_of(request: &BatchRequest, max_frame: usize) -> Result<Outbound, PushError> {
    let frame = match request.data_type.as_str() {
        "text" => Outbound::text(request.data.as_str()),
        "binary" => match STANDARD.decode(&request.data) {
            Ok(bytes) => Outbound::binary(bytes),
            Err(e) => {
                let why = format!("binary data is not base64: {e}");
                return Err(PushError::BadRequest(why));
            }
        },
        other => {
            let why = format!("dataType `{other}`: text or binary");
            return Err(PushError::BadRequest(why));
        }
    };
    if frame.len() > max_frame {
        return Err(PushError::PayloadTooLarge(max_frame));
    }
    Ok(frame)
}

async fn batch(State(state): State<PushState>, body: Bytes) -> Response {
    let request: BatchRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(&PushError::BadRequest(format!("batch body: {e}"))),
    };
    let frame = match frame_of(&request, state.max_frame) {
        Ok(frame) => frame,
        Err(why) => return error(&why),
    };
    let mut outcome = BatchOutcome::default();
    state
        .hub
        .send_many(request.ids.iter().map(String::as_str), &frame, &mut outcome);
    // The wire answer names every recipient; only the undelivered were recorded.
    let mut result = BatchResult::default();
    for id in request.ids {
        result.results.insert(id, Delivery::Sent);
    }
    result.results.extend(outcome.undelivered);
    Json(result).into_response()
}
