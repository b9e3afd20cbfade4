//! Each dialect's reading of an HTTP function's answer (`FunctionCodec::answer`, the entry
//! `chat/tests/hostile.rs`'s `function_answers_never_panic` calls), for every event
//! kind and any status below 500; a register answer that refuses goes on through the
//! handshake's refusal, which must answer a 4xx or 5xx.
//!
//! Input: one byte picks the event kind, two the status (100..=499), the rest is the body.

#![no_main]

use std::sync::Arc;

use gateway::wire;
use gateway::fuzzing::handshake_refusal;
use libfuzzer_sys::fuzz_target;
use lifecycle::{ConnectionInfo, EventKind, LifecycleEvent, Payload};

fn connection() -> Arc<ConnectionInfo> {
    Arc::new(ConnectionInfo {
        id: "c1".into(),
        source_ip: "127.0.0.1".into(),
        user_agent: None,
        connected_at_ms: 0,
        path: "/ws".into(),
        headers: Vec::new(),
        query: Vec::new(),
        protocols: Some("chat, json".into()),
        extensions: None,
        push_url: "http://127.0.0.1:1".into(),
        authorizer: None,
    })
}

fuzz_target!(|data: &[u8]| {
    let [kind, hi, lo, body @ ..] = data else {
        return;
    };
    let status = 100 + u16::from_be_bytes([*hi, *lo]) % 400;
    let (kind, payload) = match kind % 4 {
        0 => (EventKind::Connect, None),
        1 => (
            EventKind::Message {
                route: "$default".into(),
            },
            Some(Payload::Text("x".into())),
        ),
        2 => (
            EventKind::Message {
                route: "sendmessage".into(),
            },
            Some(Payload::Binary(vec![0, 1, 2])),
        ),
        _ => (
            EventKind::Disconnect {
                status_code: 1000,
                reason: "bye".into(),
            },
            None,
        ),
    };
    let connect = matches!(kind, EventKind::Connect);
    let event = LifecycleEvent {
        kind,
        connection: connection(),
        request_id: "r1".into(),
        at_ms: 0,
        payload,
    };
    for name in wire::names() {
        let shapes = wire::by_name(name).unwrap();
        let reply = shapes.answer(&event, status, body);
        if connect && !reply.accepts() {
            let refused = handshake_refusal(&event.connection, reply);
            assert!(
                (400..600).contains(&refused),
                "{name}: refused with {refused}"
            );
        }
    }
});
