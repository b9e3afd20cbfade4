//! APP authentication where the node applies it: the notify routes (the push API's guard
//! asks [`AppAuth`] as the channel's [`PushSignature`]) and the HTTP APIs whose auth is
//! APP. Refusals go out as Alibaba's gateway sends them: the status, `x-ca-error-message`,
//! `x-ca-request-id`, and `{"errorMessage": …}`.

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::signature::{self, AppSignatures, Refusal, Signed};
use crate::channel::{PushCall, PushSignature};
use crate::ids::now_ms;

/// The apps a channel accepts signatures of.
#[derive(Debug, Clone)]
pub struct AppAuth {
    /// Their secrets, and the nonces seen.
    pub signatures: Arc<AppSignatures>,
}

impl AppAuth {
    /// Checks a whole signed request; `Err` is the refusal to send.
    pub fn check(&self, request: &Signed<'_>) -> Result<(), Box<Response>> {
        self.signatures
            .verify(request, now_ms())
            .map_err(|why| Box::new(refuse(&why)))
    }
}

impl PushSignature for AppAuth {
    fn claims(&self, headers: &HeaderMap) -> bool {
        signature::claims(headers)
    }

    fn precheck(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        self.signatures
            .precheck(headers, now_ms())
            .map_err(|why| Box::new(refuse(&why)))
    }

    fn verify(&self, call: &PushCall<'_>) -> Result<(), Box<Response>> {
        self.check(&Signed {
            method: call.method,
            path: call.uri.path(),
            query: call.uri.query(),
            headers: call.headers,
            body: call.body,
        })
    }

    fn missing(&self) -> Response {
        refuse(&Refusal {
            status: 400,
            message: "Invalid AppKey".into(),
        })
    }
}

/// `why` as Alibaba's gateway answers it.
pub fn refuse(why: &Refusal) -> Response {
    tracing::debug!(status = why.status, message = %why.message, "APP signature refused");
    error(why.status, &why.message)
}

/// An error answer of the gateway's own: `status`, `x-ca-error-message`, a request id.
pub fn error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, Json(json!({ "errorMessage": message }))).into_response();
    // A message with bytes a header cannot hold (an echoed string to sign) goes in the
    // body only.
    if let Ok(value) = HeaderValue::from_str(message) {
        response.headers_mut().insert("x-ca-error-message", value);
    }
    with_request_id(response)
}

/// `response` with an `x-ca-request-id`, as every answer of Alibaba's gateway has.
pub fn with_request_id(mut response: Response) -> Response {
    if let Ok(id) = HeaderValue::from_str(&crate::ids::new_id()) {
        response.headers_mut().insert("x-ca-request-id", id);
    }
    response
}
