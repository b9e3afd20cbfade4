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

    /// Waits until no session is live, or `limit` passes; how many were still live then
    /// (their cleanups are cut short).
    pub async fn drained(&self, limit: Duration) -> usize {
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
        self.live.load(Ordering::SeqCst)
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        self.0.dropped.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_drain_says_how_many_sessions_it_left_and_ends_when_the_last_one_does() {
        let sessions = Arc::new(Sessions::default());
        let (first, second) = (sessions.enter(), sessions.enter());
        drop(first);
        assert_eq!(
            sessions.drained(Duration::from_millis(20)).await,
            1,
            "one session still live when the limit passed"
        );
        let waiting = {
            let sessions = sessions.clone();
            tokio::spawn(async move { sessions.drained(Duration::from_secs(3600)).await })
        };
        drop(second);
        let left = tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("ended by the last session, not the hour's limit");
        assert_eq!(left.unwrap(), 0);
    }
}
