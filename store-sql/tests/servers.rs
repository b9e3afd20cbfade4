//! The shared conformance suite against REAL PostgreSQL and MariaDB/MySQL servers, plus the
//! server-specific behaviour: concurrent first opens, unreachable servers, pool options.
//!
//! Servers come from `TEST_POSTGRES_URL` / `TEST_MYSQL_URL` (defaults: the local test
//! servers). A missing server fails these tests; nothing is skipped.
#![cfg(all(feature = "postgres", feature = "mysql"))]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use conformance::{Harness, fresh_namespace};
use store_core::{
    ConnectionId, ConnectionStore, Endpoint, ErrorKind, Metadata, Registration, Result, RoomName,
    SharedClock, system_clock,
};
use store_sql::{Dialect, SqlxConfig, SqlxStore};

fn postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn mysql_url() -> String {
    std::env::var("TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

/// Opens a table per namespace on one server; drops it afterwards.
#[derive(Clone)]
struct ServerHarness {
    /// The server's URL with a small pool, so parallel tests do not exhaust connections.
    url: String,
    /// Stores by namespace, so cleanup reuses the pool instead of connecting again.
    open: Arc<Mutex<HashMap<String, SqlxStore>>>,
}

impl ServerHarness {
    fn new(url: String) -> Self {
        let sep = if url.contains('?') { '&' } else { '?' };
        ServerHarness {
            url: format!("{url}{sep}max_connections=4"),
            open: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SqlxStore>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn store(&self, namespace: &str, clock: SharedClock) -> Result<SqlxStore> {
        let config = SqlxConfig::with_url(&self.url)?
            .with_namespace(namespace)?
            .with_clock(clock);
        SqlxStore::open(config).await
    }
}

#[async_trait]
impl Harness for ServerHarness {
    async fn open(&self, namespace: &str, clock: SharedClock) -> Result<Arc<dyn ConnectionStore>> {
        let store = self.store(namespace, clock).await?;
        self.lock().insert(namespace.to_owned(), store.clone());
        Ok(Arc::new(store))
    }

    async fn cleanup(&self, namespace: &str) -> Result<()> {
        let cached = self.lock().remove(namespace);
        let store = match cached {
            Some(store) => store,
            None => self.store(namespace, system_clock()).await?,
        };
        store.drop_table().await?;
        store.close().await;
        Ok(())
    }
}

mod postgres {
    use super::*;
    conformance::conformance_tests!(ServerHarness::new(postgres_url()));
}

mod mysql {
    use super::*;
    conformance::conformance_tests!(ServerHarness::new(mysql_url()));
}

fn registration() -> Registration {
    Registration {
        room: RoomName::new("lobby").unwrap(),
        endpoint: Endpoint::new("http://127.0.0.1:8081").unwrap(),
        metadata: Metadata::new(),
        ttl: Duration::from_secs(60),
    }
}

/// Eight processes-worth of pools open the same brand-new table at once: all succeed, the
/// migration is recorded once, and they all see one table.
async fn concurrent_first_open(url: String) {
    let harness = ServerHarness::new(url);
    let namespace = fresh_namespace();
    let opens: Vec<_> = (0..8)
        .map(|_| {
            let (harness, namespace) = (harness.clone(), namespace.clone());
            tokio::spawn(async move { harness.store(&namespace, system_clock()).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().expect("concurrent open failed"));
    }
    let id = ConnectionId::new("shared").unwrap();
    stores[0].register(&id, &registration()).await.unwrap();
    for store in &stores {
        assert!(
            store.get(&id).await.unwrap().is_some(),
            "stores see different tables"
        );
    }
    harness.cleanup(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_first_open_migrates_once() {
    concurrent_first_open(postgres_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_concurrent_first_open_migrates_once() {
    concurrent_first_open(mysql_url()).await;
}

/// A server that does not answer is `Unavailable` (temporary) within a few seconds.
async fn wrong_port_is_unavailable(url: &str) {
    let started = Instant::now();
    let config = SqlxConfig::with_url(url).unwrap();
    let err = SqlxStore::open(config)
        .await
        .expect_err("opened a store on a closed port");
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary());
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[tokio::test]
async fn postgres_wrong_port_is_unavailable() {
    // Port 9 (discard) is closed on the test machines; acquire_timeout bounds the wait.
    wrong_port_is_unavailable("postgres://postgres@127.0.0.1:9/test?acquire_timeout_ms=2000").await;
}

#[tokio::test]
async fn mysql_wrong_port_is_unavailable() {
    wrong_port_is_unavailable("mysql://root@127.0.0.1:9/test?acquire_timeout_ms=2000").await;
}

/// A store opened fine, whose server then becomes unreachable, answers `Unavailable`
/// within the acquire timeout instead of hanging. (Simulated without stopping the shared
/// server: the pool is closed under the store.)
#[tokio::test]
async fn postgres_call_after_pool_close_is_unavailable() {
    let harness = ServerHarness::new(postgres_url());
    let namespace = fresh_namespace();
    let store = harness.store(&namespace, system_clock()).await.unwrap();
    store.close().await;
    let err = store
        .count(&RoomName::new("lobby").unwrap())
        .await
        .expect_err("a closed pool answered");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    harness.cleanup(&namespace).await.unwrap();
}

#[tokio::test]
async fn bad_credentials_are_not_temporary() {
    let config =
        SqlxConfig::with_url("mysql://nobody:wrong@127.0.0.1:3306/test?acquire_timeout_ms=3000")
            .unwrap();
    let err = SqlxStore::open(config)
        .await
        .expect_err("opened with a bad password");
    assert!(
        !err.is_temporary(),
        "a bad password is not worth retrying: {err}"
    );
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
}

#[tokio::test]
async fn postgres_schema_option_keeps_apps_apart() {
    let namespace = fresh_namespace();
    let url = format!("{}?schema=app_{namespace}", postgres_url());
    let config = SqlxConfig::with_url(&url).unwrap();
    let in_schema = SqlxStore::open(config).await.unwrap();
    let default_harness = ServerHarness::new(postgres_url());
    let plain = default_harness
        .store(&namespace, system_clock())
        .await
        .unwrap();
    let id = ConnectionId::new("c").unwrap();
    in_schema.register(&id, &registration()).await.unwrap();
    assert!(
        plain.get(&id).await.unwrap().is_none(),
        "schemas leak into each other"
    );
    in_schema.drop_table().await.unwrap();
    default_harness.cleanup(&namespace).await.unwrap();
}

/// Runs `sql` on a fresh connection of driver `C`, outside any store.
async fn run_by_hand<C>(url: &str, sql: String)
where
    C: sqlx::Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    let mut raw = C::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut raw)
        .await
        .unwrap();
}

/// A table dropped by hand under a store (its migration still in the ledger) comes back
/// when a store opens it again, instead of every call failing on a missing table.
async fn a_table_dropped_by_hand_is_created_again(url: String) {
    let harness = ServerHarness::new(url);
    let namespace = fresh_namespace();
    let first = harness.store(&namespace, system_clock()).await.unwrap();
    let id = ConnectionId::new("before").unwrap();
    first.register(&id, &registration()).await.unwrap();
    first.close().await;
    let config = SqlxConfig::with_url(&harness.url)
        .unwrap()
        .with_namespace(&namespace)
        .unwrap();
    let drop = format!("DROP TABLE {}", config.qualified_table().unwrap());
    // On a connection of the server's own driver, as an operator's client would.
    match config.dialect {
        Dialect::Postgres => run_by_hand::<sqlx::PgConnection>(config.driver_url(), drop).await,
        Dialect::Mysql => run_by_hand::<sqlx::MySqlConnection>(config.driver_url(), drop).await,
    }
    let again = harness.store(&namespace, system_clock()).await.unwrap();
    assert!(
        again.get(&id).await.unwrap().is_none(),
        "the data went with the table"
    );
    let id = ConnectionId::new("after").unwrap();
    again.register(&id, &registration()).await.unwrap();
    assert!(again.get(&id).await.unwrap().is_some());
    harness.cleanup(&namespace).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_table_dropped_by_hand_is_created_again() {
    a_table_dropped_by_hand_is_created_again(postgres_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_table_dropped_by_hand_is_created_again() {
    a_table_dropped_by_hand_is_created_again(mysql_url()).await;
}
