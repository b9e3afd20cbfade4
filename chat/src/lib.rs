//! The anonymous chat room as three stateless functions, in the serverless WebSocket model:
//! `register` on connect, `transport` on each message, `cleanup` on disconnect. State lives
//! only in the [`ConnectionStore`](store_core::ConnectionStore); messages go out through the
//! push-back API of whichever gateway node holds each recipient.
//!
//! # Layout
//! - `event`: the lifecycle event the gateway sends, in the Tencent SCF and the AWS API
//!   Gateway shapes, parsed into one [`LifecycleEvent`].
//! - `protocol`: the JSON the browser and the functions exchange.
//! - `push`: [`Pusher`], one batch call per gateway node, over HTTP.
//! - `functions`: [`ChatFunctions`], the three handlers.
//! - `names`: anonymous display names derived from connection ids.
//! - `server`: the functions as an HTTP server (`chat-functions` binary).

mod event;
mod functions;
mod names;
mod protocol;
mod push;
pub mod server;

pub use event::{Action, EventShape, LifecycleEvent, Payload};
pub use functions::{ChatFunctions, FunctionError, Reply};
pub use names::anonymous_name;
pub use protocol::{ClientMessage, ServerMessage};
pub use push::{BatchRequest, BatchResult, Delivery, HttpPusher, Pusher};
