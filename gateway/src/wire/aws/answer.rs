//! What a Lambda proxy answer means: `{"statusCode": …, "headers": {…}, "body": …}`.
//!
//! On `$connect`, a non-2xx `statusCode` refuses the handshake with that status and
//! `headers["Sec-WebSocket-Protocol"]` picks the subprotocol. On a message route, the body
//! is the route response (sent back only with route responses on). An answer with no
//! `statusCode` (a handler returning nothing) takes the runner's HTTP status.

use lifecycle::{EventKind, LifecycleEvent, Payload, Reply};
use serde_json::Value;

/// The reply an answer with HTTP `status` and `body` makes.
pub fn decode(event: &LifecycleEvent, status: u16, body: &[u8]) -> Reply {
    let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let status = answer
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .unwrap_or(status);
    let mut reply = Reply::status(status);
    match event.kind {
        EventKind::Connect => {
            reply.subprotocol = answer
                .get("headers")
                .and_then(Value::as_object)
                .and_then(|headers| {
                    headers
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-protocol"))
                })
                .and_then(|(_, value)| value.as_str())
                .map(str::to_owned);
            reply.frame = answer
                .get("body")
                .and_then(Value::as_str)
                .map(|text| Payload::Text(text.to_owned()));
        }
        EventKind::Message { .. } => {
            reply.frame = match answer.get("body") {
                Some(Value::String(text)) => Some(Payload::Text(text.clone())),
                Some(Value::Null) | None => None,
                Some(other) => Some(Payload::Text(other.to_string())),
            };
        }
        EventKind::Disconnect { .. } => {}
    }
    reply
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn event(kind: EventKind) -> LifecycleEvent {
        LifecycleEvent {
            kind,
            connection: Arc::default(),
            request_id: String::new(),
            at_ms: 0,
            payload: None,
        }
    }

    #[test]
    fn status_code_decides_and_headers_pick_the_protocol() {
        let connect = event(EventKind::Connect);
        assert_eq!(decode(&connect, 200, br#"{"statusCode": 403}"#).status, 403);
        assert!(decode(&connect, 200, b"null").accepts());
        assert!(decode(&connect, 200, b"").accepts());
        let chosen = decode(
            &connect,
            200,
            br#"{"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "chat"}}"#,
        );
        assert_eq!(chosen.subprotocol.as_deref(), Some("chat"));
        let message = event(EventKind::Message {
            route: "$default".into(),
        });
        let answered = decode(
            &message,
            200,
            br#"{"statusCode": 200, "body": "Data sent."}"#,
        );
        assert_eq!(answered.frame, Some(Payload::Text("Data sent.".into())));
    }
}
