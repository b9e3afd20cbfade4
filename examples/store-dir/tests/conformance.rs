//! The shared conformance suite on this backend: the scenarios and the model check, each
//! scenario in a fresh namespace of one temporary directory.

use std::sync::Arc;

use store_core::{ConnectionStore, Result, SharedClock};
use store_dir::{DirConfig, DirStore};
use tempfile::TempDir;

/// Opens a fresh store per scenario; the directory goes when the harness is dropped.
struct DirHarness {
    /// Holds every namespace of this test's stores.
    root: TempDir,
}

impl DirHarness {
    fn new() -> Self {
        DirHarness {
            root: tempfile::tempdir().expect("a temporary directory"),
        }
    }
}

#[conformance::async_trait]
impl conformance::Harness for DirHarness {
    async fn open(&self, namespace: &str, clock: SharedClock) -> Result<Arc<dyn ConnectionStore>> {
        let config = DirConfig::new(self.root.path())
            .with_namespace(namespace)?
            .with_clock(clock);
        Ok(Arc::new(DirStore::open(config).await?))
    }
}

conformance::conformance_tests!(DirHarness::new());
