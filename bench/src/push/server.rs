//! The server `bench push` drives, in a child process of the bench binary (so its CPU time
//! is its own): a gateway node whose app tells each client its connection id, with its
//! push API as a user runs it (one credential kind), and beside it, on a listener of its
//! own, the floor: a bare hyper handler that parses the same `PostToConnection` request
//! and hands the frame to the same hub, with no routing, no credential check, no request
//! metrics (the hub's own delivery counters count on both sides).
//! Prints `ready <app> <push> <floor>` once listening; exits when stdin closes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use gateway::hub::Outbound;
use gateway::{FunctionMode, Gateway, GatewayConfig, Hub, Limits, PushAuth, SigV4Key};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use lifecycle::{App, AppError, Delivery, EventKind, LifecycleEvent, Payload, Reply};
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;

use crate::fanout::server::stdin_closed;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a client sends to learn its connection id.
pub const WHOAMI: &str = "whoami";
/// The bearer token of the `bearer` runs.
pub const TOKEN: &str = "bench-push-token-0123456789abcdef";
/// The key of the `sigv4` runs (the callers sign with it, as a function's SDK would).
pub const KEY_ID: &str = "AKIDBENCHPUSH";
/// Its secret.
pub const SECRET: &str = "bench/push/secret/0123456789abcdefghijklmnop";

/// Who may call the push API in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// The push API is open (no credential configured).
    None,
    /// `Authorization: Bearer …`.
    Bearer,
    /// AWS Signature V4, as the SDKs sign.
    Sigv4,
}

impl AuthKind {
    /// Every kind, in report order.
    pub const ALL: [AuthKind; 3] = [AuthKind::None, AuthKind::Bearer, AuthKind::Sigv4];

    /// Its name in the command line and the report.
    pub fn name(self) -> &'static str {
        match self {
            AuthKind::None => "none",
            AuthKind::Bearer => "bearer",
            AuthKind::Sigv4 => "sigv4",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Result<AuthKind, String> {
        AuthKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| format!("unknown auth `{name}` (none, bearer, sigv4)"))
    }

    /// What the node accepts.
    fn push_auth(self) -> Result<PushAuth, BoxError> {
        Ok(match self {
            AuthKind::None => PushAuth::default(),
            AuthKind::Bearer => PushAuth {
                token: Some(TOKEN.into()),
                ..PushAuth::default()
            },
            AuthKind::Sigv4 => PushAuth {
                sigv4: Some(SigV4Key::new(KEY_ID, SECRET)?),
                ..PushAuth::default()
            },
        })
    }
}

/// The app of the push benchmark: accepts every connection and answers `whoami` with the
/// caller's connection id (the callers push to those ids).
#[derive(Debug)]
struct WhoAmI;

#[async_trait]
impl App for WhoAmI {
    async fn handle(&self, event: &LifecycleEvent) -> Result<Reply, AppError> {
        let asks = matches!(&event.payload, Some(Payload::Text(text)) if text == WHOAMI);
        Ok(match event.kind {
            EventKind::Message { .. } if asks => {
                Reply::ok().with_frame(Payload::Text(event.connection_id().to_owned()))
            }
            _ => Reply::ok(),
        })
    }
}

/// The node and its floor, over one hub, the node's push API taking `auth`, its metrics
/// recorded as the binary records them.
pub async fn serve_push(auth: AuthKind) -> Result<(), BoxError> {
    let app = TcpListener::bind("127.0.0.1:0").await?;
    let push = TcpListener::bind("127.0.0.1:0").await?;
    let floor = TcpListener::bind("127.0.0.1:0").await?;
    let hub = Arc::new(Hub::default());
    let mut config = GatewayConfig::new(
        push.local_addr()?,
        FunctionMode::InProcess(Arc::new(WhoAmI)),
    );
    config.push_auth = auth.push_auth()?;
    config.metrics = Some(gateway::metrics::install()?);
    config.limits = Limits {
        idle_timeout: Duration::from_secs(3600),
        messages_per_second: 1_000_000,
        // A client that falls behind a burst is the bench's clients' limit, not the node's.
        outbound_queue: 16_384,
        outbound_queue_bytes: 64 * 1024 * 1024,
        ..Limits::default()
    };
    let max_frame = config.limits.max_message_bytes;
    let gateway = Arc::new(Gateway::builder(config).hub(hub.clone()).build()?);
    println!(
        "ready {} {} {}",
        app.local_addr()?,
        push.local_addr()?,
        floor.local_addr()?
    );
    tokio::spawn(serve_floor(floor, hub, max_frame));
    gateway::run(gateway, app, push, stdin_closed()).await?;
    Ok(())
}

/// The floor's accept loop: every connection served by hyper's HTTP/1.1, keep-alive.
async fn serve_floor(listener: TcpListener, hub: Arc<Hub>, max_frame: usize) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let hub = hub.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let hub = hub.clone();
                async move { Ok::<_, Infallible>(post_to_connection(&hub, request, max_frame).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// `POST …/@connections/{id}`: the id from the path, the body (at most a frame) as the
/// frame, queued on the hub; 200, 410 for an unknown id, 400/413 for a request it cannot
/// take.
async fn post_to_connection(
    hub: &Hub,
    request: Request<Incoming>,
    max_frame: usize,
) -> Response<Full<Bytes>> {
    let id = request
        .uri()
        .path()
        .split_once("/@connections/")
        .map(|(_, id)| percent_decode_str(id).decode_utf8_lossy().into_owned());
    let Some(id) = id.filter(|_| request.method() == hyper::Method::POST) else {
        return answer(StatusCode::BAD_REQUEST);
    };
    let body = match Limited::new(request.into_body(), max_frame).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return answer(StatusCode::PAYLOAD_TOO_LARGE),
    };
    match hub.send(&id, Outbound::from_body(body)) {
        Delivery::Sent => answer(StatusCode::OK),
        Delivery::Gone | Delivery::Overflow => answer(StatusCode::GONE),
    }
}

fn answer(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
