//! [`StoreConfig`]: the one shape in which every backend is configured and opened.

use async_trait::async_trait;

use crate::clock::SharedClock;
use crate::error::Result;
use crate::store::ConnectionStore;

/// A backend's configuration, and the one way its store is opened.
///
/// Every backend crate of this repository has the same shape: a config type, built from a
/// store URL ([`with_url`](StoreConfig::with_url)) or by hand (its own constructors and
/// `with_*` methods), carrying the clock leases are computed from, and one constructor,
/// `TheStore::open(config)`:
///
/// ```text
/// let config = SledConfig::with_url("sled://./data/connections")?
///     .with_namespace("app1")?
///     .with_clock(clock);                 // optional: the system clock by default
/// let store = SledStore::open(config).await?;
/// ```
///
/// | config | `open` | store |
/// |---|---|---|
/// | `store_sled::SledConfig` | `SledStore::open(config)` | `SledStore` |
/// | `store_sql::SqliteConfig` | `SqliteStore::open(config)` | `SqliteStore` |
/// | `store_sql::SqlxConfig` | `SqlxStore::open(config)` | `SqlxStore` |
/// | `store_s3::S3Config` | `S3Store::open(config)` | `ObjectStore` |
/// | `store_oss::OssConfig` | `OssStore::open(config)` | `ObjectStore` |
/// | `store_redis::RedisConfig` | `RedisStore::open(config)` | `RedisStore` |
/// | `store_dynamodb::DynamoConfig` | `DynamoStore::open(config)` | `DynamoStore` |
///
/// The clock is a `clock` field of every config, [`system_clock`](crate::system_clock)
/// unless [`with_clock`](StoreConfig::with_clock) sets another: tests inject a
/// [`ManualClock`](crate::ManualClock) there.
///
/// This trait states that shape, so that code can open any backend without naming it (the
/// `store` crate's table of backends opens a URL through it). Each config also has the
/// same methods as inherent methods, so a caller that names its backend needs no import;
/// [`open`](StoreConfig::open) is `TheStore::open(config)`.
#[async_trait]
pub trait StoreConfig: Send + Sized + 'static {
    /// The store this config opens.
    type Store: ConnectionStore;

    /// Parses the backend's store URL (`sled://…`, `postgres://…`). A URL the backend
    /// cannot take is a [`Config`](crate::StoreError::Config) error, which never shows a
    /// password the URL holds.
    fn with_url(url: &str) -> Result<Self>;

    /// Keeps the store's data apart from every other namespace in the same storage (a tree
    /// prefix, a table suffix, a key prefix): the conformance suite gives each scenario its
    /// own.
    fn with_namespace(self, namespace: &str) -> Result<Self>;

    /// Computes leases on `clock` instead of the system clock.
    fn with_clock(self, clock: SharedClock) -> Self;

    /// Opens the store this config describes (connecting, creating tables or trees as the
    /// backend does): the same as `TheStore::open(config)`.
    async fn open(self) -> Result<Self::Store>;
}
