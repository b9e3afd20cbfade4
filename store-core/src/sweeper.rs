//! Housekeeping: deleting expired records on an interval ([`Sweeper`]) or once
//! ([`sweep_once`], for a cron job or a timer-triggered function).
//!
//! Correctness never depends on a sweep (an expired record is never listed or counted), but
//! cost does: an object store lists, and bills, every expired key until it is deleted, and
//! the SQL and sled stores keep the rows of crashed nodes and lost disconnects forever.
//!
//! Metrics: `wsgw_sweeps_total{outcome}` (`ok`, `failed`, `skipped`: one was already running
//! in this process), `wsgw_swept_records_total`, `wsgw_sweep_seconds`.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::store::ConnectionStore;

/// Set while a sweep runs in this process: never two at once, whatever starts them.
static SWEEPING: AtomicBool = AtomicBool::new(false);

/// Clears [`SWEEPING`] when the sweep ends, however it ends.
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        SWEEPING.store(false, Ordering::Release);
    }
}

/// Sweeps `store` once, unless a sweep is already running in this process (then `None`).
/// The outcome is logged and counted; a failure is returned, never panics.
pub async fn sweep_once(store: &dyn ConnectionStore) -> Option<Result<u64>> {
    if SWEEPING.swap(true, Ordering::AcqRel) {
        metrics::counter!("wsgw_sweeps_total", "outcome" => "skipped").increment(1);
        tracing::debug!("a sweep is already running; this one is skipped");
        return None;
    }
    let _running = Running;
    let started = Instant::now();
    let result = store.sweep().await;
    let took = started.elapsed();
    metrics::histogram!("wsgw_sweep_seconds").record(took.as_secs_f64());
    match &result {
        Ok(swept) => {
            metrics::counter!("wsgw_sweeps_total", "outcome" => "ok").increment(1);
            metrics::counter!("wsgw_swept_records_total").increment(*swept);
            tracing::info!(
                backend = store.backend(),
                swept,
                took_ms = took.as_millis() as u64,
                "sweep done"
            );
        }
        Err(err) => {
            metrics::counter!("wsgw_sweeps_total", "outcome" => "failed").increment(1);
            tracing::warn!(backend = store.backend(), %err, took_ms = took.as_millis() as u64, "sweep failed; the next one retries");
        }
    }
    Some(result)
}

/// Sweeps a store every `interval`, give or take a fifth (jitter, so that nodes started
/// together do not sweep together); the first sweep comes after a random part of one
/// interval.
#[derive(Debug, Clone)]
pub struct Sweeper {
    /// The store to keep clean.
    store: Arc<dyn ConnectionStore>,
    /// The mean time between two sweeps.
    interval: Duration,
}

impl Sweeper {
    /// A sweeper of `store`; `None` when `interval` is zero (sweeping turned off).
    pub fn new(store: Arc<dyn ConnectionStore>, interval: Duration) -> Option<Self> {
        (!interval.is_zero()).then_some(Sweeper { store, interval })
    }

    /// Sweeps until `shutdown` resolves (a sweep under way is abandoned then: the next
    /// start sweeps again).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut wait = self.interval.mul_f64(random_unit());
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = async {
                    tokio::time::sleep(wait).await;
                    sweep_once(self.store.as_ref()).await;
                } => {}
            }
            wait = self.interval.mul_f64(0.8 + 0.4 * random_unit());
        }
    }
}

/// A random number in `[0, 1)`, from the standard library's randomly keyed hasher (no
/// generator needed for jitter).
fn random_unit() -> f64 {
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ConnectionId, Endpoint, ManualClock, MemoryStore, Metadata, Registration, RoomName,
    };

    #[test]
    fn jitter_stays_in_the_unit_interval() {
        for _ in 0..1000 {
            let x = random_unit();
            assert!((0.0..1.0).contains(&x), "{x}");
        }
    }

    #[test]
    fn a_zero_interval_turns_sweeping_off() {
        let store: Arc<dyn ConnectionStore> = Arc::new(MemoryStore::new());
        assert!(Sweeper::new(store.clone(), Duration::ZERO).is_none());
        assert!(Sweeper::new(store, Duration::from_secs(1)).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_deletes_expired_records_and_stops_on_shutdown() {
        let clock = Arc::new(ManualClock::new(1_000));
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let registration = Registration {
            room: RoomName::new("r").unwrap(),
            endpoint: Endpoint::new("http://node").unwrap(),
            metadata: Metadata::default(),
            ttl: Duration::from_secs(1),
        };
        let id = ConnectionId::new("gone").unwrap();
        store.register(&id, &registration).await.unwrap();
        clock.advance(Duration::from_secs(2));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let sweeper = Sweeper::new(store.clone(), Duration::from_secs(10)).unwrap();
        let task = tokio::spawn(sweeper.run(async {
            let _ = stopped.await;
        }));
        // Time is paused: it jumps to each timer, so the first sweep (within one interval)
        // is done when this sleep ends.
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(
            store.sweep().await.unwrap(),
            0,
            "the loop deleted the expired record"
        );
        stop.send(()).unwrap();
        task.await.unwrap();
    }
}
