//! The two ends of a push: the callers, keep-alive HTTP clients posting `PostToConnection`
//! (reqwest with no credential or a bearer token; AWS's own Rust SDK,
//! `aws-sdk-apigatewaymanagement`, signing with SigV4 as a function's code does), and the
//! recipients, WebSocket clients that learn their connection id and count what arrives.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_apigatewaymanagement as apigw;
use futures::{SinkExt, StreamExt};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

use super::server::{AuthKind, KEY_ID, SECRET, TOKEN, WHOAMI};
use crate::ws;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A caller of one push endpoint (`http://host:port/{stage}`), with one credential kind.
#[derive(Debug)]
pub enum Caller {
    /// reqwest, keep-alive, with a bearer token or none.
    Plain {
        /// The pooled client.
        client: reqwest::Client,
        /// `…/{stage}/@connections/`.
        base: String,
        /// The token, for `bearer`.
        token: Option<&'static str>,
    },
    /// AWS's SDK, signing every call.
    Sdk(apigw::Client),
}

impl Caller {
    /// A caller of `endpoint` (`http://host:port/{stage}`) with `auth`.
    pub fn new(auth: AuthKind, endpoint: &str) -> Result<Caller, BoxError> {
        Ok(match auth {
            AuthKind::None | AuthKind::Bearer => Caller::Plain {
                client: reqwest::Client::builder()
                    .tcp_nodelay(true)
                    .pool_max_idle_per_host(1024)
                    .build()?,
                base: format!("{endpoint}/@connections/"),
                token: (auth == AuthKind::Bearer).then_some(TOKEN),
            },
            AuthKind::Sigv4 => {
                let credentials =
                    apigw::config::Credentials::new(KEY_ID, SECRET, None, None, "bench");
                let config = apigw::Config::builder()
                    .behavior_version(apigw::config::BehaviorVersion::latest())
                    .endpoint_url(endpoint)
                    .region(apigw::config::Region::new("us-east-1"))
                    .credentials_provider(credentials)
                    .retry_config(apigw::config::retry::RetryConfig::disabled())
                    .build();
                Caller::Sdk(apigw::Client::from_conf(config))
            }
        })
    }

    /// What makes the calls, for the report.
    pub fn describe(&self) -> &'static str {
        match self {
            Caller::Plain { .. } => "reqwest (keep-alive)",
            Caller::Sdk(_) => "aws-sdk-apigatewaymanagement (SigV4)",
        }
    }

    /// Posts `data` to connection `id`; `Err` unless it was accepted.
    pub async fn push(&self, id: &str, data: &'static [u8]) -> Result<(), BoxError> {
        match self {
            Caller::Plain {
                client,
                base,
                token,
            } => {
                let url = format!("{base}{}", utf8_percent_encode(id, NON_ALPHANUMERIC));
                let mut request = client.post(url).body(data);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let status = request.send().await?.status();
                if status != reqwest::StatusCode::OK {
                    return Err(format!("a push was answered {status}").into());
                }
            }
            Caller::Sdk(client) => {
                client
                    .post_to_connection()
                    .connection_id(id)
                    .data(apigw::primitives::Blob::new(data))
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "a signed push failed: {}",
                            apigw::error::DisplayErrorContext(e)
                        )
                    })?;
            }
        }
        Ok(())
    }
}

/// Makes `pushes` calls through `caller`, `concurrency` at a time, round robin over `ids`;
/// each call's time from sent to answered.
pub async fn drive(
    caller: &Arc<Caller>,
    ids: &Arc<Vec<String>>,
    pushes: usize,
    concurrency: usize,
    data: &'static [u8],
) -> Result<Vec<Duration>, BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (caller, ids, next) = (caller.clone(), ids.clone(), next.clone());
            tokio::spawn(async move {
                let mut times = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= pushes {
                        return Ok::<_, BoxError>(times);
                    }
                    let started = Instant::now();
                    caller.push(&ids[i % ids.len()], data).await?;
                    times.push(started.elapsed());
                }
            })
        })
        .collect();
    let mut times = Vec::with_capacity(pushes);
    for task in tasks {
        times.extend(task.await??);
    }
    Ok(times)
}

/// Frames the recipients have received, all together.
#[derive(Debug, Default)]
pub struct Received {
    /// Frames so far.
    frames: AtomicU64,
    /// Woken at every frame a waiter may be waiting for.
    notify: Notify,
}

impl Received {
    /// Frames received so far.
    pub fn count(&self) -> u64 {
        self.frames.load(Ordering::Acquire)
    }

    /// Waits until `n` frames have arrived in all; `Err` after `limit`.
    pub async fn reached(&self, n: u64, limit: Duration) -> Result<(), BoxError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Registered before the check, so a frame in between is not missed.
            let notified = self.notify.notified();
            if self.count() >= n {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(format!("{} of {n} pushes reached their clients", self.count()).into());
            }
        }
    }
}

/// Connects `n` clients to `ws://{addr}/ws`, asks each its id and keeps reading (counting
/// into `received`) until the server closes. Returns the ids.
pub async fn connect_recipients(
    addr: std::net::SocketAddr,
    n: usize,
    received: &Arc<Received>,
) -> Result<Vec<String>, BoxError> {
    let url = format!("ws://{addr}/ws");
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let config = Some(crate::fanout::client_socket_config());
        let socket = ws::connect(&url, config, Duration::from_secs(30)).await?;
        let (mut sink, mut stream) = socket.split();
        sink.send(Message::text(WHOAMI)).await?;
        let id = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .map_err(|_| "no answer to whoami within 30 s")?
            .ok_or("the server closed before answering whoami")??;
        let Message::Text(id) = id else {
            return Err(format!("whoami answered {id:?}").into());
        };
        ids.push(id.to_string());
        let received = received.clone();
        tokio::spawn(async move {
            // The write half lives as long as the reader, so the socket stays open.
            let _sink = sink;
            while let Some(Ok(message)) = stream.next().await {
                if message.is_text() || message.is_binary() {
                    received.frames.fetch_add(1, Ordering::AcqRel);
                    received.notify.notify_waiters();
                }
            }
        });
    }
    Ok(ids)
}
