//! A plain connection's messages through transport: in order, one at a time, on a task of
//! their own, so a slow function never stops the connection's outbound frames. The task
//! and its queue start with the first message: most connections of a chat room are idle
//! most of the time, and an idle connection keeps neither (about 2.7 KiB each).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lifecycle::{ConnectionInfo, EventKind, Payload};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::Core;
use crate::hub::{Kick, Outbound};
use crate::invoke::event;

/// Messages a connection may have waiting for transport; one more closes it (1008).
const QUEUE: usize = 32;

/// One connection's way to its transport function.
pub struct Transport {
    /// The node's core (its functions, its hub for the answers).
    core: Arc<Core>,
    /// The connection the messages come from.
    info: Arc<ConnectionInfo>,
    /// The queue, the task draining it and its stop flag, once a message came.
    running: Option<Running>,
}

/// A started transport.
struct Running {
    /// Messages waiting, in order.
    queue: mpsc::Sender<Payload>,
    /// The task running them.
    task: JoinHandle<()>,
    /// Set once the session ended: the task drops what is still queued.
    ended: Arc<AtomicBool>,
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

    /// Queues `payload` (starting the task on the first one). `Full`: too many messages
    /// in flight; `Closed`: a function closed the connection and transport stopped.
    pub fn offer(&mut self, payload: Payload) -> Result<(), TrySendError<Payload>> {
        let running = self.running.get_or_insert_with(|| {
            let (queue, inbound) = mpsc::channel(QUEUE);
            let ended = Arc::new(AtomicBool::new(false));
            let task = tokio::spawn(
                run(self.core.clone(), self.info.clone(), inbound, ended.clone()).in_current_span(),
            );
            Running { queue, task, ended }
        });
        running.queue.try_send(payload)
    }

    /// Stops taking messages: those still queued are dropped, the one in flight finishes
    /// (cleanup must come after it).
    pub async fn finish(self) {
        if let Some(Running { queue, task, ended }) = self.running {
            ended.store(true, Ordering::Relaxed);
            drop(queue);
            let _ = task.await;
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

/// Runs `inbound`'s messages through transport until the queue closes, the session ends,
/// or a function closes the connection.
async fn run(
    core: Arc<Core>,
    info: Arc<ConnectionInfo>,
    mut inbound: mpsc::Receiver<Payload>,
    ended: Arc<AtomicBool>,
) {
    let timeout = core.limits.function_timeout;
    while let Some(payload) = inbound.recv().await {
        if ended.load(Ordering::Relaxed) {
            return;
        }
        let Some(route) = core.functions.route(&payload) else {
            let request_id = crate::ids::new_id();
            let frame = error_frame("Forbidden", &info.id, &request_id);
            core.hub.send(&info.id, frame);
            continue;
        };
        let event = event(&info, EventKind::Message { route }, Some(payload));
        match core.functions.invoke(&event, timeout).await {
            Ok(reply) => {
                if let Some(frame) = reply.frame {
                    core.hub.send(&info.id, frame.into());
                }
                if let Some(close) = reply.close {
                    core.hub.kick(&info.id, Kick::new(close.code, close.reason));
                    return;
                }
            }
            Err(err) => {
                tracing::warn!(id = %info.id, %err, "transport failed");
                let frame = error_frame("Internal server error", &info.id, &event.request_id);
                core.hub.send(&info.id, frame);
            }
        }
    }
}
