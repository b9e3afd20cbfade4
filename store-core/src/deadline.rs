//! Deadlines on store calls, for [`Metered`](crate::Metered): a call that does not answer
//! within its deadline fails as `Unavailable`, and is watched until it does answer, since
//! it may still pin a thread (a blocking store's call cannot be cancelled) or a connection.
//! What is stuck is what a node reports: how many calls, which is the oldest, for how long.
//!
//! A store that never answers would otherwise pile up one watched call per request: past
//! [`MAX_STUCK`] stuck calls, a new call fails at once without being made.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Result, StoreError};

/// Calls past their deadline watched at most; beyond, new calls fail without being made.
pub const MAX_STUCK: usize = 1024;

/// The calls that missed their deadline and have not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckCalls {
    /// How many.
    pub count: usize,
    /// The oldest: its operation and how long it has run.
    pub oldest: Option<(&'static str, Duration)>,
}

impl std::fmt::Display for StuckCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} store call(s) past the deadline", self.count)?;
        if let Some((op, age)) = self.oldest {
            write!(
                f,
                ", the oldest a `{op}` running for {} ms",
                age.as_millis()
            )?;
        }
        Ok(())
    }
}

/// Why a call got no answer.
pub(crate) enum Missed {
    /// It ran past the deadline (it goes on, watched).
    TimedOut,
    /// Too many calls are stuck already: it was not made.
    Shed,
}

/// The deadline of one store's calls and the calls that missed it.
#[derive(Debug)]
pub(crate) struct Deadline {
    /// How long a call may take.
    limit: Duration,
    /// Key of the next stuck call.
    next: AtomicU64,
    /// Stuck calls by key: operation and start. Locked briefly, never across `.await`.
    stuck: Mutex<BTreeMap<u64, (&'static str, Instant)>>,
}

impl Deadline {
    pub(crate) fn new(limit: Duration) -> Self {
        Deadline {
            limit,
            next: AtomicU64::new(0),
            stuck: Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }

    /// What is stuck now.
    pub(crate) fn stuck(&self) -> StuckCalls {
        let stuck = self.lock();
        StuckCalls {
            count: stuck.len(),
            oldest: stuck
                .values()
                .min_by_key(|(_, started)| *started)
                .map(|(op, started)| (*op, started.elapsed())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (&'static str, Instant)>> {
        self.stuck
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `call` (operation `op` of `backend`) right here, up to the limit; a call past
    /// it moves, half done, to a task of its own, which runs it on, watched and reported.
    /// (Not a task from the start: a call that answers in time, nearly all of them, then
    /// costs no hand-off, and its caller is not woken behind every other task of a busy
    /// worker.)
    ///
    /// With `runs_on`, a caller that gives up first (a function's deadline drops it) does
    /// not cut the call short either: it moves to a task of its own the same way, with
    /// what is left of its deadline. For a `remove`: a SQL store's is a transaction, and a
    /// pooled connection dropped between its `BEGIN` and `COMMIT` went on to the next
    /// caller still inside it (PostgreSQL said "there is already a transaction in
    /// progress" under the churn soak), which then committed or lost it; and a cleanup
    /// its function's deadline cut off still removes its record. Not for a `register`:
    /// the handshake it belonged to has failed and run its cleanup, which a late register
    /// would undo (a record for a connection that never was, for a whole lease).
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        backend: &'static str,
        op: &'static str,
        runs_on: bool,
        call: impl Future<Output = Result<T>> + Send + 'static,
    ) -> std::result::Result<Result<T>, Missed> {
        if self.lock().len() >= MAX_STUCK {
            return Err(Missed::Shed);
        }
        let mut in_flight = InFlight {
            call: Some(Box::pin(call)),
            deadline: self.clone(),
            backend,
            op,
            started: Instant::now(),
            runs_on,
        };
        let call = in_flight.call.as_mut().expect("just set");
        match tokio::time::timeout(self.limit, call.as_mut()).await {
            Ok(answer) => {
                in_flight.call = None;
                Ok(answer)
            }
            Err(_) => {
                let call = in_flight.call.take().expect("still pending");
                self.watch(backend, op, in_flight.started, call);
                Err(Missed::TimedOut)
            }
        }
    }

    /// Runs `call` (past its deadline) on to its answer on a task of its own, watched,
    /// saying so in the log.
    fn watch<T: Send + 'static>(
        self: &Arc<Self>,
        backend: &'static str,
        op: &'static str,
        started: Instant,
        call: impl Future<Output = Result<T>> + Send + 'static,
    ) {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(key, (op, started));
        let stuck = self.stuck();
        tracing::warn!(
            backend,
            op,
            deadline_ms = self.limit.as_millis() as u64,
            stuck = stuck.count,
            oldest_op = stuck.oldest.map_or("", |(op, _)| op),
            oldest_ms = stuck.oldest.map_or(0, |(_, age)| age.as_millis() as u64),
            "store call timed out: {stuck}"
        );
        let deadline = self.clone();
        tokio::spawn(async move {
            let _ = call.await;
            let left = {
                let mut stuck = deadline.lock();
                stuck.remove(&key);
                stuck.len()
            };
            tracing::info!(
                backend,
                op,
                after_ms = started.elapsed().as_millis() as u64,
                still_stuck = left,
                "a stuck store call answered"
            );
        });
    }
}

/// A call under way in [`Deadline::run`]: dropped with its call still pending (its caller
/// gave up), it hands a call that runs on to a task of its own, which runs it to its
/// answer within what is left of the deadline, and watched beyond it, as a late call.
struct InFlight<T: Send + 'static> {
    /// The call, until it answers or moves on.
    call: Option<Pin<Box<dyn Future<Output = Result<T>> + Send>>>,
    /// Its deadline, and the watch of late calls.
    deadline: Arc<Deadline>,
    /// The backend's name, for the log.
    backend: &'static str,
    /// The operation, for the log and the watch.
    op: &'static str,
    /// When it was made: its deadline counts from here.
    started: Instant,
    /// Whether it runs on when its caller gives up (else it is dropped with it).
    runs_on: bool,
}

impl<T: Send + 'static> Drop for InFlight<T> {
    fn drop(&mut self) {
        // A call that panicked while polled is not polled again.
        if !self.runs_on || std::thread::panicking() {
            return;
        }
        let Some(mut call) = self.call.take() else {
            return;
        };
        // Outside a runtime nothing can run it on (a runtime shutting down drops the task
        // it is given, as it drops its other tasks).
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (deadline, backend, op, started) =
            (self.deadline.clone(), self.backend, self.op, self.started);
        let left = deadline.limit.saturating_sub(started.elapsed());
        tracing::debug!(
            backend,
            op,
            "a store call's caller gave up; the call runs on"
        );
        runtime.spawn(async move {
            if tokio::time::timeout(left, call.as_mut()).await.is_err() {
                deadline.watch(backend, op, started, call);
            }
        });
    }
}

/// The error a call that missed its deadline fails with.
pub(crate) fn missed_error(
    backend: &'static str,
    op: &'static str,
    missed: &Missed,
    limit: Duration,
) -> StoreError {
    let why = match missed {
        Missed::TimedOut => format!("`{op}` did not answer within {} ms", limit.as_millis()),
        Missed::Shed => format!(
            "`{op}` not made: {MAX_STUCK} calls are stuck past the {} ms deadline",
            limit.as_millis()
        ),
    };
    StoreError::Unavailable {
        store: backend,
        source: why.into(),
    }
}
