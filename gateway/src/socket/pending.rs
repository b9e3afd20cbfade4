//! A connection from register's acceptance on: what its session starts from and keeps.

use std::sync::Arc;

use lifecycle::ConnectionInfo;
use tracing::Instrument;

use super::cleanup::cleanup;
use super::sessions::SessionGuard;
use super::{Core, span_of};

/// A connection whose register accepted it: until its session starts, and then the session's
/// own core and facts for its life (kept once, not copied beside it). Dropped without
/// starting (the upgrade failed), it leaves the hub and its cleanup runs, counted as a live
/// session so a shutdown waits for it.
pub(super) struct Pending {
    /// The node's core.
    pub core: Arc<Core>,
    /// The connection.
    pub info: Arc<ConnectionInfo>,
    /// Counts the connection until its cleanup is done.
    alive: Option<SessionGuard>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("id", &self.info.id)
            .finish()
    }
}

impl Pending {
    /// `info`'s connection on `core`, counted by `alive` until its cleanup is done.
    pub fn new(core: Arc<Core>, info: Arc<ConnectionInfo>, alive: SessionGuard) -> Self {
        Pending {
            core,
            info,
            alive: Some(alive),
        }
    }

    /// Hands the connection to its session, which keeps `self` for its core and its facts
    /// (copies of them would be kept beside it, in every idle connection's task).
    pub fn start(&mut self) -> SessionGuard {
        self.alive.take().expect("a pending connection starts once")
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some(alive) = self.alive.take() else {
            return;
        };
        self.core.hub.remove(&self.info.id);
        // Outside a runtime (a runtime being torn down) there is nothing to run it on:
        // the lease ends the record instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (core, info) = (self.core.clone(), self.info.clone());
            let span = span_of(&info);
            runtime.spawn(
                async move {
                    cleanup(&core, &info, 1006, "the handshake did not complete").await;
                    drop(alive);
                }
                .instrument(span),
            );
        }
    }
}
