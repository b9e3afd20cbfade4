//! Split mode, as in production: two gateway nodes, the chat functions in their own HTTP
//! server, one shared store — PostgreSQL, and Redis (standalone and Cluster). A message
//! sent on one node reaches a client on the other through the push-back URL in the store.
//! Node A speaks the Tencent event shape to the functions, node B the AWS one. Needs the
//! PostgreSQL of `TEST_POSTGRES_URL`, the Redis of `TEST_REDIS_URL` (both default to the
//! local test servers) and the Cluster `./scripts/test` starts (`TEST_REDIS_CLUSTER_URL`);
//! without them these tests fail.

use std::sync::Arc;
use std::time::Duration;

use chat::ChatFunctions;
use gateway::{FunctionMode, FunctionWire, Gateway, GatewayConfig, HttpRoutes, Limits, wire};
use lifecycle::HttpPusher;
use store_core::{ConnectionStore, RoomName, system_clock};
use store_sql::{SqlxConfig, SqlxStore};
use tokio::net::TcpListener;

mod common;

use common::ws::{connect, next_of, say};

async fn node(url: &str, dialect: &'static dyn FunctionWire) -> String {
    let app = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let push = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = app.local_addr().unwrap();
    let functions = FunctionMode::Http {
        routes: HttpRoutes::lifecycle(
            &format!("{url}/register"),
            &format!("{url}/transport"),
            &format!("{url}/cleanup"),
        ),
        dialect,
        route_responses: false,
    };
    let mut config = GatewayConfig::new(push.local_addr().unwrap(), functions);
    config.limits = Limits::default();
    let gateway = Arc::new(Gateway::new(config).unwrap());
    tokio::spawn(gateway::run(gateway, app, push, std::future::pending()));
    format!("ws://{app_addr}/ws?room=split")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_with_http_functions_and_postgres_deliver_across_nodes() {
    let url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let config = SqlxConfig::with_url(&url)
        .unwrap()
        .with_namespace(&conformance::fresh_namespace())
        .unwrap();
    let pg = SqlxStore::open(config.with_clock(system_clock()))
        .await
        .expect("PostgreSQL is needed");
    deliver_across_nodes(Arc::new(pg.clone())).await;
    pg.drop_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_with_http_functions_and_redis_deliver_across_nodes() {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    on_redis(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_with_http_functions_and_a_redis_cluster_deliver_across_nodes() {
    let url = std::env::var("TEST_REDIS_CLUSTER_URL").expect(
        "TEST_REDIS_CLUSTER_URL is not set: run ./scripts/test, which starts a Redis Cluster",
    );
    on_redis(&url).await;
}

/// Runs the split-mode check on the Redis at `url` (as `--store` takes it), in a fresh
/// key prefix, and deletes its keys after.
async fn on_redis(url: &str) {
    let config = store_redis::RedisConfig::with_url(url)
        .unwrap()
        .with_namespace(&conformance::fresh_namespace())
        .unwrap();
    let redis = store_redis::RedisStore::open(config)
        .await
        .expect("Redis is needed");
    deliver_across_nodes(Arc::new(redis.clone())).await;
    redis.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_with_http_functions_and_dynamodb_deliver_across_nodes() {
    let url = std::env::var("TEST_DYNAMODB_URL").expect(
        "TEST_DYNAMODB_URL is not set: run ./scripts/test, which starts moto's DynamoDB server",
    );
    let mut config = store_dynamodb::DynamoConfig::with_url(&url)
        .unwrap()
        .with_namespace(&conformance::fresh_namespace())
        .unwrap();
    if config.access_key_id.is_none() {
        // moto checks no credentials.
        config = config.with_credentials("moto-key", "moto-secret");
    }
    let dynamodb = store_dynamodb::DynamoStore::open(config)
        .await
        .expect("a DynamoDB server is needed");
    deliver_across_nodes(Arc::new(dynamodb.clone())).await;
    dynamodb.drop_table().await.unwrap();
}

/// Two nodes with HTTP functions over `store`: each connection records its own node, and
/// chat lines cross between them both ways.
async fn deliver_across_nodes(store: Arc<dyn ConnectionStore>) {
    let functions = Arc::new(ChatFunctions::new(
        store.clone(),
        Arc::new(HttpPusher::new(None).unwrap()),
        Duration::from_secs(60),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let functions_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, chat::server::router(functions)).await });

    let a_url = node(&functions_url, &wire::tencent::Tencent).await;
    let b_url = node(&functions_url, &wire::aws::Aws).await;
    let mut a = connect(&a_url).await;
    next_of(&mut a, "welcome").await;
    let mut b = connect(&b_url).await;
    assert_eq!(next_of(&mut b, "welcome").await["online"], 2);
    assert_eq!(next_of(&mut a, "join").await["online"], 2);

    let members = store_core::collect_room(store.as_ref(), &RoomName::new("split").unwrap(), 10)
        .await
        .unwrap();
    let endpoints: std::collections::HashSet<_> =
        members.iter().map(|m| m.endpoint.clone()).collect();
    assert_eq!(endpoints.len(), 2, "each connection records its own node");

    say(&mut a, "across nodes").await;
    assert_eq!(next_of(&mut b, "chat").await["text"], "across nodes");
    say(&mut b, "and back").await;
    assert_eq!(next_of(&mut a, "chat").await["text"], "and back");

    drop(b);
    assert_eq!(next_of(&mut a, "leave").await["online"], 1);
}
