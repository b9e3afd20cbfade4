//! The serverless WebSocket gateway: it holds the sockets and turns their lifecycle into
//! function invocations — register on connect (deciding the handshake), transport on each
//! message, cleanup on disconnect — while functions reach connections through its push-back
//! API. It speaks the clouds' dialects (AWS API Gateway + Lambda, Tencent API Gateway +
//! SCF) to functions over HTTP, or calls an [`App`](lifecycle::App) linked in; it knows
//! nothing of what the app does.
//!
//! # Layout
//! - `config`: [`GatewayConfig`], [`Limits`], [`FunctionMode`], [`HttpRoutes`], [`PushAuth`].
//! - `dialect/`: one module per cloud: its events, answers, push routes and errors.
//! - `functions/`: invoking the functions (linked in, or over HTTP by route).
//! - `handshake`: register before the upgrade; the handshake's answer is register's.
//! - `socket`: one upgraded WebSocket: writes under a deadline, a bounded write buffer,
//!   the close handshake and close codes as RFC 6455 says.
//! - `session`: one upgraded connection (limits, pings, timeouts, cleanup).
//! - `transport`: a connection's messages through transport, on a task started lazily.
//! - `hub`: the connections this node holds (bounded outbound queues).
//! - `node_pusher`: [`NodePusher`], a linked-in app's pushes (this node's hub directly,
//!   other nodes over HTTP).
//! - `push_api/`: the push-back listener: every dialect's routes and the batch call.
//! - `auth/`: bearer token and AWS Signature V4 checks for the push API.
//! - `metrics`: the node's metrics (names, labels) and the recorder the binary installs.
//! - `ops`: `/healthz`, `/readyz`, `/metrics`.
//! - `serve`: the listeners' accept loop, with a bound on a request head's arrival.
//! - `sessions`, `ids`: counting live sessions for shutdown; ids and time formats.
//! - `lib.rs`: [`Gateway`], its routes and [`run`].

mod auth;
mod config;
pub mod dialect;
mod functions;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod hub;
mod ids;
pub mod metrics;
mod node_pusher;
mod ops;
mod push_api;
mod serve;
mod session;
mod sessions;
mod socket;
mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{
    AliyunConfig, CredentialError, FunctionMode, GatewayConfig, HttpRoutes, Limits, Naming,
    PushAuth, SigV4Key,
};
pub use dialect::{Dialect, NodeInfo};
pub use functions::{Functions, InvokeError, RouteSelection};
pub use hub::{Hub, QueueBound};
pub use node_pusher::NodePusher;

/// Close codes the gateway uses.
pub mod close_code {
    /// Normal closure (max age, closed by a function).
    pub const NORMAL: u16 = 1000;
    /// Server going away (graceful shutdown, idle timeout, lost pongs).
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error (reserved bits, an unmasked frame, a bad opcode or close payload).
    pub const PROTOCOL: u16 = 1002;
    /// A text message (or close reason) that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// Policy violation (rate limit, too many messages in flight).
    pub const POLICY: u16 = 1008;
    /// Message too big.
    pub const TOO_BIG: u16 = 1009;
    /// Server error (a Tencent transport function failed).
    pub const SERVER_ERROR: u16 = 1011;
    /// The client did not read fast enough (its outbound queue filled, or a write to it
    /// outlived the write deadline).
    pub const TOO_SLOW: u16 = 4408;
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
    sessions: Arc<sessions::Sessions>,
    /// HTTP client for calls the node makes itself (Alibaba API calls, forwarded notifies).
    http: reqwest::Client,
}

impl Gateway {
    /// A node with `config`.
    pub fn new(config: GatewayConfig) -> Result<Self, String> {
        Self::with_hub(config, Arc::default())
    }

    /// A node with `config` holding its connections in `hub` — made first when a linked-in
    /// app pushes to it directly ([`NodePusher`]).
    pub fn with_hub(config: GatewayConfig, hub: Arc<Hub>) -> Result<Self, String> {
        let node = NodeInfo::new(
            &config.push_url,
            &config.naming.stage,
            &config.naming.api_id,
        );
        // An empty credential would let in anyone who knows its id (or nothing at all).
        config
            .push_auth
            .validate()
            .map_err(|e| format!("push API credentials: {e}"))?;
        let functions = Functions::new(&config.functions, node)?;
        // No redirects: a backend's 3xx goes back to the device, never to another host.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Gateway {
            config,
            hub,
            functions,
            sessions: Arc::default(),
            http,
        })
    }
}

/// `GET /`: the app's page; a WebSocket upgrade there is Alibaba's channel (its Java SDK
/// connects to the bare host).
async fn root(
    state: State<handshake::AppState>,
    peer: ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) if state.0.0.config.aliyun.enabled => {
            dialect::aliyun::channel::upgrade(state, peer, uri, headers, ws).await
        }
        Ok(_) => (StatusCode::NOT_FOUND, "no WebSocket here: connect to /ws").into_response(),
        Err(_) => page(&state.0.0),
    }
}

fn page(gateway: &Gateway) -> Response {
    match gateway.config.page {
        Some(page) => ([(header::CACHE_CONTROL, "no-cache")], Html(page)).into_response(),
        None => (StatusCode::NOT_FOUND, "no page: connect a WebSocket to /ws").into_response(),
    }
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
    let mut app_router = Router::new()
        .route("/", get(root))
        .route("/ws", get(handshake::upgrade));
    for dialect in dialect::ALL {
        if let Some(channel) = dialect.channel_routes(&gateway.config) {
            app_router = app_router.merge(channel);
        }
    }
    let app_router = app_router
        .with_state((gateway.clone(), stop_rx.clone()))
        .merge(ops::router(gateway.clone(), stop_rx.clone(), false));
    let push_state = push_api::PushState {
        hub: gateway.hub.clone(),
        max_frame: gateway.config.limits.max_message_bytes,
        gateway: gateway.clone(),
    };
    let push_router = push_api::router(push_state, gateway.config.push_auth.clone())
        .route_layer(axum::middleware::from_fn(ops::count_push_call))
        .merge(ops::router(gateway.clone(), stop_rx.clone(), true));
    if let Some(handle) = gateway.config.metrics.clone() {
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(metrics::UPKEEP);
            loop {
                tokio::select! {
                    _ = tick.tick() => handle.run_upkeep(),
                    _ = stop.changed() => return,
                }
            }
        });
    }
    let head_timeout = gateway.config.limits.header_timeout;
    let app_task = tokio::spawn(serve::serve(app, app_router, head_timeout, stop_rx.clone()));
    // The push API stays up until the sessions' cleanups are done (they push leave
    // notices through it), then it is stopped.
    let (_push_stop, push_stop_rx) = watch::channel(false);
    let push_task = tokio::spawn(serve::serve(push, push_router, head_timeout, push_stop_rx));
    shutdown.await;
    let _ = stop_tx.send(true);
    gateway.sessions.drained(Duration::from_secs(10)).await;
    app_task.abort();
    push_task.abort();
    Ok(())
}
