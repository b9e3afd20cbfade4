//! The event a Lambda function gets from an API Gateway WebSocket API.

use lifecycle::{ConnectionInfo, EventKind, LifecycleEvent, Payload};
use serde_json::{Map, Value, json};

use crate::ids::request_time;
use crate::invoke::{NodeInfo, header_case};

/// `{"k": last value}` (AWS folds repeats) and `{"k": [values]}`, names through `name`;
/// `null` for both when there are no pairs (as AWS sends them).
fn single_and_multi(pairs: &[(String, String)], case: fn(&str) -> String) -> (Value, Value) {
    if pairs.is_empty() {
        return (Value::Null, Value::Null);
    }
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (name, value) in pairs.iter().map(|(n, v)| (case(n), v)) {
        single.insert(name.clone(), json!(value));
        match multi.get_mut(&name) {
            Some(Value::Array(values)) => values.push(json!(value)),
            _ => {
                multi.insert(name, json!([value]));
            }
        }
    }
    (Value::Object(single), Value::Object(multi))
}

fn identity(connection: &ConnectionInfo) -> Value {
    json!({
        "sourceIp": connection.source_ip,
        "userAgent": connection.user_agent,
    })
}

/// The headers of a `$disconnect` event: AWS sends these four, spelled so, whatever the
/// handshake carried (the API's host, the client's address, two empty ones), so a node
/// keeps no more of the handshake than the host for it. Captures of AWS's events differ
/// on `X-Forwarded-For`: the recent ones give the client's address, older ones an empty
/// value; we give the address.
fn disconnect_headers(connection: &ConnectionInfo, node: &NodeInfo) -> Vec<(String, String)> {
    let host = connection.header("host").unwrap_or(&node.domain);
    [
        ("Host", host),
        ("x-api-key", ""),
        ("X-Forwarded-For", connection.source_ip.as_str()),
        ("x-restapi", ""),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// The event JSON for `event`.
pub fn encode(event: &LifecycleEvent, node: &NodeInfo) -> Value {
    let connection = &event.connection;
    let (route, kind) = match &event.kind {
        EventKind::Connect => ("$connect", "CONNECT"),
        EventKind::Message { route } => (route.as_str(), "MESSAGE"),
        EventKind::Disconnect { .. } => ("$disconnect", "DISCONNECT"),
    };
    let mut context = json!({
        "routeKey": route,
        "eventType": kind,
        "extendedRequestId": event.request_id,
        "requestTime": request_time(event.at_ms),
        "messageDirection": "IN",
        "stage": node.stage,
        "connectedAt": connection.connected_at_ms,
        "requestTimeEpoch": event.at_ms,
        "identity": identity(connection),
        "requestId": event.request_id,
        "domainName": node.domain,
        "connectionId": connection.id,
        "apiId": node.api_id,
        // Our one extension: the node's push-back URL with its scheme.
        "pushUrl": node.push_url,
    });
    let mut body = json!({ "requestContext": Value::Null, "isBase64Encoded": false });
    match &event.kind {
        EventKind::Connect => {
            let (headers, multi_headers) = single_and_multi(&connection.headers, header_case);
            let (query, multi_query) = single_and_multi(&connection.query, str::to_owned);
            body["headers"] = headers;
            body["multiValueHeaders"] = multi_headers;
            body["queryStringParameters"] = query;
            body["multiValueQueryStringParameters"] = multi_query;
        }
        EventKind::Message { .. } => {
            context["messageId"] = json!(event.request_id);
            match &event.payload {
                Some(Payload::Text(text)) => body["body"] = json!(text),
                Some(Payload::Binary(bytes)) => {
                    use base64::Engine;
                    body["body"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
                    body["isBase64Encoded"] = json!(true);
                }
                None => {}
            }
        }
        EventKind::Disconnect {
            status_code,
            reason,
        } => {
            let (headers, multi_headers) =
                single_and_multi(&disconnect_headers(connection, node), str::to_owned);
            body["headers"] = headers;
            body["multiValueHeaders"] = multi_headers;
            context["disconnectStatusCode"] = json!(status_code);
            context["disconnectReason"] = json!(reason);
        }
    }
    // What a `$connect` authorizer allowed the connection with, on every event of it.
    if let Some(authorizer) = &connection.authorizer {
        context["authorizer"] = authorizer.as_ref().clone();
    }
    body["requestContext"] = context;
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sample::event;
    use std::sync::Arc;

    #[test]
    fn connect_message_and_disconnect_as_lambda_gets_them() {
        let node = NodeInfo::new("http://127.0.0.1:8081", "production", "local");
        let connect = encode(&event(EventKind::Connect, None), &node);
        assert_eq!(connect["requestContext"]["routeKey"], "$connect");
        assert_eq!(connect["requestContext"]["eventType"], "CONNECT");
        assert_eq!(connect["requestContext"]["domainName"], "127.0.0.1:8081");
        assert_eq!(connect["requestContext"]["identity"]["userAgent"], "test/1");
        assert_eq!(
            connect["requestContext"]["requestTime"],
            "20/Jan/2024:11:55:00 +0000"
        );
        assert_eq!(connect["queryStringParameters"]["room"], "lobby");
        assert_eq!(connect["headers"]["Host"], "h");
        assert_eq!(connect["headers"]["X-A"], "2");
        assert_eq!(connect["multiValueHeaders"]["X-A"], json!(["1", "2"]));
        assert_eq!(
            header_case("sec-websocket-protocol"),
            "Sec-WebSocket-Protocol"
        );
        assert_eq!(header_case("x-forwarded-for"), "X-Forwarded-For");

        let route = EventKind::Message {
            route: "sendmessage".into(),
        };
        let message = encode(&event(route, Some(Payload::Binary(vec![0, 1]))), &node);
        assert_eq!(message["requestContext"]["routeKey"], "sendmessage");
        assert_eq!(message["requestContext"]["messageId"], "r1");
        assert_eq!(message["body"], "AAE=");
        assert_eq!(message["isBase64Encoded"], true);
        assert!(message.get("queryStringParameters").is_none());

        let gone = EventKind::Disconnect {
            status_code: 1001,
            reason: "Going away".into(),
        };
        let disconnect = encode(&event(gone, None), &node);
        assert_eq!(disconnect["requestContext"]["disconnectStatusCode"], 1001);
        let four =
            json!({"Host": "h", "x-api-key": "", "X-Forwarded-For": "127.0.0.1", "x-restapi": ""});
        assert_eq!(
            disconnect["headers"], four,
            "AWS's four, not the handshake's"
        );
        assert_eq!(
            disconnect["multiValueHeaders"]["X-Forwarded-For"],
            json!(["127.0.0.1"])
        );
        assert!(disconnect.get("queryStringParameters").is_none());
        let mut hostless = event(
            EventKind::Disconnect {
                status_code: 1006,
                reason: String::new(),
            },
            None,
        );
        Arc::make_mut(&mut hostless.connection).headers.clear();
        let hostless = encode(&hostless, &node);
        assert_eq!(
            hostless["headers"]["Host"], "127.0.0.1:8081",
            "the API's domain"
        );
        assert_eq!(
            disconnect["requestContext"]["disconnectReason"],
            "Going away"
        );
    }
}
