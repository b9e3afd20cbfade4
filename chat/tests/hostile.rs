//! Hostile input at the node's doors: clients that hold a connection without sending a
//! request (slowloris) on both listeners, and arbitrary bytes where requests, bodies and
//! frames are parsed. Nothing may panic, hang or be lost: the answer is a 4xx, a typed
//! error frame or a documented close code.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;

const HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// Reads until the server closes `stream`; how long that took.
async fn closed_after(stream: &mut TcpStream, started: Instant) -> Duration {
    let mut sink = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut sink)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for 10 s"),
        }
    }
}

async fn silent_client(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    closed_after(&mut stream, started).await
}

/// Sends a request head one byte every 200 ms (each byte well within any idle timeout).
async fn trickling_client(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            // Cut off mid-head: what we want.
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if started.elapsed() > Duration::from_secs(10) {
            panic!("the server took a trickled head for 10 s");
        }
    }
    closed_after(&mut stream, started).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_silent_clients_are_cut_off_on_both_listeners() {
    let node = common::start(
        Limits {
            header_timeout: HEAD_TIMEOUT,
            ..Limits::default()
        },
        None,
    )
    .await;
    for addr in [node.app, node.push] {
        let (silent, trickling) = tokio::join!(silent_client(addr), trickling_client(addr));
        for (what, took) in [("silent", silent), ("trickling", trickling)] {
            assert!(
                took >= HEAD_TIMEOUT - Duration::from_millis(100) && took < HEAD_TIMEOUT * 4,
                "{what} client on {addr}: closed after {took:?}"
            );
        }
    }
    // The node still serves.
    let page = reqwest::get(format!("http://{}/", node.app)).await.unwrap();
    assert_eq!(page.status(), 200);
}

mod properties {
    use std::sync::Arc;

    use gateway::{FunctionMode, wire};
    use lifecycle::{ConnectionInfo, EventKind, LifecycleEvent, Payload};
    use proptest::prelude::*;

    use super::common;

    /// Cases per property (`PROPTEST_CASES` overrides).
    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(256),
            ..ProptestConfig::default()
        }
    }

    fn event(kind: EventKind) -> LifecycleEvent {
        LifecycleEvent {
            kind,
            connection: Arc::new(ConnectionInfo {
                id: "c1".into(),
                source_ip: "127.0.0.1".into(),
                user_agent: None,
                connected_at_ms: 0,
                path: "/ws".into(),
                headers: Vec::new(),
                query: Vec::new(),
                protocols: None,
                extensions: None,
                push_url: "http://127.0.0.1:1".into(),
                authorizer: None,
            }),
            request_id: "r1".into(),
            at_ms: 0,
            payload: Some(Payload::Text("x".into())),
        }
    }

    /// Bytes that are often almost JSON: a function's answer as a fuzzer would write it.
    fn answers() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            "\\{(\"[a-zA-Z]{0,12}\": ?(-?[0-9]{1,20}|\"[^\"]{0,20}\"|null|true|\\[\\]|\\{\\}),? ?){0,6}\\}?"
                .prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(config())]

        /// Whatever an HTTP function answers, each dialect reads it into a reply: no panic.
        #[test]
        fn function_answers_never_panic(body in answers(), status in 100u16..500) {
            for name in wire::names() {
                let shapes = wire::by_name(name).unwrap();
                for kind in [
                    EventKind::Connect,
                    EventKind::Message { route: "$default".into() },
                    EventKind::Disconnect { status_code: 1000, reason: "bye".into() },
                ] {
                    let reply = shapes.answer(&event(kind), status, &body);
                    let _ = (reply.status, reply.frame, reply.close);
                }
            }
        }
    }

    /// The node's push-back routes, each with arbitrary bodies and content types.
    const ROUTES: [&str; 5] = [
        "/batch",
        "/@connections/c1",
        "/production/@connections/x%2Fy",
        "/",
        "/aliyun/notify",
    ];

    #[test]
    fn push_api_bodies_get_an_answer_below_500() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let node = runtime.block_on(common::start(
            gateway::Limits::default(),
            None::<FunctionMode>,
        ));
        let client = reqwest::Client::new();
        let base = format!("http://{}", node.push);
        let mut runner = proptest::test_runner::TestRunner::new(config());
        let strategy = (
            0..ROUTES.len(),
            prop_oneof![
                Just("application/json"),
                Just("text/plain"),
                Just("application/octet-stream")
            ],
            answers(),
            proptest::collection::vec(("x-ca-[a-z]{1,8}", "[ -~]{0,40}"), 0..3),
        );
        runner
            .run(&strategy, |(route, kind, body, headers)| {
                let mut call = client
                    .post(format!("{base}{}", ROUTES[route]))
                    .header("content-type", kind)
                    .body(body);
                for (name, value) in headers {
                    call = call.header(name, value);
                }
                let status = runtime.block_on(call.send()).unwrap().status();
                prop_assert!(status.as_u16() < 500, "{} answered {status}", ROUTES[route]);
                Ok(())
            })
            .unwrap();
        // Still serving after it all.
        let health = runtime
            .block_on(client.get(format!("{base}/healthz")).send())
            .unwrap();
        assert_eq!(health.status(), 200);
        drop(node);
    }

    #[test]
    fn arbitrary_client_frames_get_an_error_frame_or_a_documented_close() {
        use futures::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let node = runtime.block_on(common::start(
            gateway::Limits {
                messages_per_second: 10_000,
                max_message_bytes: 4096,
                ..gateway::Limits::default()
            },
            None::<FunctionMode>,
        ));
        let url = format!("ws://{}/ws?room=fuzz", node.app);
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: config().cases.min(64),
            ..config()
        });
        let frames = prop_oneof![
            "\\PC{0,300}".prop_map(Message::text),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Message::binary),
            (4097usize..6000).prop_map(|n| Message::text("x".repeat(n))),
        ];
        runner
            .run(&frames, |frame| {
                runtime.block_on(async {
                    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
                    let too_big = matches!(&frame, Message::Text(t) if t.len() > 4096);
                    ws.send(frame).await.unwrap();
                    // Every frame has an answer: the welcome first, then a chat error, the
                    // echo-free silence of a chat line (checked with a ping), or a close.
                    // After a frame over the limit the node may have closed already, and
                    // closing with the frame's unread rest in its buffer resets the socket:
                    // the probe can fail to go out, as a read can fail below.
                    if let Err(err) = ws.send(Message::Ping("probe".into())).await {
                        prop_assert!(too_big, "the socket failed: {err}");
                        return Ok(());
                    }
                    loop {
                        let next =
                            tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
                                .await
                                .expect("no answer in 10 s");
                        match next {
                            Some(Ok(Message::Pong(p))) if &p[..] == b"probe" => {
                                prop_assert!(!too_big, "a frame over the limit was taken");
                                break;
                            }
                            Some(Ok(Message::Close(Some(close)))) => {
                                prop_assert!(
                                    too_big,
                                    "closed for a frame within the limit: {close:?}"
                                );
                                prop_assert_eq!(u16::from(close.code), 1009);
                                break;
                            }
                            Some(Ok(_)) => continue,
                            Some(Err(err)) => {
                                prop_assert!(too_big, "the socket failed: {err}");
                                break;
                            }
                            None => {
                                prop_assert!(too_big, "the socket ended without a close");
                                break;
                            }
                        }
                    }
                    Ok(())
                })
            })
            .unwrap();
        drop(node);
    }
}
