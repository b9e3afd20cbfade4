//! The shared conformance suite against sled, one fresh database per test.

use std::sync::Arc;

use async_trait::async_trait;
use conformance::Harness;
use store_core::{ConnectionStore, Result, SharedClock};
use store_sled::{SledConfig, SledStore};

/// One temporary sled database; every namespace is a set of trees in it.
#[derive(Clone)]
struct SledHarness {
    /// Shared by all namespaces of this harness (sled allows one open per directory).
    db: sled::Db,
    /// The database's directory; deleted when the last clone goes.
    dir: Arc<tempfile::TempDir>,
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
            dir: Arc::new(dir),
        }
    }
}

#[async_trait]
impl Harness for SledHarness {
    async fn open(&self, namespace: &str, clock: SharedClock) -> Result<Arc<dyn ConnectionStore>> {
        let config = SledConfig::new(self.dir.path())
            .with_db(self.db.clone())
            .with_namespace(namespace)?
            .with_clock(clock);
        Ok(Arc::new(SledStore::open(config).await?))
    }
}

conformance::conformance_tests!(SledHarness::new());

/// A broadcast's walk runs in place on a multi-thread runtime (the gateway's) and through
/// the blocking pool elsewhere (the suite's tests): both answer the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_room_in_place_equals_a_walk_of_pages() {
    use std::time::Duration;
    use store_core::{
        ConnectionId, Endpoint, ManualClock, Metadata, Registration, RoomName, collect_room,
    };
    let harness = SledHarness::new();
    let clock = Arc::new(ManualClock::starting_now());
    let store = harness.open("in_place", clock.clone()).await.unwrap();
    let room = RoomName::new("r").unwrap();
    for (i, ttl) in (0..2_500).map(|i| (i, if i % 3 == 0 { 1 } else { 60 })) {
        let registration = Registration {
            room: room.clone(),
            endpoint: Endpoint::new("http://node").unwrap(),
            metadata: Metadata::default(),
            ttl: Duration::from_secs(ttl),
        };
        let id = ConnectionId::new(format!("c{i:05}")).unwrap();
        store.register(&id, &registration).await.unwrap();
    }
    clock.advance(Duration::from_secs(2));
    let whole = store.list_room(&room).await.unwrap();
    let paged = collect_room(store.as_ref(), &room, 1000).await.unwrap();
    assert_eq!(whole.len(), 2_500 - 834);
    assert_eq!(whole, paged);
}

/// A current-thread runtime cannot run a read in place (`block_in_place` would panic there):
/// every read must still answer, whichever way `SledStore` would pick on a multi-thread
/// runtime (a room never walked, a large room, a small room, a point read).
#[tokio::test]
async fn reads_answer_on_a_current_thread_runtime() {
    use std::time::Duration;
    use store_core::{ConnectionId, Endpoint, Metadata, Registration, RoomName, SystemClock};
    let harness = SledHarness::new();
    let store = harness
        .open("current_thread", Arc::new(SystemClock))
        .await
        .unwrap();
    let (large, small) = (
        RoomName::new("large").unwrap(),
        RoomName::new("small").unwrap(),
    );
    for (room, members) in [(&large, 1_500), (&small, 10)] {
        for i in 0..members {
            let registration = Registration {
                room: room.clone(),
                endpoint: Endpoint::new("http://node").unwrap(),
                metadata: Metadata::default(),
                ttl: Duration::from_secs(60),
            };
            let id = ConnectionId::new(format!("{room}{i:05}")).unwrap();
            store.register(&id, &registration).await.unwrap();
        }
    }
    // Twice each: the first walk of a room has no size hint, the second has one.
    for _ in 0..2 {
        assert_eq!(store.list_room(&large).await.unwrap().len(), 1_500);
        assert_eq!(store.list_room(&small).await.unwrap().len(), 10);
    }
    let id = ConnectionId::new("small00003").unwrap();
    let record = store
        .get(&id)
        .await
        .unwrap()
        .expect("a registered connection");
    assert_eq!(record.room, small);
}
