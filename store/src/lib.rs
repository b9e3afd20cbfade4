//! Opens a [`ConnectionStore`] from a URL, whichever backend was compiled in.
//!
//! | scheme | backend | cargo feature |
//! |---|---|---|
//! | `memory:` | in-process [`MemoryStore`] | always |
//! | `sled://<dir>` | sled (the embedded default) | `sled` (default) |
//! | `sqlite://<file>`, `sqlite::memory:` | SQLite via rusqlite | `sqlite` (default) |
//! | `postgres://…`, `postgresql://…` | PostgreSQL via sqlx | `postgres` |
//! | `mysql://…`, `mariadb://…` | MySQL / MariaDB via sqlx | `mysql` |
//! | `s3://…`, `cos://…` | S3 and S3-compatible object storage | `s3` |
//! | `oss://…` | Alibaba OSS | `oss` |
//! | `redis://…`, `rediss://…`, `redis+cluster://h1:p1,h2:p2`, `rediss+cluster://…` | Redis, standalone or Cluster | `redis` |
//! | `dynamodb://table?region=…&endpoint=…` | Amazon DynamoDB (credentials from `AWS_*`) | `dynamodb` |
//!
//! A scheme whose backend was not compiled in is a [`StoreError::Config`] naming the
//! feature to enable, never a panic.
//!
//! # Layout
//! - `lib.rs`: [`OpenOptions`], [`open`], [`open_with`], [`Scheme`].

use std::sync::Arc;

use store_core::{ConnectionStore, MemoryStore, Result, SharedClock, StoreError, system_clock};

/// How to open a store beyond its URL.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The clock leases are computed from (tests inject a manual one).
    pub clock: SharedClock,
    /// Keeps this store's data apart from others in the same storage (a table suffix, a
    /// tree prefix, a key prefix). `None` uses the URL's own setting or the default.
    pub namespace: Option<String>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            clock: system_clock(),
            namespace: None,
        }
    }
}

/// The backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// `memory:`
    Memory,
    /// `sled://`
    Sled,
    /// `sqlite:`
    Sqlite,
    /// `postgres://` / `postgresql://`
    Postgres,
    /// `mysql://` / `mariadb://`
    Mysql,
    /// `s3://` / `cos://`
    S3,
    /// `oss://`
    Oss,
    /// `redis://`, `rediss://`, `redis+cluster://`, `rediss+cluster://`
    Redis,
    /// `dynamodb://table?region=…&endpoint=…`
    Dynamodb,
}

impl Scheme {
    /// The scheme of `url`, or a `Config` error for an unknown one.
    pub fn of(url: &str) -> Result<Scheme> {
        let scheme = url.split(':').next().unwrap_or_default();
        Ok(match scheme {
            "memory" => Scheme::Memory,
            "sled" => Scheme::Sled,
            "sqlite" => Scheme::Sqlite,
            "postgres" | "postgresql" => Scheme::Postgres,
            "mysql" | "mariadb" => Scheme::Mysql,
            "s3" | "cos" => Scheme::S3,
            "oss" => Scheme::Oss,
            "redis" | "rediss" | "redis+cluster" | "rediss+cluster" => Scheme::Redis,
            "dynamodb" => Scheme::Dynamodb,
            _ => {
                return Err(StoreError::config(format!(
                    "unknown store URL scheme in `{}`; expected one of memory:, sled://, \
                     sqlite://, postgres://, mysql://, s3://, cos://, oss://, redis://, \
                     rediss://, redis+cluster://, rediss+cluster://, dynamodb://",
                    redact(url)
                )));
            }
        })
    }

    /// The cargo feature that compiles this backend in.
    pub fn feature(self) -> &'static str {
        match self {
            Scheme::Memory => "(always built)",
            Scheme::Sled => "sled",
            Scheme::Sqlite => "sqlite",
            Scheme::Postgres => "postgres",
            Scheme::Mysql => "mysql",
            Scheme::S3 => "s3",
            Scheme::Oss => "oss",
            Scheme::Redis => "redis",
            Scheme::Dynamodb => "dynamodb",
        }
    }
}

/// Opens the store `url` names, on the wall clock.
pub async fn open(url: &str) -> Result<Arc<dyn ConnectionStore>> {
    open_with(url, OpenOptions::default()).await
}

/// Opens the store `url` names with `options`.
pub async fn open_with(url: &str, options: OpenOptions) -> Result<Arc<dyn ConnectionStore>> {
    let scheme = Scheme::of(url)?;
    match scheme {
        Scheme::Memory => Ok(Arc::new(MemoryStore::with_clock(options.clock))),
        #[cfg(feature = "sled")]
        Scheme::Sled => {
            let mut config = store_sled::SledConfig::with_url(url)?;
            if let Some(ns) = &options.namespace {
                config = config.with_namespace(ns)?;
            }
            Ok(Arc::new(
                store_sled::SledStore::open(config, options.clock).await?,
            ))
        }
        #[cfg(feature = "sqlite")]
        Scheme::Sqlite => {
            let mut config = store_sql::SqliteConfig::with_url(url)?;
            if let Some(ns) = &options.namespace {
                config = config.with_namespace(ns)?;
            }
            Ok(Arc::new(
                store_sql::SqliteStore::open(config, options.clock).await?,
            ))
        }
        #[cfg(any(feature = "postgres", feature = "mysql"))]
        Scheme::Postgres | Scheme::Mysql => {
            let mut config = store_sql::SqlxConfig::with_url(url)?;
            if let Some(ns) = &options.namespace {
                config = config.with_namespace(ns)?;
            }
            Ok(Arc::new(
                store_sql::SqlxStore::open(config, options.clock).await?,
            ))
        }
        #[cfg(feature = "s3")]
        Scheme::S3 => {
            let mut config = store_s3::S3Config::with_url(url)?;
            if let Some(ns) = &options.namespace {
                config = config.with_namespace(ns)?;
            }
            Ok(Arc::new(store_s3::open(&config, options.clock)?))
        }
        #[cfg(feature = "oss")]
        Scheme::Oss => {
            let mut config = store_oss::OssConfig::with_url(url)?;
            if let Some(ns) = &options.namespace {
                config = config.with_namespace(ns)?;
            }
            Ok(Arc::new(store_oss::open(&config, options.clock)?))
        }
        #[cfg(feature = "redis")]
        Scheme::Redis => {
            let mut config = store_redis::RedisConfig::with_url(url)?;
            if let Some(ns) = &options.namespace {
                config = config.with_namespace(ns)?;
            }
            Ok(Arc::new(
                store_redis::RedisStore::connect_with_clock(config, options.clock).await?,
            ))
        }
        #[cfg(feature = "dynamodb")]
        Scheme::Dynamodb => {
            let mut config = store_dynamodb::DynamoConfig::with_url(url)?;
            if let Some(ns) = &options.namespace {
                config = config.with_namespace(ns)?;
            }
            Ok(Arc::new(
                store_dynamodb::DynamoStore::open_with_clock(config, options.clock).await?,
            ))
        }
        #[allow(unreachable_patterns)]
        other => Err(not_compiled_in(other)),
    }
}

fn not_compiled_in(scheme: Scheme) -> StoreError {
    StoreError::config(format!(
        "the {scheme:?} backend is not compiled into this binary; rebuild with \
         `--features {}`",
        scheme.feature()
    ))
}

/// `url` with any password replaced by `***`, for messages and logs — also in a URL
/// mistyped around its `//` (`redis:/u:pw@h`, `mysql:://u:pw@h`).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once(':') else {
        return url.to_owned();
    };
    let after_slashes = rest.trim_start_matches([':', '/']);
    let (slashes, rest) = rest.split_at(rest.len() - after_slashes.len());
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}:{slashes}{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_recognised() {
        assert_eq!(Scheme::of("sled://x").unwrap(), Scheme::Sled);
        assert_eq!(Scheme::of("sqlite::memory:").unwrap(), Scheme::Sqlite);
        assert_eq!(Scheme::of("postgresql://h/db").unwrap(), Scheme::Postgres);
        assert_eq!(Scheme::of("mariadb://h/db").unwrap(), Scheme::Mysql);
        assert_eq!(Scheme::of("cos://b").unwrap(), Scheme::S3);
        assert_eq!(
            Scheme::of("rediss+cluster://h:1,h:2").unwrap(),
            Scheme::Redis
        );
        assert_eq!(
            Scheme::of("dynamodb://conns?region=eu-west-1").unwrap(),
            Scheme::Dynamodb
        );
        let err = Scheme::of("ftp://x").unwrap_err();
        assert_eq!(err.kind(), store_core::ErrorKind::Config);
    }

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db?x=1"),
            "postgres://u:***@h:5432/db?x=1"
        );
        assert_eq!(redact("sled://./data"), "sled://./data");
        assert!(!redact("mysql://root:hunter2@h/db").contains("hunter2"));
        assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(redact("memory:"), "memory:");
    }

    /// Found by `fuzz/` (store_urls): a URL mistyped around its `//` was printed whole.
    #[test]
    fn redact_hides_passwords_in_mistyped_urls() {
        assert_eq!(redact("redis:/u:hunter2@h:6379"), "redis:/u:***@h:6379");
        assert_eq!(
            redact("mysql:://root:hunter2@h/db"),
            "mysql:://root:***@h/db"
        );
        assert_eq!(redact("postgres:u:hunter2@h"), "postgres:u:***@h");
    }

    #[tokio::test]
    async fn memory_opens() {
        let store = open("memory:").await.unwrap();
        assert_eq!(store.backend(), "memory");
    }

    #[test]
    fn missing_backend_is_a_config_error_naming_the_feature() {
        let err = not_compiled_in(Scheme::Oss);
        assert_eq!(err.kind(), store_core::ErrorKind::Config);
        assert!(err.to_string().contains("--features oss"), "{err}");
    }
}
