//! SQLite through rusqlite: a writing connection and read-only ones (WAL), each behind a
//! mutex; writes are committed in groups on a blocking thread.
//!
//! # Layout
//! - `config`: the URL and the builder.
//! - `schema`: the table, its indexes and migrations.
//! - `store`: [`SqliteStore`], the contract's calls.
//! - `writes`: group commit, the writes that queue while the writer is busy in one
//!   transaction.
//! - `error`: rusqlite's errors as [`store_core::StoreError`]s.

mod config;
mod error;
mod schema;
mod store;
mod writes;

pub use config::SqliteConfig;
pub use store::SqliteStore;
