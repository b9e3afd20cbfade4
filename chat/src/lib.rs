//! The anonymous chat room as three stateless functions, in the serverless WebSocket model:
//! `register` on connect, `transport` on each message, `cleanup` on disconnect. State lives
//! only in the [`ConnectionStore`](store_core::ConnectionStore); frames go out through the
//! push-back API of whichever gateway node holds each recipient. The chat is one
//! [`App`](lifecycle::App) plugged into the gateway: linked in, or behind HTTP in the
//! Tencent or AWS event shape.
//!
//! # Layout
//! - `protocol`: the frames clients and the chat exchange.
//! - `functions`: [`ChatFunctions`], the three handlers.
//! - `cli`: [`cli::StoreArgs`], the store flags both binaries take.
//! - `devices`: [`ChatDevices`], an Alibaba device's record in the chat's rooms.
//! - `names`: anonymous display names derived from connection ids.
//! - `presence`: join and leave notices, gathered per room and sent by one flusher.
//! - `wire`: the Tencent and AWS event shapes, read as a cloud function reads them.
//! - `server`: the functions as an HTTP server (`chat-functions` binary).
//! - `static/index.html`: the browser page ([`PAGE`]).
//! - `bin/gateway.rs`: the node with the chat linked in; `bin/chat-functions.rs`: the
//!   functions as an HTTP server.

pub mod cli;
mod devices;
mod functions;
mod names;
pub mod presence;
mod protocol;
pub mod server;
pub mod wire;

pub use devices::ChatDevices;
pub use functions::{ChatFunctions, DEFAULT_ROOM, LEASE_LOST, MAX_TEXT_CHARS, PRESENCE_WINDOW};
pub use names::anonymous_name;
pub use protocol::{ClientMessage, ServerMessage};

/// The chat page (plain HTML + JS, no build step); it joins `/ws?room=…`.
pub const PAGE: &str = include_str!("../static/index.html");
