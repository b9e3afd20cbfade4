//! What AWS API Gateway does with a WebSocket's messages, as the AWS dialect reproduces it:
//! a connection's messages invoked concurrently (up to `--max-inflight-per-connection`),
//! and a client that sends faster than its functions finish pushed back by TCP, never
//! closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::SinkExt;
use gateway::{FunctionMode, Gateway, GatewayConfig, HttpRoutes, Limits, wire};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::ws::connect;

/// Invocations of the message function: how many ran, how many at once at most.
#[derive(Debug, Default)]
struct Counted {
    /// Finished.
    done: AtomicUsize,
    /// Running now.
    running: AtomicUsize,
    /// Most ever running at once.
    most: AtomicUsize,
}

/// Serves `functions` (routes `/connect`, `/message`, `/disconnect`) and a node of the AWS
/// dialect invoking them as HTTP functions under `limits`; the node's WebSocket address.
async fn aws_node(functions: axum::Router, limits: Limits) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, functions).await });

    let app = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let push = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = app.local_addr().unwrap();
    let mode = FunctionMode::Http {
        routes: HttpRoutes::lifecycle(
            &format!("{base}/connect"),
            &format!("{base}/message"),
            &format!("{base}/disconnect"),
        ),
        dialect: wire::by_name("aws").unwrap(),
        route_responses: false,
    };
    let mut config = GatewayConfig::new(push.local_addr().unwrap(), mode);
    config.limits = limits;
    let gateway = Arc::new(Gateway::new(config).unwrap());
    tokio::spawn(gateway::run(gateway, app, push, std::future::pending()));
    app_addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_sender_is_pushed_back_not_closed_and_every_message_is_invoked() {
    const MESSAGES: usize = 120;
    const INFLIGHT: usize = 10;
    let counted = Arc::new(Counted::default());
    let seen = counted.clone();
    // A message function that takes 100 ms, like a handler broadcasting through the SDK.
    let message = axum::routing::post(move || {
        let seen = seen.clone();
        async move {
            let now = seen.running.fetch_add(1, Ordering::SeqCst) + 1;
            seen.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            seen.running.fetch_sub(1, Ordering::SeqCst);
            seen.done.fetch_add(1, Ordering::SeqCst);
            r#"{"statusCode":200}"#
        }
    });
    let ok = axum::routing::post(|| async { r#"{"statusCode":200}"# });
    let functions = axum::Router::new()
        .route("/connect", ok.clone())
        .route("/disconnect", ok)
        .route("/message", message);
    let limits = Limits {
        // The rate limit is the hostile-client guard, not what this is about.
        messages_per_second: 10_000,
        max_inflight_per_connection: INFLIGHT,
        ..Limits::default()
    };
    let app_addr = aws_node(functions, limits).await;

    let mut ws = connect(&format!("ws://{app_addr}/ws")).await;
    for i in 0..MESSAGES {
        ws.send(Message::text(format!("line {i}"))).await.unwrap();
    }
    // Every message is invoked; the connection stays open meanwhile (a 1008 would end the
    // stream, and the messages not yet read would never run).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while counted.done.load(Ordering::SeqCst) < MESSAGES {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {MESSAGES} invoked",
            counted.done.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let most = counted.most.load(Ordering::SeqCst);
    assert!(most > 1, "messages ran one at a time");
    assert!(most <= INFLIGHT, "{most} ran at once, over {INFLIGHT}");
    ws.send(Message::text("still open")).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while counted.done.load(Ordering::SeqCst) < MESSAGES + 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection was closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `$connect` carries the whole handshake; `$disconnect` carries the four headers AWS sends
/// (the API's host, the client's address, two empty ones), not the handshake's again: the
/// node keeps no more of a handshake than that for as long as the connection lasts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_carries_aws_four_headers_and_connect_the_whole_handshake() {
    let (events, mut seen) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let record = axum::routing::post(move |body: String| {
        let events = events.clone();
        async move {
            let _ = events.send(serde_json::from_str(&body).unwrap());
            r#"{"statusCode":200}"#
        }
    });
    let functions = axum::Router::new()
        .route("/connect", record.clone())
        .route("/disconnect", record.clone())
        .route("/message", record);
    let app_addr = aws_node(functions, Limits::default()).await;

    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{app_addr}/ws?room=r1")
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("cookie", "session=s3cr3t".parse().unwrap());
    headers.insert("x-custom", "one".parse().unwrap());
    let (mut ws, _) = common::ws::try_connect(request).await.unwrap();
    let wait = Duration::from_secs(10);
    let connect = tokio::time::timeout(wait, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connect["requestContext"]["eventType"], "CONNECT");
    assert_eq!(connect["headers"]["Cookie"], "session=s3cr3t");
    assert_eq!(connect["headers"]["X-Custom"], "one");
    assert_eq!(connect["queryStringParameters"]["room"], "r1");

    ws.send(Message::text("hi")).await.unwrap();
    let message = tokio::time::timeout(wait, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message["requestContext"]["eventType"], "MESSAGE");
    assert!(message.get("headers").is_none(), "{message}");
    ws.close(None).await.unwrap();

    let gone = tokio::time::timeout(wait, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gone["requestContext"]["eventType"], "DISCONNECT");
    let four = serde_json::json!({
        "Host": app_addr.to_string(),
        "x-api-key": "",
        "X-Forwarded-For": "127.0.0.1",
        "x-restapi": "",
    });
    assert_eq!(gone["headers"], four);
    assert_eq!(
        gone["multiValueHeaders"]["Host"],
        serde_json::json!([app_addr.to_string()])
    );
    assert!(gone.get("queryStringParameters").is_none(), "{gone}");
}
