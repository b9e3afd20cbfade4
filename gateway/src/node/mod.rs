//! The node: [`Gateway`] (every floor put together), its [`GatewayBuilder`], and [`run`],
//! which serves it on two listeners; [`NodePusher`], how an app linked in pushes.
//!
//! # Layout
//! - `mod.rs`: [`GatewayConfig`], [`Gateway`], [`GatewayBuilder`], [`BuildError`], [`run`]
//!   and the app listener's routes.
//! - `pusher.rs`: [`NodePusher`].

mod pusher;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use lifecycle::App;
use metrics_exporter_prometheus::PrometheusHandle;
use store_core::ConnectionStore;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use pusher::NodePusher;

use crate::channel::{ClientChannel, UpgradeRequest};
use crate::close_code;
use crate::config::{CredentialError, Limits, Naming, PushAuth};
use crate::hub::{Hub, Kick};
use crate::invoke::authorizer::{Authorizer, AuthorizerConfig};
use crate::invoke::{FunctionMode, Functions, NodeInfo};
use crate::ops::{self, Probes};
use crate::socket::{self, AppState, Core};
use crate::tls::{Tls, TlsError, TlsFiles};
use crate::wire::{self, FunctionWire};
use crate::{metrics, push_api, serve};

/// A node's settings besides its listeners, its wires and its channels.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The push-back URL this node advertises to functions (events, connection records).
    pub push_url: String,
    /// Who may call the push-back API.
    pub push_auth: PushAuth,
    /// Where functions run.
    pub functions: FunctionMode,
    /// Stage and API names in events.
    pub naming: Naming,
    /// The page served at `/`, if any (the app's).
    pub page: Option<&'static str>,
    /// The store the node's connections are recorded in (by its app or its channels), if
    /// any: `/readyz` says not ready while it does not answer.
    pub store: Option<Arc<dyn ConnectionStore>>,
    /// Limits.
    pub limits: Limits,
    /// Renders this process's metrics at `/metrics` (a binary installs the recorder:
    /// [`crate::metrics::install`]); none answers 404 there.
    pub metrics: Option<PrometheusHandle>,
    /// TLS on the app listener (`wss://`, `https://`), if any.
    pub tls: Option<TlsFiles>,
    /// TLS on the push listener, if any (its URL is then `https://`).
    pub push_tls: Option<TlsFiles>,
    /// The `$connect` authorizer plain handshakes pass first (AWS), if any.
    pub authorizer: Option<AuthorizerConfig>,
    /// The functions this node runs itself (`--function`), which HTTP routes name by
    /// their ARN; stopped with the node.
    pub function_host: Option<Arc<function_host::Host>>,
}

impl GatewayConfig {
    /// `functions`, default limits, an open push API advertised at `push_addr`.
    pub fn new(push_addr: SocketAddr, functions: FunctionMode) -> Self {
        GatewayConfig {
            push_url: format!("http://{push_addr}"),
            push_auth: PushAuth::default(),
            functions,
            naming: Naming::default(),
            page: None,
            store: None,
            limits: Limits::default(),
            metrics: None,
            tls: None,
            push_tls: None,
            authorizer: None,
            function_host: None,
        }
    }

    /// `app` linked in, otherwise as [`GatewayConfig::new`].
    pub fn local(push_addr: SocketAddr, app: Arc<dyn App>) -> Self {
        GatewayConfig::new(push_addr, FunctionMode::InProcess(app))
    }
}

/// Why a node could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A push API credential would let in callers holding no secret.
    #[error("push API credentials: {0}")]
    Credentials(#[from] CredentialError),
    /// No HTTP client for the functions could be made.
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    /// Two channels claim the WebSocket upgrade at `/`, or the same path.
    #[error("channels {first} and {second} both claim `{path}`")]
    PathClaimedTwice {
        /// The path.
        path: String,
        /// The channel that claimed it first.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// A listener's certificate cannot serve.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
}

/// One gateway node: its core (hub, functions, limits), the wires whose push routes it
/// serves, the client channels it serves, and the rest of its settings.
#[derive(Debug)]
pub struct Gateway {
    /// Settings.
    pub config: GatewayConfig,
    /// What every connection works with (also `config`'s limits and push URL).
    pub core: Arc<Core>,
    /// The wires whose push routes the push listener serves.
    wires: Vec<&'static dyn FunctionWire>,
    /// The channels with a client protocol of their own.
    channels: Vec<Arc<dyn ClientChannel>>,
    /// The app listener's TLS, read at build (and again on SIGHUP).
    tls: Option<Tls>,
    /// The push listener's.
    push_tls: Option<Tls>,
}

/// Puts a [`Gateway`] together: its settings, and what it holds beyond them.
#[derive(Debug)]
#[must_use]
pub struct GatewayBuilder {
    /// Settings.
    config: GatewayConfig,
    /// The hub, when made first (an app linked in pushes to it directly).
    hub: Option<Arc<Hub>>,
    /// Wires beyond the built-in ones.
    wires: Vec<&'static dyn FunctionWire>,
    /// Client channels.
    channels: Vec<Arc<dyn ClientChannel>>,
}

impl GatewayBuilder {
    /// Holds the node's connections in `hub` — made first when a linked-in app pushes to
    /// it directly ([`NodePusher`]).
    pub fn hub(mut self, hub: Arc<Hub>) -> Self {
        self.hub = Some(hub);
        self
    }

    /// Serves `wire`'s push routes too (beside AWS's and Tencent's).
    pub fn wire(mut self, wire: &'static dyn FunctionWire) -> Self {
        self.wires.push(wire);
        self
    }

    /// Serves `channel` on the app listener (and its push routes, if any).
    pub fn channel(mut self, channel: Arc<dyn ClientChannel>) -> Self {
        self.channels.push(channel);
        self
    }

    /// The node; `Err` when a push credential is empty, no HTTP client can be made, or two
    /// channels claim one path.
    pub fn build(self) -> Result<Gateway, BuildError> {
        let GatewayBuilder {
            config,
            hub,
            mut wires,
            channels,
        } = self;
        // An empty credential would let in anyone who knows its id (or nothing at all).
        config.push_auth.validate()?;
        claimed_once(&channels)?;
        let tls = config.tls.clone().map(Tls::load).transpose()?;
        let push_tls = config.push_tls.clone().map(Tls::load).transpose()?;
        let node = NodeInfo::new(
            &config.push_url,
            &config.naming.stage,
            &config.naming.api_id,
        );
        let functions = Functions::new(&config.functions, node, config.function_host.clone())?;
        let core = Arc::new(Core {
            hub: hub.unwrap_or_default(),
            functions,
            limits: config.limits.clone(),
            push_url: config.push_url.clone(),
            sessions: Arc::default(),
            stage: Arc::from(config.naming.stage.as_str()),
            authorizer: config
                .authorizer
                .clone()
                .map(|authorizer| Authorizer::new(authorizer, config.function_host.clone()))
                .transpose()?,
            api_id: Arc::from(config.naming.api_id.as_str()),
        });
        let mut all = wire::BUILT_IN.to_vec();
        wires.retain(|extra| !all.iter().any(|w| w.name() == extra.name()));
        all.append(&mut wires);
        Ok(Gateway {
            config,
            core,
            wires: all,
            channels,
            tls,
            push_tls,
        })
    }
}

/// `Err` when two channels claim the root upgrade or one path.
fn claimed_once(channels: &[Arc<dyn ClientChannel>]) -> Result<(), BuildError> {
    let mut claims: Vec<(&str, &'static str)> = Vec::new();
    for channel in channels {
        let root = channel.at_root().then_some("/");
        for path in channel.paths().iter().copied().chain(root) {
            if let Some((_, first)) = claims.iter().find(|(p, _)| *p == path) {
                return Err(BuildError::PathClaimedTwice {
                    path: path.to_owned(),
                    first,
                    second: channel.name(),
                });
            }
            claims.push((path, channel.name()));
        }
    }
    Ok(())
}

impl Gateway {
    /// A builder of a node with `config`.
    pub fn builder(config: GatewayConfig) -> GatewayBuilder {
        GatewayBuilder {
            config,
            hub: None,
            wires: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// A node with `config` and nothing else (the built-in wires, no channel).
    pub fn new(config: GatewayConfig) -> Result<Self, BuildError> {
        Gateway::builder(config).build()
    }

    /// This node's connections.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.core.hub
    }

    /// The app listener's routes: the page and plain WebSocket at `/ws` (and at `/` when no
    /// channel claims it), every channel at its paths, and the channels' HTTP routes.
    fn app_router(&self, stop: &watch::Receiver<bool>) -> Router {
        let mut router = Router::new().route("/ws", get(socket::upgrade));
        // AWS clients connect to `wss://host/{stage}` (and the bare host).
        let aws = self.core.functions.dialect() == Some("aws");
        let stage = format!("/{}", self.core.stage);
        let stage_free = !stage[1..].is_empty()
            && !stage[1..].contains(['/', '{', '}', '*'])
            && !self
                .channels
                .iter()
                .any(|c| c.paths().contains(&stage.as_str()))
            && !["/ws", "/healthz", "/readyz", "/metrics"].contains(&stage.as_str());
        if aws && stage_free {
            router = router.route(&stage, get(socket::upgrade));
        }
        for channel in &self.channels {
            for path in channel.paths() {
                let channel = channel.clone();
                let upgrade = move |state: State<AppState>,
                                    peer: ConnectInfo<SocketAddr>,
                                    uri: Uri,
                                    headers: HeaderMap,
                                    ws: socket::WsUpgrade| {
                    channel_upgrade(channel, state, peer, uri, headers, ws)
                };
                router = router.route(path, get(upgrade));
            }
        }
        let root = Root {
            page: self.config.page,
            channel: self.channels.iter().find(|c| c.at_root()).cloned(),
            plain: aws,
        };
        let root = get(
            move |state: State<AppState>,
                  peer: ConnectInfo<SocketAddr>,
                  uri: Uri,
                  headers: HeaderMap,
                  ws: Result<socket::WsUpgrade, socket::UpgradeRejection>| {
                root.serve(state, peer, uri, headers, ws)
            },
        );
        let mut router = router
            .route("/", root)
            .with_state((self.core.clone(), stop.clone()));
        // A channel's plain HTTP routes (it keeps them off the paths above).
        for channel in &self.channels {
            if let Some(routes) = channel.clone().client_routes(self.core.clone()) {
                router = router.merge(routes);
            }
        }
        router
    }

    fn probes(&self) -> Probes {
        Probes {
            store: self.config.store.clone(),
            metrics: self.config.metrics.clone(),
        }
    }
}

/// A channel's upgrade at one of its paths.
async fn channel_upgrade(
    channel: Arc<dyn ClientChannel>,
    State((core, shutdown)): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    ws: socket::WsUpgrade,
) -> Response {
    let request = UpgradeRequest {
        peer,
        uri,
        headers,
        ws,
        shutdown,
    };
    channel.upgrade(core, request).await
}

/// `GET /`: the app's page; a WebSocket upgrade there is the channel's that claims it.
#[derive(Debug, Clone)]
struct Root {
    /// The page.
    page: Option<&'static str>,
    /// The channel whose clients connect to the bare host.
    channel: Option<Arc<dyn ClientChannel>>,
    /// Whether a plain WebSocket connects there when no channel does (AWS).
    plain: bool,
}

impl Root {
    async fn serve(
        self,
        state: State<AppState>,
        peer: ConnectInfo<SocketAddr>,
        uri: Uri,
        headers: HeaderMap,
        ws: Result<socket::WsUpgrade, socket::UpgradeRejection>,
    ) -> Response {
        match (ws, self.channel) {
            (Ok(ws), Some(channel)) => {
                channel_upgrade(channel, state, peer, uri, headers, ws).await
            }
            (Ok(ws), None) if self.plain => socket::upgrade(state, peer, uri, headers, ws).await,
            (Ok(_), None) => {
                (StatusCode::NOT_FOUND, "no WebSocket here: connect to /ws").into_response()
            }
            (Err(_), _) => match self.page {
                Some(page) => ([(header::CACHE_CONTROL, "no-cache")], Html(page)).into_response(),
                None => {
                    (StatusCode::NOT_FOUND, "no page: connect a WebSocket to /ws").into_response()
                }
            },
        }
    }
}

/// Serves the page, `/ws` and the channels on `app`, the push-back API on `push`, until
/// `shutdown` resolves; then closes every connection (1001), runs their cleanups, and
/// returns.
pub async fn run(
    gateway: Arc<Gateway>,
    app: TcpListener,
    push: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    for doubt in gateway.config.limits.doubts() {
        tracing::warn!("{doubt}");
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let app_router =
        gateway
            .app_router(&stop_rx)
            .merge(ops::router(gateway.probes(), stop_rx.clone(), false));
    let core = &gateway.core;
    let push_auth = gateway.config.push_auth.clone();
    let push_router = push_api::router(core, push_auth, &gateway.wires, &gateway.channels)
        .route_layer(axum::middleware::from_fn(ops::count_push_call))
        .merge(ops::router(gateway.probes(), stop_rx.clone(), true));
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
    let certificates: Vec<Tls> = [&gateway.tls, &gateway.push_tls]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if !certificates.is_empty() {
        tokio::spawn(reload_on_hangup(certificates, stop_rx.clone()));
    }
    let (app_tls, push_tls) = (gateway.tls.clone(), gateway.push_tls.clone());
    let app_task = tokio::spawn(serve::serve(
        app,
        app_router,
        head_timeout,
        app_tls,
        stop_rx.clone(),
    ));
    // The push API stays up until the sessions' cleanups are done (they push leave
    // notices through it), then it is stopped.
    let (_push_stop, push_stop_rx) = watch::channel(false);
    let push_task = tokio::spawn(serve::serve(
        push,
        push_router,
        head_timeout,
        push_tls,
        push_stop_rx,
    ));
    shutdown.await;
    let _ = stop_tx.send(true);
    // After the listeners stop taking handshakes; one under way is kicked as it is held.
    core.hub
        .shut_down(Kick::new(close_code::GOING_AWAY, "server shutting down"));
    let limit = Duration::from_secs(10);
    let left = core.sessions.drained(limit).await;
    if left > 0 {
        // Said, not silent: their records stay until their leases end.
        tracing::warn!(
            left,
            "sessions still registering or cleaning up when the shutdown's {limit:?} passed; \
             their records stay until their leases end"
        );
    }
    // After the cleanups, which may have run on them.
    core.functions.shutdown().await;
    app_task.abort();
    push_task.abort();
    Ok(())
}

/// Reads every listener's certificate again on each SIGHUP until `stop`: connections keep
/// theirs, later handshakes get the new one; a reload that fails keeps the old one.
async fn reload_on_hangup(certificates: Vec<Tls>, mut stop: watch::Receiver<bool>) {
    let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(err) => {
            tracing::warn!(%err, "no SIGHUP handler: certificates are not reloaded");
            return;
        }
    };
    loop {
        tokio::select! {
            Some(()) = hangups.recv() => {}
            _ = stop.changed() => return,
        }
        for tls in &certificates {
            let cert = tls.files().cert.display();
            match tls.reload() {
                Ok(()) => tracing::info!(%cert, "certificate reloaded"),
                Err(err) => tracing::warn!(%err, "certificate not reloaded; the old one stays"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::future::BoxFuture;

    use super::*;
    use crate::wire::PushError;

    /// A channel at `/x`, at the root when `root`.
    #[derive(Debug)]
    struct At(&'static str, bool);

    impl ClientChannel for At {
        fn name(&self) -> &'static str {
            self.0
        }
        fn paths(&self) -> &'static [&'static str] {
            &["/x"]
        }
        fn at_root(&self) -> bool {
            self.1
        }
        fn upgrade(
            self: Arc<Self>,
            _: Arc<Core>,
            _: UpgradeRequest,
        ) -> BoxFuture<'static, Response> {
            Box::pin(async { StatusCode::NOT_FOUND.into_response() })
        }
        fn push_error(&self, _: &PushError) -> Response {
            StatusCode::NOT_FOUND.into_response()
        }
    }

    #[test]
    fn two_channels_cannot_claim_one_path() {
        let one: Vec<Arc<dyn ClientChannel>> = vec![Arc::new(At("a", true))];
        assert!(claimed_once(&one).is_ok());
        let two: Vec<Arc<dyn ClientChannel>> =
            vec![Arc::new(At("a", false)), Arc::new(At("b", false))];
        let Err(BuildError::PathClaimedTwice {
            path,
            first,
            second,
        }) = claimed_once(&two)
        else {
            panic!("two channels at /x");
        };
        assert_eq!((path.as_str(), first, second), ("/x", "a", "b"));
    }

    #[test]
    fn an_empty_credential_refuses_to_build() {
        let addr = "127.0.0.1:1".parse().unwrap();
        let mut config = GatewayConfig::new(addr, FunctionMode::InProcess(Arc::new(Nothing)));
        config.push_auth.token = Some("  ".into());
        let refused = Gateway::new(config).unwrap_err();
        assert!(matches!(
            refused,
            BuildError::Credentials(CredentialError::EmptyToken)
        ));
    }

    #[derive(Debug)]
    struct Nothing;

    #[async_trait::async_trait]
    impl App for Nothing {
        async fn handle(
            &self,
            _: &lifecycle::LifecycleEvent,
        ) -> Result<lifecycle::Reply, lifecycle::AppError> {
            Ok(lifecycle::Reply::ok())
        }
    }
}
