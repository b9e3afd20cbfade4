//! [`Metered`]: any store, with each call counted and timed in the process's metrics.
//!
//! - `wsgw_store_calls_total{backend, op, outcome}`: `outcome` is `ok`, the error's kind
//!   (`not_found`, `unavailable`, …) or `timeout` (past the deadline, when one is set:
//!   [`Metered::wrap_with_deadline`]; the call fails as `Unavailable`);
//! - `wsgw_store_call_seconds{backend, op}`: a histogram of call latency.
//!
//! Labels are the backend, the operation and the outcome, never an id or a room, so the
//! label sets stay bounded. With no metrics recorder installed (a library user, a test) the
//! counters cost nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::deadline::{Deadline, StuckCalls, missed_error};
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

/// A store whose calls are counted and timed, and, with a deadline, cut off when they take
/// too long; otherwise it behaves exactly as the store it wraps.
#[derive(Debug)]
pub struct Metered {
    /// The store doing the work.
    inner: Arc<dyn ConnectionStore>,
    /// How long a call may take, and the calls that took longer; none waits forever.
    deadline: Option<Arc<Deadline>>,
}

impl Metered {
    /// `inner`, metered.
    pub fn wrap(inner: Arc<dyn ConnectionStore>) -> Arc<dyn ConnectionStore> {
        Arc::new(Metered {
            inner,
            deadline: None,
        })
    }

    /// `inner`, metered, each call but `sweep` (whose batches are bounded, and which may
    /// rightly take long on a big table) failing as `Unavailable` when it has not answered
    /// within `limit`; the late call goes on, watched, until it answers
    /// ([`ConnectionStore::stuck_calls`]).
    pub fn wrap_with_deadline(
        inner: Arc<dyn ConnectionStore>,
        limit: Duration,
    ) -> Arc<dyn ConnectionStore> {
        Arc::new(Metered {
            inner,
            deadline: Some(Arc::new(Deadline::new(limit))),
        })
    }

    /// Runs `call` as operation `op`, recording its outcome and latency; with `runs_on`,
    /// to its answer even when its caller gives up (see `Deadline::run`: a remove).
    async fn timed<T: Send + 'static>(
        &self,
        op: &'static str,
        runs_on: bool,
        call: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let started = Instant::now();
        let backend = self.inner.backend();
        let (result, outcome) = match &self.deadline {
            None => outcome(call.await),
            Some(deadline) => match deadline.run(backend, op, runs_on, call).await {
                Ok(result) => outcome(result),
                Err(missed) => (
                    Err(missed_error(backend, op, &missed, deadline.limit())),
                    "timeout",
                ),
            },
        };
        metrics::counter!("wsgw_store_calls_total", "backend" => backend, "op" => op, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("wsgw_store_call_seconds", "backend" => backend, "op" => op)
            .record(started.elapsed().as_secs_f64());
        result
    }
}

/// `result` and its outcome label.
fn outcome<T>(result: Result<T>) -> (Result<T>, &'static str) {
    let outcome = match &result {
        Ok(_) => "ok",
        Err(err) => err.kind().as_str(),
    };
    (result, outcome)
}

// Each call's arguments are cloned into the call, so that a call past its deadline can go
// on (watched, on a task of its own) after its caller has been answered.
#[async_trait]
impl ConnectionStore for Metered {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn stuck_calls(&self) -> Option<StuckCalls> {
        self.deadline.as_ref().map(|deadline| deadline.stuck())
    }

    async fn register(&self, id: &ConnectionId, registration: &Registration) -> Result<Lease> {
        let (inner, id, registration) = (self.inner.clone(), id.clone(), registration.clone());
        self.timed("register", false, async move {
            inner.register(&id, &registration).await
        })
        .await
    }

    async fn renew(&self, id: &ConnectionId, ttl: Duration) -> Result<Lease> {
        let (inner, id) = (self.inner.clone(), id.clone());
        self.timed("renew", false, async move { inner.renew(&id, ttl).await })
            .await
    }

    async fn remove(&self, id: &ConnectionId) -> Result<bool> {
        let (inner, id) = (self.inner.clone(), id.clone());
        self.timed("remove", true, async move { inner.remove(&id).await })
            .await
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let (inner, id) = (self.inner.clone(), id.clone());
        self.timed("get", false, async move { inner.get(&id).await })
            .await
    }

    async fn list(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page> {
        let (inner, room, after) = (self.inner.clone(), room.clone(), after.cloned());
        self.timed("list", false, async move {
            inner.list(&room, after.as_ref(), limit).await
        })
        .await
    }

    async fn list_room(&self, room: &RoomName) -> Result<Vec<RoomMember>> {
        let (inner, room) = (self.inner.clone(), room.clone());
        self.timed(
            "list_room",
            false,
            async move { inner.list_room(&room).await },
        )
        .await
    }

    async fn count(&self, room: &RoomName) -> Result<u64> {
        let (inner, room) = (self.inner.clone(), room.clone());
        self.timed("count", false, async move { inner.count(&room).await })
            .await
    }

    async fn sweep(&self) -> Result<u64> {
        let started = Instant::now();
        let (result, outcome) = outcome(self.inner.sweep().await);
        let backend = self.inner.backend();
        metrics::counter!("wsgw_store_calls_total", "backend" => backend, "op" => "sweep", "outcome" => outcome)
            .increment(1);
        metrics::histogram!("wsgw_store_call_seconds", "backend" => backend, "op" => "sweep")
            .record(started.elapsed().as_secs_f64());
        result
    }
}
