//! Two calls interleaved at the worst moment, set up by hand on moto
//! (`TEST_DYNAMODB_URL`): a renew has written the record and not yet the entry when a
//! sweep runs.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use store_core::{
    Clock, ConnectionId, ConnectionStore, Endpoint, ManualClock, Metadata, Registration, RoomName,
};
use store_dynamodb::{DynamoConfig, DynamoStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_between_a_renews_two_writes_keeps_the_entry() {
    let url = std::env::var("TEST_DYNAMODB_URL").expect(
        "TEST_DYNAMODB_URL is not set: run ./scripts/test, which starts moto's DynamoDB server",
    );
    let config = DynamoConfig::with_url(&url)
        .unwrap()
        .with_namespace(&conformance::fresh_namespace())
        .unwrap()
        .with_credentials("test-key", "test-secret");
    let clock = ManualClock::starting_now();
    let store = DynamoStore::open(config.with_clock(Arc::new(clock.clone())))
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
    store
        .raw_client()
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S("c#c1".into()))
        .key("sk", AttributeValue::S("#".into()))
        .update_expression("SET x = :x")
        .expression_attribute_values(":x", AttributeValue::N(renewed_until.to_string()))
        .send()
        .await
        .unwrap();
    // ...and before it reaches the entry, the old lease ends and a sweep runs.
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
    store.drop_table().await.unwrap();
}
