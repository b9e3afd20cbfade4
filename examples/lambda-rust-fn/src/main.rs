//! A WebSocket route's Lambda function in Rust, written as the `lambda_runtime` crate's
//! documentation writes one: it answers a route response naming the route, the request
//! and the function, with the message it got; a message asking it to fail fails.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    let body = payload["body"].as_str().unwrap_or_default();
    let message: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if message["fail"] == true {
        return Err("failing on purpose".into());
    }
    let answer = json!({
        "route": payload["requestContext"]["routeKey"],
        "request_id": context.request_id,
        "function": std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        "handler": std::env::var("_HANDLER").ok(),
        "got": message,
    });
    Ok(json!({ "statusCode": 200, "body": answer.to_string() }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
