//! The shared conformance suite on a standalone Redis server and on a 3-node Redis
//! Cluster. `scripts/test` exports `TEST_REDIS_URL` (the machine's server, default
//! `redis://127.0.0.1:6379`) and starts a private Cluster on its own ports, exporting
//! `TEST_REDIS_CLUSTER_URL`; without it the Cluster tests FAIL, they do not skip. Every
//! scenario writes under its own key prefix.

use std::sync::Arc;

use store_core::{ConnectionStore, Result, SharedClock};
use store_redis::{RedisConfig, RedisStore};

fn standalone_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn cluster_url() -> String {
    std::env::var("TEST_REDIS_CLUSTER_URL").expect(
        "TEST_REDIS_CLUSTER_URL is not set: run ./scripts/test, which starts a Redis Cluster",
    )
}

/// Opens a store on `url` under the scenario's namespace, as the `store` facade would.
async fn open(url: &str, namespace: &str, clock: SharedClock) -> Result<Arc<dyn ConnectionStore>> {
    let config = RedisConfig::with_url(url)?
        .with_namespace(&format!("test:{namespace}"))?
        .with_clock(clock);
    Ok(Arc::new(RedisStore::open(config).await?))
}

mod standalone {
    use super::*;

    struct Standalone;

    #[conformance::async_trait]
    impl conformance::Harness for Standalone {
        async fn open(
            &self,
            namespace: &str,
            clock: SharedClock,
        ) -> Result<Arc<dyn ConnectionStore>> {
            open(&standalone_url(), namespace, clock).await
        }
    }

    conformance::conformance_tests!(Standalone);
}

mod cluster {
    use super::*;

    struct Cluster;

    #[conformance::async_trait]
    impl conformance::Harness for Cluster {
        async fn open(
            &self,
            namespace: &str,
            clock: SharedClock,
        ) -> Result<Arc<dyn ConnectionStore>> {
            open(&cluster_url(), namespace, clock).await
        }
    }

    conformance::conformance_tests!(Cluster);
}
