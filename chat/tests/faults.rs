//! Faults injected for real: a store server stopped under a running node, a function
//! server killed under one. Each starts its own servers on their own ports; the shared
//! ones are never touched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::SinkExt;
use gateway::{FunctionMode, Gateway, GatewayConfig, HttpRoutes, Limits, wire};
use serde_json::Value;
use store_core::{ConnectionStore, MemoryStore, system_clock};
use store_sql::{SqlxConfig, SqlxStore};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::binary::Binary;
use common::postgres::PrivatePostgres;
use common::ws::{Ws, join, next_json, next_of, room_url, try_connect};

/// The next gateway error frame (`{"message": …, "connectionId": …}`), skipping chat frames.
async fn next_error(ws: &mut Ws) -> Value {
    loop {
        let value = next_json(ws).await;
        if value.get("message").is_some() && value.get("connectionId").is_some() {
            return value;
        }
    }
}

/// Connects to `url`: the socket, or the HTTP status of a refused handshake, and how long
/// the answer took.
async fn connect(url: &str) -> (Result<Ws, u16>, Duration) {
    let started = Instant::now();
    let outcome = try_connect(url).await.map(|(ws, _)| ws);
    (outcome, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_refuses_new_connections_quickly_and_heals_without_a_restart() {
    let postgres = PrivatePostgres::start().await;
    // Calls on a dead server give up after 1 s (the store's acquire timeout).
    let config = SqlxConfig::with_url(&postgres.url("acquire_timeout_ms=1000")).unwrap();
    let store: Arc<dyn ConnectionStore> = Arc::new(
        SqlxStore::open(config.with_clock(system_clock()))
            .await
            .unwrap(),
    );
    let node = common::start_on_store(store).await;
    let url = format!("ws://{}/ws?room=outage", node.app);
    let mut a = join(&url).await;
    let mut b = join(&url).await;
    a.send(Message::text("before")).await.unwrap();
    assert_eq!(next_of(&mut b, "chat").await["text"], "before");

    postgres.halt().await;
    // A new connection: refused with a clear status (503, the store is unavailable) within
    // the acquire timeout and a little, never left hanging.
    let (refused, took) = connect(&url).await;
    assert_eq!(refused.err(), Some(503), "a handshake during the outage");
    assert!(took < Duration::from_secs(4), "refused after {took:?}");
    eprintln!("postgres outage: a handshake refused after {took:?}");
    // The node says it is not ready (a load balancer stops sending it clients).
    let ready = reqwest::get(format!("http://{}/readyz", node.push))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let why: Value = ready.json().await.unwrap();
    assert!(
        why["why"] == "store failed" || why["why"] == "store timed out",
        "{why}"
    );
    // A chat line gets an error frame; both clients stay connected.
    a.send(Message::text("during")).await.unwrap();
    let error = next_error(&mut a).await;
    assert_eq!(error["message"], "Internal server error");

    postgres.resume().await;
    // The pool reconnects by itself: the same sockets chat again, newcomers get in.
    let back = Instant::now();
    let deadline = back + Duration::from_secs(15);
    loop {
        a.send(Message::text("after")).await.unwrap();
        let got = next_json(&mut b).await;
        if got["type"] == "chat" && got["text"] == "after" {
            eprintln!("recovered {:?} after the server was back", back.elapsed());
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {got}");
        // `a` may still get an error frame for a line sent while the pool reconnected.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut c = join(&url).await;
    a.send(Message::text("welcome back")).await.unwrap();
    assert_eq!(next_of(&mut c, "chat").await["text"], "welcome back");
    let ready = reqwest::get(format!("http://{}/readyz", node.push))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "ready again");
}

/// The chat functions over HTTP on their own runtime and thread, so that stopping them
/// ends every connection they hold, as a crash would.
struct FunctionServer {
    /// Where it listens (the same address after a restart).
    addr: SocketAddr,
    /// Ends its runtime.
    stop: Option<std::sync::mpsc::Sender<()>>,
    /// Its thread.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FunctionServer {
    fn start(addr: SocketAddr, store: Arc<dyn ConnectionStore>) -> FunctionServer {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready) = std::sync::mpsc::channel::<SocketAddr>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let listener = TcpListener::bind(addr).await.unwrap();
                ready_tx.send(listener.local_addr().unwrap()).unwrap();
                let functions = common::chat(store, None);
                tokio::spawn(async move {
                    axum::serve(listener, chat::server::router(functions)).await
                });
            });
            let _ = stopped.recv();
            // Every task and socket of the server goes with its runtime.
            runtime.shutdown_background();
        });
        let addr = ready.recv().unwrap();
        FunctionServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn kill(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for FunctionServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_server_outage_fails_fast_and_heals() {
    let store: Arc<dyn ConnectionStore> = Arc::new(MemoryStore::new());
    let mut functions = FunctionServer::start("127.0.0.1:0".parse().unwrap(), store.clone());
    let base = format!("http://{}", functions.addr);
    let app = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let push = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = app.local_addr().unwrap();
    let mode = FunctionMode::Http {
        routes: HttpRoutes::lifecycle(
            &format!("{base}/register"),
            &format!("{base}/transport"),
            &format!("{base}/cleanup"),
        ),
        dialect: wire::by_name("aws").unwrap(),
        route_responses: false,
    };
    let mut config = GatewayConfig::new(push.local_addr().unwrap(), mode);
    config.limits = Limits {
        function_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let gateway = Arc::new(Gateway::new(config).unwrap());
    tokio::spawn(gateway::run(gateway, app, push, std::future::pending()));
    let url = format!("ws://{app_addr}/ws?room=fn");
    let mut a = join(&url).await;
    let mut b = join(&url).await;

    functions.kill();
    // Register cannot run: 502 at once (the connection is refused, no timeout to wait).
    let (refused, took) = connect(&url).await;
    assert_eq!(refused.err(), Some(502));
    assert!(took < Duration::from_secs(2), "refused after {took:?}");
    eprintln!("function server outage: a handshake refused after {took:?}");
    // A message's transport fails: the sender hears it, and stays connected.
    a.send(Message::text("lost")).await.unwrap();
    let error = next_error(&mut a).await;
    assert_eq!(error["message"], "Internal server error");

    // Back on the same address: the same sockets work again, newcomers get in.
    let _functions = FunctionServer::start(functions.addr, store);
    a.send(Message::text("back")).await.unwrap();
    assert_eq!(next_of(&mut b, "chat").await["text"], "back");
    let mut c = join(&url).await;
    b.send(Message::text("hi c")).await.unwrap();
    assert_eq!(next_of(&mut c, "chat").await["text"], "hi c");
}

/// Five chat lines from `sender`, one after another: how long until `local` had them all.
async fn five_broadcasts(label: &str, sender: &mut Ws, local: &mut Ws) -> Duration {
    let started = Instant::now();
    for i in 0..5 {
        sender
            .send(Message::text(format!("{label} {i}")))
            .await
            .unwrap();
    }
    let mut each = Vec::new();
    for i in 0..5 {
        let got = next_of(local, "chat").await;
        assert_eq!(got["text"], format!("{label} {i}"));
        each.push(started.elapsed());
    }
    eprintln!("{label}: local deliveries at {each:?}");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "postgres"),
    ignore = "node B is the binary on PostgreSQL: build with --features postgres (./scripts/test does)"
)]
async fn a_hung_or_dead_peer_node_costs_one_timeout_not_one_per_broadcast() {
    use std::process::Stdio;
    let base = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let url = format!("{base}?namespace=peer_{}", std::process::id());
    let store: Arc<dyn ConnectionStore> = Arc::new(
        SqlxStore::open(
            SqlxConfig::with_url(&url)
                .unwrap()
                .with_clock(system_clock()),
        )
        .await
        .unwrap(),
    );
    let node_a = common::start_on_store(store.clone()).await;
    // Node B: the binary, over the same store.
    let mut b = Binary::launch()
        .args(["--store", &url, "--sweep-interval-secs", "0"])
        .stderr(Stdio::null())
        .start();
    let room = format!("peer{}", std::process::id());
    let on_a = room_url(node_a.app, &room);
    let on_b = room_url(b.app, &room);
    let mut sender = join(&on_a).await;
    let mut local = join(&on_a).await;
    let mut remote = join(&on_b).await;
    sender.send(Message::text("both nodes")).await.unwrap();
    assert_eq!(next_of(&mut remote, "chat").await["text"], "both nodes");
    assert_eq!(next_of(&mut local, "chat").await["text"], "both nodes");

    // Hung (SIGSTOP): B's port still accepts, nothing answers; a push to it waits for the
    // pusher's 5 s timeout. Five broadcasts in a row, sent one after another by one client
    // (its messages run in order): without a breaker each would wait, 25 s in all.
    b.signal("-STOP");
    let hung = five_broadcasts("hung", &mut sender, &mut local).await;
    assert!(
        hung < Duration::from_secs(9),
        "five broadcasts took {hung:?} with a hung peer: the timeout was paid more than once"
    );

    // Dead (SIGKILL): refused at once, and skipped while paused.
    b.signal("-KILL");
    b.wait();
    let dead = five_broadcasts("dead", &mut sender, &mut local).await;
    assert!(
        dead < Duration::from_secs(2),
        "five broadcasts took {dead:?} with a dead peer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "s3"),
    ignore = "the S3 store: build with --features s3 (./scripts/test does)"
)]
async fn an_object_store_outage_refuses_new_connections_quickly_and_heals() {
    use common::garage::PrivateGarage;
    let mut garage = tokio::task::spawn_blocking(PrivateGarage::start)
        .await
        .unwrap();
    let url = garage.url(&format!("outage{}", std::process::id()));
    let store = store::open(&url).await.unwrap();
    let node = common::start_on_store(store).await;
    let ws = format!("ws://{}/ws?room=s3outage", node.app);
    let mut a = join(&ws).await;
    let mut b = join(&ws).await;
    a.send(Message::text("before")).await.unwrap();
    assert_eq!(next_of(&mut b, "chat").await["text"], "before");

    tokio::task::block_in_place(|| garage.halt());
    let (refused, took) = connect(&ws).await;
    assert_eq!(refused.err(), Some(503), "a handshake during the outage");
    assert!(took < Duration::from_secs(5), "refused after {took:?}");
    eprintln!("garage outage: a handshake refused after {took:?}");
    a.send(Message::text("during")).await.unwrap();
    assert_eq!(next_error(&mut a).await["message"], "Internal server error");

    tokio::task::block_in_place(|| garage.resume());
    let back = Instant::now();
    let deadline = back + Duration::from_secs(15);
    loop {
        a.send(Message::text("after")).await.unwrap();
        let got = next_json(&mut b).await;
        if got["type"] == "chat" && got["text"] == "after" {
            eprintln!("recovered {:?} after the server was back", back.elapsed());
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {got}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut c = join(&ws).await;
    a.send(Message::text("welcome back")).await.unwrap();
    assert_eq!(next_of(&mut c, "chat").await["text"], "welcome back");
}

/// Functions reached through an invoke API that reports a crash as Lambda's does: 200 with
/// `X-Amz-Function-Error` and the error as the body. A crashed `$connect` refuses the
/// handshake (502), a crashed message handler gets the sender AWS's `Internal server
/// error` frame; a handler that does not crash is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_reported_as_lambda_reports_it_is_a_failure() {
    let crash = |kind: &'static str| {
        (
            [("x-amz-function-error", kind)],
            r#"{"errorMessage":"boom","errorType":"Error","stackTrace":[]}"#,
        )
    };
    let functions = axum::Router::new()
        .route(
            "/connect",
            axum::routing::post(move || async move { crash("Unhandled") }),
        )
        .route("/connect-ok", axum::routing::post(|| async { "{}" }))
        .route(
            "/message",
            axum::routing::post(move || async move { crash("Handled") }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, functions).await });
    let start = |connect: &str| {
        let mode = FunctionMode::Http {
            routes: HttpRoutes::lifecycle(
                &format!("{base}/{connect}"),
                &format!("{base}/message"),
                &format!("{base}/connect-ok"),
            ),
            dialect: wire::by_name("aws").unwrap(),
            route_responses: false,
        };
        async move {
            let app = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let push = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let app_addr = app.local_addr().unwrap();
            let config = GatewayConfig::new(push.local_addr().unwrap(), mode);
            let gateway = Arc::new(Gateway::new(config).unwrap());
            tokio::spawn(gateway::run(gateway, app, push, std::future::pending()));
            format!("ws://{app_addr}/ws")
        }
    };
    let crashing = start("connect").await;
    let (refused, _) = connect(&crashing).await;
    assert_eq!(refused.err(), Some(502));

    let fine = start("connect-ok").await;
    let (ws, _) = connect(&fine).await;
    let mut ws = ws.expect("a $connect that does not crash accepts");
    ws.send(Message::text("hello")).await.unwrap();
    let error = next_error(&mut ws).await;
    assert_eq!(error["message"], "Internal server error");
}

/// A store that stops answering (a test store behind a gate, as a deadlocked embedded
/// database would): with a 1 s deadline, a handshake is refused 503 and `/readyz` says
/// `store timed out` within the deadline and a second; a chat line gets an error frame;
/// once the store answers again, the node is ready and takes newcomers without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_stops_answering_is_cut_off_at_the_deadline_and_the_node_recovers() {
    let deadline = Duration::from_secs(1);
    let gated = store_core::Gated::new(Arc::new(MemoryStore::new()));
    let store = store_core::Metered::wrap_with_deadline(Arc::new(gated.clone()), deadline);
    let node = common::start_on_store(store).await;
    let url = format!("ws://{}/ws?room=stuck", node.app);
    let readyz = format!("http://{}/readyz", node.push);
    let mut a = join(&url).await;
    assert_eq!(reqwest::get(&readyz).await.unwrap().status(), 200);

    gated.shut();
    let (refused, took) = connect(&url).await;
    assert_eq!(
        refused.err(),
        Some(503),
        "a handshake while the store hangs"
    );
    assert!(
        took < deadline + Duration::from_secs(1),
        "refused after {took:?}"
    );
    let started = Instant::now();
    let ready = reqwest::get(&readyz).await.unwrap();
    assert!(started.elapsed() < deadline + Duration::from_secs(1));
    assert_eq!(ready.status(), 503);
    let why: Value = ready.json().await.unwrap();
    assert_eq!(why["why"], "store timed out", "{why}");
    assert!(
        why["detail"].as_str().unwrap().contains("register"),
        "{why}"
    );
    a.send(Message::text("while stuck")).await.unwrap();
    assert_eq!(next_error(&mut a).await["message"], "Internal server error");

    gated.open();
    let give_up = Instant::now() + Duration::from_secs(10);
    while reqwest::get(&readyz).await.unwrap().status() != 200 {
        assert!(Instant::now() < give_up, "never ready again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut b = join(&url).await;
    a.send(Message::text("back")).await.unwrap();
    assert_eq!(next_of(&mut b, "chat").await["text"], "back");
}
