//! The host: every configured function's pool, one `invoke` by name, and a stop that
//! leaves no process behind.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::error::Failure;
use crate::pool::Pool;
use crate::spec::{FunctionSpec, HostSettings};

/// Why a host cannot be made of these functions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A name Lambda would not take.
    #[error("`{0}` is not a function name (letters, digits, - and _, 64 at most)")]
    BadName(String),
    /// Two functions of one name.
    #[error("two functions are named `{0}`")]
    Duplicate(String),
    /// A function that could never run (no instance, or no time).
    #[error("function `{0}`: concurrency and timeout must be above zero")]
    NoCapacity(String),
}

/// Runs functions as Lambda does: instances on demand, kept warm, reused, stopped when
/// idle, each fed its events through the Runtime API.
#[derive(Debug)]
pub struct Host {
    /// Each function's pool, by name.
    pools: BTreeMap<String, Arc<Pool>>,
    /// What every function is told (and the stop grace).
    settings: Arc<HostSettings>,
}

impl Host {
    /// A host of `functions`; nothing starts before its first invocation.
    pub fn new(settings: HostSettings, functions: Vec<FunctionSpec>) -> Result<Host, SpecError> {
        let settings = Arc::new(settings);
        let mut pools = BTreeMap::new();
        for spec in functions {
            if !FunctionSpec::valid_name(&spec.name) {
                return Err(SpecError::BadName(spec.name));
            }
            if spec.concurrency == 0 || spec.timeout.is_zero() {
                return Err(SpecError::NoCapacity(spec.name));
            }
            let name = spec.name.clone();
            let pool = Arc::new(Pool::new(spec, settings.clone()));
            if pools.insert(name.clone(), pool).is_some() {
                return Err(SpecError::Duplicate(name));
            }
        }
        Ok(Host { pools, settings })
    }

    /// Whether a function of this name is hosted.
    pub fn has(&self, name: &str) -> bool {
        self.pools.contains_key(name)
    }

    /// The hosted functions' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pools.keys().map(String::as_str)
    }

    /// The longest an [`Host::invoke`] of `name` takes, all told: a wait for an instance
    /// (at most the init timeout), then the function's timeout.
    pub fn bound(&self, name: &str) -> Option<Duration> {
        self.pools.get(name).map(|pool| pool.bound())
    }

    /// Runs function `name` on `event` (the JSON its runtime client hands the handler):
    /// the handler's answer as its runtime client posted it, or why none.
    pub async fn invoke(&self, name: &str, event: Bytes) -> Result<Bytes, Failure> {
        match self.pools.get(name) {
            Some(pool) => pool.invoke(event).await,
            None => Err(Failure::NotFound(name.to_owned())),
        }
    }

    /// Live instances of function `name`.
    pub fn instances(&self, name: &str) -> usize {
        self.pools.get(name).map_or(0, |pool| pool.instances())
    }

    /// Stops every function: waiting invocations fail, every instance gets SIGTERM, then
    /// SIGKILL after the grace; returns once none is left (or after the grace and a
    /// second more, having killed them all).
    pub async fn shutdown(&self) {
        for pool in self.pools.values() {
            pool.stop();
        }
        let bound = self.settings.stop_grace + Duration::from_secs(1);
        let all_gone = async {
            for pool in self.pools.values() {
                loop {
                    let ended = pool.ended.notified();
                    if pool.instances() == 0 {
                        break;
                    }
                    ended.await;
                }
            }
        };
        if tokio::time::timeout(bound, all_gone).await.is_err() {
            tracing::warn!("function instances still running after the stop grace");
        }
    }
}
