//! How a node reaches the connections other nodes hold. A linked-in app's broadcast finds
//! each member's node in the store; for another node the batch goes over the node link:
//! HTTP to that node's push-back API (the default: nothing to run beside the nodes), or
//! NATS (`--node-link nats://…`): one binary request per node and broadcast, answered with
//! what the node did, falling back to HTTP where NATS cannot carry a call without doubt.
//!
//! # Layout
//! - `mod.rs`: [`NodeLink`], the choice, from the command line.
//! - `codec.rs`: the link's binary messages, every count checked before it is trusted.
//! - `nats.rs`: [`NatsLink`], the pusher and the task serving other nodes' requests.

mod codec;
mod nats;

pub use nats::{GROUP_WAIT, LinkError, NatsLink, group_subject, subject_of};

/// How nodes reach one another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeLink {
    /// Each other node's push-back API over HTTP.
    Http,
    /// A NATS server at this URL (credentials, if any, in it: never shown).
    Nats(String),
}

impl NodeLink {
    /// `http`, or a `nats://` URL.
    pub fn parse(value: &str) -> Result<Self, LinkError> {
        match value {
            "http" => Ok(NodeLink::Http),
            url if url.starts_with("nats://") => Ok(NodeLink::Nats(url.to_owned())),
            _ => Err(LinkError::BadUrl(
                "expected `http` or nats://host:port".to_owned(),
            )),
        }
    }

    /// Its name in logs and results: `http` or `nats`.
    pub fn name(&self) -> &'static str {
        match self {
            NodeLink::Http => "http",
            NodeLink::Nats(_) => "nats",
        }
    }
}
