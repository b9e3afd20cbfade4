//! The serverless WebSocket gateway: it holds the sockets and turns their lifecycle into
//! function invocations — register on connect, transport on each message, cleanup on
//! disconnect — while functions reach connections through its push-back API. It also
//! serves the browser chat page.
//!
//! # Layout
//! - `config`: [`GatewayConfig`], [`Limits`], [`FunctionMode`].
//! - `hub`: the connections this node holds (bounded outbound queues).
//! - `functions`: invoking the functions, linked in or over HTTP.
//! - `session`: one connection from upgrade to cleanup (limits, pings, timeouts).
//! - `push_api`: the push-back API (Tencent reverse push, AWS `@connections`, batch).
//! - `lib.rs`: [`Gateway`], its routes and [`run`].

mod config;
mod functions;
mod hub;
mod push_api;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Query, State, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chat::{ChatFunctions, HttpPusher};
use serde::Deserialize;
use store_core::{ConnectionStore, RoomName};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use config::{FunctionMode, GatewayConfig, Limits};
pub use functions::Functions;
pub use hub::Hub;

/// The chat page, served at `/` (plain HTML + JS, no build step).
const PAGE: &str = include_str!("../static/index.html");

/// Counts live sessions so shutdown can wait for their cleanups.
#[derive(Debug, Default)]
pub struct Sessions {
    /// Live sessions.
    live: AtomicUsize,
    /// Signalled when the count drops.
    dropped: Notify,
}

/// Decrements the session count when a session ends, however it ends.
#[derive(Debug)]
pub struct SessionGuard<'a>(&'a Sessions);

impl Sessions {
    fn enter(&self) -> SessionGuard<'_> {
        self.live.fetch_add(1, Ordering::SeqCst);
        SessionGuard(self)
    }

    /// Waits until no session is live, or `limit` passes.
    async fn drained(&self, limit: Duration) {
        let wait = async {
            while self.live.load(Ordering::SeqCst) > 0 {
                let dropped = self.dropped.notified();
                if self.live.load(Ordering::SeqCst) == 0 {
                    break;
                }
                dropped.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        self.0.dropped.notify_waiters();
    }
}

/// One gateway node.
#[derive(Debug)]
pub struct Gateway {
    /// Settings.
    pub config: GatewayConfig,
    /// This node's connections.
    pub hub: Arc<Hub>,
    /// Where the lifecycle functions run.
    pub functions: Functions,
    /// Live sessions, for graceful shutdown.
    sessions: Sessions,
}

impl Gateway {
    /// A node whose functions use `store` (in-process mode) or the configured URLs.
    pub fn new(config: GatewayConfig, store: Arc<dyn ConnectionStore>) -> Result<Self, String> {
        let functions = match &config.functions {
            FunctionMode::InProcess { lease } => {
                let pusher = Arc::new(HttpPusher::new(config.push_token.clone())?);
                Functions::InProcess(Arc::new(ChatFunctions::new(store, pusher, *lease)))
            }
            FunctionMode::Http {
                register,
                transport,
                cleanup,
                shape,
            } => Functions::Http {
                client: reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .build()
                    .map_err(|e| format!("http client: {e}"))?,
                urls: [register.clone(), transport.clone(), cleanup.clone()],
                shape: *shape,
            },
        };
        Ok(Gateway {
            config,
            hub: Arc::default(),
            functions,
            sessions: Sessions::default(),
        })
    }
}

#[derive(Debug, Deserialize)]
struct WsQuery {
    room: Option<String>,
}

async fn page() -> Response {
    ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE)).into_response()
}

async fn upgrade(
    State((gateway, shutdown)): State<(Arc<Gateway>, watch::Receiver<bool>)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let room = query.room.unwrap_or_else(|| "lobby".to_owned());
    if let Err(err) = RoomName::new(room.as_str()) {
        return (StatusCode::BAD_REQUEST, err.to_string()).into_response();
    }
    if gateway.hub.len() >= gateway.config.limits.max_connections {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    }
    let max = gateway.config.limits.max_message_bytes;
    // The socket layer refuses frames far over the limit; the session closes with 1009
    // for anything over it.
    ws.max_message_size(max + 1024)
        .max_frame_size(max + 1024)
        .on_upgrade(move |socket| session::run(gateway, socket, room, peer, shutdown))
}

/// Serves the page and `/ws` on `app`, the push-back API on `push`, until `shutdown`
/// resolves; then closes every connection (1001), runs their cleanups, and returns.
pub async fn run(
    gateway: Arc<Gateway>,
    app: TcpListener,
    push: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let app_router = Router::new()
        .route("/", get(page))
        .route("/ws", get(upgrade))
        .with_state((gateway.clone(), stop_rx.clone()));
    let push_router = push_api::router(push_api::PushState {
        hub: gateway.hub.clone(),
        token: gateway.config.push_token.clone(),
    });
    let mut app_stop = stop_rx.clone();
    let app_server = axum::serve(
        app,
        app_router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = app_stop.changed().await;
    });
    // The push API stays up until the sessions' cleanups are done (they push leave
    // notices through it), then it is stopped.
    let push_task = tokio::spawn(async move { axum::serve(push, push_router).await });
    let app_task = tokio::spawn(async move { app_server.await });
    shutdown.await;
    let _ = stop_tx.send(true);
    gateway.sessions.drained(Duration::from_secs(10)).await;
    app_task.abort();
    push_task.abort();
    Ok(())
}
