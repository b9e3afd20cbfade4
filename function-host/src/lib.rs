//! Runs unmodified functions as AWS Lambda does: each function is a command running a
//! runtime client (`python3 -m awslambdaric app.handler`, a `lambda_runtime` binary, a
//! `bootstrap`), started on demand as processes of its own, kept warm and reused, stopped
//! when idle, and fed its events through the Lambda Runtime API, which the host serves.
//! The host knows nothing of WebSockets or dialects: an event is JSON in, an answer JSON
//! out (the gateway's invoke floor gives both their meaning).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use function_host::{FunctionSpec, Host, HostSettings};
//! let send = FunctionSpec::new("sendmessage", "python3 -m awslambdaric app.send");
//! let host = Host::new(HostSettings::default(), vec![send])?;
//! let answer = host.invoke("sendmessage", r#"{"body":"hi"}"#.into()).await?;
//! host.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `spec.rs`: [`FunctionSpec`] and [`HostSettings`], as settings.
//! - `host.rs`: [`Host`], the functions by name; [`SpecError`].
//! - `pool.rs`: one function's instances and the invocations waiting for them.
//! - `instance.rs`: one instance's process and its supervisor (timeouts, idle, init).
//! - `runtime_api.rs`: the Lambda Runtime API one instance talks to.
//! - `logs.rs`: a function's output into the node's log.
//! - `error.rs`: [`Failure`], how an invocation fails.
//! - `ids.rs`, `metrics.rs`: request and trace ids; what the host does, as metrics.

mod error;
mod host;
mod ids;
mod instance;
mod logs;
mod metrics;
mod pool;
mod runtime_api;
mod spec;

pub use error::Failure;
pub use host::{Host, SpecError};
pub use runtime_api::MAX_RESPONSE_BYTES;
pub use spec::{FunctionSpec, HostSettings};
