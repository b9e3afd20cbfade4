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
        let config = SqliteConfig::file(self.dir.path().join("conformance.db"))
            .with_namespace(namespace)?
            .with_clock(clock);
        Ok(Arc::new(SqliteStore::open(config).await?))
    }

    async fn cleanup(&self, namespace: &str) -> Result<()> {
        let config =
            SqliteConfig::file(self.dir.path().join("conformance.db")).with_namespace(namespace)?;
        SqliteStore::open(config).await?.drop_table().await
    }
}

conformance::conformance_tests!(SqliteHarness::new());

/// A table dropped by hand under a store (its migration still in the ledger) comes back
/// when a store opens it again, instead of every call failing on a missing table.
#[tokio::test]
async fn a_table_dropped_by_hand_is_created_again() {
    use std::time::Duration;
    use store_core::{ConnectionId, Endpoint, Metadata, Registration, RoomName};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dropped.db");
    let config = || SqliteConfig::file(&path).with_namespace("dropped").unwrap();
    let registration = Registration {
        room: RoomName::new("lobby").unwrap(),
        endpoint: Endpoint::new("http://127.0.0.1:8081").unwrap(),
        metadata: Metadata::new(),
        ttl: Duration::from_secs(60),
    };
    let id = ConnectionId::new("before").unwrap();
    let first = SqliteStore::open(config()).await.unwrap();
    first.register(&id, &registration).await.unwrap();
    drop(first);
    let table = config().table_name().unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!("DROP TABLE {table}"))
        .unwrap();
    let again = SqliteStore::open(config()).await.unwrap();
    assert!(
        again.get(&id).await.unwrap().is_none(),
        "the data went with the table"
    );
    let id = ConnectionId::new("after").unwrap();
    again.register(&id, &registration).await.unwrap();
    assert!(again.get(&id).await.unwrap().is_some());
}
