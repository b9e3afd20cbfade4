//! The lifecycle event a gateway sends to a function, in two wire shapes:
//!
//! - Tencent SCF (API Gateway WebSocket → register / transport / cleanup functions):
//!   `{"websocket":{"action":"connecting"|"data send"|"closing","secConnectionID":…,
//!   "dataType":"text"|"binary","data":…},"requestContext":{…},"queryString":{…}}`;
//! - AWS API Gateway: `{"requestContext":{"routeKey":"$connect"|"$default"|"$disconnect",
//!   "eventType":"CONNECT"|"MESSAGE"|"DISCONNECT","connectionId":…,"domainName":…,
//!   "stage":…,"connectedAt":…,"identity":{"sourceIp":…}},"queryStringParameters":{…},
//!   "body":…,"isBase64Encoded":…}`.
//!
//! Binary data travels base64-encoded in both. Both carry our one extension,
//! `requestContext.pushUrl`: the push-back URL of the node holding the connection.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// Which wire shape a gateway speaks to HTTP functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventShape {
    /// Tencent SCF's `websocket` events (the default).
    #[default]
    Tencent,
    /// AWS API Gateway's `requestContext` events.
    Aws,
}

/// The lifecycle step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A client is connecting (register).
    Connecting,
    /// A client sent a message (transport).
    Message,
    /// A client is gone (cleanup).
    Closing,
}

/// A message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// One lifecycle event, whatever its wire shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// What happened.
    pub action: Action,
    /// The gateway's id for the connection.
    pub connection_id: String,
    /// The room from `?room=`.
    pub room: String,
    /// The client's address, as the gateway saw it.
    pub source_ip: Option<String>,
    /// Push-back URL of the node holding the connection.
    pub push_url: String,
    /// When the connection was accepted, epoch ms.
    pub connected_at_ms: u64,
    /// The message, for `Message`.
    pub payload: Option<Payload>,
}

/// Why an event body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed lifecycle event: {0}")]
pub struct EventError(pub String);

fn text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl LifecycleEvent {
    /// The event as JSON in `shape`.
    pub fn to_json(&self, shape: EventShape) -> Value {
        let (data_type, data) = match &self.payload {
            Some(Payload::Text(t)) => ("text", Some(t.clone())),
            Some(Payload::Binary(b)) => ("binary", Some(STANDARD.encode(b))),
            None => ("text", None),
        };
        match shape {
            EventShape::Tencent => json!({
                "websocket": {
                    "action": match self.action {
                        Action::Connecting => "connecting",
                        Action::Message => "data send",
                        Action::Closing => "closing",
                    },
                    "secConnectionID": self.connection_id,
                    "dataType": data_type,
                    "data": data,
                },
                "requestContext": {
                    "sourceIp": self.source_ip,
                    "pushUrl": self.push_url,
                    "connectedAt": self.connected_at_ms,
                },
                "queryString": { "room": self.room },
            }),
            EventShape::Aws => {
                let (route, kind) = match self.action {
                    Action::Connecting => ("$connect", "CONNECT"),
                    Action::Message => ("$default", "MESSAGE"),
                    Action::Closing => ("$disconnect", "DISCONNECT"),
                };
                let domain = self
                    .push_url
                    .split("://")
                    .nth(1)
                    .unwrap_or(&self.push_url)
                    .to_owned();
                json!({
                    "requestContext": {
                        "routeKey": route,
                        "eventType": kind,
                        "connectionId": self.connection_id,
                        "domainName": domain,
                        "stage": "",
                        "connectedAt": self.connected_at_ms,
                        "identity": { "sourceIp": self.source_ip },
                        "pushUrl": self.push_url,
                    },
                    "queryStringParameters": { "room": self.room },
                    "body": data,
                    "isBase64Encoded": data_type == "binary",
                })
            }
        }
    }

    /// Reads an event in either shape.
    pub fn from_json(value: &Value) -> Result<Self, EventError> {
        let missing = |what: &str| EventError(format!("missing {what}"));
        let (action, connection_id, room, payload) = if value.get("websocket").is_some() {
            let action = match text(value, "/websocket/action").as_deref() {
                Some("connecting") => Action::Connecting,
                Some("data send") => Action::Message,
                Some("closing") => Action::Closing,
                other => return Err(EventError(format!("unknown websocket.action {other:?}"))),
            };
            let id = text(value, "/websocket/secConnectionID")
                .ok_or_else(|| missing("websocket.secConnectionID"))?;
            let room = text(value, "/queryString/room").unwrap_or_default();
            let binary = text(value, "/websocket/dataType").as_deref() == Some("binary");
            (
                action,
                id,
                room,
                payload(text(value, "/websocket/data"), binary)?,
            )
        } else {
            let action = match text(value, "/requestContext/routeKey").as_deref() {
                Some("$connect") => Action::Connecting,
                Some("$disconnect") => Action::Closing,
                Some(_) => Action::Message,
                None => return Err(missing("websocket or requestContext.routeKey")),
            };
            let id = text(value, "/requestContext/connectionId")
                .ok_or_else(|| missing("requestContext.connectionId"))?;
            let room = text(value, "/queryStringParameters/room").unwrap_or_default();
            let binary = value
                .get("isBase64Encoded")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            (action, id, room, payload(text(value, "/body"), binary)?)
        };
        Ok(LifecycleEvent {
            action,
            connection_id,
            room,
            source_ip: text(value, "/requestContext/sourceIp")
                .or_else(|| text(value, "/requestContext/identity/sourceIp")),
            push_url: text(value, "/requestContext/pushUrl")
                .ok_or_else(|| missing("requestContext.pushUrl"))?,
            connected_at_ms: value
                .pointer("/requestContext/connectedAt")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            payload,
        })
    }
}

fn payload(data: Option<String>, binary: bool) -> Result<Option<Payload>, EventError> {
    match (data, binary) {
        (None, _) => Ok(None),
        (Some(text), false) => Ok(Some(Payload::Text(text))),
        (Some(encoded), true) => STANDARD
            .decode(encoded)
            .map(|bytes| Some(Payload::Binary(bytes)))
            .map_err(|e| EventError(format!("binary data is not base64: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: Action, payload: Option<Payload>) -> LifecycleEvent {
        LifecycleEvent {
            action,
            connection_id: "c1".into(),
            room: "lobby".into(),
            source_ip: Some("127.0.0.1".into()),
            push_url: "http://127.0.0.1:8081".into(),
            connected_at_ms: 42,
            payload,
        }
    }

    #[test]
    fn both_shapes_round_trip() {
        for shape in [EventShape::Tencent, EventShape::Aws] {
            for e in [
                event(Action::Connecting, None),
                event(Action::Message, Some(Payload::Text("hi".into()))),
                event(Action::Message, Some(Payload::Binary(vec![0, 159, 255]))),
                event(Action::Closing, None),
            ] {
                assert_eq!(
                    LifecycleEvent::from_json(&e.to_json(shape)).unwrap(),
                    e,
                    "{shape:?}"
                );
            }
        }
    }

    #[test]
    fn tencent_shape_uses_its_names() {
        let json =
            event(Action::Message, Some(Payload::Text("x".into()))).to_json(EventShape::Tencent);
        assert_eq!(json["websocket"]["action"], "data send");
        assert_eq!(json["websocket"]["secConnectionID"], "c1");
        let aws = event(Action::Closing, None).to_json(EventShape::Aws);
        assert_eq!(aws["requestContext"]["routeKey"], "$disconnect");
        assert_eq!(aws["requestContext"]["eventType"], "DISCONNECT");
    }

    #[test]
    fn malformed_events_are_errors() {
        for bad in [
            json!({}),
            json!({"websocket": {"action": "dance"}}),
            json!({"websocket": {"action": "closing"}}),
        ] {
            assert!(LifecycleEvent::from_json(&bad).is_err(), "{bad}");
        }
    }
}
