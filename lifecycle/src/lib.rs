//! The functions interface: what a gateway node hands the app behind it, what the app
//! answers, and how the app pushes frames back down.
//!
//! The gateway speaks each cloud's wire dialect (AWS, Tencent, …) to functions that run
//! over HTTP; everything in this crate is dialect-neutral, so an app linked into the node
//! (the demo chat) and the dialect codecs meet on one model.
//!
//! # Layout
//! - `event`: [`LifecycleEvent`], [`EventKind`], [`ConnectionInfo`], [`Payload`].
//! - `reply`: [`Reply`] and [`Close`], what a function answers.
//! - `app`: the [`App`] trait an in-process app implements, and [`AppError`].
//! - `push`: [`Pusher`] and [`HttpPusher`], reaching connections through a node's push-back
//!   API (the batch call, close), with [`BatchRequest`], [`BatchResult`], [`BatchOutcome`],
//!   [`Delivery`], [`PushError`].
//! - `breaker`: [`Breakers`], skipping a node that could not be reached for a while.

mod app;
mod breaker;
mod event;
mod push;
mod reply;

pub use app::{App, AppError};
pub use breaker::Breakers;
pub use event::{ConnectionInfo, EventKind, LifecycleEvent, Payload};
pub use push::{
    BatchOutcome, BatchRequest, BatchResult, Delivery, HttpPusher, Published, Publishing,
    PushError, Pusher,
};
pub use reply::{Close, Reply};
