//! Alibaba Cloud API Gateway's WebSocket bidirectional channel ("双向通信"): clients bind a
//! device id (`RG#`), heartbeat (`H1`), call APIs over the socket (JSON frames, `REGISTER`
//! and `UNREGISTER` among them), and receive notifications (`NF#`) that backends send
//! through the notify API naming the device (`x-ca-deviceid`).
//!
//! Followed: Alibaba's client SDK sources — `aliyun/apigateway-sdk-core`
//! (`WebSocketApiClient`, `SdkConstant`, `HeartBeatManager`, `WebSocketApiRequest`,
//! `ApiHttpMessage`) and the Objective-C duplex client (`CADuplexClient`) — and the API
//! Gateway documents "bidirectional communication" (help.aliyun.com 66031, 88178):
//! `RG#<deviceId>` → `RO#<credential>#<keepalive ms>` or `RF#<reason>`; `H1` → `HO#<credential>`
//! (the SDKs check the credential); `NF#<payload>` acknowledged by `NO`; `OS` (flow
//! control) and `CR` (reconnect) bare; API calls `{"method","host","path","querys",
//! "headers":{name:[values]},"isBase64","body"}` answered `{"status","header":{"x-ca-seq",…},
//! "body"}` with string header values; the backend gets `x-ca-deviceid` and accepts a
//! register with 200. Not found in any source, so ours: the notify API's default path
//! and its offline answer (410 with `x-ca-error-message`).
//!
//! Beside the channel, what an API group around it has: plain HTTP APIs, backends as
//! HTTP services or Function Compute event functions, and APP signatures.
//!
//! # Layout
//! - `mod.rs`: [`Aliyun`], the channel as a node serves it ([`ClientChannel`]).
//! - `config.rs`: [`AliyunConfig`]: backends, HTTP APIs, app keys, heartbeat, lease.
//! - `devices.rs`: devices in the store: [`DeviceRecords`] (the record's layout, which an
//!   app may decide) and the records' lifecycle (bind, renew, forget, locate).
//! - `frames.rs`: the commands and the API call / answer frames.
//! - `context.rs`: what one connection works with (the channel, the node's core).
//! - `channel.rs`: one connection: binding, registering, the device's frames, `CR`/`OS`.
//! - `calls.rs`: API calls, forwarded to backends or handed to the functions.
//! - `backend.rs`: calling a backend, as an HTTP service or an FC function.
//! - `fc.rs`: API Gateway's FC event, and reading a function's return.
//! - `http_api.rs`: plain HTTP APIs on the channel's listener, CORS.
//! - `signature.rs`: APP signatures (the string signed, the checks, the refusals).
//! - `nonces.rs`: nonces seen within the window, bounded.
//! - `app_auth.rs`: APP auth on the notify routes and the HTTP APIs; error answers.
//! - `notify.rs`: the notify API on the push listener.

mod app_auth;
mod backend;
pub(crate) mod calls;
mod channel;
mod config;
mod context;
mod devices;
mod fc;
pub(crate) mod frames;
mod http_api;
mod nonces;
mod notify;
pub mod signature;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::Response;
use axum::routing::post;
use futures::future::BoxFuture;
use store_core::ConnectionStore;

pub use config::{AliyunConfig, AliyunConfigError, ApiAuth, AppKey, BackendKind, HttpApi};
pub use devices::{DefaultRecords, DeviceRecords};

use super::{ClientChannel, PushSignature, UpgradeRequest};
use crate::socket::Core;
use crate::wire::PushError;

/// Alibaba's bidirectional channel, as a node serves it: at `/aliyun`, `/websocket` and
/// an upgrade at `/`, with the notify API on the push listener.
pub struct Aliyun {
    /// Where API calls go, the heartbeat, the lease.
    config: AliyunConfig,
    /// Devices in the store (none: in this node's memory only).
    devices: devices::Devices,
    /// HTTP client for backends and forwarded notifies. No redirects: a backend's 3xx goes
    /// back to the device, never to another host.
    http: reqwest::Client,
    /// The bearer token a notify forwarded to another node carries (the push API's).
    forward_token: Option<String>,
    /// Whether devices may connect here; without, the node serves only the notify API (a
    /// device held elsewhere is reached through the store, any other answers 410).
    clients: bool,
    /// The apps whose signatures the notify API and APP-auth HTTP APIs take (none: no
    /// app keys configured).
    app_auth: Option<Arc<app_auth::AppAuth>>,
}

impl fmt::Debug for Aliyun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aliyun")
            .field("config", &self.config)
            .field("devices", &self.devices)
            .field("forward_token", &self.forward_token.as_ref().map(|_| "***"))
            .field("clients", &self.clients)
            .finish_non_exhaustive()
    }
}

/// Why the channel could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AliyunError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] AliyunConfigError),
    /// No HTTP client could be made.
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
}

impl Aliyun {
    /// The channel with `config`, its devices recorded in `store` (none: this node's
    /// memory only) in the layout `records` makes.
    pub fn new(
        config: AliyunConfig,
        store: Option<Arc<dyn ConnectionStore>>,
        records: Arc<dyn DeviceRecords>,
    ) -> Result<Self, AliyunError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let devices = devices::Devices::new(store, records, config.lease);
        let app_auth = (!config.app_keys.is_empty()).then(|| {
            let signatures = signature::AppSignatures::new(&config.app_keys, config.max_nonces);
            Arc::new(app_auth::AppAuth {
                signatures: Arc::new(signatures),
            })
        });
        Ok(Aliyun {
            config,
            devices,
            http,
            forward_token: None,
            clients: true,
            app_auth,
        })
    }

    /// With `false`, devices cannot connect to this node (its WebSocket paths are not
    /// served) but its notify API answers: a node of a cluster whose devices connect
    /// elsewhere, or a node that serves the channel's push side only.
    pub fn serving_clients(mut self, clients: bool) -> Self {
        self.clients = clients;
        self
    }

    /// Notifies this node forwards to the node holding a device carry `token` (the push
    /// API's bearer token, which every node of a cluster shares).
    pub fn forwarding_with(mut self, token: Option<String>) -> Self {
        self.forward_token = token;
        self
    }

    /// Its settings.
    pub fn config(&self) -> &AliyunConfig {
        &self.config
    }
}

impl ClientChannel for Aliyun {
    fn name(&self) -> &'static str {
        "aliyun"
    }

    fn paths(&self) -> &'static [&'static str] {
        if self.clients {
            &["/aliyun", "/websocket"]
        } else {
            &[]
        }
    }

    fn at_root(&self) -> bool {
        self.clients
    }

    fn upgrade(
        self: Arc<Self>,
        core: Arc<Core>,
        request: UpgradeRequest,
    ) -> BoxFuture<'static, Response> {
        Box::pin(async move { channel::upgrade(self, core, request) })
    }

    fn push_routes(self: Arc<Self>, core: Arc<Core>) -> Option<Router> {
        let paths = self.config.notify_paths.clone();
        let state = notify::NotifyState {
            channel: self,
            core,
        };
        // `/aliyun/notify` always: other nodes forward there.
        let mut routes = Router::new().route("/aliyun/notify", post(notify::notify));
        for path in &paths {
            routes = routes.route(path, post(notify::notify));
        }
        Some(routes.with_state(state))
    }

    fn push_error(&self, error: &PushError) -> Response {
        notify::error(error)
    }

    fn push_signature(&self) -> Option<Arc<dyn PushSignature>> {
        self.app_auth
            .clone()
            .map(|auth| auth as Arc<dyn PushSignature>)
    }

    fn client_routes(self: Arc<Self>, core: Arc<Core>) -> Option<Router> {
        http_api::routes(&self, &core)
    }
}
