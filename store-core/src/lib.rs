//! The connection-store core: the [`ConnectionStore`] contract every backend implements,
//! the values it speaks in, the one portable error enum, the injectable clock, and
//! [`MemoryStore`], the in-memory reference model.
//!
//! A serverless WebSocket gateway keeps the set of live connection ids here: the register
//! function writes a record with a lease, the transport function lists a room to broadcast
//! and renews the sender's lease on heartbeats, the cleanup function removes the record. If
//! a disconnect is lost, the lease runs out and the connection stops counting as online.
//!
//! # Layout
//! - [`store`](crate::ConnectionStore): the trait and its written contract.
//! - `types`: validated ids, rooms, endpoints, metadata; leases, pages, limits.
//! - `error`: [`StoreError`], the one error enum, and [`ErrorKind`].
//! - `clock`: [`Clock`], [`SystemClock`], [`ManualClock`].
//! - `config`: [`StoreConfig`], the one shape in which every backend is configured and
//!   opened.
//! - `memory`: [`MemoryStore`].
//! - `walk`: [`walk_room`] / [`collect_room`], walking every page of a room.
//! - `sweeper`: [`Sweeper`] and [`sweep_once`], deleting expired records (housekeeping).
//! - `metered`: [`Metered`], any store with its calls counted and timed (metrics).
//! - `deadline`: the deadline [`Metered`] may put on calls, and [`StuckCalls`], the calls
//!   past it.
//! - `gated`: [`Gated`], a store that stops answering on command (for tests of callers).

mod clock;
mod config;
mod deadline;
mod error;
mod gated;
mod id_locks;
mod memory;
mod metered;
mod store;
mod sweeper;
mod types;
mod walk;

/// The attribute [`ConnectionStore`] is written with, re-exported so that a backend crate
/// implements the trait as `#[store_core::async_trait]` without depending on `async-trait`
/// itself (see the trait's "Implementing a backend").
pub use async_trait::async_trait;
pub use clock::{Clock, ManualClock, SharedClock, SystemClock, system_clock};
pub use config::StoreConfig;
pub use deadline::{MAX_STUCK, StuckCalls};
pub use error::{BoxError, ErrorKind, Result, StoreError};
pub use gated::Gated;
pub use id_locks::IdLocks;
pub use memory::MemoryStore;
pub use metered::{Metered, describe_metrics};
pub use store::ConnectionStore;
pub use sweeper::{Sweeper, sweep_once};
pub use types::{
    Connection, ConnectionId, Endpoint, Lease, MAX_ENDPOINT_LEN, MAX_ID_LEN, MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_LEN, MAX_METADATA_VALUE_LEN, MAX_PAGE_SIZE, MAX_ROOM_LEN, MAX_TTL, Metadata,
    Page, PageToken, Registration, RoomMember, RoomName, check_page_size, ttl_millis,
};
pub use walk::{collect_room, walk_pages, walk_room};
