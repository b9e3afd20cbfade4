//! Counting live sessions, so a graceful shutdown can wait for their cleanups.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Live sessions, from the handshake (register running) to the end of cleanup.
#[derive(Debug, Default)]
pub struct Sessions {
    /// Live sessions.
    live: AtomicUsize,
    /// Signalled when the count drops.
    dropped: Notify,
}

/// Decrements the session count when a session ends, however it ends; owned, so it moves
/// from the handshake into the upgraded socket's task.
#[derive(Debug)]
pub struct SessionGuard(Arc<Sessions>);

impl Sessions {
    /// Counts one more session until the guard drops.
    pub fn enter(self: &Arc<Self>) -> SessionGuard {
        self.live.fetch_add(1, Ordering::SeqCst);
        SessionGuard(self.clone())
    }

    /// Waits until no session is live, or `limit` passes.
    pub async fn drained(&self, limit: Duration) {
        let wait = async {
            while self.live.load(Ordering::SeqCst) > 0 {
                let dropped = self.dropped.notified();
                if self.live.load(Ordering::SeqCst) == 0 {
                    break;
                }
                dropped.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        self.0.dropped.notify_waiters();
    }
}
