//! Invoking the functions: an app linked in, or HTTP functions in a cloud's dialect.
//!
//! # Layout
//! - `codec.rs`: [`FunctionCodec`] (a wire's event JSON and answer semantics), [`NodeInfo`].
//! - `mode.rs`: [`FunctionMode`] and [`HttpRoutes`], where the functions run, as settings.
//! - `routes.rs`: the route selection expression (`$request.body.action`) and picking a
//!   message's route.
//! - `mod.rs`: [`Functions`], one `invoke` whatever runs them; [`InvokeError`]; [`event`],
//!   the event of a connection now.
//! - `authorizer.rs`: `$connect` REQUEST authorizers (AWS), deciding a handshake first.
//! - `hosted.rs`: routes to functions the node runs itself (the Lambda Runtime API).

pub mod authorizer;
mod codec;
pub mod hosted;
mod mode;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use function_host::Host;
use lifecycle::{App, ConnectionInfo, EventKind, LifecycleEvent, Payload, Reply};

pub use codec::{FunctionCodec, NodeInfo};
pub use mode::{FunctionMode, HttpRoutes};
pub use routes::{BadRouteSelection, RouteSelection};

use crate::ids::now_ms;

/// A header name as clients write it and AWS passes it on (`Host`, `Sec-WebSocket-Key`,
/// `X-Forwarded-For`): HTTP/1 servers here see names lower-cased.
pub fn header_case(name: &str) -> String {
    name.split('-')
        .map(|word| match word {
            "websocket" => "WebSocket".to_owned(),
            word => {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The event of kind `kind` for `info`, now, with a fresh request id.
pub fn event(
    info: &Arc<ConnectionInfo>,
    kind: EventKind,
    payload: Option<Payload>,
) -> LifecycleEvent {
    LifecycleEvent {
        kind,
        connection: info.clone(),
        request_id: crate::ids::request_id(),
        at_ms: now_ms(),
        payload,
    }
}

/// A function did not answer: the gateway refuses a handshake with 504 / 502 / 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// It took longer than the function timeout.
    #[error("function timed out after {0:?}")]
    TimedOut(Duration),
    /// It failed (unreachable, a 5xx, an error of the app).
    #[error("function failed: {message}")]
    Failed {
        /// What failed.
        message: String,
        /// A dependency is temporarily down (503 rather than 502 at a handshake).
        unavailable: bool,
    },
}

impl InvokeError {
    fn failed(message: impl Into<String>) -> Self {
        InvokeError::Failed {
            message: message.into(),
            unavailable: false,
        }
    }
}

/// Where the functions are.
#[derive(Debug, Clone)]
pub enum Functions {
    /// Linked into this process.
    InProcess(Arc<dyn App>),
    /// Reached by POSTing each event in `dialect`'s shape.
    Http(Box<HttpFunctions>),
}

/// Functions behind HTTP.
#[derive(Debug, Clone)]
pub struct HttpFunctions {
    /// Pooled HTTP client.
    client: reqwest::Client,
    /// URLs by route.
    routes: HttpRoutes,
    /// Event shapes and answer semantics.
    dialect: &'static dyn FunctionCodec,
    /// Whether message answers' bodies go back to the caller.
    route_responses: bool,
    /// How this node names itself in events.
    node: NodeInfo,
    /// The functions this node runs itself, which routes may name by ARN.
    host: Option<Arc<Host>>,
}

/// Largest function answer read (a Lambda response payload is at most 6 MB).
const MAX_ANSWER_BYTES: usize = 6 * 1024 * 1024;

/// Why an answer's body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The connection failed mid-body.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The body is longer than the reader takes.
    #[error("the answer is over {0} bytes")]
    TooLong(usize),
}

/// The body of `response`, refusing one over `limit` bytes.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLong(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The route key of messages no named route takes.
pub const DEFAULT_ROUTE: &str = "$default";

impl Functions {
    /// The functions of `mode`, naming this node as `node` in events, with the functions
    /// `host` runs for routes that name them; `Err` when no HTTP client can be made (no
    /// TLS roots).
    pub fn new(
        mode: &FunctionMode,
        node: NodeInfo,
        host: Option<Arc<Host>>,
    ) -> Result<Self, reqwest::Error> {
        Ok(match mode {
            FunctionMode::InProcess(app) => Functions::InProcess(app.clone()),
            FunctionMode::Http {
                routes,
                dialect,
                route_responses,
            } => Functions::Http(Box::new(HttpFunctions {
                dialect: *dialect,
                client: reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .build()?,
                routes: routes.clone(),
                route_responses: *route_responses,
                node,
                host,
            })),
        })
    }

    /// Stops the functions the node runs itself, if any (none left behind).
    pub async fn shutdown(&self) {
        if let Functions::Http(http) = self
            && let Some(host) = &http.host
        {
            host.shutdown().await;
        }
    }

    /// The `host:port` events name as the node's domain (AWS `domainName`); empty for an
    /// app linked in.
    pub fn domain(&self) -> &str {
        match self {
            Functions::InProcess(_) => "",
            Functions::Http(http) => &http.node.domain,
        }
    }

    /// The dialect of HTTP functions (`aws`, `tencent`); `None` for an app linked in.
    pub fn dialect(&self) -> Option<&'static str> {
        match self {
            Functions::InProcess(_) => None,
            Functions::Http(http) => Some(http.dialect.name()),
        }
    }

    /// Whether a connection's messages run concurrently (HTTP functions of a dialect that
    /// invokes so); an app linked in gets them one at a time, in order.
    pub fn concurrent_messages(&self) -> bool {
        match self {
            Functions::InProcess(_) => false,
            Functions::Http(http) => http.dialect.concurrent_messages(),
        }
    }

    /// The route a message takes, or `None` when no route takes it (no match and no
    /// `$default`): the caller gets AWS's `Forbidden` error frame.
    pub fn route(&self, payload: &Payload) -> Option<String> {
        match self {
            Functions::InProcess(_) => Some(DEFAULT_ROUTE.to_owned()),
            Functions::Http(http) => routes::pick(&http.routes, payload),
        }
    }

    /// Runs the function for `event`, failing after `timeout`. A failure the dialect gives
    /// a meaning to (Tencent drops a client whose transport failed) comes back as its reply.
    pub async fn invoke(
        &self,
        event: &LifecycleEvent,
        timeout: Duration,
    ) -> Result<Reply, InvokeError> {
        // Boxed: a call's future (an HTTP request, an app's handler) is large, and every
        // connection's task keeps room for the cleanup it will one day run.
        let started = std::time::Instant::now();
        // A function the node runs bounds its own calls (a cold start, then its timeout).
        let timeout = match self {
            Functions::Http(http) => http.hosted_bound(event).unwrap_or(timeout),
            Functions::InProcess(_) => timeout,
        };
        let result = match tokio::time::timeout(timeout, Box::pin(self.call(event))).await {
            Ok(result) => result,
            Err(_) => Err(InvokeError::TimedOut(timeout)),
        };
        let function = match event.kind {
            EventKind::Connect => "connect",
            EventKind::Message { .. } => "message",
            EventKind::Disconnect { .. } => "disconnect",
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(InvokeError::TimedOut(_)) => "timed_out",
            Err(InvokeError::Failed { .. }) => "failed",
        };
        crate::metrics::function_call(function, outcome, started.elapsed());
        match (result, self) {
            (Err(err), Functions::Http(http)) => http.dialect.failed(event, &err).ok_or(err),
            (result, _) => result,
        }
    }

    async fn call(&self, event: &LifecycleEvent) -> Result<Reply, InvokeError> {
        match self {
            Functions::InProcess(app) => app.handle(event).await.map_err(|e| InvokeError::Failed {
                message: e.message,
                unavailable: e.unavailable,
            }),
            Functions::Http(http) => http.call(event).await,
        }
    }
}

impl HttpFunctions {
    /// The function `event` goes to: a URL, or a hosted function's ARN.
    fn target(&self, event: &LifecycleEvent) -> Option<&String> {
        match &event.kind {
            EventKind::Connect => self.routes.connect.as_ref(),
            EventKind::Disconnect { .. } => self.routes.disconnect.as_ref(),
            EventKind::Message { route } => self
                .routes
                .custom
                .get(route)
                .or(self.routes.default.as_ref()),
        }
    }

    /// How long `event`'s call may take when the node runs its function.
    fn hosted_bound(&self, event: &LifecycleEvent) -> Option<Duration> {
        let name = hosted::function_name(self.target(event)?)?;
        hosted::bound(self.host.as_deref(), name)
    }

    async fn call(&self, event: &LifecycleEvent) -> Result<Reply, InvokeError> {
        // A lifecycle step with no function configured succeeds (as a cloud gateway
        // without that route does).
        let Some(url) = self.target(event) else {
            return Ok(Reply::ok());
        };
        if let Some(name) = hosted::function_name(url) {
            let body = serde_json::to_vec(&self.dialect.event(event, &self.node))
                .map_err(|e| InvokeError::failed(format!("function {name}: the event: {e}")))?;
            let answer = hosted::invoke(self.host.as_deref(), name, body).await?;
            return Ok(self.reply(event, 200, &answer));
        }
        let response = self
            .client
            .post(url)
            .json(&self.dialect.event(event, &self.node))
            .send()
            .await
            .map_err(|e| InvokeError::failed(format!("{url}: {e}")))?;
        let status = response.status().as_u16();
        // Lambda's Invoke API answers a crashed function 200 with `X-Amz-Function-Error`
        // (`Handled`, `Unhandled`); Function Compute's with `X-Fc-Error-Type`.
        let crashed = ["x-amz-function-error", "x-fc-error-type"]
            .iter()
            .find_map(|name| response.headers().get(*name))
            .map(|kind| String::from_utf8_lossy(kind.as_bytes()).into_owned());
        let body = read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| InvokeError::failed(format!("{url}: reading the answer: {e}")))?;
        if let Some(kind) = crashed {
            let said = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            return Err(InvokeError::failed(format!(
                "{url}: the function failed ({kind}): {said}"
            )));
        }
        if status >= 500 {
            return Err(InvokeError::Failed {
                message: format!("{url} answered HTTP {status}"),
                unavailable: status == 503,
            });
        }
        Ok(self.reply(event, status, &body))
    }

    /// A function's answer, as the dialect reads it (the body dropped for a message
    /// on a route without a route response).
    fn reply(&self, event: &LifecycleEvent, status: u16, body: &[u8]) -> Reply {
        let mut reply = self.dialect.answer(event, status, body);
        let two_way = match &event.kind {
            EventKind::Message { route } => {
                self.route_responses || self.routes.two_way.contains(route)
            }
            _ => self.route_responses,
        };
        if !two_way {
            reply.frame = None;
        }
        reply
    }
}
