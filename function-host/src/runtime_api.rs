//! The Lambda Runtime API (2018-06-01) one instance talks to, with the status codes and
//! error bodies of AWS's runtime interface emulator:
//! - `GET /2018-06-01/runtime/invocation/next`: a long poll; the event, with
//!   `Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn`,
//!   `-Trace-Id`, and `Content-Type: application/json` exactly (the C++ core of the
//!   Python and Node.js clients crashes without it).
//! - `POST …/invocation/{id}/response`, `…/invocation/{id}/error`: `202 {"status":"OK"}`;
//!   an id that is not the instance's current invocation `400 InvalidRequestID`; a second
//!   answer `403 InvalidStateTransition`; a response over 6 MiB + 100 bytes
//!   `413 RequestEntityTooLarge` (the invocation fails as `Function.ResponseSizeTooLarge`).
//! - `POST /2018-06-01/runtime/init/error`: `202`, before the first `next` only (then 403).
//!
//! Each instance has a listener of its own, so the host knows which process asks without
//! trusting anything it sends.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::error::Failure;
use crate::pool::{AnswerError, Pool};

/// The largest response a function may give (Lambda's synchronous limit, as the emulator
/// counts it).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;

/// The largest error or init error body read (the rest is cut off).
const MAX_ERROR_BYTES: usize = 256 * 1024;

type Instance = (Arc<Pool>, u64);

/// Instance `number`'s Runtime API.
pub(crate) fn router(pool: Arc<Pool>, number: u64) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state((pool, number))
}

/// An error answer in the emulator's shape.
fn refuse(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "errorMessage": message, "errorType": error_type })),
    )
        .into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "status": "OK" }))).into_response()
}

async fn next(State((pool, number)): State<Instance>) -> Response {
    let Some(next) = pool.next(number).await else {
        // The instance is being stopped (idle, or the host stops): no answer, which a
        // runtime client would log as a failure; its SIGTERM comes instead.
        return std::future::pending().await;
    };
    let mut answer = Response::new(Body::from(next.event));
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", &next.id);
    set("lambda-runtime-deadline-ms", &next.deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        &pool.settings.arn(&pool.spec.name),
    );
    set("lambda-runtime-trace-id", &next.trace_id);
    answer
}

/// Reads `body`, `Err` with the answer when it is over `limit`.
async fn read(body: Body, limit: usize) -> Result<Bytes, Bytes> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(_) => Err(Bytes::new()),
    }
}

async fn response(
    State((pool, number)): State<Instance>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let outcome = match read(body, MAX_RESPONSE_BYTES).await {
        Ok(bytes) => Ok(bytes),
        Err(_) => Err(Failure::Function {
            error_type: "Function.ResponseSizeTooLarge".into(),
            message: format!(
                "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
            ),
        }),
    };
    let too_large = outcome.is_err();
    match (pool.answer(number, &id, outcome), too_large) {
        (Ok(()), false) => accepted(),
        (Ok(()), true) => refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
        ),
        (Err(err), _) => answer_refused(err),
    }
}

async fn error(
    State((pool, number)): State<Instance>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = read(body, MAX_ERROR_BYTES).await.unwrap_or_default();
    let failure = error_of(&headers, &body);
    match pool.answer(number, &id, Err(failure)) {
        Ok(()) => accepted(),
        Err(err) => answer_refused(err),
    }
}

async fn init_error(
    State((pool, number)): State<Instance>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = read(body, MAX_ERROR_BYTES).await.unwrap_or_default();
    if pool.init_failed(number, error_of(&headers, &body).to_string()) {
        accepted()
    } else {
        refuse(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "State transition from Ready to InitError failed for runtime. Error: State transition is not allowed",
        )
    }
}

fn answer_refused(err: AnswerError) -> Response {
    match err {
        AnswerError::UnknownRequest => refuse(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        ),
        AnswerError::Answered => refuse(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "State transition from RuntimeResponseSentState to InvocationResponse failed for runtime. Error: State transition is not allowed",
        ),
    }
}

/// A runtime's error report: `errorType` and `errorMessage` from its JSON body (the
/// `Lambda-Runtime-Function-Error-Type` header when the body names no type).
fn error_of(headers: &HeaderMap, body: &[u8]) -> Failure {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |key: &str| parsed.get(key).and_then(Value::as_str).map(str::to_owned);
    let error_type = text("errorType")
        .or_else(|| {
            headers
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "Runtime.Unknown".into());
    let message = text("errorMessage")
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned());
    Failure::Function {
        error_type,
        message,
    }
}
