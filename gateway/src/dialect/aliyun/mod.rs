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
//! register with 200. Not found in any source, so ours: the notify API's path and its
//! offline answer (410 with `x-ca-error-message`).
//!
//! # Layout
//! - `frames.rs`: the commands and the API call / answer frames.
//! - `channel.rs`: one connection: binding, presence in the store, the device's frames.
//! - `calls.rs`: API calls, forwarded to HTTP backends or handed to the functions.
//! - `notify.rs`: the notify API on the push listener.

pub(crate) mod calls;
pub mod channel;
pub(crate) mod frames;
mod notify;

use axum::Router;
use axum::response::Response;
use axum::routing::{get, post};

use super::{Dialect, FunctionShapes, PushError};
use crate::config::GatewayConfig;
use crate::handshake::AppState;
use crate::push_api::PushState;

/// The Alibaba dialect.
#[derive(Debug, Clone, Copy)]
pub struct Aliyun;

impl Dialect for Aliyun {
    fn name(&self) -> &'static str {
        "aliyun"
    }

    fn functions(&self) -> Option<&'static dyn FunctionShapes> {
        None
    }

    fn channel_routes(&self, config: &GatewayConfig) -> Option<Router<AppState>> {
        config.aliyun.enabled.then(|| {
            Router::new()
                .route("/aliyun", get(channel::upgrade))
                .route("/websocket", get(channel::upgrade))
        })
    }

    fn push_routes(&self) -> Router<PushState> {
        Router::new().route("/aliyun/notify", post(notify::notify))
    }

    fn push_error(&self, error: &PushError) -> Response {
        notify::error(error)
    }
}
