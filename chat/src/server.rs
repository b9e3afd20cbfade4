//! The chat functions behind HTTP: `POST /` (or `/register`, `/transport`, `/cleanup`)
//! with a lifecycle event in either shape. The HTTP status is the function's verdict
//! (2xx accepts a connection); a JSON body `{"reply": "<text frame>"}` carries a frame for
//! the calling connection.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::event::LifecycleEvent;
use crate::functions::{ChatFunctions, FunctionError};

/// The function server's routes.
pub fn router(functions: Arc<ChatFunctions>) -> Router {
    Router::new()
        .route("/", post(invoke))
        .route("/register", post(invoke))
        .route("/transport", post(invoke))
        .route("/cleanup", post(invoke))
        .with_state(functions)
}

async fn invoke(State(functions): State<Arc<ChatFunctions>>, body: axum::body::Bytes) -> Response {
    let event = match serde_json::from_slice::<Value>(&body)
        .map_err(|e| e.to_string())
        .and_then(|v| LifecycleEvent::from_json(&v).map_err(|e| e.to_string()))
    {
        Ok(event) => event,
        Err(why) => {
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": why }))).into_response();
        }
    };
    match functions.handle(&event).await {
        Ok(reply) => {
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
            (status, Json(json!({ "reply": reply.body }))).into_response()
        }
        Err(FunctionError::BadEvent(why)) => {
            (StatusCode::BAD_REQUEST, Json(json!({ "error": why }))).into_response()
        }
        Err(FunctionError::Store(err)) => {
            let status = if err.is_temporary() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            tracing::error!(%err, "chat function failed");
            (status, Json(json!({ "error": err.to_string() }))).into_response()
        }
    }
}
