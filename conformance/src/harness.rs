//! How the suite gets a store, and how one scenario runs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use rand::Rng;
use store_core::{ConnectionStore, MAX_TTL, ManualClock, Result, SharedClock, StoreError};

/// Opens fresh, isolated stores of one backend for the suite.
#[async_trait]
pub trait Harness: Send + Sync + 'static {
    /// Opens a store that sees only `namespace` (a fresh random name per scenario or model
    /// case: a table, a sled tree, a key prefix), on `clock`.
    async fn open(&self, namespace: &str, clock: SharedClock) -> Result<Arc<dyn ConnectionStore>>;

    /// Scenarios this harness's server cannot run, with the reason — for a test server's own
    /// limits only (e.g. s3s-fs keeps each key as a file name and so cannot hold keys over
    /// ~160 bytes); the same scenarios must run against a server without that limit. The
    /// default is none.
    fn known_limits(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Frees what `open` created for `namespace` (drops a table…). Called after each
    /// scenario, pass or fail. The default does nothing.
    async fn cleanup(&self, _namespace: &str) -> Result<()> {
        Ok(())
    }
}

/// What a scenario gets: a fresh store and the manual clock it runs on.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The store under test, empty, in its own namespace.
    pub store: Arc<dyn ConnectionStore>,
    /// The store's clock; scenarios advance it instead of sleeping.
    pub clock: ManualClock,
}

impl Ctx {
    /// Moves the store's time forward.
    pub fn advance(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
    }
}

/// Why a scenario failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Failure(format!("unexpected store error: {err}"))
    }
}

/// A scenario's result.
pub type Outcome = std::result::Result<(), Failure>;

/// A namespace no other run will pick: `ct` plus 12 random hex digits (valid as a SQL
/// identifier suffix, a sled tree name and a key-prefix segment).
pub fn fresh_namespace() -> String {
    let n: u64 = rand::rng().random();
    format!("ct{:012x}", n & 0xffff_ffff_ffff)
}

/// Runs one scenario on a fresh store: opens it in a fresh namespace, runs, then empties
/// it through the contract itself (time moves past every lease and `sweep` runs) and lets
/// the harness clean up.
pub async fn run_scenario(
    harness: &dyn Harness,
    scenario: fn(Ctx) -> BoxFuture<'static, Outcome>,
) -> Outcome {
    let namespace = fresh_namespace();
    let clock = ManualClock::starting_now();
    let store = harness
        .open(&namespace, Arc::new(clock.clone()))
        .await
        .map_err(|err| Failure(format!("could not open the store: {err}")))?;
    let ctx = Ctx {
        store: store.clone(),
        clock: clock.clone(),
    };
    let outcome = scenario(ctx).await;
    clock.advance(MAX_TTL + Duration::from_secs(1));
    let swept = sweep_retrying(store.as_ref()).await;
    drop(store);
    let cleaned = harness.cleanup(&namespace).await;
    outcome?;
    swept.map_err(|err| Failure(format!("final sweep failed: {err}")))?;
    cleaned.map_err(|err| Failure(format!("cleanup failed: {err}")))?;
    Ok(())
}

/// The final sweep that empties a store between scenarios, retried (twice, after a short
/// pause) when the store says its failure is temporary, as the contract tells callers to:
/// a test server's passing hiccup (moto's occasional 500) is not the store's failure.
pub(crate) async fn sweep_retrying(store: &dyn ConnectionStore) -> store_core::Result<u64> {
    let mut pause = Duration::from_millis(100);
    for _ in 0..2 {
        match store.sweep().await {
            Err(err) if err.is_temporary() => {
                tokio::time::sleep(pause).await;
                pause *= 3;
            }
            done => return done,
        }
    }
    store.sweep().await
}
