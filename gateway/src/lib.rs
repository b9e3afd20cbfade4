//! The serverless WebSocket gateway, as a library: a node holds the sockets and turns their
//! lifecycle into function invocations — register on connect (deciding the handshake),
//! transport on each message, cleanup on disconnect — while functions reach connections
//! through its push-back API. It speaks the clouds' wires (AWS API Gateway + Lambda,
//! Tencent API Gateway + SCF) to functions over HTTP, or calls an [`App`](lifecycle::App)
//! linked in, and serves client channels with a protocol of their own (Alibaba's
//! bidirectional channel); it knows nothing of what an app does. Another crate can add a
//! wire ([`FunctionWire`]) or a channel ([`ClientChannel`]) and build its own binary on
//! [`Gateway::builder`] and [`cli::NodeArgs`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use gateway::{FunctionMode, Gateway, GatewayConfig, HttpRoutes, wire::aws::Aws};
//!
//! # async fn node() -> Result<(), Box<dyn std::error::Error>> {
//! let app = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let push = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let functions = FunctionMode::Http {
//!     routes: HttpRoutes::lifecycle(
//!         "http://127.0.0.1:9000/connect",
//!         "http://127.0.0.1:9000/default",
//!         "http://127.0.0.1:9000/disconnect",
//!     ),
//!     dialect: &Aws,
//!     route_responses: false,
//! };
//! let config = GatewayConfig::new(push.local_addr()?, functions);
//! let node = Arc::new(Gateway::builder(config).build()?);
//! gateway::run(node, app, push, std::future::pending()).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! Floors, each depending only on the floors below it (`scripts/module-floors` checks it):
//!
//! | floor | modules | what |
//! |---|---|---|
//! | data | `config`, `ids`, [`close_code`], [`metrics`] | settings, ids and times, close codes, metric names |
//! | hub | [`hub`] | the connections this node holds, their bounded outbound queues |
//! | invoking | [`invoke`] | events, function codecs, calling functions, their errors |
//! | socket core, wires | [`socket`], [`wire`] | upgrade, session, transport, rate; AWS and Tencent (codec + push routes over a [`PushTarget`]) |
//! | channels | [`channel`] | client channels with their own protocol (Alibaba), owning their config and bookkeeping |
//! | listeners | `push_api`, [`link`], `auth`, `ops`, `serve`, [`tls`] | the push-back API, the node link (HTTP or NATS), its credentials, probes and metrics, the accept loop, TLS |
//! | node | `node`, [`cli`] | [`Gateway`] and its builder, [`run`], [`NodePusher`]; the reusable command line |

mod auth;
pub mod channel;
pub mod cli;
pub mod close_code;
mod config;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
pub mod hub;
mod ids;
pub mod invoke;
pub mod link;
pub mod metrics;
mod node;
mod ops;
mod push_api;
mod serve;
pub mod socket;
pub mod tls;
pub mod wire;

pub use channel::ClientChannel;
pub use config::{CredentialError, Limits, Naming, PushAuth, SigV4Key};
pub use hub::{Hub, QueueBound};
pub use invoke::{
    FunctionCodec, FunctionMode, Functions, HttpRoutes, InvokeError, NodeInfo, RouteSelection,
};
pub use node::{BuildError, Gateway, GatewayBuilder, GatewayConfig, NodePusher, run};
pub use wire::{FunctionWire, PushError, PushTarget};
