//! The connections this node holds, and how to reach each one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chat::Delivery;
use tokio::sync::{Notify, mpsc};

/// A frame on its way down to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// Why the server closes a connection on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kick {
    /// `DELETE /@connections/{id}` or a Tencent `closing` push.
    ByFunction,
    /// Its outbound queue overflowed.
    TooSlow,
    /// A heartbeat found its lease gone: the client must reconnect (and register again).
    LeaseLost,
}

/// What the node knows about one connection.
#[derive(Debug)]
pub struct ConnInfo {
    /// The connection id.
    pub id: String,
    /// Its room.
    pub room: String,
    /// The client's address.
    pub source_ip: String,
    /// Accept time, epoch ms.
    pub connected_at_ms: u64,
    /// Last message from the client, epoch ms.
    pub last_active_ms: AtomicU64,
}

/// One held connection.
#[derive(Debug, Clone)]
struct Conn {
    /// Frames for the socket task; bounded so a slow client cannot grow memory.
    tx: mpsc::Sender<Outbound>,
    /// Facts for `GET /@connections/{id}`.
    info: Arc<ConnInfo>,
    /// Wakes the socket task to close the connection.
    kick: Arc<Notify>,
    /// Why it was kicked (read by the socket task after the notify).
    reason: Arc<Mutex<Option<Kick>>>,
}

/// All connections of this node. The lock is only held for map operations, never across
/// an `.await`: sends use `try_send`.
#[derive(Debug, Default)]
pub struct Hub {
    /// By connection id.
    conns: Mutex<HashMap<String, Conn>>,
}

/// What the socket task keeps to hear from the hub.
#[derive(Debug)]
pub struct Handle {
    /// Frames to write.
    pub rx: mpsc::Receiver<Outbound>,
    /// Closes the connection when notified.
    pub kick: Arc<Notify>,
    /// Why.
    pub reason: Arc<Mutex<Option<Kick>>>,
    /// Shared facts.
    pub info: Arc<ConnInfo>,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Conn>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a connection with an outbound queue of `queue` frames.
    pub fn insert(&self, info: ConnInfo, queue: usize) -> Handle {
        let (tx, rx) = mpsc::channel(queue);
        let info = Arc::new(info);
        let kick = Arc::new(Notify::new());
        let reason = Arc::new(Mutex::new(None));
        self.lock().insert(
            info.id.clone(),
            Conn {
                tx,
                info: info.clone(),
                kick: kick.clone(),
                reason: reason.clone(),
            },
        );
        Handle {
            rx,
            kick,
            reason,
            info,
        }
    }

    /// Forgets a connection.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Queues a frame for `id`. A full queue closes the connection (backpressure: one slow
    /// client never stalls the others).
    pub fn send(&self, id: &str, frame: Outbound) -> Delivery {
        let Some(conn) = self.lock().get(id).cloned() else {
            return Delivery::Gone;
        };
        match conn.tx.try_send(frame) {
            Ok(()) => Delivery::Sent,
            Err(mpsc::error::TrySendError::Full(_)) => {
                kick(&conn, Kick::TooSlow);
                Delivery::Overflow
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Gone,
        }
    }

    /// Closes `id` from the server side; false if unknown.
    pub fn kick(&self, id: &str, why: Kick) -> bool {
        match self.lock().get(id).cloned() {
            Some(conn) => {
                kick(&conn, why);
                true
            }
            None => false,
        }
    }

    /// Facts about `id`.
    pub fn info(&self, id: &str) -> Option<Arc<ConnInfo>> {
        self.lock().get(id).map(|c| c.info.clone())
    }

    /// Touches `id`'s last-active time.
    pub fn touch(info: &ConnInfo, now_ms: u64) {
        info.last_active_ms.store(now_ms, Ordering::Relaxed);
    }
}

fn kick(conn: &Conn, why: Kick) {
    *conn
        .reason
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
    conn.kick.notify_one();
}
