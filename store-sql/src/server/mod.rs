//! PostgreSQL and MySQL/MariaDB on sqlx's native drivers: one store implementation
//! written once for both (`pool.rs`), the SQL text per dialect (placeholders, upsert,
//! collation, locks).

mod config;
mod dialect;
mod error;
mod pool;
mod schema;
mod store;

pub use config::{Dialect, PoolSettings, SqlxConfig};
pub use store::SqlxStore;
