//! A plain connection's messages through transport, on tasks of their own, so a slow
//! function never stops the connection's outbound frames. Two ways, as the functions'
//! dialect promises:
//! - **in order**, one at a time, [`QUEUE`] waiting (an app linked in, Tencent's SCF): the
//!   chat's lines keep their order;
//! - **concurrently**, up to [`Limits::max_inflight_per_connection`] at once (AWS: API
//!   Gateway invokes a connection's messages as they come, without ordering them).
//!
//! Either way, with no room the session stops reading the socket until there is (the
//! client is pushed back by TCP, never closed for sending fast). Nothing starts before the
//! first message: most connections of a chat room are idle most of the time, and an idle
//! connection keeps neither a task nor a queue.
//!
//! [`Limits::max_inflight_per_connection`]: crate::Limits::max_inflight_per_connection

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lifecycle::{ConnectionInfo, EventKind, Payload};
use serde_json::json;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::inbound::Inbound;
use super::{Core, span_of};
use crate::hub::{Kick, Outbound};
use crate::invoke::event;

/// Messages a connection may have waiting for an in-order transport.
pub const QUEUE: usize = 32;

/// One connection's way to its transport function.
pub struct Transport {
    /// The node's core (its functions, its hub for the answers).
    core: Arc<Core>,
    /// The connection the messages come from.
    info: Arc<ConnectionInfo>,
    /// How messages run, once one came.
    running: Option<Running>,
}

/// A started transport.
enum Running {
    /// One at a time, in order.
    Ordered {
        /// Messages waiting, in order.
        queue: mpsc::Sender<Payload>,
        /// The task running them.
        task: JoinHandle<()>,
        /// Set once the session ended: the task drops what is still queued.
        ended: Arc<AtomicBool>,
    },
    /// Each on a task of its own, holding one of the permits.
    Concurrent {
        /// One per message in flight; all of them, once every message is done.
        permits: Arc<Semaphore>,
        /// How many there are.
        max: u32,
        /// Set once a function closed the connection: no more messages are taken.
        stopped: Arc<AtomicBool>,
    },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("id", &self.info.id)
            .field("started", &self.running.is_some())
            .finish()
    }
}

impl Transport {
    /// Transport for `info`'s messages, not started yet.
    pub fn new(core: Arc<Core>, info: Arc<ConnectionInfo>) -> Self {
        Transport {
            core,
            info,
            running: None,
        }
    }

    fn start(&self) -> Running {
        let max = self.core.limits.max_inflight_per_connection.max(1);
        if self.core.functions.concurrent_messages() && max > 1 {
            let max = u32::try_from(max).unwrap_or(u32::MAX >> 4);
            return Running::Concurrent {
                permits: Arc::new(Semaphore::new(max as usize)),
                max,
                stopped: Arc::new(AtomicBool::new(false)),
            };
        }
        let (queue, inbound) = mpsc::channel(QUEUE);
        let ended = Arc::new(AtomicBool::new(false));
        let (core, info) = (self.core.clone(), self.info.clone());
        let task = tokio::spawn(in_order(core, info, inbound, ended.clone()));
        Running::Ordered { queue, task, ended }
    }

    /// Stops taking messages: in order, those still queued are dropped and the one in
    /// flight finishes; concurrently, every one in flight finishes (cleanup comes after).
    pub async fn finish(self) {
        match self.running {
            None => {}
            Some(Running::Ordered { queue, task, ended }) => {
                ended.store(true, Ordering::Relaxed);
                drop(queue);
                let _ = task.await;
            }
            Some(Running::Concurrent { permits, max, .. }) => {
                let _ = permits.acquire_many(max).await;
            }
        }
    }
}

impl Inbound for Transport {
    /// Starts transport on the first message. `Full`: no room (queue full, or every
    /// permit taken); `Closed`: a function closed the connection and transport stopped.
    fn offer(&mut self, payload: Payload) -> Result<(), TrySendError<Payload>> {
        if self.running.is_none() {
            self.running = Some(self.start());
        }
        match self.running.as_ref().expect("started above") {
            Running::Ordered { queue, .. } => queue.try_send(payload),
            Running::Concurrent {
                permits, stopped, ..
            } => {
                if stopped.load(Ordering::Relaxed) {
                    return Err(TrySendError::Closed(payload));
                }
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    return Err(TrySendError::Full(payload));
                };
                // A span for the message's work only: the connection keeps none while idle.
                let span = span_of(&self.info);
                let (core, info, stopped) = (self.core.clone(), self.info.clone(), stopped.clone());
                let one = async move {
                    if run_one(&core, &info, payload).await {
                        stopped.store(true, Ordering::Relaxed);
                    }
                    drop(permit);
                };
                tokio::spawn(one.instrument(span));
                Ok(())
            }
        }
    }

    async fn room(&mut self) {
        match &self.running {
            None => {}
            Some(Running::Ordered { queue, .. }) => {
                let _ = queue.reserve().await;
            }
            Some(Running::Concurrent { permits, .. }) => {
                let _ = permits.acquire().await;
            }
        }
    }
}

/// AWS's error frame for a message (`{"message": …, "connectionId": …, "requestId": …}`),
/// which every dialect uses: `Forbidden` when no route takes it, `Internal server error`
/// when its function failed.
fn error_frame(message: &str, connection_id: &str, request_id: &str) -> Outbound {
    Outbound::text(
        json!({ "message": message, "connectionId": connection_id, "requestId": request_id })
            .to_string(),
    )
}

/// Runs `inbound`'s messages through transport, in order, until the queue closes, the
/// session ends, or a function closes the connection.
async fn in_order(
    core: Arc<Core>,
    info: Arc<ConnectionInfo>,
    mut inbound: mpsc::Receiver<Payload>,
    ended: Arc<AtomicBool>,
) {
    while let Some(payload) = inbound.recv().await {
        if ended.load(Ordering::Relaxed) {
            return;
        }
        // A span for the message's work only: the connection keeps none while idle.
        if run_one(&core, &info, payload)
            .instrument(span_of(&info))
            .await
        {
            return;
        }
    }
}

/// Runs one message through its route's function and sends what it answers; true when the
/// function closed the connection.
async fn run_one(core: &Core, info: &Arc<ConnectionInfo>, payload: Payload) -> bool {
    let Some(route) = core.functions.route(&payload) else {
        let request_id = crate::ids::request_id();
        let frame = error_frame("Forbidden", &info.id, &request_id);
        core.hub.send(&info.id, frame);
        return false;
    };
    let event = event(info, EventKind::Message { route }, Some(payload));
    match core
        .functions
        .invoke(&event, core.limits.function_timeout)
        .await
    {
        Ok(reply) => {
            if let Some(frame) = reply.frame {
                core.hub.send(&info.id, frame.into());
            }
            if let Some(close) = reply.close {
                core.hub.kick(&info.id, Kick::new(close.code, close.reason));
                return true;
            }
            false
        }
        Err(err) => {
            tracing::warn!(id = %info.id, %err, "transport failed");
            let frame = error_frame("Internal server error", &info.id, &event.request_id);
            core.hub.send(&info.id, frame);
            false
        }
    }
}
