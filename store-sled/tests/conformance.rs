//! The shared conformance suite against sled, one fresh database per test.

use std::sync::Arc;

use async_trait::async_trait;
use conformance::Harness;
use store_core::{ConnectionStore, Result, SharedClock};
use store_sled::SledStore;

/// One temporary sled database; every namespace is a set of trees in it.
#[derive(Clone)]
struct SledHarness {
    /// Shared by all namespaces of this harness (sled allows one open per directory).
    db: sled::Db,
    /// Deleted when the last clone goes.
    _dir: Arc<tempfile::TempDir>,
}

impl SledHarness {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = sled::Config::new()
            .path(dir.path())
            .open()
            .expect("open sled");
        SledHarness {
            db,
            _dir: Arc::new(dir),
        }
    }
}

#[async_trait]
impl Harness for SledHarness {
    async fn open(&self, namespace: &str, clock: SharedClock) -> Result<Arc<dyn ConnectionStore>> {
        Ok(Arc::new(
            SledStore::open_in(self.db.clone(), namespace, clock).await?,
        ))
    }
}

conformance::conformance_tests!(SledHarness::new());
