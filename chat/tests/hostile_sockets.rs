//! Clients that try to exhaust, stall or confuse a node, on real sockets against the gateway
//! binary: a ping flood that never reads, clients that stop reading, frames RFC 6455 calls
//! errors, sockets that just die, a client's Close. What the node must do: keep its memory
//! bounded, close the client with the documented code within its deadlines, tell cleanup
//! that code, and free the slot.
//!
//! The functions are HTTP functions in the AWS dialect served by this test, which records
//! every `$connect` and `$disconnect` (with `disconnectStatusCode`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;

mod common;

use common::binary::Binary;
use common::raw::{self, BINARY, CLOSE, PING, Raw, TEXT, close_payload, frame};

/// What the functions heard.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Heard {
    /// `$connect` of this id.
    Connect(String),
    /// `$disconnect` of this id, with this close code.
    Disconnect(String, u16),
}

/// Serves `$connect` (accepting), `$disconnect` and `$default` on loopback, telling the
/// test what it heard.
async fn functions() -> (SocketAddr, mpsc::UnboundedReceiver<Heard>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let id = |event: &Value| {
        event["requestContext"]["connectionId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let app =
        axum::Router::new()
            .route(
                "/connect",
                post(
                    move |State(tx): State<mpsc::UnboundedSender<Heard>>,
                          Json(event): Json<Value>| async move {
                        let _ = tx.send(Heard::Connect(id(&event)));
                        Json(json!({ "statusCode": 200 }))
                    },
                ),
            )
            .route(
                "/disconnect",
                post(
                    move |State(tx): State<mpsc::UnboundedSender<Heard>>,
                          Json(event): Json<Value>| async move {
                        let code = event["requestContext"]["disconnectStatusCode"]
                            .as_u64()
                            .unwrap();
                        let _ =
                            tx.send(Heard::Disconnect(id(&event), u16::try_from(code).unwrap()));
                        Json(json!({ "statusCode": 200 }))
                    },
                ),
            )
            .route(
                "/default",
                post(|| async { Json(json!({ "statusCode": 200 })) }),
            )
            .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, rx)
}

/// A node whose functions are this test's, with `args` besides.
struct Node {
    /// The binary.
    binary: Binary,
    /// What its functions heard.
    heard: mpsc::UnboundedReceiver<Heard>,
}

impl Node {
    async fn start(args: &[&str]) -> Node {
        let (functions, heard) = functions().await;
        let url = |path: &str| format!("http://{functions}/{path}");
        let (connect, disconnect, default) = (url("connect"), url("disconnect"), url("default"));
        let mut all = vec!["--dialect", "aws"];
        all.extend(["--register-url", &connect, "--cleanup-url", &disconnect]);
        all.extend(["--transport-url", &default]);
        all.extend(args);
        Node {
            binary: Binary::start(&all),
            heard,
        }
    }

    /// Connects a raw client at `/ws`; its connection id (from `$connect`).
    async fn connect(&mut self, receive_buffer: Option<u32>) -> (Raw, String) {
        let raw = Raw::connect(self.binary.app, "/ws", receive_buffer).await;
        match self.next_heard(raw::WAIT).await {
            Heard::Connect(id) => (raw, id),
            other => panic!("expected a $connect, heard {other:?}"),
        }
    }

    async fn next_heard(&mut self, within: Duration) -> Heard {
        tokio::time::timeout(within, self.heard.recv())
            .await
            .expect("the functions heard nothing in time")
            .expect("the function server stopped")
    }

    /// The `$disconnect` of `id`, within `within`: its close code.
    async fn disconnect_code(&mut self, id: &str, within: Duration) -> u16 {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_heard(left).await {
                Heard::Disconnect(gone, code) if gone == id => return code,
                _ => continue,
            }
        }
    }

    /// Pushes `bytes` to `id` through `@connections` (AWS PostToConnection): the status.
    async fn push(&self, http: &reqwest::Client, id: &str, bytes: Vec<u8>) -> u16 {
        let url = format!("http://{}/@connections/{id}", self.binary.push);
        http.post(url)
            .body(bytes)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Pushes 100 KB frames to `id` until at least `bytes` were taken (more than loopback's
    /// socket buffers hold for a client that reads nothing), or the node refuses one.
    async fn stall(&self, id: &str, bytes: usize) {
        let http = reqwest::Client::new();
        let frame = vec![b'x'; 100_000];
        for _ in 0..bytes.div_ceil(frame.len()) {
            if self.push(&http, id, frame.clone()).await != 200 {
                return;
            }
        }
    }

    /// True when `/healthz` answers within a second.
    async fn healthy(&self) -> bool {
        let url = format!("http://{}/healthz", self.binary.push);
        let answer = tokio::time::timeout(Duration::from_secs(1), reqwest::get(url)).await;
        matches!(answer, Ok(Ok(response)) if response.status() == 200)
    }
}

/// A receive buffer that a client that never reads fills at once.
const SMALL_BUFFER: Option<u32> = Some(4096);

/// Outbound queues no test pushes full (so only what a test names closes a slow client).
const QUEUES_THAT_NEVER_FILL: [&str; 4] = [
    "--outbound-queue",
    "100000",
    "--outbound-queue-bytes",
    "1000000000",
];

/// More than loopback's socket buffers hold (the server's send buffer grows to a few MB).
const STALLING_BYTES: usize = 24 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_that_never_reads_pins_no_memory() {
    // The rate limit is lifted so the flood reaches the buffers (with it, the flood is cut
    // off at once: the next test). The node's own keep-alive ping waits past the flood: one
    // sent during it could not be written (the client reads nothing) and would end the
    // connection as too slow before the flood is over (a debug build takes about 20 s to
    // read it, the default interval).
    let mut node = Node::start(&[
        "--rate",
        "100000000",
        "--write-timeout-secs",
        "2",
        "--ping-interval-secs",
        "600",
    ])
    .await;
    let (mut flooder, id) = node.connect(SMALL_BUFFER).await;
    let before = node.binary.memory_kib("VmRSS");
    let pings: Vec<u8> = (0..1000)
        .flat_map(|_| frame(PING, &[b'p'; 125], true))
        .collect();
    // 1,000,000 pings of 125 bytes: 131 MB, each asking for a pong nobody reads.
    let flood = async {
        for _ in 0..1000 {
            flooder.send(&pings).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(120), flood)
        .await
        .expect("the node stopped reading the flood");
    let grown = node.binary.memory_kib("VmRSS").saturating_sub(before);
    assert!(
        grown < 32 * 1024,
        "the node grew {grown} KiB answering pings nobody reads"
    );
    assert!(node.healthy().await, "the node stalled");
    // The client still reads nothing: the next write to it cannot finish, and it goes as too
    // slow within the write deadline.
    let http = reqwest::Client::new();
    let _ = node.push(&http, &id, b"are you there".to_vec()).await;
    assert_eq!(
        node.disconnect_code(&id, Duration::from_secs(10)).await,
        4408
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_count_against_the_rate_limit() {
    let mut node = Node::start(&["--rate", "10"]).await;
    let (mut flooder, id) = node.connect(None).await;
    let pings: Vec<u8> = (0..100).flat_map(|_| frame(PING, b"p", true)).collect();
    flooder.send(&pings).await;
    assert_eq!(flooder.close_frame().await.0, 1008);
    assert_eq!(node.disconnect_code(&id, raw::WAIT).await, 1008);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_and_frees_its_slot() {
    // Only the write deadline can close it.
    let mut args = vec!["--write-timeout-secs", "2", "--max-connections", "1"];
    args.extend(QUEUES_THAT_NEVER_FILL);
    let mut node = Node::start(&args).await;
    let (_stuck, id) = node.connect(SMALL_BUFFER).await;
    node.stall(&id, STALLING_BYTES).await;
    let stalled = Instant::now();
    assert_eq!(
        node.disconnect_code(&id, Duration::from_secs(10)).await,
        4408
    );
    assert!(
        stalled.elapsed() < Duration::from_secs(8),
        "closed {:?} after the last push",
        stalled.elapsed()
    );
    // Its slot is free: a newcomer is let in.
    let (_next, _) = node.connect(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_cannot_make_the_node_hold_more_than_a_queue_of_bytes() {
    // A write deadline far away: only the queue's bound can end it in time.
    let mut node = Node::start(&["--write-timeout-secs", "600"]).await;
    let (_stuck, id) = node.connect(SMALL_BUFFER).await;
    let before = node.binary.memory_kib("VmRSS");
    node.stall(&id, STALLING_BYTES).await;
    assert_eq!(node.disconnect_code(&id, raw::WAIT).await, 4408);
    // 256 frames of 100 KB would have been 25 MB; the queue holds 1 MiB of them.
    let peak = node.binary.memory_kib("VmHWM").saturating_sub(before);
    assert!(
        peak < 16 * 1024,
        "the node grew {peak} KiB for one slow client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_acts_while_a_write_is_pending() {
    // A write deadline far away: only the kick can end it in time.
    let mut args = vec!["--write-timeout-secs", "600"];
    args.extend(QUEUES_THAT_NEVER_FILL);
    let mut node = Node::start(&args).await;
    let (_stuck, id) = node.connect(SMALL_BUFFER).await;
    node.stall(&id, STALLING_BYTES).await;
    let url = format!("http://{}/@connections/{id}", node.binary.push);
    let deleted = reqwest::Client::new().delete(url).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        node.disconnect_code(&id, Duration::from_secs(5)).await,
        1000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_acts_while_a_write_is_pending_and_runs_cleanup() {
    let mut args = vec!["--write-timeout-secs", "600"];
    args.extend(QUEUES_THAT_NEVER_FILL);
    let mut node = Node::start(&args).await;
    let (_stuck, id) = node.connect(SMALL_BUFFER).await;
    node.stall(&id, STALLING_BYTES).await;
    let took = node.binary.terminate(Duration::from_secs(8)).await;
    assert!(took < Duration::from_secs(8), "shutdown took {took:?}");
    // Cleanup ran before the node exited.
    assert_eq!(
        node.disconnect_code(&id, Duration::from_secs(1)).await,
        1001
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_close_is_echoed_and_reaches_cleanup() {
    let mut node = Node::start(&[]).await;
    let (mut client, id) = node.connect(None).await;
    client
        .send(&frame(CLOSE, &close_payload(1000, b"bye"), true))
        .await;
    // RFC 6455 5.5.1: the server answers with a Close (echoing the code), then ends TCP.
    assert_eq!(client.close_frame().await.0, 1000);
    assert!(
        client.ends().await,
        "the socket stayed open after the close"
    );
    assert_eq!(node.disconnect_code(&id, raw::WAIT).await, 1000);
    // A Close without a code: cleanup reads 1005, the echo carries none.
    let (mut client, id) = node.connect(None).await;
    client.send(&frame(CLOSE, &[], true)).await;
    let (head, payload) = client.read_frame().await.expect("no close echo");
    assert_eq!((head, payload.len()), (CLOSE, 0));
    assert_eq!(node.disconnect_code(&id, raw::WAIT).await, 1005);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_with_the_codes_rfc_6455_gives() {
    let mut node = Node::start(&["--max-message-bytes", "1024"]).await;
    let cases: [(&str, Vec<u8>, u16); 9] = [
        (
            "text that is not UTF-8",
            frame(TEXT, &[0xff, 0xfe, 0xfd], true),
            1007,
        ),
        ("a reserved bit", frame(TEXT | 0x40, b"hi", true), 1002),
        ("an unmasked frame", frame(TEXT, b"hi", false), 1002),
        ("an unknown opcode", frame(0x83, b"hi", true), 1002),
        ("a one-byte close payload", frame(CLOSE, &[3], true), 1002),
        (
            "a close reason that is not UTF-8",
            frame(CLOSE, &close_payload(1000, &[0xff]), true),
            1007,
        ),
        ("a fragmented ping", frame(0x09, b"p", true), 1002),
        (
            "a message over the limit",
            frame(BINARY, &[0u8; 2000], true),
            1009,
        ),
        (
            "a text message over the limit",
            frame(TEXT, &[b'a'; 1025], true),
            1009,
        ),
    ];
    for (what, bytes, code) in cases {
        let (mut client, id) = node.connect(None).await;
        client.send(&bytes).await;
        assert_eq!(client.close_frame().await.0, code, "{what}: close frame");
        assert_eq!(
            node.disconnect_code(&id, raw::WAIT).await,
            code,
            "{what}: cleanup"
        );
    }
    // A close code RFC 6455 forbids on the wire: answered (and reported) as a protocol error.
    let (mut client, id) = node.connect(None).await;
    client
        .send(&frame(CLOSE, &close_payload(1005, b""), true))
        .await;
    assert_eq!(client.close_frame().await.0, 1002);
    assert_eq!(node.disconnect_code(&id, raw::WAIT).await, 1002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_just_dies_reaches_cleanup_as_1006() {
    let mut node = Node::start(&[]).await;
    // A FIN without a Close.
    let (client, id) = node.connect(None).await;
    drop(client);
    assert_eq!(node.disconnect_code(&id, raw::WAIT).await, 1006);
    // A reset, halfway through a frame.
    let (mut client, id) = node.connect(None).await;
    let half = frame(TEXT, b"hello there", true);
    client.send(&half[..6]).await;
    client.stream.set_zero_linger().unwrap();
    drop(client);
    assert_eq!(node.disconnect_code(&id, raw::WAIT).await, 1006);
}
