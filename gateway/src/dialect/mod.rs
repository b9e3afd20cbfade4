//! The clouds' wire dialects, one module each, over the neutral lifecycle model.
//!
//! A dialect owns everything of one cloud's wire: the event JSON its HTTP functions
//! receive, what their answers mean, and its push-back routes with their error shapes. All
//! dialects' push routes are served side by side on the push listener; the one named by
//! `--dialect` shapes the events HTTP functions get.
//!
//! # Layout
//! - `mod.rs`: the [`Dialect`] and [`FunctionShapes`] traits, [`NodeInfo`], [`PushError`],
//!   [`json_frame_limit`], the registry [`ALL`].
//! - `aws/`: AWS API Gateway WebSocket + Lambda: events, Lambda proxy answers,
//!   `@connections` (with or without a stage), REST-JSON errors.
//! - `tencent/`: Tencent API Gateway + SCF: register/transport/cleanup events, `errNo`
//!   answers, reverse push.
//! - `aliyun/`: Alibaba API Gateway's bidirectional channel: its own client frames on
//!   `/aliyun`, devices in the presence store, API calls forwarded, the notify API.
//!
//! Adding a dialect: a new module implementing [`Dialect`], and one line in [`ALL`].

pub mod aliyun;
pub mod aws;
#[cfg(test)]
mod sample;
pub mod tencent;

use std::fmt::Debug;

use axum::Router;
use axum::response::Response;
use lifecycle::{LifecycleEvent, Reply};
use serde_json::Value;

use crate::config::GatewayConfig;
use crate::functions::InvokeError;
use crate::handshake::AppState;
use crate::push_api::PushState;

/// Every dialect this gateway speaks.
pub const ALL: &[&dyn Dialect] = &[&aws::Aws, &tencent::Tencent, &aliyun::Aliyun];

/// The dialect called `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Dialect> {
    ALL.iter().copied().find(|d| d.name() == name)
}

/// The names of the dialects whose functions can run over HTTP (for `--dialect`).
pub fn with_functions() -> impl Iterator<Item = &'static str> {
    ALL.iter()
        .filter(|d| d.functions().is_some())
        .map(|d| d.name())
}

/// How the node names itself in events.
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// The push-back URL functions call (`http://127.0.0.1:8081`).
    pub push_url: String,
    /// Its `host:port` (AWS `domainName`: handlers build their endpoint from it).
    pub domain: String,
    /// The stage name.
    pub stage: String,
    /// AWS `apiId`; Tencent `serviceName`.
    pub api_id: String,
}

impl NodeInfo {
    /// A node advertising `push_url`, with `stage` and `api_id`.
    pub fn new(push_url: &str, stage: &str, api_id: &str) -> Self {
        let after_scheme = push_url
            .split_once("://")
            .map_or(push_url, |(_, rest)| rest);
        let domain = after_scheme.split('/').next().unwrap_or(after_scheme);
        NodeInfo {
            push_url: push_url.to_owned(),
            domain: domain.to_owned(),
            stage: stage.to_owned(),
            api_id: api_id.to_owned(),
        }
    }
}

/// Why a push call failed; each dialect answers it in its own shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// No such connection on this node (410).
    Gone,
    /// Missing or bad credentials (403; the native batch call answers 401).
    Forbidden(String),
    /// The frame is over the limit (413).
    PayloadTooLarge(usize),
    /// The connection cannot take more now (429): its queue was full and it was closed.
    LimitExceeded(String),
    /// The request is malformed (400).
    BadRequest(String),
    /// The request's body is over what its route can legitimately take (413), given as its
    /// limit: refused before it is read, or cut off there.
    BodyTooLarge(usize),
    /// The request's body did not arrive whole in time (408); the connection is closed.
    TimedOut,
    /// The node cannot take the request now (503): too many unauthenticated bodies are
    /// being read.
    Unavailable(String),
}

impl PushError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            PushError::Gone => 410,
            PushError::Forbidden(_) => 403,
            PushError::PayloadTooLarge(_) => 413,
            PushError::LimitExceeded(_) => 429,
            PushError::BadRequest(_) => 400,
            PushError::BodyTooLarge(_) => 413,
            PushError::TimedOut => 408,
            PushError::Unavailable(_) => 503,
        }
    }

    /// In words.
    pub fn message(&self) -> String {
        match self {
            PushError::Gone => "no such connection on this node".to_owned(),
            PushError::Forbidden(why)
            | PushError::LimitExceeded(why)
            | PushError::BadRequest(why)
            | PushError::Unavailable(why) => why.clone(),
            PushError::PayloadTooLarge(limit) => {
                format!("the payload is over the frame limit of {limit} bytes")
            }
            PushError::BodyTooLarge(limit) => {
                format!("the request body is over this route's limit of {limit} bytes")
            }
            PushError::TimedOut => "the request body did not arrive in time".to_owned(),
        }
    }
}

/// One cloud's wire.
pub trait Dialect: Debug + Send + Sync + 'static {
    /// Its name in flags and logs (`aws`, `tencent`, `aliyun`).
    fn name(&self) -> &'static str;

    /// The event shapes its HTTP functions get and answer in; `None` for a dialect whose
    /// backends get the clients' own API calls instead (Alibaba).
    fn functions(&self) -> Option<&'static dyn FunctionShapes>;

    /// Routes on the app listener for a channel with its own client protocol (Alibaba's
    /// `/aliyun`), when `config` enables it; `None` when its clients speak plain WebSocket
    /// to `/ws`.
    fn channel_routes(&self, config: &GatewayConfig) -> Option<Router<AppState>> {
        let _ = config;
        None
    }

    /// Its push-back routes.
    fn push_routes(&self) -> Router<PushState>;

    /// `error` in its shape.
    fn push_error(&self, error: &PushError) -> Response;

    /// The largest request body its push routes can legitimately take when frames are at
    /// most `max_frame` bytes; a longer one is refused (413) before or while it is read.
    /// The default: the body is the frame itself.
    fn push_body_limit(&self, max_frame: usize) -> usize {
        max_frame
    }
}

/// Bytes a JSON request carrying one frame of `max_frame` bytes as a string may take: every
/// byte of a text escaped (`\u001f`, six bytes: more than base64's four per three), plus
/// an envelope (keys, an id, whitespace) of a few KiB.
pub fn json_frame_limit(max_frame: usize) -> usize {
    /// Bytes a JSON string may take per byte of the text it carries.
    const ESCAPED: usize = 6;
    /// Bytes for everything around the frame.
    const ENVELOPE: usize = 4 * 1024;
    max_frame.saturating_mul(ESCAPED).saturating_add(ENVELOPE)
}

/// How one dialect's HTTP functions see events and answer them.
pub trait FunctionShapes: Debug + Send + Sync + 'static {
    /// The JSON body an HTTP function receives for `event`.
    fn event(&self, event: &LifecycleEvent, node: &NodeInfo) -> Value;

    /// What a function's answer (below 500: those are failures) means for `event`.
    fn answer(&self, event: &LifecycleEvent, status: u16, body: &[u8]) -> Reply;

    /// What a failed function (unreachable, 5xx, timed out) means for `event`, when this
    /// dialect decides it; `None` leaves the gateway's default (a handshake refused with
    /// 502/503/504; AWS's `Internal server error` frame for a message).
    fn failed(&self, event: &LifecycleEvent, error: &InvokeError) -> Option<Reply>;
}
