//! A gateway killed with SIGKILL runs no cleanup: its connection records stay behind, and
//! stop counting as online when their lease runs out — the whole point of leases.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use store_core::{ConnectionStore, RoomName, system_clock};
use store_sql::{SqliteConfig, SqliteStore};
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::output::find_then_drain;

const LEASE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_a_killed_gateway_stop_counting_after_the_lease() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("connections.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--listen", "127.0.0.1:0", "--push-listen", "127.0.0.1:0"])
        .args(["--store", &format!("sqlite://{}", db.display())])
        .args(["--lease-secs", &LEASE.as_secs().to_string()])
        // The sweep at the end is this test's own.
        .args(["--sweep-interval-secs", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the gateway binary");
    let chat_url = find_then_drain(child.stdout.take().unwrap(), |line| {
        line.strip_prefix("chat:").map(|u| u.trim().to_owned())
    })
    .expect("the gateway printed its address");
    let ws_url = format!("{}ws?room=lobby", chat_url.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no welcome")
            .unwrap()
            .unwrap();
        if matches!(frame, Message::Text(ref t) if t.contains("welcome")) {
            break;
        }
    }
    let store = SqliteStore::open(SqliteConfig::file(&db), system_clock())
        .await
        .unwrap();
    let room = RoomName::new("lobby").unwrap();
    assert_eq!(store.count(&room).await.unwrap(), 1);

    child.kill().unwrap(); // SIGKILL: no cleanup function runs.
    child.wait().unwrap();
    let killed = Instant::now();
    assert_eq!(
        store.count(&room).await.unwrap(),
        1,
        "the record outlives the gateway"
    );

    // The lease, not a cleanup, takes it out of the online count.
    let deadline = killed + LEASE + Duration::from_secs(3);
    while store.count(&room).await.unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "still online {:?} after the kill",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        store.sweep().await.unwrap(),
        1,
        "the stale record was still there to sweep"
    );
}
