//! [`ConnectionStore`](store_core::ConnectionStore) on [sled] 0.34, the embedded default.
//!
//! sled has no TTL, so the lease expiry lives in the value, and an expiry index lets
//! `sweep` visit only what has expired instead of scanning everything.
//!
//! # Layout
//! - `config`: [`SledConfig`], from a path or a `sled://` URL, with its clock:
//!   `SledStore::open(config)`.
//! - `keys`: how records and both indexes are laid out in sled trees.
//! - `store`: [`SledStore`], every call on a blocking thread.
//! - `error`: `parse_error`, the one place sled errors become `StoreError`s.
//! - `walk_sizes`: each room's last walk size, so the next walk allocates once.
//!
//! # Trees (per namespace `ns`)
//! - `ns/records`: `id` → JSON record (room, endpoint, metadata, expiry).
//! - `ns/rooms`: `room/id` → expiry (8 bytes, big-endian) ‖ endpoint. Room names cannot
//!   hold `/`, so a prefix scan of `room/` is exactly one room, in id byte order, and a
//!   page is a range scan that needs no second lookup.
//! - `ns/expiry`: expiry (8 bytes, big-endian) ‖ `id` → empty. `sweep` scans `..=now`.
//!
//! All three change together in one sled transaction, so the indexes never disagree with
//! the records.
//!
//! # Durability
//! sled flushes to disk in the background (every 500 ms by default). A crash can lose the
//! last writes; for connection leases that is harmless (a lost register makes a client
//! reconnect; a lost remove is cleaned up by lease expiry).

mod config;
mod error;
mod keys;
mod store;
mod walk_sizes;

pub use config::SledConfig;
pub use store::SledStore;
