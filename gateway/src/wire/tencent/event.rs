//! The events SCF functions get, and what their answers mean.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lifecycle::{EventKind, LifecycleEvent, Payload, Reply};
use serde_json::{Map, Value, json};

use crate::invoke::InvokeError;
use crate::invoke::NodeInfo;

/// The handshake refusal status for any refused register (Tencent answers 403).
const REFUSED: u16 = 403;

fn object(pairs: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (name, value) in pairs {
        map.entry(name.clone()).or_insert_with(|| json!(value));
    }
    Value::Object(map)
}

/// The event JSON for `event`.
pub fn encode(event: &LifecycleEvent, node: &NodeInfo) -> Value {
    let connection = &event.connection;
    match &event.kind {
        EventKind::Connect => {
            let mut websocket = json!({
                "action": "connecting",
                "secConnectionID": connection.id,
            });
            if let Some(protocols) = &connection.protocols {
                websocket["secWebSocketProtocol"] = json!(protocols);
            }
            if let Some(extensions) = &connection.extensions {
                websocket["secWebSocketExtensions"] = json!(extensions);
            }
            json!({
                "requestContext": {
                    "serviceName": node.api_id,
                    "path": connection.path,
                    "httpMethod": "GET",
                    "requestId": event.request_id,
                    "identity": {},
                    "sourceIp": connection.source_ip,
                    "stage": node.stage,
                    "websocketEnable": true,
                    "pushUrl": node.push_url,
                },
                "websocket": websocket,
                "headers": object(&connection.headers),
                "queryString": object(&connection.query),
            })
        }
        EventKind::Message { .. } => {
            let (data_type, data) = match &event.payload {
                Some(Payload::Binary(bytes)) => ("binary", STANDARD.encode(bytes)),
                Some(Payload::Text(text)) => ("text", text.clone()),
                None => ("text", String::new()),
            };
            json!({"websocket": {
                "action": "data send",
                "secConnectionID": connection.id,
                "dataType": data_type,
                "data": data,
            }})
        }
        EventKind::Disconnect { .. } => json!({"websocket": {
            "action": "closing",
            "secConnectionID": connection.id,
        }}),
    }
}

/// What an answer with HTTP `status` and `body` means.
pub fn answer(event: &LifecycleEvent, status: u16, body: &[u8]) -> Reply {
    match event.kind {
        EventKind::Connect => {
            if status != 200 {
                return Reply::status(REFUSED);
            }
            let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            if answer.get("errNo").and_then(Value::as_i64) != Some(0) {
                return Reply::status(REFUSED);
            }
            let mut reply = Reply::ok();
            reply.subprotocol = answer
                .pointer("/websocket/secWebSocketProtocol")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .map(str::to_owned);
            reply
        }
        EventKind::Message { .. } => match status {
            200 => Reply::ok(),
            other => Reply::status(other).closing(
                crate::close_code::SERVER_ERROR,
                format!("the transport function answered HTTP {other}"),
            ),
        },
        EventKind::Disconnect { .. } => Reply::status(status),
    }
}

/// A failed transport function drops its client, as Tencent does; other failures keep the
/// gateway's default.
pub fn failed(event: &LifecycleEvent, error: &InvokeError) -> Option<Reply> {
    match event.kind {
        EventKind::Message { .. } => {
            // The details (the function's URL) are for the log, not the client.
            tracing::warn!(id = %event.connection.id, %error, "transport failed");
            Some(Reply::status(502).closing(
                crate::close_code::SERVER_ERROR,
                "the transport function failed",
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sample::event;

    #[test]
    fn events_as_the_docs_show_them() {
        let node = NodeInfo::new("http://127.0.0.1:8081", "release", "svc");
        let register = encode(&event(EventKind::Connect, None), &node);
        assert_eq!(register["requestContext"]["websocketEnable"], true);
        assert_eq!(register["requestContext"]["httpMethod"], "GET");
        assert_eq!(register["websocket"]["action"], "connecting");
        assert_eq!(register["websocket"]["secWebSocketProtocol"], "chat,binary");
        assert!(
            register["websocket"]
                .get("secWebSocketExtensions")
                .is_none()
        );
        let message = EventKind::Message {
            route: "$default".into(),
        };
        let transport = encode(&event(message, Some(Payload::Text("hi".into()))), &node);
        assert_eq!(
            transport,
            json!({"websocket": {"action": "data send", "secConnectionID": "c1",
                "dataType": "text", "data": "hi"}})
        );
    }

    #[test]
    fn err_no_decides_the_register() {
        let connect = event(EventKind::Connect, None);
        let ok = br#"{"errNo":0,"errMsg":"ok","websocket":{"action":"connecting","secConnectionID":"c1","secWebSocketProtocol":"chat"}}"#;
        assert_eq!(
            answer(&connect, 200, ok).subprotocol.as_deref(),
            Some("chat")
        );
        assert!(answer(&connect, 200, ok).accepts());
        assert_eq!(
            answer(&connect, 200, br#"{"errNo":1,"errMsg":"no"}"#).status,
            403
        );
        assert_eq!(answer(&connect, 404, ok).status, 403);
        assert_eq!(answer(&connect, 200, b"{}").status, 403);
        let message = event(
            EventKind::Message {
                route: "$default".into(),
            },
            None,
        );
        assert!(answer(&message, 200, b"").close.is_none());
        assert_eq!(answer(&message, 400, b"").close.unwrap().code, 1011);
        assert_eq!(answer(&message, 410, b"").close.unwrap().code, 1011);
    }
}
