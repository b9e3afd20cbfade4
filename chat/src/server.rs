//! The chat functions behind HTTP, as a cloud's function runner would host them: `POST /`
//! (or `/register`, `/transport`, `/cleanup`) with an event in the Tencent or the AWS shape,
//! answered in the same shape (see [`wire`](crate::wire)). A malformed event is 400; a
//! failed function 500 (503 when the store is unavailable), which the gateway treats as a
//! function failure.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use lifecycle::App;
use serde_json::{Value, json};

use crate::functions::ChatFunctions;
use crate::wire::{self, Shape};

/// The function server's routes.
pub fn router(functions: Arc<ChatFunctions>) -> Router {
    Router::new()
        .route("/", post(invoke))
        .route("/register", post(invoke))
        .route("/transport", post(invoke))
        .route("/cleanup", post(invoke))
        .with_state(functions)
}

fn error(status: StatusCode, why: String) -> Response {
    (status, Json(json!({ "error": why }))).into_response()
}

async fn invoke(State(functions): State<Arc<ChatFunctions>>, body: axum::body::Bytes) -> Response {
    let decoded = serde_json::from_slice::<Value>(&body)
        .map_err(|e| e.to_string())
        .and_then(|v| wire::decode(&v));
    let (shape, event) = match decoded {
        Ok(decoded) => decoded,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let reply = match functions.handle(&event).await {
        Ok(reply) => reply,
        Err(err) => {
            tracing::error!(%err, "chat function failed");
            let status = if err.unavailable {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            return error(status, err.message);
        }
    };
    if shape == Shape::Aws && reply.close.is_some() {
        // A Lambda closes a connection through `DELETE @connections/{id}`.
        let push_url = &event.connection.push_url;
        if let Err(err) = functions
            .pusher()
            .close(push_url, event.connection_id())
            .await
        {
            tracing::warn!(%err, "closing the connection failed");
        }
    }
    let (status, body) = wire::answer(shape, &event, &reply);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (status, Json(body)).into_response()
}
