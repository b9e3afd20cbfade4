//! [`SqlxConfig`]: server URL, pool settings, table, schema.

use std::fmt;
use std::time::Duration;

use store_core::{Result, SharedClock, StoreConfig, StoreError, system_clock};
use url::Url;

use crate::ident::TableName;
use crate::options::TableOptions;
use crate::server::SqlxStore;
use crate::server::dialect::qualified;

/// Which SQL server speaks at the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL (`postgres://`, `postgresql://`).
    Postgres,
    /// MySQL or MariaDB (`mysql://`, `mariadb://`).
    Mysql,
}

impl Dialect {
    /// The backend name in reports and errors.
    pub fn backend(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }

    fn compiled_in(self) -> bool {
        match self {
            Dialect::Postgres => cfg!(feature = "postgres"),
            Dialect::Mysql => cfg!(feature = "mysql"),
        }
    }
}

/// Connection-pool settings, from the URL's `max_connections`, `min_connections`,
/// `acquire_timeout_ms` and `idle_timeout_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most open connections (default 10).
    pub max_connections: u32,
    /// Connections kept open when idle (default 0).
    pub min_connections: u32,
    /// How long a call waits for a connection before answering `Unavailable` (default 5 s).
    /// This is what bounds a call against a server that went away.
    pub acquire_timeout: Duration,
    /// Idle connections are closed after this long (default 10 min).
    pub idle_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// How to open a [`SqlxStore`]: `SqlxStore::open(config)`.
#[derive(Clone)]
pub struct SqlxConfig {
    /// Which server.
    pub dialect: Dialect,
    /// The driver URL without our own options (may hold a password: never printed).
    pub(crate) driver_url: String,
    /// Pool sizing and timeouts.
    pub pool: PoolSettings,
    /// Table and namespace.
    pub(crate) table: TableOptions,
    /// PostgreSQL schema holding the table (created if missing); `None` uses the search path.
    pub(crate) schema: Option<TableName>,
    /// Leases are computed from this clock, never the server's `now()` ([`system_clock`]
    /// unless [`with_clock`](SqlxConfig::with_clock) sets another).
    pub clock: SharedClock,
}

impl fmt::Debug for SqlxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlxConfig")
            .field("dialect", &self.dialect)
            .field("url", &redacted(&self.driver_url))
            .field("pool", &self.pool)
            .field("table", &self.table)
            .field("schema", &self.schema)
            .field("clock", &self.clock)
            .finish()
    }
}

/// The URL with its password replaced.
fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Setting a password only fails for URLs that cannot have one.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        // Without a host, `user:password@` was not read as credentials (a typo such as
        // `mysql:://root:pw@h/db`): everything up to the last `@` is hidden.
        Ok(parsed) if !parsed.has_host() && url.contains('@') => {
            let after = url.rsplit_once('@').map_or("", |(_, after)| after);
            format!("{}:***@{after}", parsed.scheme())
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<unparseable url>".to_owned(),
    }
}

impl SqlxConfig {
    /// Parses a `postgres://`, `postgresql://`, `mysql://` or `mariadb://` URL. Our options
    /// (`table`, `namespace`, `schema`, `max_connections`, `min_connections`,
    /// `acquire_timeout_ms`, `idle_timeout_ms`) are taken out; the rest (e.g. `sslmode`) go
    /// to the driver.
    pub fn with_url(url: &str) -> Result<Self> {
        let mut parsed = Url::parse(url).map_err(|e| {
            StoreError::config(format!("bad SQL server URL `{}`: {e}", redacted(url)))
        })?;
        let dialect = match parsed.scheme() {
            "postgres" | "postgresql" => Dialect::Postgres,
            "mysql" | "mariadb" => Dialect::Mysql,
            other => {
                return Err(StoreError::config(format!(
                    "`{other}://` is not a PostgreSQL or MySQL URL"
                )));
            }
        };
        if !dialect.compiled_in() {
            return Err(StoreError::config(format!(
                "the {} backend is not compiled in; enable the `{}` feature",
                dialect.backend(),
                dialect.backend()
            )));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(StoreError::config(format!(
                "SQL server URL `{}` has no host",
                redacted(url)
            )));
        }
        let mut pool = PoolSettings::default();
        let mut table = TableOptions::default();
        let mut schema = None;
        let mut driver_pairs = Vec::new();
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "max_connections" => pool.max_connections = number(&key, &value)?,
                "min_connections" => pool.min_connections = number(&key, &value)?,
                "acquire_timeout_ms" => {
                    pool.acquire_timeout = Duration::from_millis(number(&key, &value)?)
                }
                "idle_timeout_ms" => {
                    pool.idle_timeout = Duration::from_millis(number(&key, &value)?)
                }
                "schema" if dialect == Dialect::Postgres => schema = Some(TableName::new(&value)?),
                _ if table.take(&key, &value)? => {}
                _ => driver_pairs.push((key.into_owned(), value.into_owned())),
            }
        }
        if pool.max_connections == 0 || pool.min_connections > pool.max_connections {
            return Err(StoreError::config(
                "pool: need 1 <= max_connections and min_connections <= max_connections",
            ));
        }
        parsed.set_query(None);
        if !driver_pairs.is_empty() {
            parsed.query_pairs_mut().extend_pairs(driver_pairs);
        }
        if dialect == Dialect::Mysql && parsed.scheme() == "mariadb" {
            // The driver knows only `mysql://`; MariaDB speaks the same protocol.
            let rest = parsed.as_str()["mariadb".len()..].to_owned();
            parsed = Url::parse(&format!("mysql{rest}"))
                .map_err(|e| StoreError::config(format!("bad URL: {e}")))?;
        }
        Ok(SqlxConfig {
            dialect,
            driver_url: parsed.to_string(),
            pool,
            table,
            schema,
            clock: system_clock(),
        })
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

    /// The table the store will use (without schema).
    pub fn table_name(&self) -> Result<TableName> {
        self.table.table()
    }

    /// The driver URL without this crate's options, for tools that talk to the same
    /// database directly (the benchmark's floor). It may hold a password: never log it.
    pub fn driver_url(&self) -> &str {
        &self.driver_url
    }

    /// The table as queries name it: `schema.table` when a schema is set.
    pub fn qualified_table(&self) -> Result<String> {
        Ok(qualified(self.schema.as_ref(), &self.table_name()?))
    }

    /// The URL with the password hidden, for logs.
    pub fn redacted_url(&self) -> String {
        redacted(&self.driver_url)
    }
}

#[store_core::async_trait]
impl StoreConfig for SqlxConfig {
    type Store = SqlxStore;

    fn with_url(url: &str) -> Result<Self> {
        SqlxConfig::with_url(url)
    }

    fn with_namespace(self, namespace: &str) -> Result<Self> {
        SqlxConfig::with_namespace(self, namespace)
    }

    fn with_clock(self, clock: SharedClock) -> Self {
        SqlxConfig::with_clock(self, clock)
    }

    async fn open(self) -> Result<SqlxStore> {
        SqlxStore::open(self).await
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| StoreError::config(format!("URL option `{key}`: `{value}` is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "postgres")]
    #[test]
    fn splits_our_options_from_the_drivers() {
        let c = SqlxConfig::with_url(
            "postgres://u:pw@127.0.0.1:5432/test?max_connections=3&table=conns&namespace=n1&sslmode=disable&schema=app",
        )
        .unwrap();
        assert_eq!(c.dialect, Dialect::Postgres);
        assert_eq!(c.pool.max_connections, 3);
        assert_eq!(c.table_name().unwrap().as_str(), "conns_n1");
        assert_eq!(c.schema.as_ref().map(|s| s.as_str()), Some("app"));
        assert_eq!(
            c.driver_url,
            "postgres://u:pw@127.0.0.1:5432/test?sslmode=disable"
        );
    }

    /// Found by `fuzz/` (store_urls): a URL whose credentials the parser does not see as
    /// such (no host) was echoed whole in the error.
    #[test]
    fn errors_hide_a_password_the_parser_did_not_see() {
        for url in [
            "mariadb:://u:hunter2@",
            "mysql:://root:hunter2@db/gw",
            "postgres:/u:hunter2@h/db",
        ] {
            let shown = SqlxConfig::with_url(url).unwrap_err().to_string();
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        assert_eq!(redacted("mysql:://root:pw@db/gw"), "mysql:***@db/gw");
        assert_eq!(redacted("postgres://u:pw@h/db"), "postgres://u:***@h/db");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn debug_hides_the_password() {
        let c = SqlxConfig::with_url("postgres://u:hunter2@h/db").unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn mariadb_urls_become_mysql_urls() {
        let c = SqlxConfig::with_url("mariadb://root@127.0.0.1:3306/test").unwrap();
        assert_eq!(c.dialect, Dialect::Mysql);
        assert!(c.driver_url.starts_with("mysql://root@127.0.0.1:3306/test"));
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for bad in [
            "postgres://",
            "postgres:///db",
            "postgres://h/db?max_connections=x",
            "postgres://h/db?max_connections=0",
            "postgres://h/db?table=Bad",
            "mysql://h/db?acquire_timeout_ms=-1",
            "not a url",
        ] {
            let err = SqlxConfig::with_url(bad).expect_err(bad);
            assert_eq!(err.kind(), store_core::ErrorKind::Config, "{bad}");
        }
    }
}
