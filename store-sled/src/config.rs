//! Where the sled database lives, which namespace a store sees, and its clock.

use std::fmt;
use std::path::PathBuf;

use store_core::{Result, SharedClock, StoreConfig, StoreError, system_clock};

use crate::SledStore;

/// How to open a [`SledStore`]: `SledStore::open(config)`.
#[derive(Clone)]
pub struct SledConfig {
    /// The database directory (created if missing).
    pub path: PathBuf,
    /// The prefix of this store's tree names, so several stores can share one database.
    pub namespace: String,
    /// The most bytes sled keeps cached in memory. sled's own default (1 GiB) lets a node
    /// that registers and removes connections for months grow its memory toward it.
    pub cache_bytes: u64,
    /// Leases are computed from this clock ([`system_clock`] unless
    /// [`with_clock`](SledConfig::with_clock) sets another).
    pub clock: SharedClock,
    /// The database at `path`, already open (see [`with_db`](SledConfig::with_db)).
    pub(crate) db: Option<sled::Db>,
}

impl fmt::Debug for SledConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledConfig")
            .field("path", &self.path)
            .field("namespace", &self.namespace)
            .field("cache_bytes", &self.cache_bytes)
            .field("clock", &self.clock)
            // Not the database itself: sled's `Debug` prints every tree's contents.
            .field("db", &self.db.as_ref().map(|_| "open"))
            .finish()
    }
}

/// The cache used when none is given: a connection record is about 200 bytes, so this
/// holds the index of a few hundred thousand live connections.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The namespace used when none is given.
pub const DEFAULT_NAMESPACE: &str = "default";

impl SledConfig {
    /// A config for the database at `path`, in the default namespace.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SledConfig {
            path: path.into(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            cache_bytes: DEFAULT_CACHE_BYTES,
            clock: system_clock(),
            db: None,
        }
    }

    /// Parses `sled://<path>` (`sled://./data/conns`, `sled:///var/lib/conns`), with an
    /// optional `?namespace=<name>` and `cache_mb=<MiB>` (64 by default).
    pub fn with_url(url: &str) -> Result<Self> {
        let rest = url.strip_prefix("sled://").ok_or_else(|| {
            StoreError::config(format!("a sled URL starts with `sled://`, got `{url}`"))
        })?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(StoreError::config(
                "a sled URL needs a directory: `sled://./data/connections`",
            ));
        }
        let mut config = SledConfig::new(path);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("namespace", value)) => config = config.with_namespace(value)?,
                Some(("cache_mb", value)) => {
                    let mb: u64 = value
                        .parse()
                        .ok()
                        .filter(|mb| (1..=1024 * 1024).contains(mb))
                        .ok_or_else(|| {
                            StoreError::config(format!(
                                "sled `cache_mb={value}`: a whole number of MiB, 1 or more"
                            ))
                        })?;
                    config.cache_bytes = mb * 1024 * 1024;
                }
                _ => {
                    return Err(StoreError::config(format!(
                        "unknown sled URL option `{pair}` (known: namespace, cache_mb)"
                    )));
                }
            }
        }
        Ok(config)
    }

    /// Sets the namespace: 1..=64 bytes of `[A-Za-z0-9_-]`.
    pub fn with_namespace(mut self, namespace: &str) -> Result<Self> {
        check_namespace(namespace)?;
        self.namespace = namespace.to_owned();
        Ok(self)
    }

    /// Computes leases on `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `db`, the database at `path` already open, instead of opening it again: sled
    /// opens a directory once per process, so several namespaces (stores) of one database
    /// share its handle. `cache_bytes` is then the opener's business.
    pub fn with_db(mut self, db: sled::Db) -> Self {
        self.db = Some(db);
        self
    }
}

/// A namespace is 1..=64 bytes of `[A-Za-z0-9_-]` (it prefixes tree names).
pub(crate) fn check_namespace(namespace: &str) -> Result<()> {
    let valid = !namespace.is_empty()
        && namespace.len() <= 64
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(StoreError::config(format!(
            "sled namespace `{namespace}`: use 1..=64 of [A-Za-z0-9_-]"
        )));
    }
    Ok(())
}

#[store_core::async_trait]
impl StoreConfig for SledConfig {
    type Store = SledStore;

    fn with_url(url: &str) -> Result<Self> {
        SledConfig::with_url(url)
    }

    fn with_namespace(self, namespace: &str) -> Result<Self> {
        SledConfig::with_namespace(self, namespace)
    }

    fn with_clock(self, clock: SharedClock) -> Self {
        SledConfig::with_clock(self, clock)
    }

    async fn open(self) -> Result<SledStore> {
        SledStore::open(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_namespace() {
        let c = SledConfig::with_url("sled://./data/conns?namespace=app1").unwrap();
        assert_eq!(c.path, PathBuf::from("./data/conns"));
        assert_eq!(c.namespace, "app1");
        let c = SledConfig::with_url("sled:///var/lib/x").unwrap();
        assert_eq!(c.path, PathBuf::from("/var/lib/x"));
        assert_eq!(c.namespace, DEFAULT_NAMESPACE);
        assert_eq!(c.cache_bytes, DEFAULT_CACHE_BYTES);
        let c = SledConfig::with_url("sled://x?cache_mb=8&namespace=n").unwrap();
        assert_eq!(c.cache_bytes, 8 * 1024 * 1024);
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "sled://",
            "file:///x",
            "sled://x?namespace=a/b",
            "sled://x?cache=1",
            "sled://x?cache_mb=0",
            "sled://x?cache_mb=-1",
        ] {
            let err = SledConfig::with_url(bad).expect_err(bad);
            assert_eq!(err.kind(), store_core::ErrorKind::Config, "{bad}");
        }
    }
}
