//! Two calls interleaved at the worst moment, set up by hand on the machine's Redis
//! (`TEST_REDIS_URL`) and the private Cluster (`TEST_REDIS_CLUSTER_URL`): a renew has
//! written the record and not yet the room entry when a sweep runs.

use std::sync::Arc;
use std::time::Duration;

use store_core::{
    Clock, ConnectionId, ConnectionStore, Endpoint, ManualClock, Metadata, Registration, RoomName,
};
use store_redis::{RedisConfig, RedisStore};

async fn a_sweep_between_a_renews_two_scripts_keeps_the_entry(url: &str) {
    let config = RedisConfig::with_url(url)
        .unwrap()
        .with_namespace(&format!("test:{}", conformance::fresh_namespace()))
        .unwrap();
    let record_key = format!("{}:c:{{c1}}", config.prefix);
    let clock = ManualClock::starting_now();
    let store = RedisStore::open(config.with_clock(Arc::new(clock.clone())))
        .await
        .unwrap();
    let (id, room) = (
        ConnectionId::new("c1").unwrap(),
        RoomName::new("lobby").unwrap(),
    );
    let registration = Registration {
        room: room.clone(),
        endpoint: Endpoint::new("http://127.0.0.1:8081").unwrap(),
        metadata: Metadata::new(),
        ttl: Duration::from_secs(10),
    };
    store.register(&id, &registration).await.unwrap();
    // The lease is about to end: a renew writes the record's new lease...
    clock.advance(Duration::from_millis(9_999));
    let renewed_until = clock.now_ms() + 10_000;
    let mut raw = store.raw_connection();
    redis::cmd("HSET")
        .arg(&record_key)
        .arg("x")
        .arg(renewed_until.to_string())
        .query_async::<i64>(&mut raw)
        .await
        .unwrap();
    // ...and before it reaches the room entry, the old lease ends and a sweep runs.
    clock.advance(Duration::from_millis(2));
    assert_eq!(store.sweep().await.unwrap(), 0, "the connection is live");
    // The renew goes on; the connection must be listed.
    store.renew(&id, Duration::from_secs(10)).await.unwrap();
    let members = store.list_room(&room).await.unwrap();
    assert_eq!(
        members.len(),
        1,
        "a live connection lost its entry: {members:?}"
    );
    assert_eq!(store.count(&room).await.unwrap(), 1);
    store.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone() {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    a_sweep_between_a_renews_two_scripts_keeps_the_entry(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster() {
    let url = std::env::var("TEST_REDIS_CLUSTER_URL").expect(
        "TEST_REDIS_CLUSTER_URL is not set: run ./scripts/test, which starts a Redis Cluster",
    );
    a_sweep_between_a_renews_two_scripts_keeps_the_entry(&url).await;
}
