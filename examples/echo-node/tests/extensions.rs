//! The echo app, the toy wire and the shouting channel, served by a real node on loopback
//! and reached by a plain WebSocket client and plain HTTP.

use std::sync::Arc;

use axum::routing::post;
use echo_node::{Echo, Shout, Toy};
use futures::{SinkExt, StreamExt};
use gateway::{FunctionMode, Gateway, GatewayConfig, HttpRoutes};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Starts a node with `functions`, the toy wire and the shouting channel; its addresses.
async fn node(functions: FunctionMode) -> (String, String) {
    let app = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let push = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (app_addr, push_addr) = (app.local_addr().unwrap(), push.local_addr().unwrap());
    let config = GatewayConfig::new(push_addr, functions);
    let node = Gateway::builder(config)
        .wire(&Toy)
        .channel(Arc::new(Shout))
        .build()
        .unwrap();
    tokio::spawn(gateway::run(
        Arc::new(node),
        app,
        push,
        std::future::pending(),
    ));
    (format!("ws://{app_addr}"), format!("http://{push_addr}"))
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket open")
            .unwrap();
        if let Message::Text(text) = frame {
            return text.to_string();
        }
    }
}

async fn say(ws: &mut Ws, text: &str) -> String {
    ws.send(Message::text(text)).await.unwrap();
    next_text(ws).await
}

#[tokio::test]
async fn the_echo_app_answers_and_the_toy_wire_pushes() {
    let (app, push) = node(FunctionMode::InProcess(Arc::new(Echo))).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{app}/ws"))
        .await
        .unwrap();
    assert_eq!(say(&mut ws, "hello").await, "hello");
    let id = say(&mut ws, "whoami").await;

    let http = reqwest::Client::new();
    let pushed = http
        .post(format!("{push}/toy/{id}"))
        .body("from a function")
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 204);
    assert_eq!(next_text(&mut ws).await, "from a function");

    // Its errors in its own shape, behind the node's own checks.
    let gone = http
        .post(format!("{push}/toy/nobody"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    let body: Value = gone.json().await.unwrap();
    assert_eq!(body["toy_error"], "no such connection on this node");
    // The built-in wires are still there beside it.
    let aws = http
        .post(format!("{push}/@connections/{id}"))
        .body("aws too")
        .send()
        .await
        .unwrap();
    assert_eq!(aws.status(), 200);
    assert_eq!(next_text(&mut ws).await, "aws too");
}

#[tokio::test]
async fn the_shouting_channel_serves_its_own_protocol() {
    let (app, _) = node(FunctionMode::InProcess(Arc::new(Echo))).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{app}/shout"))
        .await
        .unwrap();
    assert_eq!(say(&mut ws, "quiet please").await, "QUIET PLEASE");
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn http_functions_speak_the_toy_wire() {
    // One HTTP function for every route: it reads the toy event and answers its body back,
    // marked, so the answer's meaning (the caller's frame) is the toy codec's.
    let functions = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", functions.local_addr().unwrap());
    let function = post(|axum::Json(event): axum::Json<Value>| async move {
        match event["kind"].as_str() {
            Some("message") => format!("toy saw {}", event["body"].as_str().unwrap_or("")),
            _ => String::new(),
        }
    });
    tokio::spawn(
        async move { axum::serve(functions, axum::Router::new().route("/", function)).await },
    );
    let routes = HttpRoutes::lifecycle(&format!("{url}/"), &format!("{url}/"), &format!("{url}/"));
    let mode = FunctionMode::Http {
        routes,
        dialect: &Toy,
        route_responses: true,
    };
    let (app, _) = node(mode).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{app}/ws"))
        .await
        .unwrap();
    assert_eq!(say(&mut ws, "ping").await, "toy saw ping");
}
