//! What an operator sees of a running node, checked on the real binary: `/metrics` (read
//! by Prometheus's own `promtool`), `/healthz` and `/readyz` (503 while draining), JSON
//! logs that name the connection, and the one-shot `gateway sweep`.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::SinkExt;
use store_core::{
    ConnectionId, ConnectionStore, Endpoint, Metadata, Registration, RoomName, system_clock,
};
use store_sql::{SqliteConfig, SqliteStore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

mod common;

use common::binary::{self, Binary};
use common::ws::{connect, join, next_of, room_url};

/// Starts the gateway binary on ports of its own with `args`, logging at debug; its stderr
/// goes to `stderr`.
fn start(args: &[&str], stderr: Stdio) -> Binary {
    Binary::launch()
        .env("RUST_LOG", "info,gateway=debug")
        .args(args)
        .stderr(stderr)
        .start()
}

/// The samples of a Prometheus text exposition: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

async fn scrape(push: &str) -> String {
    let response = reqwest::get(format!("{push}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    response.text().await.unwrap()
}

/// `promtool check metrics` (Debian's `prometheus` package) reads `text` as Prometheus
/// would and lints it; it must find nothing to say.
fn promtool_accepts(text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`, installed by .ci/run) must be on PATH");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool refused the metrics:\n{}{}\n--- metrics ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_node_did_and_promtool_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let node = start(
        &["--store", &db, "--sweep-interval-secs", "1"],
        Stdio::null(),
    );

    let mut a = join(&room_url(node.app, "opsroom")).await;
    let mut b = join(&room_url(node.app, "opsroom")).await;
    a.send(Message::text("hello")).await.unwrap();
    next_of(&mut b, "chat").await;
    b.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    next_of(&mut a, "leave").await;

    // A sweep runs about every second: wait (bounded) until one is counted.
    let mut text = scrape(&node.push_url()).await;
    for _ in 0..50 {
        if samples(&text)
            .get("wsgw_sweeps_total{outcome=\"ok\"}")
            .is_some_and(|&n| n >= 1.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        text = scrape(&node.push_url()).await;
    }
    promtool_accepts(&text);
    let m = samples(&text);
    let value = |key: &str| {
        *m.get(key)
            .unwrap_or_else(|| panic!("no sample {key} in:\n{text}"))
    };
    assert_eq!(value("wsgw_connections_open"), 1.0);
    assert_eq!(value("wsgw_handshakes_total{outcome=\"accepted\"}"), 2.0);
    assert_eq!(value("wsgw_closes_total{code=\"1000\"}"), 1.0);
    assert_eq!(
        value("wsgw_function_calls_total{function=\"connect\",outcome=\"ok\"}"),
        2.0
    );
    assert_eq!(
        value("wsgw_function_calls_total{function=\"message\",outcome=\"ok\"}"),
        1.0
    );
    assert_eq!(
        value("wsgw_function_calls_total{function=\"disconnect\",outcome=\"ok\"}"),
        1.0
    );
    assert_eq!(
        value("wsgw_function_call_seconds_count{function=\"message\"}"),
        1.0
    );
    // The chat line reached b, and the welcomes, join and leave notices went out.
    assert!(value("wsgw_push_recipients_total{result=\"sent\"}") >= 4.0);
    assert_eq!(
        value("wsgw_store_calls_total{backend=\"sqlite\",op=\"register\",outcome=\"ok\"}"),
        2.0
    );
    assert_eq!(
        value("wsgw_store_calls_total{backend=\"sqlite\",op=\"remove\",outcome=\"ok\"}"),
        1.0
    );
    assert!(value("wsgw_sweeps_total{outcome=\"ok\"}") >= 1.0);
    assert!(value("wsgw_sweep_seconds_count") >= 1.0);
    // Bounded labels: neither the room nor any connection id is a label value.
    assert!(
        !text.contains("opsroom"),
        "a room name leaked into the labels"
    );
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_on_both_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let node = start(&["--store", &db], Stdio::null());
    let (chat, push) = (node.chat_url(), node.push_url());
    for base in [chat.trim_end_matches('/'), push.as_str()] {
        let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
        assert_eq!(health.status(), 200);
        let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
        assert_eq!(ready.status(), 200);
        let body: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(body["ready"], true);
    }
    // Metrics are for the operator's side only.
    let public = reqwest::get(format!("{}metrics", node.chat_url()))
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
}

/// A function server whose cleanup answers only when told to: the node drains meanwhile.
async fn functions_with_held_cleanup() -> (String, tokio::sync::oneshot::Sender<()>) {
    use axum::routing::post;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = std::sync::Arc::new(tokio::sync::Mutex::new(Some(released)));
    let app = axum::Router::new()
        .route(
            "/register",
            post(|| async { axum::Json(serde_json::json!({"errNo": 0})) }),
        )
        .route(
            "/cleanup",
            post(move || {
                let released = released.clone();
                async move {
                    if let Some(released) = released.lock().await.take() {
                        let _ = released.await;
                    }
                    axum::Json(serde_json::json!({"errNo": 0}))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_503_while_the_node_drains() {
    let (functions, release) = functions_with_held_cleanup().await;
    let register = format!("{functions}/register");
    let cleanup = format!("{functions}/cleanup");
    let mut node = start(
        &[
            "--dialect",
            "tencent",
            "--register-url",
            &register,
            "--cleanup-url",
            &cleanup,
        ],
        Stdio::null(),
    );
    let _ws = connect(&format!("ws://{}/ws", node.app)).await;
    let ready = reqwest::get(format!("{}/readyz", node.push_url()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    // SIGTERM (by this child's PID): the node closes the socket and waits for its cleanup,
    // which the function server holds.
    node.signal("-TERM");
    let mut draining = None;
    for _ in 0..100 {
        let ready = reqwest::get(format!("{}/readyz", node.push_url()))
            .await
            .unwrap();
        if ready.status() == 503 {
            draining = Some(ready.json::<serde_json::Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let draining = draining.expect("/readyz never answered 503 while draining");
    assert_eq!(draining["why"], "draining");
    let health = reqwest::get(format!("{}/healthz", node.push_url()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "alive while draining");

    release.send(()).unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let status = node.child.wait().unwrap();
        (status, node)
    })
    .await
    .unwrap()
    .0;
    assert!(status.success(), "the node ended cleanly: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_name_the_connection_on_each_of_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut node = start(&["--store", &db, "--log-format", "json"], Stdio::from(log));
    let mut ws = join(&room_url(node.app, "logs")).await;
    ws.close(None).await.unwrap();
    // The node's answering Close, then the end of the socket: the session is over.
    let ended = tokio::time::timeout(common::ws::WAIT, async {
        while let Some(Ok(_)) = futures::StreamExt::next(&mut ws).await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the node did not end the socket after its Close"
    );
    // Stop it (SIGTERM, by PID) so that everything is written.
    node.signal("-TERM");
    let status = node.child.wait();
    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(lines.iter().any(|l| l["fields"]["message"] == "listening"));
    let closed = lines
        .iter()
        .find(|l| l["fields"]["message"] == "closed")
        .unwrap_or_else(|| panic!("no `closed` line (the node ended: {status:?}) in:\n{text}"));
    let id = closed["span"]["id"]
        .as_str()
        .expect("the connection's span names its id");
    assert!(!id.is_empty());
    assert_eq!(closed["span"]["room"], "logs", "{closed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_command_deletes_expired_records_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let store = SqliteStore::open(SqliteConfig::file(&db).with_clock(system_clock()))
        .await
        .unwrap();
    let room = RoomName::new("cron").unwrap();
    for (id, ttl) in [("gone-1", 1), ("gone-2", 1), ("live", 60_000)] {
        let registration = Registration {
            room: room.clone(),
            endpoint: Endpoint::new("http://node").unwrap(),
            metadata: Metadata::default(),
            ttl: Duration::from_millis(ttl),
        };
        store
            .register(&ConnectionId::new(id).unwrap(), &registration)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let url = format!("sqlite://{}", db.display());
    let run = |url: String| {
        binary::command()
            .args(["sweep", "--store", &url])
            .output()
            .unwrap()
    };
    let out = run(url.clone());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("swept 2 expired record(s)"), "{said}");
    assert_eq!(store.count(&room).await.unwrap(), 1);
    assert_eq!(store.sweep().await.unwrap(), 0, "nothing expired was left");

    let out = run("nosuch://x".into());
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("nosuch"), "a clear error: {said}");
}
