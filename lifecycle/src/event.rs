//! The lifecycle event, whatever dialect carries it on the wire.

use std::sync::Arc;

/// A message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

impl Payload {
    /// Its size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Payload::Text(text) => text.len(),
            Payload::Binary(bytes) => bytes.len(),
        }
    }

    /// True when it carries no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the gateway knows of a connection from its handshake; shared by all its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The gateway's id for the connection (unguessable; the push-back API's key).
    pub id: String,
    /// The client's address, as the gateway saw it.
    pub source_ip: String,
    /// The client's `User-Agent`, if it sent one.
    pub user_agent: Option<String>,
    /// When the handshake arrived, epoch ms.
    pub connected_at_ms: u64,
    /// The request path of the handshake (`/ws`).
    pub path: String,
    /// The handshake's headers in arrival order, names lower-case (repeats kept). Only the
    /// connect event carries them all: later events have what [`ConnectionInfo::held`]
    /// keeps (`host`), as AWS's `$disconnect` names the host alone.
    pub headers: Vec<(String, String)>,
    /// The handshake's query parameters, percent-decoded, in order (repeats kept).
    pub query: Vec<(String, String)>,
    /// `Sec-WebSocket-Protocol` as the client sent it, if it did (the connect event only).
    pub protocols: Option<String>,
    /// `Sec-WebSocket-Extensions` as the client sent it, if it did (the connect event only).
    pub extensions: Option<String>,
    /// The push-back URL of the node holding the connection.
    pub push_url: String,
    /// What a `$connect` authorizer allowed the connection with, if one ran (AWS's
    /// `requestContext.authorizer`: `principalId`, its `context`, `integrationLatency`).
    pub authorizer: Option<std::sync::Arc<serde_json::Value>>,
}

impl ConnectionInfo {
    /// The first query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// What a node keeps of the connection once its handshake is answered: all of it but
    /// the headers no later event carries. Every header but `host` goes, and the offered
    /// subprotocols and extensions with them: an idle connection holds its facts for hours,
    /// and a browser's handshake headers are most of them.
    pub fn held(&self) -> ConnectionInfo {
        ConnectionInfo {
            headers: self
                .headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("host"))
                .take(1)
                .cloned()
                .collect(),
            id: self.id.clone(),
            source_ip: self.source_ip.clone(),
            user_agent: self.user_agent.clone(),
            connected_at_ms: self.connected_at_ms,
            path: self.path.clone(),
            query: self.query.clone(),
            protocols: None,
            extensions: None,
            push_url: self.push_url.clone(),
            authorizer: self.authorizer.clone(),
        }
    }

    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The lifecycle step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A client is connecting: the answer decides the handshake (register, `$connect`).
    Connect,
    /// A client sent a frame (transport), routed to `route` (`$default` unless a route
    /// selection expression picked another).
    Message {
        /// The selected route key.
        route: String,
    },
    /// The connection is gone (cleanup, `$disconnect`).
    Disconnect {
        /// The close code (the client's, ours, or 1006 when the socket just died).
        status_code: u16,
        /// Why, in words.
        reason: String,
    },
}

/// One lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// What happened.
    pub kind: EventKind,
    /// The connection it happened to.
    pub connection: Arc<ConnectionInfo>,
    /// A fresh id for this event (AWS `requestId`, Tencent `requestId`).
    pub request_id: String,
    /// When the gateway saw it, epoch ms.
    pub at_ms: u64,
    /// The frame, for [`EventKind::Message`].
    pub payload: Option<Payload>,
}

impl LifecycleEvent {
    /// The connection's id.
    pub fn connection_id(&self) -> &str {
        &self.connection.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_facts_keep_the_host_and_drop_the_other_handshake_headers() {
        let handshake = ConnectionInfo {
            id: "c1".into(),
            source_ip: "10.0.0.7".into(),
            user_agent: Some("browser/1".into()),
            connected_at_ms: 7,
            path: "/ws".into(),
            headers: vec![
                ("cookie".into(), "a=1".into()),
                ("host".into(), "chat.example".into()),
                ("user-agent".into(), "browser/1".into()),
                ("host".into(), "a second host".into()),
            ],
            query: vec![("room".into(), "lobby".into())],
            protocols: Some("chat".into()),
            extensions: Some("permessage-deflate".into()),
            push_url: "http://127.0.0.1:8081".into(),
            authorizer: Some(Arc::new(serde_json::json!({"principalId": "me"}))),
        };
        let kept = ConnectionInfo {
            headers: vec![("host".into(), "chat.example".into())],
            protocols: None,
            extensions: None,
            ..handshake.clone()
        };
        let held = handshake.held();
        assert_eq!(held, kept, "all but the other headers is kept");
        assert_eq!(held.header("HOST"), Some("chat.example"));
        assert_eq!(held.query("room"), Some("lobby"));
    }
}
