//! The store flags both chat binaries take (`gateway`, `chat-functions`), written once.

use std::sync::Arc;
use std::time::Duration;

use store_core::{ConnectionStore, Metered, Sweeper};
use tokio::task::JoinHandle;

/// Where connections are kept, and how often expired records are swept.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Connection store URL (sled://…, sqlite://…, postgres://…, mysql://…, s3://…,
    /// oss://…, redis://…, dynamodb://…; the backend's cargo feature compiled in).
    #[arg(
        long,
        env = "STORE_URL",
        hide_env_values = true,
        default_value = "sqlite://./data/connections.db"
    )]
    pub store: String,
    /// Delete expired connection records about this often, seconds (with jitter; 0: never,
    /// e.g. when a cron job runs `gateway sweep`).
    #[arg(long, default_value_t = 300)]
    pub sweep_interval_secs: u64,
    /// A store call (but a sweep) that has not answered in this many ms fails as
    /// unavailable (503 at a handshake, an error frame on a message); it goes on, watched,
    /// and `/readyz` says not ready until it answers.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub store_timeout_ms: u64,
}

impl StoreArgs {
    /// The store the URL names, its calls metered and bounded by `--store-timeout-ms`.
    pub async fn open(&self) -> store_core::Result<Arc<dyn ConnectionStore>> {
        let store = store::open(&self.store).await?;
        let limit = Duration::from_millis(self.store_timeout_ms);
        Ok(Metered::wrap_with_deadline(store, limit))
    }

    /// Sweeps `store` on its interval on a task of its own, unless the interval is 0 (a
    /// sweep cut short when the task ends is redone on the next start).
    pub fn sweep(&self, store: Arc<dyn ConnectionStore>) -> Option<JoinHandle<()>> {
        let interval = Duration::from_secs(self.sweep_interval_secs);
        Sweeper::new(store, interval)
            .map(|sweeper| tokio::spawn(sweeper.run(std::future::pending())))
    }
}
