//! [`Target`]: the store under test and its floor, opened from one URL in a fresh
//! namespace, and removed again afterwards.

use std::sync::Arc;

use store::Scheme;
use store_core::{ConnectionStore, Result, SharedClock, StoreError};

use super::floor::Floor;
use super::price::Price;

/// A store, its floor and what is needed to report and clean up.
pub struct Target {
    /// The backend's name (`sled`, `sqlite`, `postgres`, `mysql`, `s3`, `oss`).
    pub backend: &'static str,
    /// The store under test.
    pub store: Arc<dyn ConnectionStore>,
    /// The same listing without the store.
    pub floor: Box<dyn Floor>,
    /// Request counters of an object store (the others make no billable requests).
    pub requests: Option<RequestCounter>,
    /// Read capacity units consumed so far, as the server reported them (DynamoDB).
    pub read_units: Option<ReadUnits>,
    /// Measures one eventually consistent scan of the whole table, in read units
    /// (DynamoDB: the "scan on every message" comparison).
    pub scan: Option<ScanCost>,
    /// Waits until the backend is done with the fill's writes (sled: its log flushed), so
    /// the timed walks do not share the CPUs with a background writer.
    pub settle: Option<Settle>,
    /// The provider's list price per request, where one applies.
    pub price: Option<Price>,
    /// Drops what the benchmark wrote (tree, table or prefix).
    cleanup: Cleanup,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Reads an object store's request count (all kinds).
pub type RequestCounter = Box<dyn Fn() -> u64 + Send + Sync>;
/// Reads the read capacity units a store consumed so far.
pub type ReadUnits = Box<dyn Fn() -> f64 + Send + Sync>;
/// Scans the whole table once and answers the read units it took.
pub type ScanCost = Box<dyn Fn() -> futures::future::BoxFuture<'static, Result<f64>> + Send + Sync>;
/// Brings the backend to rest after a fill.
pub type Settle = Box<dyn Fn() -> futures::future::BoxFuture<'static, Result<()>> + Send + Sync>;

/// How to remove the benchmark's data.
enum Cleanup {
    #[cfg(feature = "sled")]
    Sled(sled::Db, String),
    #[cfg(feature = "sqlite")]
    Sqlite(store_sql::SqliteStore),
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    Sqlx(store_sql::SqlxStore),
    #[cfg(any(feature = "s3", feature = "oss"))]
    Objects(Arc<dyn store_object::ObjectClient>, String),
    #[cfg(feature = "redis")]
    Redis(store_redis::RedisStore),
    #[cfg(feature = "dynamodb")]
    Dynamodb(store_dynamodb::DynamoStore),
}

impl Target {
    /// Opens the store `url` names in `namespace` with `clock`, and its floor.
    pub async fn open(url: &str, namespace: &str, clock: SharedClock) -> Result<Target> {
        let scheme = Scheme::of(url)?;
        match scheme {
            #[cfg(feature = "sled")]
            Scheme::Sled => open_sled(url, namespace, clock).await,
            #[cfg(feature = "sqlite")]
            Scheme::Sqlite => open_sqlite(url, namespace, clock).await,
            #[cfg(feature = "postgres")]
            Scheme::Postgres => open_sqlx(url, namespace, clock).await,
            #[cfg(feature = "mysql")]
            Scheme::Mysql => open_sqlx(url, namespace, clock).await,
            #[cfg(feature = "s3")]
            Scheme::S3 => open_s3(url, namespace, clock).await,
            #[cfg(feature = "oss")]
            Scheme::Oss => open_oss(url, namespace, clock).await,
            #[cfg(feature = "redis")]
            Scheme::Redis => open_redis(url, namespace, clock).await,
            #[cfg(feature = "dynamodb")]
            Scheme::Dynamodb => open_dynamodb(url, namespace, clock).await,
            Scheme::Memory => Err(StoreError::config(
                "memory: has no floor to compare with; benchmark a real backend",
            )),
            #[allow(unreachable_patterns)]
            _ => Err(StoreError::config(format!(
                "this bench was built without the `{0}` feature: \
                 cargo run --release -p bench --features {0} -- …",
                scheme.feature()
            ))),
        }
    }

    /// Requests made so far (object stores).
    pub fn requests(&self) -> Option<u64> {
        self.requests.as_ref().map(|count| count())
    }

    /// Read units consumed so far (DynamoDB).
    pub fn read_units(&self) -> Option<f64> {
        self.read_units.as_ref().map(|units| units())
    }

    /// Removes everything the benchmark wrote.
    pub async fn cleanup(self) -> Result<()> {
        match self.cleanup {
            #[cfg(feature = "sled")]
            Cleanup::Sled(db, namespace) => tokio::task::spawn_blocking(move || {
                for tree in ["records", "rooms", "expiry"] {
                    db.drop_tree(format!("{namespace}/{tree}"))
                        .map_err(|e| StoreError::config(format!("sled drop_tree: {e}")))?;
                }
                db.flush()
                    .map_err(|e| StoreError::config(format!("sled flush: {e}")))?;
                Ok(())
            })
            .await
            .map_err(|e| StoreError::config(format!("cleanup thread: {e}")))?,
            #[cfg(feature = "sqlite")]
            Cleanup::Sqlite(store) => store.drop_table().await,
            #[cfg(any(feature = "postgres", feature = "mysql"))]
            Cleanup::Sqlx(store) => {
                store.drop_table().await?;
                store.close().await;
                Ok(())
            }
            #[cfg(any(feature = "s3", feature = "oss"))]
            Cleanup::Objects(client, prefix) => delete_prefix(&*client, &prefix).await,
            #[cfg(feature = "redis")]
            Cleanup::Redis(store) => store.destroy().await,
            #[cfg(feature = "dynamodb")]
            Cleanup::Dynamodb(store) => store.drop_table().await,
        }
    }
}

#[cfg(feature = "sled")]
async fn open_sled(url: &str, namespace: &str, clock: SharedClock) -> Result<Target> {
    use super::floor::SledFloor;
    let config = store_sled::SledConfig::with_url(url)?.with_namespace(namespace)?;
    let path = config.path.clone();
    let db = tokio::task::spawn_blocking(move || sled::open(path))
        .await
        .map_err(|e| StoreError::config(format!("open thread: {e}")))?
        .map_err(|e| StoreError::config(format!("cannot open sled at {url}: {e}")))?;
    let store = store_sled::SledStore::open(config.with_db(db.clone()).with_clock(clock)).await?;
    let rooms = db
        .open_tree(format!("{namespace}/rooms"))
        .map_err(|e| StoreError::config(format!("sled open_tree: {e}")))?;
    let flushed = db.clone();
    Ok(Target {
        backend: "sled",
        store: Arc::new(store),
        floor: Box::new(SledFloor { rooms }),
        requests: None,
        read_units: None,
        scan: None,
        settle: Some(Box::new(move || {
            let db = flushed.clone();
            Box::pin(async move {
                db.flush_async()
                    .await
                    .map(drop)
                    .map_err(|e| StoreError::config(format!("sled flush: {e}")))
            })
        })),
        price: None,
        cleanup: Cleanup::Sled(db, namespace.to_owned()),
    })
}

#[cfg(feature = "redis")]
async fn open_redis(url: &str, namespace: &str, clock: SharedClock) -> Result<Target> {
    let config = store_redis::RedisConfig::with_url(url)?.with_namespace(namespace)?;
    let store = store_redis::RedisStore::open(config.with_clock(clock)).await?;
    let keys = store.clone();
    Ok(Target {
        backend: if store.is_cluster() {
            "redis-cluster"
        } else {
            "redis"
        },
        store: Arc::new(store.clone()),
        floor: Box::new(super::floor::RedisFloor {
            connection: store.raw_connection(),
            keys: Box::new(move |room| keys.room_keys(room)),
        }),
        requests: None,
        read_units: None,
        scan: None,
        settle: None,
        price: None,
        cleanup: Cleanup::Redis(store),
    })
}

#[cfg(feature = "dynamodb")]
async fn open_dynamodb(url: &str, namespace: &str, clock: SharedClock) -> Result<Target> {
    let config = store_dynamodb::DynamoConfig::with_url(url)?.with_namespace(namespace)?;
    let store = store_dynamodb::DynamoStore::open(config.with_clock(clock)).await?;
    let (units, scanner) = (store.clone(), store.clone());
    Ok(Target {
        backend: "dynamodb",
        store: Arc::new(store.clone()),
        floor: Box::new(super::floor::DynamoFloor {
            client: store.raw_client(),
            table: store.table().to_owned(),
        }),
        requests: None,
        read_units: Some(Box::new(move || units.read_units())),
        settle: None,
        scan: Some(Box::new(move || {
            let floor = super::floor::DynamoFloor {
                client: scanner.raw_client(),
                table: scanner.table().to_owned(),
            };
            Box::pin(async move { floor.scan_read_units().await })
        })),
        price: Some(Price::AWS_DYNAMODB),
        cleanup: Cleanup::Dynamodb(store),
    })
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(url: &str, namespace: &str, clock: SharedClock) -> Result<Target> {
    use super::floor::SqliteFloor;
    let config = store_sql::SqliteConfig::with_url(url)?.with_namespace(namespace)?;
    let Some(path) = config.path.clone() else {
        return Err(StoreError::config(
            "an in-memory SQLite database cannot be shared with the floor: give a file",
        ));
    };
    let table = config.table_name()?.to_string();
    let store = store_sql::SqliteStore::open(config.with_clock(clock)).await?;
    let connection = rusqlite::Connection::open(&path)
        .map_err(|e| StoreError::config(format!("floor cannot open {}: {e}", path.display())))?;
    Ok(Target {
        backend: "sqlite",
        store: Arc::new(store.clone()),
        floor: Box::new(SqliteFloor {
            connection: Arc::new(std::sync::Mutex::new(connection)),
            table,
        }),
        requests: None,
        read_units: None,
        scan: None,
        settle: None,
        price: None,
        cleanup: Cleanup::Sqlite(store),
    })
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn open_sqlx(url: &str, namespace: &str, clock: SharedClock) -> Result<Target> {
    let config = store_sql::SqlxConfig::with_url(url)?.with_namespace(namespace)?;
    let table = config.qualified_table()?;
    let driver_url = config.driver_url().to_owned();
    let dialect = config.dialect;
    let store = store_sql::SqlxStore::open(config.with_clock(clock)).await?;
    let unavailable = |e: sqlx::Error| StoreError::Unavailable {
        store: dialect.backend(),
        source: Box::new(e),
    };
    let (backend, floor): (&'static str, Box<dyn Floor>) = match dialect {
        #[cfg(feature = "postgres")]
        store_sql::Dialect::Postgres => (
            "postgres",
            Box::new(super::floor::PostgresFloor {
                pool: sqlx::PgPool::connect(&driver_url)
                    .await
                    .map_err(unavailable)?,
                table,
            }),
        ),
        #[cfg(feature = "mysql")]
        store_sql::Dialect::Mysql => (
            "mysql",
            Box::new(super::floor::MySqlFloor {
                pool: sqlx::MySqlPool::connect(&driver_url)
                    .await
                    .map_err(unavailable)?,
                table,
            }),
        ),
        #[allow(unreachable_patterns)]
        other => {
            return Err(StoreError::config(format!(
                "this bench was built without {}",
                other.backend()
            )));
        }
    };
    Ok(Target {
        backend,
        store: Arc::new(store.clone()),
        floor,
        requests: None,
        read_units: None,
        scan: None,
        settle: None,
        price: None,
        cleanup: Cleanup::Sqlx(store),
    })
}

#[cfg(feature = "s3")]
async fn open_s3(url: &str, namespace: &str, clock: SharedClock) -> Result<Target> {
    let config = store_s3::S3Config::with_url(url)?.with_namespace(namespace)?;
    let store = store_s3::S3Store::open(config.clone().with_clock(clock)).await?;
    let client = Arc::new(store_s3::S3Client::new(&config)?);
    let price = if url.starts_with("cos:") {
        Price::TENCENT_COS
    } else {
        Price::AWS_S3
    };
    object_target("s3", store, client, &config.full_prefix(), price)
}

#[cfg(feature = "oss")]
async fn open_oss(url: &str, namespace: &str, clock: SharedClock) -> Result<Target> {
    let config = store_oss::OssConfig::with_url(url)?.with_namespace(namespace)?;
    let store = store_oss::OssStore::open(config.clone().with_clock(clock)).await?;
    let client = Arc::new(store_oss::OssClient::new(&config)?);
    object_target(
        "oss",
        store,
        client,
        &config.full_prefix(),
        Price::ALIBABA_OSS,
    )
}

/// An object store's target: the floor lists with its own `client` under the store's
/// prefix, requests come from the store's counters.
#[cfg(any(feature = "s3", feature = "oss"))]
fn object_target(
    backend: &'static str,
    store: store_object::ObjectStore,
    client: Arc<dyn store_object::ObjectClient>,
    prefix: &str,
    price: Price,
) -> Result<Target> {
    let counts = store.request_counts();
    // The store normalises the prefix (a trailing `/`); the floor must list the same keys.
    let prefix = store_object::normalize_prefix(prefix)?;
    Ok(Target {
        backend,
        store: Arc::new(store),
        floor: Box::new(super::floor::ObjectFloor {
            client: client.clone(),
            prefix: prefix.clone(),
        }),
        requests: Some(Box::new(move || counts.snapshot().total())),
        read_units: None,
        scan: None,
        settle: None,
        price: Some(price),
        cleanup: Cleanup::Objects(client, prefix),
    })
}

/// Deletes every object under `prefix`, page by page.
#[cfg(any(feature = "s3", feature = "oss"))]
async fn delete_prefix(client: &dyn store_object::ObjectClient, prefix: &str) -> Result<()> {
    use futures::{StreamExt, TryStreamExt};
    loop {
        // Deleted keys vanish from the next listing, so always list from the start.
        let page = client.list(prefix, None, 1000).await?;
        futures::stream::iter(page.keys.iter().map(|key| client.delete(key)))
            .buffer_unordered(32)
            .try_collect::<Vec<()>>()
            .await?;
        if !page.truncated {
            return Ok(());
        }
    }
}
