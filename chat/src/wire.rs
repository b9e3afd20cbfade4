//! The chat functions' side of the clouds' event shapes: reading the event a gateway POSTs
//! to an HTTP function (Tencent SCF or AWS Lambda style) into a [`LifecycleEvent`], and
//! writing a [`Reply`] as that cloud's function answer. This is what any handler written
//! for those clouds does with the fields it needs; the gateway's dialect modules are the
//! other side.
//!
//! - Tencent: `{"websocket":{"action":"connecting"|"data send"|"closing","secConnectionID",
//!   "dataType","data"},"requestContext":{"sourceIp",…},"headers","queryString"}`; answers
//!   `{"errNo":0,"errMsg":"ok",…}`; errNo ≠ 0 refuses a register, a non-200 status on a
//!   transport answer closes the connection.
//! - AWS: `{"requestContext":{"routeKey","eventType","connectionId","domainName",
//!   "identity":{"sourceIp","userAgent"},"disconnectStatusCode","disconnectReason"},
//!   "headers","queryStringParameters","body","isBase64Encoded"}`; answers Lambda proxy
//!   style `{"statusCode":…}`.
//!
//! The push-back URL is the gateway's `requestContext.pushUrl` extension where present
//! (always on a Tencent register, whose real events carry none), else `http://{domainName}`
//! as AWS handlers build it.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lifecycle::{ConnectionInfo, EventKind, LifecycleEvent, Payload, Reply};
use serde_json::{Value, json};

/// Which cloud's shape an event came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Tencent API Gateway → SCF.
    Tencent,
    /// AWS API Gateway → Lambda.
    Aws,
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `{"k":"v"}` or `{"k":["v1","v2"]}` as pairs.
fn pairs(value: Option<&Value>) -> Vec<(String, String)> {
    let Some(Value::Object(map)) = value else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in map {
        match value {
            Value::String(v) => out.push((key.clone(), v.clone())),
            Value::Array(items) => out.extend(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|v| (key.clone(), v.to_owned())),
            ),
            _ => {}
        }
    }
    out
}

fn payload(data: Option<String>, binary: bool) -> Result<Option<Payload>, String> {
    match (data, binary) {
        (None, _) => Ok(None),
        (Some(text), false) => Ok(Some(Payload::Text(text))),
        (Some(encoded), true) => STANDARD
            .decode(encoded)
            .map(|bytes| Some(Payload::Binary(bytes)))
            .map_err(|e| format!("binary data is not base64: {e}")),
    }
}

/// Reads an event in either shape.
pub fn decode(value: &Value) -> Result<(Shape, LifecycleEvent), String> {
    if value.get("websocket").is_some() {
        decode_tencent(value).map(|event| (Shape::Tencent, event))
    } else if value.pointer("/requestContext/routeKey").is_some() {
        decode_aws(value).map(|event| (Shape::Aws, event))
    } else {
        Err("neither a Tencent (`websocket`) nor an AWS (`requestContext.routeKey`) event".into())
    }
}

fn decode_tencent(value: &Value) -> Result<LifecycleEvent, String> {
    let kind = match text(value, "/websocket/action").as_deref() {
        Some("connecting") => EventKind::Connect,
        Some("data send") => EventKind::Message {
            route: "$default".into(),
        },
        Some("closing") => EventKind::Disconnect {
            status_code: 1005,
            reason: String::new(),
        },
        other => return Err(format!("unknown websocket.action {other:?}")),
    };
    let binary = text(value, "/websocket/dataType").as_deref() == Some("binary");
    let connection = ConnectionInfo {
        id: text(value, "/websocket/secConnectionID").ok_or("missing websocket.secConnectionID")?,
        source_ip: text(value, "/requestContext/sourceIp").unwrap_or_default(),
        push_url: text(value, "/requestContext/pushUrl").unwrap_or_default(),
        headers: pairs(value.get("headers")),
        query: pairs(value.get("queryString")),
        protocols: text(value, "/websocket/secWebSocketProtocol"),
        extensions: text(value, "/websocket/secWebSocketExtensions"),
        ..ConnectionInfo::default()
    };
    Ok(LifecycleEvent {
        kind,
        request_id: text(value, "/requestContext/requestId").unwrap_or_default(),
        at_ms: 0,
        payload: payload(text(value, "/websocket/data"), binary)?,
        connection: Arc::new(connection),
    })
}

fn decode_aws(value: &Value) -> Result<LifecycleEvent, String> {
    let route = text(value, "/requestContext/routeKey").unwrap_or_default();
    let kind = match route.as_str() {
        "$connect" => EventKind::Connect,
        "$disconnect" => EventKind::Disconnect {
            status_code: value
                .pointer("/requestContext/disconnectStatusCode")
                .and_then(Value::as_u64)
                .and_then(|code| u16::try_from(code).ok())
                .unwrap_or(1005),
            reason: text(value, "/requestContext/disconnectReason").unwrap_or_default(),
        },
        _ => EventKind::Message { route },
    };
    let push_url = text(value, "/requestContext/pushUrl")
        .or_else(|| text(value, "/requestContext/domainName").map(|d| format!("http://{d}")))
        .unwrap_or_default();
    let binary = value
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let connection = ConnectionInfo {
        id: text(value, "/requestContext/connectionId")
            .ok_or("missing requestContext.connectionId")?,
        source_ip: text(value, "/requestContext/identity/sourceIp").unwrap_or_default(),
        user_agent: text(value, "/requestContext/identity/userAgent"),
        connected_at_ms: value
            .pointer("/requestContext/connectedAt")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        push_url,
        headers: pairs(value.get("headers")),
        query: pairs(value.get("queryStringParameters")),
        ..ConnectionInfo::default()
    };
    Ok(LifecycleEvent {
        kind,
        request_id: text(value, "/requestContext/requestId").unwrap_or_default(),
        at_ms: value
            .pointer("/requestContext/requestTimeEpoch")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        payload: payload(text(value, "/body"), binary)?,
        connection: Arc::new(connection),
    })
}

/// How the chat answers in `shape`: the HTTP status and the JSON body of the function's
/// answer. A reply that closes the connection becomes a non-200 on Tencent (which closes
/// it); on AWS, whose message answers cannot close, the caller closes it through the push
/// API before answering.
pub fn answer(shape: Shape, event: &LifecycleEvent, reply: &Reply) -> (u16, Value) {
    match shape {
        Shape::Tencent => match event.kind {
            EventKind::Connect if reply.accepts() => {
                let mut websocket = json!({
                    "action": "connecting",
                    "secConnectionID": event.connection_id(),
                });
                if let Some(protocol) = &reply.subprotocol {
                    websocket["secWebSocketProtocol"] = json!(protocol);
                }
                (
                    200,
                    json!({"errNo": 0, "errMsg": "ok", "websocket": websocket}),
                )
            }
            EventKind::Connect => (
                200,
                json!({"errNo": reply.status, "errMsg": "connection refused"}),
            ),
            _ if reply.close.is_some() => (
                reply.status.max(400),
                json!({"errNo": reply.status, "errMsg": "closing"}),
            ),
            _ => (200, json!({"errNo": 0, "errMsg": "ok"})),
        },
        Shape::Aws => {
            let mut body = json!({ "statusCode": reply.status });
            if let Some(protocol) = &reply.subprotocol {
                body["headers"] = json!({ "Sec-WebSocket-Protocol": protocol });
            }
            (200, body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tencent_events_as_the_docs_show_them() {
        let register = json!({"requestContext": {"serviceName": "svc", "path": "/ws",
            "httpMethod": "GET", "requestId": "r1", "sourceIp": "10.0.2.14", "stage": "release",
            "websocketEnable": true, "pushUrl": "http://127.0.0.1:8081"},
            "websocket": {"action": "connecting", "secConnectionID": "abc",
            "secWebSocketProtocol": "chat,binary"}, "queryString": {"room": "r"}});
        let (shape, event) = decode(&register).unwrap();
        assert_eq!(shape, Shape::Tencent);
        assert_eq!(event.kind, EventKind::Connect);
        assert_eq!(event.connection.query("room"), Some("r"));
        assert_eq!(event.connection.push_url, "http://127.0.0.1:8081");
        let transport = json!({"websocket": {"action": "data send", "secConnectionID": "abc",
            "dataType": "binary", "data": "AAEC"}});
        let (_, event) = decode(&transport).unwrap();
        assert_eq!(event.payload, Some(Payload::Binary(vec![0, 1, 2])));
        let (status, body) = answer(
            Shape::Tencent,
            &event,
            &Reply::status(410).closing(4410, "x"),
        );
        assert_eq!((status, body["errNo"].as_u64()), (410, Some(410)));
    }

    #[test]
    fn aws_events_as_lambda_gets_them() {
        let disconnect = json!({"requestContext": {"routeKey": "$disconnect",
            "eventType": "DISCONNECT", "connectionId": "c1", "domainName": "127.0.0.1:8081",
            "stage": "production", "disconnectStatusCode": 1001, "disconnectReason": "bye",
            "identity": {"sourceIp": "127.0.0.1"}}, "isBase64Encoded": false});
        let (shape, event) = decode(&disconnect).unwrap();
        assert_eq!(shape, Shape::Aws);
        assert_eq!(
            event.kind,
            EventKind::Disconnect {
                status_code: 1001,
                reason: "bye".into()
            }
        );
        assert_eq!(event.connection.push_url, "http://127.0.0.1:8081");
        let (status, body) = answer(Shape::Aws, &event, &Reply::ok());
        assert_eq!((status, body["statusCode"].as_u64()), (200, Some(200)));
    }

    #[test]
    fn malformed_events_are_errors() {
        for bad in [
            json!({}),
            json!({"websocket": {"action": "dance"}}),
            json!({"websocket": {"action": "closing"}}),
            json!({"requestContext": {"routeKey": "$default"}}),
        ] {
            assert!(decode(&bad).is_err(), "{bad}");
        }
    }
}
