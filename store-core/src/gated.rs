//! [`Gated`]: a store that stops answering on command, for testing what its callers do
//! when a real one hangs (a deadlocked embedded database, a server that accepts and never
//! replies): while its gate is shut, every call waits; when it opens, they all go on.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::error::Result;
use crate::store::ConnectionStore;
use crate::types::{
    Connection, ConnectionId, Lease, Page, PageToken, Registration, RoomMember, RoomName,
};

/// A store whose calls wait while its gate is shut. Cheap to clone; clones share the gate.
#[derive(Debug, Clone)]
pub struct Gated {
    /// The store answering once the gate is open.
    inner: Arc<dyn ConnectionStore>,
    /// True while open; calls wait for it.
    open: watch::Receiver<bool>,
    /// Opens and shuts the gate.
    switch: Arc<watch::Sender<bool>>,
}

impl Gated {
    /// `inner` behind a gate, open.
    pub fn new(inner: Arc<dyn ConnectionStore>) -> Self {
        let (switch, open) = watch::channel(true);
        Gated {
            inner,
            open,
            switch: Arc::new(switch),
        }
    }

    /// Shuts the gate: calls from now on wait (calls under way are not affected).
    pub fn shut(&self) {
        self.switch.send_replace(false);
    }

    /// Opens the gate: every waiting call goes on.
    pub fn open(&self) {
        self.switch.send_replace(true);
    }

    /// Waits while the gate is shut.
    async fn pass(&self) {
        let mut open = self.open.clone();
        // The sender lives as long as `self`: the wait ends only by opening.
        let _ = open.wait_for(|open| *open).await;
    }
}

#[async_trait]
impl ConnectionStore for Gated {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn register(&self, id: &ConnectionId, registration: &Registration) -> Result<Lease> {
        self.pass().await;
        self.inner.register(id, registration).await
    }

    async fn renew(&self, id: &ConnectionId, ttl: Duration) -> Result<Lease> {
        self.pass().await;
        self.inner.renew(id, ttl).await
    }

    async fn remove(&self, id: &ConnectionId) -> Result<bool> {
        self.pass().await;
        self.inner.remove(id).await
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        self.pass().await;
        self.inner.get(id).await
    }

    async fn list(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page> {
        self.pass().await;
        self.inner.list(room, after, limit).await
    }

    async fn list_room(&self, room: &RoomName) -> Result<Vec<RoomMember>> {
        self.pass().await;
        self.inner.list_room(room).await
    }

    async fn count(&self, room: &RoomName) -> Result<u64> {
        self.pass().await;
        self.inner.count(room).await
    }

    async fn sweep(&self) -> Result<u64> {
        self.pass().await;
        self.inner.sweep().await
    }
}
