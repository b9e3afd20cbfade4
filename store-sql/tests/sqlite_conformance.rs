//! The shared conformance suite against SQLite: a fresh database file per test, one table
//! per namespace.

use std::sync::Arc;

use async_trait::async_trait;
use conformance::Harness;
use store_core::{ConnectionStore, Result, SharedClock};
use store_sql::{SqliteConfig, SqliteStore};

#[derive(Clone)]
struct SqliteHarness {
    /// Holds the database file; removed when the last clone goes.
    dir: Arc<tempfile::TempDir>,
}

impl SqliteHarness {
    fn new() -> Self {
        SqliteHarness {
            dir: Arc::new(tempfile::tempdir().expect("temp dir")),
        }
    }
}

#[async_trait]
impl Harness for SqliteHarness {
    async fn open(&self, namespace: &str, clock: SharedClock) -> Result<Arc<dyn ConnectionStore>> {
        let config =
            SqliteConfig::file(self.dir.path().join("conformance.db")).with_namespace(namespace)?;
        Ok(Arc::new(SqliteStore::open(config, clock).await?))
    }

    async fn cleanup(&self, namespace: &str) -> Result<()> {
        let config =
            SqliteConfig::file(self.dir.path().join("conformance.db")).with_namespace(namespace)?;
        SqliteStore::open(config, store_core::system_clock())
            .await?
            .drop_table()
            .await
    }
}

conformance::conformance_tests!(SqliteHarness::new());
