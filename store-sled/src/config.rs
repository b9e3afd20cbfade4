//! Where the sled database lives and which namespace a store sees.

use std::path::PathBuf;

use store_core::{Result, StoreError};

/// How to open a [`SledStore`](crate::SledStore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SledConfig {
    /// The database directory (created if missing).
    pub path: PathBuf,
    /// The prefix of this store's tree names, so several stores can share one database.
    pub namespace: String,
    /// The most bytes sled keeps cached in memory. sled's own default (1 GiB) lets a node
    /// that registers and removes connections for months grow its memory toward it.
    pub cache_bytes: u64,
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
        self.namespace = namespace.to_owned();
        Ok(self)
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
