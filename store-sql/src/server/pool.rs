//! [`NativePool`]: the store's connection pool, in the server's own sqlx driver.
//!
//! sqlx's `Any` driver (one pool type for every server) copies each row into its own
//! values first: a text column became a `String`, then an `Arc<String>`, then the `String`
//! the caller asked for. A 100,000-member room walk paid that as 1.2–1.3× the same `SELECT`
//! on a native pool, which this store now is: the SQL text differs per dialect anyway
//! (`dialect.rs`), and [`on_pool!`] writes each call once for both drivers.
//!
//! # Layout
//! - [`NativePool`]: one variant per compiled-in server, opened lazily from the URL.
//! - [`on_pool!`]: runs one expression with the native pool bound to a name.

use sqlx::pool::PoolOptions;
use store_core::{Result, StoreError};

use super::config::{Dialect, SqlxConfig};
use super::error::parse_error;

/// The pool of one server, in its native driver.
#[derive(Debug, Clone)]
pub(crate) enum NativePool {
    /// A PostgreSQL server.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    /// A MySQL or MariaDB server.
    #[cfg(feature = "mysql")]
    Mysql(sqlx::MySqlPool),
}

/// Runs `$body` with `$pool` bound to the native pool (`&PgPool` or `&MySqlPool`) of
/// `$native`: the body is written once and compiled for each driver, so it must come to
/// the same type on both (a row count, a tuple of `String`s and `i64`s).
macro_rules! on_pool {
    ($native:expr, $pool:ident => $body:expr) => {
        match $native {
            #[cfg(feature = "postgres")]
            $crate::server::pool::NativePool::Postgres($pool) => $body,
            #[cfg(feature = "mysql")]
            $crate::server::pool::NativePool::Mysql($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl NativePool {
    /// A pool on `config`'s server with its settings; connections open when first needed.
    pub(crate) fn connect_lazy(config: &SqlxConfig) -> Result<Self> {
        let store = config.dialect.backend();
        let settings = &config.pool;
        // The same sizing and timeouts for either driver.
        fn options<DB: sqlx::Database>(settings: &super::config::PoolSettings) -> PoolOptions<DB> {
            PoolOptions::new()
                .max_connections(settings.max_connections)
                .min_connections(settings.min_connections)
                .acquire_timeout(settings.acquire_timeout)
                .idle_timeout(Some(settings.idle_timeout))
                // sqlx warns of every acquire that waited over 2 s: under load that is one
                // line per store call (15,549 in 35 s of the churn soak on a loaded
                // machine), drowning the node's own warnings. The calls that fail say so
                // as errors; the waits are for debugging.
                .acquire_slow_level(log::LevelFilter::Debug)
        }
        let url = config.driver_url.as_str();
        match config.dialect {
            #[cfg(feature = "postgres")]
            Dialect::Postgres => options(settings)
                .connect_lazy(url)
                .map(NativePool::Postgres)
                .map_err(|e| parse_error(store, e)),
            #[cfg(feature = "mysql")]
            Dialect::Mysql => options(settings)
                .connect_lazy(url)
                .map(NativePool::Mysql)
                .map_err(|e| parse_error(store, e)),
            #[allow(unreachable_patterns)]
            _ => Err(StoreError::config(format!(
                "{store}: this build has no {store} driver (enable the `{store}` feature)"
            ))),
        }
    }

    /// Which server the pool is on.
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "postgres")]
            NativePool::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            NativePool::Mysql(_) => Dialect::Mysql,
        }
    }

    /// Closes the pool's connections.
    pub(crate) async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}
