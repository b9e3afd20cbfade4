//! [`SqliteConfig`]: which file, which table, which clock.

use std::path::PathBuf;

use store_core::{Result, SharedClock, StoreConfig, StoreError, system_clock};

use crate::ident::TableName;
use crate::options::TableOptions;
use crate::sqlite::SqliteStore;

/// How to open a [`SqliteStore`]: `SqliteStore::open(config)`.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// The database file, or `None` for a private in-memory database.
    pub path: Option<PathBuf>,
    /// Table and namespace.
    pub(crate) table: TableOptions,
    /// Leases are computed from this clock ([`system_clock`] unless
    /// [`with_clock`](SqliteConfig::with_clock) sets another).
    pub clock: SharedClock,
}

impl SqliteConfig {
    /// A database file at `path` (created if missing).
    pub fn file(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: Some(path.into()),
            table: TableOptions::default(),
            clock: system_clock(),
        }
    }

    /// A private in-memory database (gone when the store is dropped).
    pub fn in_memory() -> Self {
        SqliteConfig {
            path: None,
            table: TableOptions::default(),
            clock: system_clock(),
        }
    }

    /// Parses `sqlite://<file>`, `sqlite:///<absolute file>`, `sqlite::memory:` or
    /// `sqlite://:memory:`, with optional `?table=<name>&namespace=<ns>`.
    pub fn with_url(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                StoreError::config(format!("a SQLite URL starts with `sqlite://`, got `{url}`"))
            })?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut config = match path {
            ":memory:" => SqliteConfig::in_memory(),
            "" => {
                return Err(StoreError::config(
                    "a SQLite URL needs a file: `sqlite://./data/connections.db` or `sqlite::memory:`",
                ));
            }
            file => SqliteConfig::file(file),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !config.table.take(key, value)? {
                return Err(StoreError::config(format!(
                    "unknown SQLite URL option `{key}` (known: table, namespace)"
                )));
            }
        }
        Ok(config)
    }

    /// Uses `table` instead of `connections`.
    pub fn with_table(mut self, table: &str) -> Result<Self> {
        self.table.base = TableName::new(table)?;
        Ok(self)
    }

    /// Suffixes the table with `_<namespace>`.
    pub fn with_namespace(mut self, namespace: &str) -> Result<Self> {
        self.table.set_namespace(namespace)?;
        Ok(self)
    }

    /// Computes leases on `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The table the store will use.
    pub fn table_name(&self) -> Result<TableName> {
        self.table.table()
    }
}

#[store_core::async_trait]
impl StoreConfig for SqliteConfig {
    type Store = SqliteStore;

    fn with_url(url: &str) -> Result<Self> {
        SqliteConfig::with_url(url)
    }

    fn with_namespace(self, namespace: &str) -> Result<Self> {
        SqliteConfig::with_namespace(self, namespace)
    }

    fn with_clock(self, clock: SharedClock) -> Self {
        SqliteConfig::with_clock(self, clock)
    }

    async fn open(self) -> Result<SqliteStore> {
        SqliteStore::open(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_files_memory_and_options() {
        let c = SqliteConfig::with_url("sqlite://./data/c.db?table=conns&namespace=a1").unwrap();
        assert_eq!(c.path, Some(PathBuf::from("./data/c.db")));
        assert_eq!(c.table_name().unwrap().as_str(), "conns_a1");
        assert_eq!(
            SqliteConfig::with_url("sqlite::memory:").unwrap().path,
            None
        );
        assert_eq!(
            SqliteConfig::with_url("sqlite://:memory:").unwrap().path,
            None
        );
        assert_eq!(
            SqliteConfig::with_url("sqlite:///tmp/x.db").unwrap().path,
            Some(PathBuf::from("/tmp/x.db"))
        );
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "sqlite://",
            "postgres://x",
            "sqlite://x.db?table=Bad;Name",
            "sqlite://x.db?pool=3",
        ] {
            let err = SqliteConfig::with_url(bad).expect_err(bad);
            assert_eq!(err.kind(), store_core::ErrorKind::Config, "{bad}");
        }
    }
}
