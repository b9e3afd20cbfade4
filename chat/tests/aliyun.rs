//! Alibaba API Gateway's bidirectional channel, with a client written in Python that speaks
//! only the documented frames (`tests/clouds/aliyun_client.py`): binding a device, the
//! register API call, heartbeats, notifications from the chat and from the notify API,
//! unregister, a duplicate device, a bad device id, a client killed without unregister —
//! and mixed rooms: its chat lines reach plain WebSocket clients and back. Once with the
//! chat linked in (API calls as events), once with the chat's HTTP functions as the
//! Alibaba backends (API calls forwarded with `x-ca-deviceid`).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use store_core::RoomName;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

mod common;

use common::python::{python, script};
use common::ws::{Ws, connect_room, next_of, send_text};

const LEASE: Duration = Duration::from_secs(2);

/// One Python client, driven a command at a time; killed (by its PID) when dropped.
struct Device {
    /// The process.
    _child: Child,
    /// Commands.
    stdin: ChildStdin,
    /// Answers, one JSON line each.
    lines: Lines<BufReader<ChildStdout>>,
}

impl Device {
    async fn start() -> Device {
        let mut child = Command::new(python())
            .arg(script("aliyun_client.py"))
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} (set TEST_PYTHON): {e}", python()));
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Device {
            _child: child,
            stdin,
            lines,
        }
    }

    async fn ask(&mut self, command: &str) -> Value {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .unwrap();
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("`{command}`: the client did not answer"))
            .unwrap()
            .unwrap_or_else(|| panic!("`{command}`: the client exited"));
        let answer: Value = serde_json::from_str(&line).unwrap();
        assert!(answer.get("error").is_none(), "`{command}`: {answer}");
        answer
    }

    /// Opens `url` and binds `device`; the credential.
    async fn bind(&mut self, url: &str, device: &str) -> String {
        assert_eq!(self.ask(&format!("open {url}")).await["open"], true);
        let bound = self.ask(&format!("bind {device}")).await;
        bound["ro"][0].as_str().expect("RO#").to_owned()
    }

    /// The next notification, as JSON.
    async fn notified(&mut self) -> Value {
        let nf = self.ask("notification").await;
        serde_json::from_str(nf["nf"].as_str().unwrap()).unwrap_or(nf["nf"].clone())
    }

    /// The next notification that is not the chat's join or leave notice, as sent. The
    /// chat gathers those for a window (`presence`), so they may come after later
    /// frames: after a chat line the test already read, before a push it waits for.
    async fn pushed(&mut self) -> Value {
        loop {
            let nf = self.ask("notification").await["nf"].clone();
            let notice = nf
                .as_str()
                .and_then(|text| serde_json::from_str::<Value>(text).ok());
            if !notice.is_some_and(|notice| notice["type"] == "join" || notice["type"] == "leave") {
                return nf;
            }
        }
    }

    /// The next chat notification's text, skipping join/leave notices.
    async fn chat_line(&mut self) -> String {
        loop {
            let nf = self.notified().await;
            if nf["type"] == "chat" {
                return nf["text"].as_str().unwrap().to_owned();
            }
        }
    }

    async fn kill(mut self) {
        let _ = self.stdin.write_all(b"kill\n").await;
        let _ = self._child.wait().await;
    }
}

/// The next chat line a plain client gets.
async fn chat_line(ws: &mut Ws) -> String {
    next_of(ws, "chat").await["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn settings(config: &mut common::Setup) {
    config.aliyun.enabled = true;
    config.aliyun.lease = LEASE;
    config.aliyun.keepalive = Duration::from_millis(1500);
}

/// Waits (bounded) until `room` counts `want` live connections.
async fn count_becomes(
    store: &Arc<dyn store_core::ConnectionStore>,
    room: &str,
    want: u64,
    within: Duration,
) {
    let room = RoomName::new(room).unwrap();
    let deadline = Instant::now() + within;
    loop {
        let count = store.count(&room).await.unwrap();
        if count == want {
            return;
        }
        assert!(Instant::now() < deadline, "{count} online, wanted {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alibaba_device_chats_with_plain_clients() {
    let node = common::start_with(settings).await;
    let http = reqwest::Client::new();
    let notify = format!("http://{}/aliyun/notify", node.push);
    let channel = format!("ws://{}/aliyun?room=mixed", node.app);
    let mut plain_a = connect_room(node.app, "mixed").await;

    // RG# → RO#<credential>#<keepalive ms>; the register API call answers 200 with the
    // call's x-ca-seq, and the chat's welcome arrives as NF#.
    let mut device = Device::start().await;
    assert_eq!(device.ask(&format!("open {channel}")).await["open"], true);
    let bound = device.ask("bind dev1@app").await;
    assert_eq!(bound["ro"][1], 1500);
    let credential = bound["ro"][0].as_str().unwrap().to_owned();
    let registered = device.ask("call REGISTER /register").await;
    assert_eq!(registered["status"], 200);
    assert_eq!(registered["header"]["x-ca-seq"], "0");
    let welcome = device.notified().await;
    assert_eq!(
        (welcome["type"].as_str(), welcome["online"].as_u64()),
        (Some("welcome"), Some(2))
    );
    assert_eq!(device.ask("heartbeat").await["ho"], credential.as_str());

    // Mixed room, both ways.
    let sent = device.ask("call COMMON /chat hello from aliyun").await;
    assert_eq!(sent["status"], 200);
    assert_eq!(chat_line(&mut plain_a).await, "hello from aliyun");
    send_text(&mut plain_a, "hello device").await;
    assert_eq!(device.chat_line().await, "hello device");

    // The notify API: the named device only; an unknown one is 410 with Alibaba's header.
    let mut other = Device::start().await;
    other.bind(&channel, "dev2@app").await;
    let pushed = http
        .post(&notify)
        .header("x-ca-deviceid", "dev1@app")
        .body("direct")
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status().as_u16(), 200);
    assert_eq!(device.pushed().await, "direct");
    let offline = http
        .post(&notify)
        .header("x-ca-deviceid", "nobody@app")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(offline.status().as_u16(), 410);
    assert!(offline.headers().contains_key("x-ca-error-message"));
    let batch: Value = http
        .post(&notify)
        .header("x-ca-deviceid", "dev1@app, dev2@app, nobody@app")
        .body("to all")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(batch["results"]["dev1@app"], "sent");
    assert_eq!(batch["results"]["nobody@app"], "gone");
    assert_eq!(device.pushed().await, "to all");
    assert_eq!(other.pushed().await, "to all");

    // A bad device id is RF#; a second connection of dev2 (at `/`, where Alibaba's Java SDK
    // connects) replaces the first, which gets CR.
    let mut bad = Device::start().await;
    assert_eq!(bad.ask(&format!("open {channel}")).await["open"], true);
    assert!(
        bad.ask("bind bad/id").await["rf"]
            .as_str()
            .unwrap()
            .contains("device id")
    );
    let mut again = Device::start().await;
    again
        .bind(&format!("ws://{}/?room=mixed", node.app), "dev2@app")
        .await;
    let closed = other.ask("closed").await;
    assert!(
        closed["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "CR"),
        "{closed}"
    );

    // Unregister: no more notifications, out of the room.
    count_becomes(&node.store, "mixed", 3, Duration::from_secs(5)).await;
    assert_eq!(
        device.ask("call UNREGISTER /unregister").await["status"],
        200
    );
    let after = http
        .post(&notify)
        .header("x-ca-deviceid", "dev1@app")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(after.status().as_u16(), 410);
    count_becomes(&node.store, "mixed", 2, Duration::from_secs(5)).await;

    // Killed without unregister: out of the count within the lease.
    again.kill().await;
    count_becomes(&node.store, "mixed", 1, LEASE + Duration::from_secs(3)).await;

    // H1 renews a bound device's lease: heartbeating, it outlives its 2 s lease.
    let mut beating = Device::start().await;
    beating
        .bind(&format!("ws://{}/aliyun?room=beat", node.app), "dev3@app")
        .await;
    let room = RoomName::new("beat").unwrap();
    let bound_at = Instant::now();
    while bound_at.elapsed() < LEASE * 2 {
        tokio::time::sleep(LEASE / 4).await;
        beating.ask("heartbeat").await;
    }
    assert_eq!(
        node.store.count(&room).await.unwrap(),
        1,
        "the heartbeats kept it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_as_alibaba_backend_gets_calls_with_the_device_id() {
    // The chat's HTTP functions, as an Alibaba backend, over the node's own store.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = format!("http://{}", listener.local_addr().unwrap());
    let node = common::start_with(|config| {
        settings(config);
        config.aliyun.register_url = Some(format!("{backend}/aliyun/register"));
        config.aliyun.unregister_url = Some(format!("{backend}/aliyun/unregister"));
        config.aliyun.api_url = Some(backend.clone());
    })
    .await;
    let functions = common::chat(node.store.clone(), None);
    tokio::spawn(async move { axum::serve(listener, chat::server::router(functions)).await });

    let mut plain_a = connect_room(node.app, "lobby").await;
    let mut device = Device::start().await;
    device
        .bind(&format!("ws://{}/aliyun", node.app), "dev9@app")
        .await;
    assert_eq!(device.ask("call REGISTER /register").await["status"], 200);
    assert_eq!(device.notified().await["type"], "welcome");
    assert_eq!(
        device.ask("call COMMON /aliyun/chat via the backend").await["status"],
        200
    );
    assert_eq!(chat_line(&mut plain_a).await, "via the backend");
    send_text(&mut plain_a, "back to the device").await;
    assert_eq!(device.chat_line().await, "back to the device");
    // An API no backend route serves is the backend's 404, passed through.
    assert_eq!(device.ask("call COMMON /elsewhere x").await["status"], 404);
    assert_eq!(
        device.ask("call UNREGISTER /unregister").await["status"],
        200
    );
    count_becomes(&node.store, "lobby", 1, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_to_another_node_reaches_the_device_through_the_store() {
    let holder = common::start_with(settings).await;
    let store = holder.store.clone();
    let other = common::start_with(move |config| {
        settings(config);
        config.presence = Some(store);
    })
    .await;
    let mut device = Device::start().await;
    device
        .bind(&format!("ws://{}/aliyun", holder.app), "roaming@app")
        .await;
    let http = reqwest::Client::new();
    let via_other = http
        .post(format!("http://{}/aliyun/notify", other.push))
        .header("x-ca-deviceid", "roaming@app")
        .body("through the other node")
        .send()
        .await
        .unwrap();
    assert_eq!(via_other.status().as_u16(), 200);
    assert_eq!(
        device.ask("notification").await["nf"],
        "through the other node"
    );
    // Once the device is gone, neither node finds it.
    device.kill().await;
    count_becomes(&holder.store, "lobby", 0, LEASE + Duration::from_secs(3)).await;
    let gone = http
        .post(format!("http://{}/aliyun/notify", other.push))
        .header("x-ca-deviceid", "roaming@app")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_the_channel_does_not_serve_it() {
    let node = common::start_with(|_| {}).await;
    for path in ["aliyun", ""] {
        let url = format!("ws://{}/{path}", node.app);
        let refused = tokio_tungstenite::connect_async(url)
            .await
            .expect_err("served");
        assert!(refused.to_string().contains("404"), "/{path}: {refused}");
    }
    let notify = reqwest::Client::new()
        .post(format!("http://{}/aliyun/notify", node.push))
        .header("x-ca-deviceid", "dev@app")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(notify.status().as_u16(), 410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notify_api_answers_at_its_own_path_and_answers_carry_request_ids_and_backend_headers()
{
    // A backend answering every API call with headers of its own, a hop-by-hop one among
    // them, and a repeated one.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = format!("http://{}", listener.local_addr().unwrap());
    let answer = axum::routing::any(|| async {
        (
            axum::response::AppendHeaders([("set-cookie", "a=1"), ("set-cookie", "b=2")]),
            [("x-backend", "yes"), ("connection", "keep-alive")],
            "from the backend",
        )
    });
    let app = axum::Router::new().fallback(answer);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let node = common::start_with(|config| {
        settings(config);
        config.aliyun.notify_paths = vec!["/notify".to_owned()];
        config.aliyun.api_url = Some(backend.clone());
    })
    .await;
    let mut device = Device::start().await;
    device
        .bind(&format!("ws://{}/aliyun", node.app), "paths@app")
        .await;

    let called = device.ask("call COMMON /anything x").await;
    assert_eq!(called["status"], 200);
    assert_eq!(called["body"], "from the backend");
    let header = &called["header"];
    assert_eq!(header["x-backend"], "yes", "{called}");
    assert_eq!(header["set-cookie"], "a=1,b=2", "{called}");
    assert!(header.get("connection").is_none(), "{called}");
    assert!(
        header["x-ca-request-id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{called}"
    );

    // The notify API at the path Alibaba users give it, and still at /aliyun/notify.
    let http = reqwest::Client::new();
    for path in ["notify", "aliyun/notify"] {
        let pushed = http
            .post(format!("http://{}/{path}", node.push))
            .header("x-ca-deviceid", "paths@app")
            .body(format!("via /{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(pushed.status().as_u16(), 200, "/{path}");
        assert!(pushed.headers().contains_key("x-ca-request-id"), "/{path}");
        assert_eq!(
            device.ask("notification").await["nf"],
            format!("via /{path}")
        );
    }
    let offline = http
        .post(format!("http://{}/notify", node.push))
        .header("x-ca-deviceid", "nobody@app")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(offline.status().as_u16(), 410);
    assert!(offline.headers().contains_key("x-ca-request-id"));
}
