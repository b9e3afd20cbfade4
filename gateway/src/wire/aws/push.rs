//! `@connections/{connectionId}`: PostToConnection, GetConnection, DeleteConnection, under
//! an optional stage prefix (`/{stage}/@connections/{id}`, the endpoint every AWS user
//! configures), with ids percent-decoded, and errors in the REST-JSON shape the SDKs map
//! to their typed exceptions.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::hub::Outbound;
use crate::ids::iso8601;
use crate::wire::{PushError, PushTarget};

/// The routes, with and without a stage.
pub fn routes() -> Router<PushTarget> {
    let connection = get(get_connection)
        .post(post_to_connection)
        .delete(delete_connection);
    Router::new()
        .route("/@connections/{id}", connection.clone())
        .route("/{stage}/@connections/{id}", connection)
}

/// The AWS error type of `error` (the name the SDKs' exceptions carry).
fn error_type(error: &PushError) -> &'static str {
    match error {
        PushError::Gone => "GoneException",
        PushError::Forbidden(_) => "ForbiddenException",
        PushError::Credentials(failure) => failure.aws_type(),
        PushError::PayloadTooLarge(_) | PushError::BodyTooLarge(_) => "PayloadTooLargeException",
        PushError::LimitExceeded(_) => "LimitExceededException",
        PushError::BadRequest(_) => "BadRequestException",
        PushError::TimedOut => "RequestTimeoutException",
        PushError::Unavailable(_) => "ServiceUnavailableException",
    }
}

/// `error` as AWS answers it: the status, `x-amzn-ErrorType`, `{"message": …}`, and the
/// request's id.
pub fn error(error: &PushError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, axum::Json(json!({ "message": error.message() }))).into_response();
    response.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static(error_type(error)),
    );
    with_request_id(response)
}

/// `response` with an `x-amzn-RequestId` (a UUID, as AWS's are), which the SDKs report
/// as the call's request id.
pub fn with_request_id(mut response: Response) -> Response {
    let hex = crate::ids::new_id();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    if let Ok(id) = HeaderValue::from_str(&uuid) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    response
}

fn connection_id(params: &HashMap<String, String>) -> &str {
    params.get("id").map_or("", String::as_str)
}

/// AWS's 403 `Forbidden` when the call names a stage this node does not serve; a call
/// without a stage is the node's own (its functions' pushes).
fn off_stage(target: &PushTarget, params: &HashMap<String, String>) -> Option<Response> {
    let stage = params.get("stage")?;
    (**stage != *target.stage).then(|| error(&PushError::Forbidden("Forbidden".into())))
}

async fn post_to_connection(
    State(target): State<PushTarget>,
    Path(params): Path<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(refused) = off_stage(&target, &params) {
        return refused;
    }
    let frame = Outbound::from_body(body);
    match target.deliver(connection_id(&params), frame) {
        Ok(()) => with_request_id(StatusCode::OK.into_response()),
        Err(why) => error(&why),
    }
}

async fn get_connection(
    State(target): State<PushTarget>,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = off_stage(&target, &params) {
        return refused;
    }
    let Some(held) = target.hub.held(connection_id(&params)) else {
        return error(&PushError::Gone);
    };
    let body = json!({
        "connectedAt": iso8601(held.info.connected_at_ms),
        "lastActiveAt": iso8601(held.last_active_ms.load(Ordering::Relaxed)),
        "identity": {
            "sourceIp": held.info.source_ip,
            "userAgent": held.info.user_agent.as_deref().unwrap_or(""),
        },
    });
    with_request_id(
        (
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response(),
    )
}

async fn delete_connection(
    State(target): State<PushTarget>,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = off_stage(&target, &params) {
        return refused;
    }
    match target.close(connection_id(&params)) {
        Ok(()) => with_request_id(StatusCode::NO_CONTENT.into_response()),
        Err(why) => error(&why),
    }
}
