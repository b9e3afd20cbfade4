//! Client channels: WebSocket channels whose clients speak a protocol of their own rather
//! than plain frames to `/ws` (Alibaba's bidirectional channel: device ids, `RG#`, `H1`,
//! API calls over the socket, `NF#` notifications). A channel owns its settings and its
//! bookkeeping, runs its connections on the socket core ([`Socket`](crate::socket::Socket),
//! [`pump`](crate::socket::pump) with its own [`Framing`](crate::socket::Framing)), and may
//! serve routes of its own on the push listener.
//!
//! # Layout
//! - `mod.rs`: the [`ClientChannel`] trait and [`UpgradeRequest`].
//! - `aliyun/`: Alibaba API Gateway's bidirectional channel.
//!
//! Adding a channel, in this crate or another: a type implementing [`ClientChannel`],
//! handed to [`GatewayBuilder::channel`](crate::GatewayBuilder::channel).

pub mod aliyun;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use futures::future::BoxFuture;
use tokio::sync::watch;

use crate::socket::{Core, WsUpgrade};
use crate::wire::PushError;

/// One client's request to upgrade to a channel.
#[derive(Debug)]
pub struct UpgradeRequest {
    /// The client's address.
    pub peer: SocketAddr,
    /// The request's URI (its query names a room, a device, …).
    pub uri: Uri,
    /// The request's headers.
    pub headers: HeaderMap,
    /// The upgrade itself.
    pub ws: WsUpgrade,
    /// Turns true when the node shuts down: watched until the device binds (the
    /// connection closes, 1001); a bound device hears the shutdown as its hub kick.
    pub shutdown: watch::Receiver<bool>,
}

/// A request on a push route, as far as a signature covers it.
#[derive(Debug, Clone, Copy)]
pub struct PushCall<'a> {
    /// Its method.
    pub method: &'a Method,
    /// Its URI.
    pub uri: &'a Uri,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its body, read whole (within the route's limit).
    pub body: &'a [u8],
}

/// A channel's own way to sign push calls, which the push API's guard asks.
pub trait PushSignature: Debug + Send + Sync {
    /// True when a call with `headers` claims this scheme.
    fn claims(&self, headers: &HeaderMap) -> bool;

    /// The checks that need no body (a caller failing them gets none read); `Err` is the
    /// refusal, in the channel's shape.
    fn precheck(&self, headers: &HeaderMap) -> Result<(), Box<Response>>;

    /// The signature over the whole call.
    fn verify(&self, call: &PushCall<'_>) -> Result<(), Box<Response>>;

    /// The answer to a call that carries no credential at all.
    fn missing(&self) -> Response;
}

/// A WebSocket channel with its own client protocol.
pub trait ClientChannel: Debug + Send + Sync + 'static {
    /// Its name in logs (`aliyun`).
    fn name(&self) -> &'static str;

    /// The paths on the app listener where its clients connect (`/aliyun`).
    fn paths(&self) -> &'static [&'static str];

    /// Whether a WebSocket upgrade at `/` is this channel's (Alibaba's SDK connects to the
    /// bare host). At most one channel of a node may claim it.
    fn at_root(&self) -> bool {
        false
    }

    /// Upgrades one client and runs its connection on `core` (its answer: `101`, or a
    /// refusal such as 503 when the node is full).
    fn upgrade(
        self: Arc<Self>,
        core: Arc<Core>,
        request: UpgradeRequest,
    ) -> BoxFuture<'static, Response>;

    /// Its routes on the push listener (behind the push API's credential check), with
    /// their state; `None` when it has none.
    fn push_routes(self: Arc<Self>, core: Arc<Core>) -> Option<Router> {
        let _ = core;
        None
    }

    /// `error` in the shape of its push routes.
    fn push_error(&self, error: &PushError) -> Response;

    /// Its own signature scheme on its push routes (Alibaba's APP signatures), if it has
    /// one: a call claiming it is checked by it, body and all, and with it the routes
    /// demand credentials even where the push API would not.
    fn push_signature(&self) -> Option<Arc<dyn PushSignature>> {
        None
    }

    /// Its plain HTTP routes on the app listener (an API group's HTTP APIs), with their
    /// state; `None` when it has none. They may not take a path the listener serves.
    fn client_routes(self: Arc<Self>, core: Arc<Core>) -> Option<Router> {
        let _ = core;
        None
    }

    /// The largest request body its push routes can legitimately take when frames are at
    /// most `max_frame` bytes (the default: the body is the frame).
    fn push_body_limit(&self, max_frame: usize) -> usize {
        max_frame
    }
}
