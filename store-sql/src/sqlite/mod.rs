//! SQLite through rusqlite: a writing connection and read-only ones (WAL), each behind a
//! mutex, used only on blocking threads.

mod config;
mod error;
mod schema;
mod store;

pub use config::SqliteConfig;
pub use store::SqliteStore;
