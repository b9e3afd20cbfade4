//! `POST /batch`: one payload to many connections of this node, answered with the count
//! delivered and the recipients that were not (`{"sent":n,"undelivered":{id:why}}`) — the call
//! the chat's broadcasts use (a cloud would take one `@connections` call per recipient).
//! A batch names at most [`MAX_BATCH_IDS`] ids (parsing stops past them), each delivered
//! to once.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use lifecycle::{BatchOutcome, BatchRequest, BatchResult};
use serde::Deserialize;
use serde_json::json;

use crate::ids::{capped_strings, distinct_capped};
use crate::wire::{PushError, PushTarget, frame_of_data};

/// Most ids one batch names: ten times a node's default connection limit, as a batch
/// names connections of one node (a room's members there).
pub const MAX_BATCH_IDS: usize = 100_000;

/// The largest body a batch of frames of at most `max_frame` bytes can legitimately
/// have: [`MAX_BATCH_IDS`] quoted ids of the longest length with their commas, and the
/// frame as a JSON string.
pub fn body_limit(max_frame: usize) -> usize {
    /// Bytes around each id: its quotes, a comma, a space.
    const PER_ID: usize = 4;
    let ids = MAX_BATCH_IDS * (store_core::MAX_ID_LEN + PER_ID);
    ids.saturating_add(crate::wire::json_frame_limit(max_frame))
}

/// A batch body as this route reads it: [`BatchRequest`] with its ids counted as they
/// are parsed.
#[derive(Debug, Deserialize)]
struct CappedBatch {
    /// Recipients: parsing stops past [`MAX_BATCH_IDS`].
    #[serde(deserialize_with = "capped_strings::<_, MAX_BATCH_IDS>")]
    ids: Vec<String>,
    /// The payload (base64 when `data_type` is `binary`).
    data: String,
    /// `text` (the default) or `binary`.
    #[serde(default = "text_type", rename = "dataType")]
    data_type: String,
}

fn text_type() -> String {
    "text".to_owned()
}

/// The route.
pub fn routes() -> Router<PushTarget> {
    Router::new().route("/batch", post(batch))
}

/// `error` as `{"error": …}`; missing credentials are 401 here.
pub fn error(error: &PushError) -> Response {
    let status = match error {
        PushError::Forbidden(_) | PushError::Credentials(_) => StatusCode::UNAUTHORIZED,
        other => StatusCode::from_u16(other.status()).unwrap_or(StatusCode::BAD_REQUEST),
    };
    (status, Json(json!({ "error": error.message() }))).into_response()
}

async fn batch(State(state): State<PushTarget>, body: Bytes) -> Response {
    let request = match serde_json::from_slice::<CappedBatch>(&body) {
        Ok(CappedBatch {
            ids,
            data,
            data_type,
        }) => BatchRequest {
            ids,
            data,
            data_type,
        },
        Err(e) => return error(&PushError::BadRequest(format!("batch body: {e}"))),
    };
    let data_type = Some(request.data_type.as_str());
    let frame = frame_of_data(&request.data, data_type).and_then(|frame| {
        state.fits(&frame)?;
        Ok(frame)
    });
    let frame = match frame {
        Ok(frame) => frame,
        Err(why) => return error(&why),
    };
    // Already capped by the parser: this only drops repeats (each gets one frame).
    let ids = match distinct_capped(request.ids.iter().map(String::as_str), MAX_BATCH_IDS) {
        Ok(ids) => ids,
        Err(why) => return error(&PushError::BadRequest(why.to_string())),
    };
    let mut outcome = BatchOutcome::default();
    state
        .hub
        .send_many(ids.iter().copied(), &frame, &mut outcome);
    Json(BatchResult::from(outcome)).into_response()
}
