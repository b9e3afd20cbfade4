//! [`ConnectionStore`](store_core::ConnectionStore) on SQL databases.
//!
//! - `sqlite` (default feature): SQLite through rusqlite (bundled), a file or `:memory:`;
//!   every call runs on a blocking thread.
//! - `postgres`, `mysql`: PostgreSQL and MySQL/MariaDB through sqlx 0.9's native drivers —
//!   one store implementation written once for both, SQL text per dialect. (Not sqlx's
//!   `Any` driver: it copied every text column twice more per row, 1.2–1.3× on a room
//!   walk. sqlx's own `sqlite` feature stays off: its `links = "sqlite3"` would clash
//!   with rusqlite's.)
//!
//! # Schema
//! One table per store (default `connections`, suffixed `_<namespace>` when a namespace is
//! given), created on open by versioned migrations recorded in `store_migrations` (a table
//! dropped by hand is created again by the next open, though its ledger rows remain):
//!
//! | column | meaning |
//! |---|---|
//! | `id` | connection id, primary key (byte-ordered) |
//! | `room` | room name |
//! | `endpoint` | push-back URL of the gateway node |
//! | `metadata` | JSON object of small string facts |
//! | `expires_at` | lease expiry, epoch ms of the store's clock |
//!
//! Index `(room, id, expires_at, endpoint)` makes a page of `list` one index range scan
//! (keyset pagination on `id`, no `OFFSET`) that never touches the table; index
//! `(expires_at)` lets `sweep` delete expired rows in bounded batches.
//!
//! Expiry is always compared against a time the store computes from its own clock and
//! passes as a parameter, never the server's `now()`, so the conformance suite's manual clock
//! works and server clock skew cannot shorten or extend leases.
//!
//! # Layout
//! - `ident`: strict validation of table and namespace identifiers (they are spliced
//!   into SQL text).
//! - `options`: the URL query options every dialect shares (`table`, `namespace`).
//! - `sqlite`: [`SqliteConfig`], [`SqliteStore`] and its `parse_error`.
//! - `server`: `SqlxConfig` (URL, pool settings, schema), `SqlxStore`, the SQL text per
//!   dialect, migrations under a server-side lock, and its `parse_error`.
//!
//! # Server specifics
//! - PostgreSQL: `id`/`room` use `COLLATE "C"` (byte order whatever the locale); the room
//!   index `INCLUDE`s expiry and endpoint; migrations hold `pg_advisory_xact_lock`; `sweep`
//!   deletes batches of 1000 with `FOR UPDATE SKIP LOCKED`; `?schema=` puts the table in its
//!   own schema.
//! - MySQL/MariaDB: `ascii_bin` columns; upsert with `ON DUPLICATE KEY UPDATE`; migrations
//!   hold `GET_LOCK('store_migrations')`; `sweep` uses `DELETE … ORDER BY expires_at LIMIT`.
//! - URL options: `table`, `namespace`, `schema` (PostgreSQL), `max_connections`,
//!   `min_connections`, `acquire_timeout_ms` (bounds every call on a dead server; default
//!   5000), `idle_timeout_ms`; anything else goes to the driver (e.g. `sslmode`).

mod ident;
mod options;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod server;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use ident::{DEFAULT_TABLE, TableName};
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub use server::{Dialect, PoolSettings, SqlxConfig, SqlxStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteConfig, SqliteStore};
