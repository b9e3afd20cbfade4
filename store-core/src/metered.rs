//! [`Metered`]: any store, with each call counted and timed in the process's metrics.
//!
//! - `wsgw_store_calls_total{backend, op, outcome}`: `outcome` is `ok` or the error's kind
//!   (`not_found`, `unavailable`, …);
//! - `wsgw_store_call_seconds{backend, op}`: a histogram of call latency.
//!
//! Labels are the backend, the operation and the outcome, never an id or a room, so the
//! label sets stay bounded. With no metrics recorder installed (a library user, a test) the
//! counters cost nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::Result;
use crate::store::ConnectionStore;
use crate::types::{
    Connection, ConnectionId, Lease, Page, PageToken, Registration, RoomMember, RoomName,
};

/// Gives the store's metrics (these and the sweeper's) their help text, for an exporter
/// that shows it (Prometheus's). Call once, after installing the recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "wsgw_store_calls_total",
        "Connection store calls, by backend, operation and outcome (ok or the error kind)."
    );
    metrics::describe_histogram!(
        "wsgw_store_call_seconds",
        metrics::Unit::Seconds,
        "Connection store call latency, by backend and operation."
    );
    metrics::describe_counter!(
        "wsgw_sweeps_total",
        "Sweeps of expired records, by outcome (ok, failed, skipped: one was running)."
    );
    metrics::describe_counter!(
        "wsgw_swept_records_total",
        "Expired records deleted by sweeps."
    );
    metrics::describe_histogram!(
        "wsgw_sweep_seconds",
        metrics::Unit::Seconds,
        "How long a sweep took."
    );
}

/// A store whose calls are counted and timed; it behaves exactly as the store it wraps.
#[derive(Debug)]
pub struct Metered {
    /// The store doing the work.
    inner: Arc<dyn ConnectionStore>,
}

impl Metered {
    /// `inner`, metered.
    pub fn wrap(inner: Arc<dyn ConnectionStore>) -> Arc<dyn ConnectionStore> {
        Arc::new(Metered { inner })
    }

    /// Runs `call` as operation `op`, recording its outcome and latency.
    async fn timed<T>(
        &self,
        op: &'static str,
        call: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let started = Instant::now();
        let result = call.await;
        let backend = self.inner.backend();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(err) => err.kind().as_str(),
        };
        metrics::counter!("wsgw_store_calls_total", "backend" => backend, "op" => op, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("wsgw_store_call_seconds", "backend" => backend, "op" => op)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

#[async_trait]
impl ConnectionStore for Metered {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn register(&self, id: &ConnectionId, registration: &Registration) -> Result<Lease> {
        self.timed("register", self.inner.register(id, registration))
            .await
    }

    async fn renew(&self, id: &ConnectionId, ttl: Duration) -> Result<Lease> {
        self.timed("renew", self.inner.renew(id, ttl)).await
    }

    async fn remove(&self, id: &ConnectionId) -> Result<bool> {
        self.timed("remove", self.inner.remove(id)).await
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        self.timed("get", self.inner.get(id)).await
    }

    async fn list(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page> {
        self.timed("list", self.inner.list(room, after, limit))
            .await
    }

    async fn list_room(&self, room: &RoomName) -> Result<Vec<RoomMember>> {
        self.timed("list_room", self.inner.list_room(room)).await
    }

    async fn count(&self, room: &RoomName) -> Result<u64> {
        self.timed("count", self.inner.count(room)).await
    }

    async fn sweep(&self) -> Result<u64> {
        self.timed("sweep", self.inner.sweep()).await
    }
}
