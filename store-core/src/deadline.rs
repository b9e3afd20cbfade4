//! Deadlines on store calls, for [`Metered`](crate::Metered): a call that does not answer
//! within its deadline fails as `Unavailable`, and is watched until it does answer, since
//! it may still pin a thread (a blocking store's call cannot be cancelled) or a connection.
//! What is stuck is what a node reports: how many calls, which is the oldest, for how long.
//!
//! A store that never answers would otherwise pile up one watched call per request: past
//! [`MAX_STUCK`] stuck calls, a new call fails at once without being made.

use std::collections::BTreeMap;
use std::future::Future;
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
    pub(crate) async fn run<T: Send + 'static>(
        self: &std::sync::Arc<Self>,
        backend: &'static str,
        op: &'static str,
        call: impl Future<Output = Result<T>> + Send + 'static,
    ) -> std::result::Result<Result<T>, Missed> {
        if self.lock().len() >= MAX_STUCK {
            return Err(Missed::Shed);
        }
        let started = Instant::now();
        let mut call = Box::pin(call);
        match tokio::time::timeout(self.limit, call.as_mut()).await {
            Ok(answer) => Ok(answer),
            Err(_) => {
                self.watch(backend, op, started, call);
                Err(Missed::TimedOut)
            }
        }
    }

    /// Runs `call` (past its deadline) on to its answer on a task of its own, watched,
    /// saying so in the log.
    fn watch<T: Send + 'static>(
        self: &std::sync::Arc<Self>,
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
