//! The chat functions behind HTTP, as a cloud's function runner would host them: `POST /`
//! (or `/register`, `/transport`, `/cleanup`) with an event in the Tencent or the AWS shape,
//! answered in the same shape (see [`wire`]). A malformed event is 400; a
//! failed function 500 (503 when the store is unavailable), which the gateway treats as a
//! function failure.
//!
//! And as an Alibaba API Gateway backend: the gateway forwards a device's API calls with
//! `x-ca-deviceid` — `POST /aliyun/register` (welcome, join), `/aliyun/unregister` (leave),
//! any other `/aliyun/…` (the body is a chat line). The device's room and node come from
//! its record, which the gateway wrote when the device bound.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use lifecycle::{App, ConnectionInfo, EventKind, LifecycleEvent, Payload};
use serde_json::{Value, json};
use store_core::ConnectionId;

use crate::functions::ChatFunctions;
use crate::wire::{self, Shape};

/// The function server's routes.
pub fn router(functions: Arc<ChatFunctions>) -> Router {
    Router::new()
        .route("/", post(invoke))
        .route("/register", post(invoke))
        .route("/transport", post(invoke))
        .route("/cleanup", post(invoke))
        .route("/aliyun/{*api}", post(aliyun))
        .with_state(functions)
}

/// An Alibaba backend call from device `x-ca-deviceid`: the API path picks the step.
async fn aliyun(
    State(functions): State<Arc<ChatFunctions>>,
    Path(api): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(device) = headers.get("x-ca-deviceid").and_then(|v| v.to_str().ok()) else {
        return error(StatusCode::BAD_REQUEST, "missing x-ca-deviceid".into());
    };
    let record = match ConnectionId::new(device) {
        Ok(id) => functions.store().get(&id).await,
        Err(err) => return error(StatusCode::BAD_REQUEST, err.to_string()),
    };
    let record = match record {
        Ok(Some(record)) => record,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                "the device is not bound to a gateway".into(),
            );
        }
        Err(err) => return error(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    };
    let kind = match api.as_str() {
        "register" => EventKind::Connect,
        "unregister" => EventKind::Disconnect {
            status_code: 1000,
            reason: "unregistered".into(),
        },
        route => EventKind::Message {
            route: format!("/aliyun/{route}"),
        },
    };
    let payload = matches!(kind, EventKind::Message { .. })
        .then(|| Payload::Text(String::from_utf8_lossy(&body).into_owned()));
    let connection = ConnectionInfo {
        id: device.to_owned(),
        push_url: record.endpoint.as_str().to_owned(),
        query: vec![("room".into(), record.room.as_str().to_owned())],
        ..ConnectionInfo::default()
    };
    let event = LifecycleEvent {
        kind,
        connection: Arc::new(connection),
        request_id: String::new(),
        at_ms: 0,
        payload,
    };
    match functions.handle(&event).await {
        Ok(reply) => {
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
            (status, Json(json!({ "ok": reply.accepts() }))).into_response()
        }
        Err(err) => {
            let status = if err.unavailable {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            error(status, err.message)
        }
    }
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
