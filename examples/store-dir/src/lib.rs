//! An example [`ConnectionStore`](store_core::ConnectionStore) backend: one small file per
//! connection in a directory, readable with `ls` and `cat`. It is the worked example of
//! `docs/implementing-a-backend.md`, kept outside the workspace so that it builds the way a
//! user's own backend crate does, and run through the `conformance` suite by CI.
//!
//! It is for one process per directory (writes are serialised by a lock in the process)
//! and for rooms of hundreds, not millions: every page reads the room's directory.
//!
//! # Layout on disk (under `<root>/<namespace>/`)
//! | path | content | why |
//! |---|---|---|
//! | `conns/<id>` | JSON: room, endpoint, metadata, expiry | `get`, `renew`, `remove` find an id without knowing its room |
//! | `rooms/<room>/<id>` | `<expires_at_ms> <endpoint>` | a room walk reads only its room's directory |
//!
//! Every file is written to a `.`-prefixed temporary name and renamed into place, so a
//! reader sees the old content or the new, never half of it. Ids and rooms never start with
//! `.`, so temporary files never list as members.
//!
//! # Layout (of the crate)
//! - `config`: [`DirConfig`], where the store lives.
//! - `error`: [`map_io_error`], the one place native errors become `StoreError`s.
//! - `files`: paths and the two file formats.
//! - `store`: [`DirStore`], the contract on top.

mod config;
mod error;
mod files;
mod store;

pub use config::DirConfig;
pub use error::map_io_error;
pub use store::DirStore;
