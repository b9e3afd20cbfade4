//! The node's limits, all at once: fifty hostile clients of each kind (ping flooders that
//! never read, members of the busy room that stop reading, request heads trickled byte by
//! byte, messages fragmented without end, frames RFC 6455 forbids) while a normal room keeps
//! chatting. Every normal line must be delivered to every other normal member, and the
//! node's memory must stay within the bound stated here (a generous one: BENCHMARKS.md has
//! the exact figures).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::binary::Binary;
use common::raw::{PING, Raw, TEXT, frame};
use common::ws::{join, room_url};

/// Hostile clients of each kind.
const EACH: usize = 50;
/// Normal members of the room, and the lines each sends.
const MEMBERS: usize = 4;
const LINES: usize = 25;
/// The most the node may ever hold resident (VmHWM) through the whole run.
const MEMORY_BOUND_MIB: u64 = 256;

/// Floods pings and never reads, until the node ends the socket.
async fn ping_flooder(node: std::net::SocketAddr) {
    let mut raw = Raw::connect(node, "/ws?room=lobby", Some(4096)).await;
    let pings: Vec<u8> = (0..100)
        .flat_map(|_| frame(PING, &[b'p'; 125], true))
        .collect();
    while raw.stream.write_all(&pings).await.is_ok() {}
}

/// Joins the busy room and never reads a byte.
async fn non_reader(node: std::net::SocketAddr) -> Raw {
    Raw::connect(node, "/ws?room=lobby", Some(4096)).await
}

/// Trickles a request head, a byte at a time, until the node cuts it off.
async fn slowloris(node: std::net::SocketAddr) {
    let mut stream = TcpStream::connect(node).await.unwrap();
    for byte in b"GET /ws?room=lobby HTTP/1.1\r\nHost: x\r\nX-Slow: "
        .iter()
        .cycle()
    {
        if stream.write_all(&[*byte]).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts a text message and sends continuation frames without end, until the node ends
/// the socket.
async fn endless_fragments(node: std::net::SocketAddr) {
    let mut raw = Raw::connect(node, "/ws?room=lobby", None).await;
    raw.send(&frame(0x01, b"start", true)).await;
    let more = frame(0x00, &[b'a'; 4000], true);
    while raw.stream.write_all(&more).await.is_ok() {}
}

/// Sends frames RFC 6455 forbids (text that is not UTF-8, unmasked frames), reconnecting
/// after each close, a number of times.
async fn bad_framer(node: std::net::SocketAddr) {
    for round in 0..5 {
        let mut raw = Raw::connect(node, "/ws?room=lobby", None).await;
        let bad = if round % 2 == 0 {
            frame(TEXT, &[0xc3, 0x28], true)
        } else {
            frame(TEXT, b"unmasked", false)
        };
        raw.send(&bad).await;
        let _ = raw.close_frame().await;
    }
}

/// A normal member: joins (its welcome says it is in the room), waits until every member
/// has, sends its lines (paced within the rate limit) and reads until it has every other
/// member's; the texts it got from the others.
///
/// A line sent before another member joined is, rightly, not that member's to get: the
/// barrier keeps the test from asking for it.
async fn member(node: std::net::SocketAddr, me: usize, all_in: Arc<Barrier>) -> Vec<String> {
    let (mut write, mut read) = join(&room_url(node, "lobby")).await.split();
    all_in.wait().await;
    let sending = async move {
        for line in 0..LINES {
            write
                .send(Message::text(format!("m{me}-{line}")))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        write
    };
    let expected = (MEMBERS - 1) * LINES;
    // Shared with the timeout's message: what had come when time ran out.
    let got = Arc::new(Mutex::new(Vec::new()));
    let reading = {
        let got = got.clone();
        async move {
            while got.lock().unwrap().len() < expected {
                let frame = read.next().await.expect("closed").expect("read failed");
                let Message::Text(text) = frame else { continue };
                let line: Value = serde_json::from_str(&text).unwrap();
                if line["type"] == "chat" {
                    got.lock()
                        .unwrap()
                        .push(line["text"].as_str().unwrap().to_owned());
                }
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(sending, reading)
    })
    .await
    .is_err()
    {
        let got = got.lock().unwrap();
        panic!(
            "member {me} had {} of its {expected} lines after a minute: {got:?}",
            got.len()
        );
    }
    std::mem::take(&mut *got.lock().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_keeps_chatting_through_fifty_hostile_clients_of_each_kind() {
    let node = Binary::start(&["--header-timeout-secs", "2", "--write-timeout-secs", "3"]);
    let app = node.app;
    let mut hostile = JoinSet::new();
    let mut held = Vec::new();
    for _ in 0..EACH {
        held.push(non_reader(app).await);
        hostile.spawn(ping_flooder(app));
        hostile.spawn(slowloris(app));
        hostile.spawn(endless_fragments(app));
        hostile.spawn(bad_framer(app));
    }
    let all_in = Arc::new(Barrier::new(MEMBERS));
    let members: Vec<_> = (0..MEMBERS)
        .map(|me| tokio::spawn(member(app, me, all_in.clone())))
        .collect();
    for (me, got) in members.into_iter().enumerate() {
        let mut got = got.await.unwrap();
        got.sort();
        let mut expected: Vec<String> = (0..MEMBERS)
            .filter(|other| *other != me)
            .flat_map(|other| (0..LINES).map(move |line| format!("m{other}-{line}")))
            .collect();
        expected.sort();
        assert_eq!(got, expected, "member {me}'s lines");
    }
    // Every hostile client ends: the node cut each off.
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(done) = hostile.join_next().await {
            done.unwrap();
        }
    })
    .await
    .expect("a hostile client was still served after a minute");
    let peak = node.memory_kib("VmHWM") / 1024;
    assert!(
        peak < MEMORY_BOUND_MIB,
        "the node held {peak} MiB at its peak (bound {MEMORY_BOUND_MIB})"
    );
    drop(held);
}
