//! A gateway killed with SIGKILL runs no cleanup: its connection records stay behind, and
//! stop counting as online when their lease runs out — the whole point of leases.

use std::time::{Duration, Instant};

use store_core::{ConnectionStore, RoomName, system_clock};
use store_sql::{SqliteConfig, SqliteStore};

mod common;

use common::binary::Binary;
use common::ws::{join, room_url};

const LEASE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_a_killed_gateway_stop_counting_after_the_lease() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("connections.db");
    let mut node = Binary::start(&[
        "--store",
        &format!("sqlite://{}", db.display()),
        "--lease-secs",
        &LEASE.as_secs().to_string(),
        // The sweep at the end is this test's own.
        "--sweep-interval-secs",
        "0",
    ]);
    let _ws = join(&room_url(node.app, "lobby")).await;
    let store = SqliteStore::open(SqliteConfig::file(&db).with_clock(system_clock()))
        .await
        .unwrap();
    let room = RoomName::new("lobby").unwrap();
    assert_eq!(store.count(&room).await.unwrap(), 1);

    node.child.kill().unwrap(); // SIGKILL: no cleanup function runs.
    node.wait();
    let killed = Instant::now();
    assert_eq!(
        store.count(&room).await.unwrap(),
        1,
        "the record outlives the gateway"
    );

    // The lease, not a cleanup, takes it out of the online count.
    let deadline = killed + LEASE + Duration::from_secs(3);
    while store.count(&room).await.unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "still online {:?} after the kill",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        store.sweep().await.unwrap(),
        1,
        "the stale record was still there to sweep"
    );
}
