//! AWS API Gateway WebSocket APIs with Lambda (proxy) integrations, and the
//! `ApiGatewayManagementApi` (`@connections`) that functions push with.
//!
//! Followed: the Lambda event shapes of API Gateway WebSocket APIs (the `aws-lambda-go`
//! fixtures `apigw-websocket-request*.json` and the `lambda-events` fixtures of
//! `aws-lambda-rust-runtime`), botocore's `apigatewaymanagementapi` service model
//! (rest-json, signing name `execute-api`, timestamps ISO-8601, `GoneException` 410,
//! `PayloadTooLargeException` 413, `LimitExceededException` 429, `ForbiddenException`
//! 403) and the error-code rules of botocore's `RestJSONParser` and smithy-rs'
//! `json_errors` (the `x-amzn-ErrorType` header names the error).
//!
//! # Layout
//! - `event.rs`: the event JSON (`requestContext`, headers, query, body).
//! - `answer.rs`: Lambda proxy answers (`statusCode`, `headers`, `body`).
//! - `push.rs`: `@connections/{id}` GET/POST/DELETE, with or without a stage prefix, and
//!   REST-JSON errors.

mod answer;
mod event;
mod push;

use axum::Router;
use axum::response::Response;
use lifecycle::{LifecycleEvent, Reply};
use serde_json::Value;

use super::{FunctionWire, PushError, PushTarget};
use crate::invoke::{FunctionCodec, NodeInfo};

/// The AWS wire.
#[derive(Debug, Clone, Copy)]
pub struct Aws;

impl FunctionWire for Aws {
    fn push_routes(&self) -> Router<PushTarget> {
        push::routes()
    }

    fn push_error(&self, error: &PushError) -> Response {
        push::error(error)
    }
}

impl FunctionCodec for Aws {
    fn name(&self) -> &'static str {
        "aws"
    }

    /// API Gateway invokes a connection's messages as they come, concurrently.
    fn concurrent_messages(&self) -> bool {
        true
    }

    fn event(&self, event: &LifecycleEvent, node: &NodeInfo) -> Value {
        event::encode(event, node)
    }

    fn answer(&self, event: &LifecycleEvent, status: u16, body: &[u8]) -> Reply {
        answer::decode(event, status, body)
    }
}
