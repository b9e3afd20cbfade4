//! One sample event for the dialects' unit tests.

use std::sync::Arc;

use lifecycle::{ConnectionInfo, EventKind, LifecycleEvent, Payload};

/// An event of `kind` for connection `c1`, with repeated headers, a query, two offered
/// subprotocols and known times.
pub fn event(kind: EventKind, payload: Option<Payload>) -> LifecycleEvent {
    LifecycleEvent {
        kind,
        connection: Arc::new(ConnectionInfo {
            id: "c1".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: Some("test/1".into()),
            connected_at_ms: 1_705_751_697_419,
            path: "/ws".into(),
            headers: vec![
                ("host".into(), "h".into()),
                ("x-a".into(), "1".into()),
                ("x-a".into(), "2".into()),
            ],
            query: vec![("room".into(), "lobby".into())],
            protocols: Some("chat,binary".into()),
            extensions: None,
            push_url: "http://127.0.0.1:8081".into(),
            authorizer: None,
        }),
        request_id: "r1".into(),
        at_ms: 1_705_751_700_453,
        payload,
    }
}
