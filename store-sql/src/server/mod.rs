//! PostgreSQL and MySQL/MariaDB through sqlx's `Any` driver: one store implementation,
//! the SQL text per dialect (placeholders, upsert, collation, locks).

mod config;
mod dialect;
mod error;
mod schema;
mod store;

pub use config::{Dialect, PoolSettings, SqlxConfig};
pub use store::SqlxStore;
