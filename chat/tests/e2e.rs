//! End to end: a real gateway on loopback ports, real WebSocket clients, the chat functions
//! in-process, connections in SQLite (the embedded default).

use std::sync::Arc;
use std::time::Duration;

use futures::SinkExt;
use gateway::{FunctionMode, HttpRoutes, Limits};
use serde_json::Value;
use store_core::{RoomName, collect_room};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

mod common;

use common::ws::{WAIT, Ws, close_frame, connect_room, next_json, next_of, next_text, say};
use common::{start, start_with};

/// Chats received before the chat `marker` arrives.
async fn chats_until(ws: &mut Ws, marker: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let message = next_of(ws, "chat").await;
        let text = message["text"].as_str().unwrap().to_owned();
        if text == marker {
            return seen;
        }
        seen.push(text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_chat_and_never_hear_themselves() {
    let node = start(Limits::default(), None).await;
    let mut a = connect_room(node.app, "lobby").await;
    let welcome_a = next_of(&mut a, "welcome").await;
    let mut b = connect_room(node.app, "lobby").await;
    let welcome_b = next_of(&mut b, "welcome").await;
    assert_eq!(welcome_b["online"], 2);
    let joined = next_of(&mut a, "join").await;
    assert_eq!(joined["name"], welcome_b["name"]);
    assert_eq!(joined["online"], 2);

    say(&mut a, "hello <b>world</b>").await;
    let got = next_of(&mut b, "chat").await;
    assert_eq!(got["text"], "hello <b>world</b>");
    assert_eq!(got["from"], welcome_a["name"]);
    assert_eq!(got["online"], 2);
    // B's reply is queued for A after anything A's own broadcast could have sent A.
    say(&mut b, "marker").await;
    assert_eq!(chats_until(&mut a, "marker").await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_get_every_message_exactly_once() {
    let node = start(Limits::default(), None).await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        let mut ws = connect_room(node.app, "crowd").await;
        next_of(&mut ws, "welcome").await;
        clients.push(ws);
    }
    assert_eq!(
        node.store
            .count(&RoomName::new("crowd").unwrap())
            .await
            .unwrap(),
        50
    );
    for (i, ws) in clients.iter_mut().enumerate() {
        say(ws, &format!("m{i}")).await;
    }
    for (i, ws) in clients.iter_mut().enumerate() {
        let mut got = Vec::new();
        while got.len() < 49 {
            let message = next_of(ws, "chat").await;
            got.push(message["text"].as_str().unwrap().to_owned());
        }
        got.sort();
        let mut want: Vec<String> = (0..50)
            .filter(|&j| j != i)
            .map(|j| format!("m{j}"))
            .collect();
        want.sort();
        assert_eq!(got, want, "client {i}");
    }
    // Nothing more (no duplicate, no echo) arrives before a final marker.
    say(&mut clients[0], "end").await;
    for (i, ws) in clients.iter_mut().enumerate().skip(1) {
        assert_eq!(
            chats_until(ws, "end").await,
            Vec::<String>::new(),
            "client {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_storm_is_announced_once_per_joiner_and_ends_with_the_exact_count() {
    let node = start(Limits::default(), None).await;
    let mut first = connect_room(node.app, "storm").await;
    let me = next_of(&mut first, "welcome").await["name"].clone();
    // Twenty at once: their notices may come one by one or gathered (`presence`).
    let joiners = futures::future::join_all((0..20).map(|_| async {
        let mut ws = connect_room(node.app, "storm").await;
        let welcome = next_of(&mut ws, "welcome").await;
        (ws, welcome["name"].as_str().unwrap().to_owned())
    }))
    .await;
    let mut expected: Vec<String> = joiners.iter().map(|(_, name)| name.clone()).collect();
    expected.sort();
    // Read until every joiner is announced: a count of 21 alone would stop early, as a
    // window's walk can count a joiner whose notice goes out in the next window.
    let mut announced: Vec<String> = Vec::new();
    let mut online = 0;
    while announced.iter().filter(|name| **name != me).count() < expected.len() {
        let notice = next_json(&mut first).await;
        match notice["type"].as_str().unwrap() {
            "join" => announced.push(notice["name"].as_str().unwrap().to_owned()),
            "presence" => announced.extend(
                notice["joined"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap().to_owned()),
            ),
            other => panic!("unexpected {other}: {notice}"),
        }
        online = notice["online"].as_u64().unwrap();
        assert!(online <= 21, "{notice}");
    }
    // The last notice's window came after every joiner's record was written.
    assert_eq!(online, 21, "the count the storm ends with");
    // A gathered notice may name its recipient too (its own join was in the window).
    announced.retain(|name| *name != me);
    announced.sort();
    assert_eq!(announced, expected, "each joiner announced exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_isolated() {
    let node = start(Limits::default(), None).await;
    let mut a1 = connect_room(node.app, "r1").await;
    next_of(&mut a1, "welcome").await;
    let mut a2 = connect_room(node.app, "r1").await;
    next_of(&mut a2, "welcome").await;
    let mut b1 = connect_room(node.app, "r2").await;
    next_of(&mut b1, "welcome").await;
    let mut b2 = connect_room(node.app, "r2").await;
    next_of(&mut b2, "welcome").await;
    say(&mut a1, "secret").await;
    assert_eq!(next_of(&mut a2, "chat").await["text"], "secret");
    say(&mut b2, "marker").await;
    assert_eq!(chats_until(&mut b1, "marker").await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_without_close_frame_leaves_the_online_count() {
    let node = start(Limits::default(), None).await;
    let mut a = connect_room(node.app, "lobby").await;
    next_of(&mut a, "welcome").await;
    let mut b = connect_room(node.app, "lobby").await;
    next_of(&mut b, "welcome").await;
    // Drop B's TCP connection with no close frame.
    drop(b);
    let left = next_of(&mut a, "leave").await;
    assert_eq!(left["online"], 1);
    assert_eq!(
        node.store
            .count(&RoomName::new("lobby").unwrap())
            .await
            .unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_keep_an_answering_client_and_close_a_silent_one() {
    use futures::StreamExt;
    let limits = Limits {
        ping_interval: Duration::from_millis(200),
        ..Limits::default()
    };
    let node = start(limits, None).await;
    // A WebSocket library answers each ping as it reads: read for a while, it stays.
    let mut live = connect_room(node.app, "pings").await;
    next_of(&mut live, "welcome").await;
    let reader = tokio::spawn(async move {
        let until = tokio::time::Instant::now() + Duration::from_millis(1500);
        let mut pings = 0;
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, live.next()).await {
            match message {
                Message::Ping(_) => pings += 1,
                Message::Close(frame) => panic!("an answering client was closed: {frame:?}"),
                _ => {}
            }
        }
        (live, pings)
    });
    // A client that reads and never answers is pinged twice, then closed (1001).
    let mut silent = common::raw::Raw::connect(node.app, "/ws?room=pings", None).await;
    let mut pings = 0;
    let (code, reason) = loop {
        let (head, payload) = silent
            .read_frame()
            .await
            .expect("the socket ended without a close frame");
        match head & 0x0f {
            0x9 => pings += 1,
            0x8 => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                break (code, String::from_utf8_lossy(&payload[2..]).into_owned());
            }
            _ => {}
        }
    };
    assert_eq!((code, pings), (1001, 2), "{reason}");
    assert!(reason.contains("no pong"), "{reason}");
    let (mut live, live_pings) = reader.await.unwrap();
    assert!(
        live_pings >= 5,
        "{live_pings} pings in 1.5 s at one per 0.2 s"
    );
    live.send(Message::Binary(vec![1].into())).await.unwrap();
    assert!(
        next_of(&mut live, "error").await["message"]
            .as_str()
            .unwrap()
            .contains("binary")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_documented_answers() {
    let limits = Limits {
        max_message_bytes: 1024,
        ..Limits::default()
    };
    let node = start(limits, None).await;
    let mut a = connect_room(node.app, "lobby").await;
    next_of(&mut a, "welcome").await;
    let mut b = connect_room(node.app, "lobby").await;
    next_of(&mut b, "welcome").await;

    // Plain text is a chat line as it stands (websocat, the clouds' sample pages).
    a.send(Message::Text("not json".into())).await.unwrap();
    assert_eq!(next_of(&mut b, "chat").await["text"], "not json");
    a.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert!(
        next_of(&mut a, "error").await["message"]
            .as_str()
            .unwrap()
            .contains("binary")
    );
    // Still usable after both.
    say(&mut a, "still here").await;
    assert_eq!(next_of(&mut b, "chat").await["text"], "still here");

    a.send(Message::Text("x".repeat(2000).into()))
        .await
        .unwrap();
    let (code, _) = close_frame(&mut a).await;
    assert_eq!(code, CloseCode::Size);
    // The other client is unaffected and sees A leave.
    assert_eq!(next_of(&mut b, "leave").await["online"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_size_messages_pass_the_small_default_socket_buffers() {
    // A 1 KiB read buffer by default; the 128 KiB message limit still holds both ways.
    let limits = Limits::default();
    assert!(limits.read_buffer_bytes < limits.max_message_bytes / 16);
    let max = limits.max_message_bytes;
    let node = start(limits, None).await;
    let mut a = connect_room(node.app, "big").await;
    next_of(&mut a, "welcome").await;
    let room = RoomName::new("big").unwrap();
    let id = collect_room(node.store.as_ref(), &room, 10).await.unwrap()[0]
        .id
        .clone();

    // Down: a pushed frame of exactly the limit arrives whole.
    let body = "p".repeat(max);
    let url = format!("http://{}/@connections/{}", node.push, id.as_str());
    let pushed = reqwest::Client::new()
        .post(url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status().as_u16(), 200);
    assert_eq!(next_text(&mut a).await, body);

    // Up: a frame of exactly the limit is read whole (the chat answers that binary is not
    // for it), and the connection stays; one byte more closes it with 1009.
    a.send(Message::Binary(vec![7u8; max].into()))
        .await
        .unwrap();
    assert!(
        next_of(&mut a, "error").await["message"]
            .as_str()
            .unwrap()
            .contains("binary")
    );
    a.send(Message::Binary(vec![7u8; max + 1].into()))
        .await
        .unwrap();
    let (code, _) = close_frame(&mut a).await;
    assert_eq!(code, CloseCode::Size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_api_answers_bad_bodies_and_unknown_ids() {
    let node = start(Limits::default(), None).await;
    let mut a = connect_room(node.app, "lobby").await;
    next_of(&mut a, "welcome").await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", node.push);
    let status = |r: reqwest::Response| r.status().as_u16();

    assert_eq!(
        status(
            http.post(format!("{base}/batch"))
                .body("{")
                .send()
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            http.post(format!("{base}/batch"))
                .body(r#"{"ids":["x"],"data":"%%","dataType":"binary"}"#)
                .send()
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            http.post(format!("{base}/"))
                .body(r#"{"websocket":{"action":"dance","secConnectionID":"x"}}"#)
                .send()
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            http.post(format!("{base}/@connections/nobody"))
                .body("hi")
                .send()
                .await
                .unwrap()
        ),
        410
    );
    assert_eq!(
        status(
            http.get(format!("{base}/@connections/nobody"))
                .send()
                .await
                .unwrap()
        ),
        410
    );
    assert_eq!(
        status(
            http.delete(format!("{base}/@connections/nobody"))
                .send()
                .await
                .unwrap()
        ),
        410
    );

    // A live connection: describe it, push to it (AWS and Tencent shapes), then close it.
    let members = collect_room(node.store.as_ref(), &RoomName::new("lobby").unwrap(), 10)
        .await
        .unwrap();
    let id = members[0].id.as_str().to_owned();
    let described: Value = http
        .get(format!("{base}/@connections/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(described["identity"]["sourceIp"], "127.0.0.1");
    // ISO-8601 in UTC, as AWS answers GetConnection.
    let connected_at = described["connectedAt"].as_str().unwrap();
    assert!(
        connected_at.ends_with('Z') && connected_at.len() == 24,
        "{connected_at}"
    );
    let pushed = http
        .post(format!("{base}/@connections/{id}"))
        .body(r#"{"type":"chat","from":"ops","text":"aws push","at":1,"online":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status().as_u16(), 200);
    assert_eq!(next_of(&mut a, "chat").await["text"], "aws push");
    let tencent = serde_json::json!({"websocket": {"action": "data send", "secConnectionID": id,
        "dataType": "text", "data": r#"{"type":"chat","from":"ops","text":"tencent push","at":1,"online":1}"#}});
    assert_eq!(
        status(
            http.post(format!("{base}/"))
                .json(&tencent)
                .send()
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(next_of(&mut a, "chat").await["text"], "tencent push");
    assert_eq!(
        status(
            http.delete(format!("{base}/@connections/{id}"))
                .send()
                .await
                .unwrap()
        ),
        204
    );
    let (code, _) = close_frame(&mut a).await;
    assert_eq!(code, CloseCode::Normal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_register_function_refuses_the_handshake_with_502() {
    let functions = FunctionMode::Http {
        routes: HttpRoutes::lifecycle(
            "http://127.0.0.1:9/register",
            "http://127.0.0.1:9/transport",
            "http://127.0.0.1:9/cleanup",
        ),
        dialect: &gateway::wire::tencent::Tencent,
        route_responses: false,
    };
    let node = start(Limits::default(), Some(functions)).await;
    let err = tokio_tungstenite::connect_async(format!("ws://{}/ws?room=lobby", node.app))
        .await
        .expect_err("the handshake succeeded without a register function");
    assert!(err.to_string().contains("502"), "{err}");
}

#[tokio::test]
async fn bad_rooms_are_refused_before_upgrade() {
    let node = start(Limits::default(), None).await;
    let err = tokio_tungstenite::connect_async(format!("ws://{}/ws?room=a/b", node.app))
        .await
        .expect_err("a bad room was accepted");
    assert!(err.to_string().contains("400"), "{err}");
    let page = reqwest::get(format!("http://{}/", node.app)).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("textContent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_refuses_new_connections_with_503() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let node = start(limits, None).await;
    let mut a = connect_room(node.app, "lobby").await;
    next_of(&mut a, "welcome").await;
    let mut b = connect_room(node.app, "lobby").await;
    next_of(&mut b, "welcome").await;
    let err = tokio_tungstenite::connect_async(format!("ws://{}/ws?room=lobby", node.app))
        .await
        .expect_err("a third connection was accepted");
    assert!(err.to_string().contains("503"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_closes_clients_and_cleans_the_store() {
    let mut node = start(Limits::default(), None).await;
    let mut a = connect_room(node.app, "lobby").await;
    next_of(&mut a, "welcome").await;
    let mut b = connect_room(node.app, "lobby").await;
    next_of(&mut b, "welcome").await;
    node.stop();
    assert_eq!(close_frame(&mut a).await.0, CloseCode::Away);
    assert_eq!(close_frame(&mut b).await.0, CloseCode::Away);
    // Cleanups run before the node reports stopped.
    node.stopped().await;
    assert_eq!(
        node.store
            .count(&RoomName::new("lobby").unwrap())
            .await
            .unwrap(),
        0
    );
}

/// A register that waits to be let go, telling when it starts and which cleanups ran.
#[derive(Debug)]
struct HeldRegister {
    /// Told when a register starts.
    started: tokio::sync::mpsc::UnboundedSender<()>,
    /// Lets the registers go.
    release: Arc<tokio::sync::Notify>,
    /// Told each cleanup's close code and reason.
    cleaned: tokio::sync::mpsc::UnboundedSender<(u16, String)>,
}

#[async_trait::async_trait]
impl lifecycle::App for HeldRegister {
    async fn handle(
        &self,
        event: &lifecycle::LifecycleEvent,
    ) -> Result<lifecycle::Reply, lifecycle::AppError> {
        match &event.kind {
            lifecycle::EventKind::Connect => {
                let release = self.release.notified();
                let _ = self.started.send(());
                release.await;
            }
            lifecycle::EventKind::Disconnect {
                status_code,
                reason,
            } => {
                let _ = self.cleaned.send((*status_code, reason.clone()));
            }
            _ => {}
        }
        Ok(lifecycle::Reply::ok())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_under_way_when_shutdown_begins_is_closed_and_cleaned_up() {
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let (cleaned_tx, mut cleaned) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let app = HeldRegister {
        started: started_tx,
        release: release.clone(),
        cleaned: cleaned_tx,
    };
    let mut node = start(
        Limits::default(),
        Some(FunctionMode::InProcess(Arc::new(app))),
    )
    .await;
    let url = format!("ws://{}/ws", node.app);
    let client = tokio::spawn(async move {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        close_frame(&mut ws).await
    });
    tokio::time::timeout(WAIT, started.recv())
        .await
        .expect("register never started");
    node.stop();
    // The listener is gone once the shutdown has begun.
    tokio::time::timeout(WAIT, async {
        while tokio::net::TcpStream::connect(node.app).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the node kept taking connections");
    // Register accepts after the shutdown began: the connection is closed as the others
    // were, and its cleanup runs before the node reports stopped.
    release.notify_one();
    let (code, reason) = tokio::time::timeout(WAIT, client).await.unwrap().unwrap();
    assert_eq!(
        (code, reason.as_str()),
        (CloseCode::Away, "server shutting down")
    );
    tokio::time::timeout(WAIT, node.stopped())
        .await
        .expect("the node did not stop");
    assert_eq!(
        cleaned.try_recv().unwrap(),
        (1001, "server shutting down".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_renew_the_lease() {
    let node = start(Limits::default(), None).await;
    let mut a = connect_room(node.app, "lobby").await;
    next_of(&mut a, "welcome").await;
    let lobby = RoomName::new("lobby").unwrap();
    let before = collect_room(node.store.as_ref(), &lobby, 10).await.unwrap()[0].expires_at_ms;
    // Wait until the store clock has moved, so a renewed lease is visibly later.
    while store_core::Clock::now_ms(&store_core::SystemClock) <= before - 60_000 + 5 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    a.send(Message::Text(r#"{"type":"heartbeat"}"#.into()))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let now = collect_room(node.store.as_ref(), &lobby, 10).await.unwrap()[0].expires_at_ms;
        if now > before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "heartbeat did not renew the lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_after_the_lease_is_gone_closes_with_4410() {
    let node = start(Limits::default(), None).await;
    let mut a = connect_room(node.app, "lobby").await;
    next_of(&mut a, "welcome").await;
    let lobby = RoomName::new("lobby").unwrap();
    let id = collect_room(node.store.as_ref(), &lobby, 10).await.unwrap()[0]
        .id
        .clone();
    // As if the lease had run out and a sweep had taken the record.
    assert!(node.store.remove(&id).await.unwrap());
    a.send(Message::Text(r#"{"type":"heartbeat"}"#.into()))
        .await
        .unwrap();
    let (code, reason) = close_frame(&mut a).await;
    assert_eq!(code, CloseCode::from(4410), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_token_guards_the_push_api_and_chat_still_works() {
    let node = start_with(|config| config.push_auth.token = Some("s3cret-token".into())).await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", node.push);
    let batch = r#"{"ids":["x"],"data":"hi"}"#;
    let anonymous = http
        .post(format!("{base}/batch"))
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let wrong = http
        .post(format!("{base}/batch"))
        .bearer_auth("guess")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let right = http
        .post(format!("{base}/batch"))
        .bearer_auth("s3cret-token")
        .body(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status().as_u16(), 200);
    // The in-process functions carry the token: a chat still goes through.
    let mut a = connect_room(node.app, "lobby").await;
    next_of(&mut a, "welcome").await;
    let mut b = connect_room(node.app, "lobby").await;
    next_of(&mut b, "welcome").await;
    say(&mut a, "with token").await;
    assert_eq!(next_of(&mut b, "chat").await["text"], "with token");
}

/// Sends `request` as it is on a fresh connection to `addr`; the answer's head.
async fn raw_answer(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(WAIT, tcp.read(&mut byte)).await;
        match read.expect("no answer") {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_answers_as_rfc_6455_says() {
    let node = start(Limits::default(), None).await;
    let handshake = |method: &str, version: &str, extra: &str| {
        format!(
            "{method} /ws?room=rfc HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n"
        )
    };
    // The RFC's own sample key (§1.3) and the accept key it gives for it; the client's
    // offered subprotocols get none chosen (the chat's register names none).
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: chat\r\n";
    // Header names and values in any case.
    let names = |answer: &str, line: &str| answer.to_ascii_lowercase().contains(line);
    let answer = raw_answer(node.app, &handshake("GET", "13", key)).await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    let accept = "sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n";
    assert!(names(&answer, accept), "{answer}");
    assert!(names(&answer, "upgrade: websocket\r\n"), "{answer}");
    assert!(!names(&answer, "sec-websocket-protocol"), "{answer}");

    // Not upgrades: a clear 4xx each, and no session.
    let no_key = raw_answer(node.app, &handshake("GET", "13", "")).await;
    assert!(no_key.starts_with("HTTP/1.1 400"), "{no_key}");
    // A version it does not speak: 426, naming the one it does (§4.2.2).
    let old_version = raw_answer(node.app, &handshake("GET", "8", key)).await;
    assert!(old_version.starts_with("HTTP/1.1 426"), "{old_version}");
    let version = "sec-websocket-version: 13\r\n";
    assert!(names(&old_version, version), "{old_version}");
    let posted = raw_answer(
        node.app,
        &handshake("POST", "13", &format!("{key}Content-Length: 0\r\n")),
    )
    .await;
    assert!(posted.starts_with("HTTP/1.1 405"), "{posted}");
    let plain = raw_answer(node.app, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(plain.starts_with("HTTP/1.1 400"), "{plain}");
}
