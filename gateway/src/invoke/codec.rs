//! How one cloud's HTTP functions see events and answer them: the [`FunctionCodec`] a wire
//! implements, and the [`NodeInfo`] events name the node with.

use std::fmt::Debug;

use lifecycle::{LifecycleEvent, Reply};
use serde_json::Value;

use super::InvokeError;

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

/// How one dialect's HTTP functions see events and answer them.
pub trait FunctionCodec: Debug + Send + Sync + 'static {
    /// Its name in flags and logs (`aws`, `tencent`).
    fn name(&self) -> &'static str;

    /// The JSON body an HTTP function receives for `event`.
    fn event(&self, event: &LifecycleEvent, node: &NodeInfo) -> Value;

    /// What a function's answer (below 500: those are failures) means for `event`.
    fn answer(&self, event: &LifecycleEvent, status: u16, body: &[u8]) -> Reply;

    /// Whether a connection's messages are invoked concurrently (AWS: as they come, in no
    /// order) rather than one at a time, in order.
    fn concurrent_messages(&self) -> bool {
        false
    }

    /// What a failed function (unreachable, 5xx, timed out) means for `event`, when this
    /// dialect decides it; `None` leaves the gateway's default (a handshake refused with
    /// 502/503/504; AWS's `Internal server error` frame for a message).
    fn failed(&self, event: &LifecycleEvent, error: &InvokeError) -> Option<Reply> {
        let _ = (event, error);
        None
    }
}
