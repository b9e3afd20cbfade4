//! The [`ConnectionStore`] trait and its contract.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::types::{
    Connection, ConnectionId, Lease, MAX_PAGE_SIZE, Page, PageToken, Registration, RoomMember,
    RoomName,
};

/// The set of live WebSocket connections, each held by a lease.
///
/// # Contract
///
/// Every backend keeps this contract, and the `conformance` crate checks it clause by clause
/// (and against [`MemoryStore`](crate::MemoryStore), the reference model).
///
/// **Liveness.** A record is *live* while `now < expires_at_ms`, where `now` is the store's
/// own [`Clock`](crate::Clock) (never a database server's clock), and `expires_at_ms = now +
/// ttl` at the time of the last `register` or `renew`. An expired record is never returned
/// by `get` or `list` and never counted by `count`, whether or not `sweep` has run.
///
/// **Validation.** Ids, rooms, endpoints and metadata are validated by their types. A `ttl`
/// outside 1 ms..=[`MAX_TTL`](crate::MAX_TTL) and a page size outside
/// 1..=[`MAX_PAGE_SIZE`](crate::MAX_PAGE_SIZE) are
/// [`InvalidInput`](crate::StoreError::InvalidInput), and nothing is written.
///
/// **Errors.** Backends map native errors to [`StoreError`](crate::StoreError) in one place;
/// an unreachable or throttling backend answers
/// [`Unavailable`](crate::StoreError::Unavailable) (so [`is_temporary`](crate::StoreError::is_temporary)
/// says whether to retry) within a bounded time.
///
/// **Concurrency.** Calls may run concurrently from many tasks and processes. Each method
/// is atomic with respect to one id: concurrent `register`s of distinct ids all land.
///
/// # Implementing a backend
///
/// The guide `docs/implementing-a-backend.md` walks through a complete backend crate; in
/// short:
///
/// - implement the trait with `#[store_core::async_trait]` (re-exported: no `async-trait`
///   dependency needed);
/// - convert a `ttl` with [`ttl_millis`](crate::ttl_millis) and check a page size with
///   [`check_page_size`](crate::check_page_size) before touching storage: every backend then
///   rejects the same inputs with the same error;
/// - build pages with [`Page::last`](crate::Page::last),
///   [`Page::resume_after`](crate::Page::resume_after) (a backend that filters expired
///   records after reading them: resume after the last id *read*) or
///   [`Page::keyset`](crate::Page::keyset) (a backend that filters before);
/// - decode what the store itself wrote with [`ConnectionId::trusted`] and
///   [`Endpoint::trusted`](crate::Endpoint::trusted) (no re-validation per member of a
///   walk);
/// - map native errors to [`StoreError`](crate::StoreError) in one function, with
///   `Unavailable` for anything a retry may cure;
/// - give it a config type and one constructor, `TheStore::open(config)`, with the clock a
///   field of the config (see [`StoreConfig`](crate::StoreConfig));
/// - run the `conformance` crate's `conformance_tests!` from the backend's `tests/`.
///
/// # Example
///
/// A connection's life on [`MemoryStore`](crate::MemoryStore), the reference store, with a
/// [`ManualClock`](crate::ManualClock) so that expiry needs no sleeping:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use store_core::{
///     ConnectionId, ConnectionStore, Endpoint, ErrorKind, ManualClock, MemoryStore, Metadata,
///     Registration, RoomName,
/// };
///
/// # fn main() -> store_core::Result<()> {
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = ManualClock::new(1_000);
/// let store = MemoryStore::with_clock(Arc::new(clock.clone()));
/// let (id, room) = (ConnectionId::new("c1")?, RoomName::new("lobby")?);
///
/// // The register function: a record with a lease of 60 s from the store's clock.
/// let registration = Registration {
///     room: room.clone(),
///     endpoint: Endpoint::new("http://127.0.0.1:8081")?,
///     metadata: Metadata::new().with("name", "Swift Otter")?,
///     ttl: Duration::from_secs(60),
/// };
/// let lease = store.register(&id, &registration).await?;
/// assert_eq!(lease.expires_at_ms, 61_000);
///
/// // The transport function: list the room to broadcast, renew the sender's lease.
/// let page = store.list(&room, None, 100).await?;
/// assert_eq!(page.members.len(), 1);
/// assert_eq!(page.members[0].id, id);
/// assert!(page.next.is_none(), "the whole room fit in one page");
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(store.renew(&id, Duration::from_secs(60)).await?.expires_at_ms, 91_000);
/// assert_eq!(store.count(&room).await?, 1);
///
/// // The disconnect was lost: the lease ends, exactly at its expiry.
/// clock.set(91_000);
/// assert!(store.get(&id).await?.is_none());
/// assert_eq!(store.count(&room).await?, 0);
/// let late = store.renew(&id, Duration::from_secs(60)).await;
/// assert_eq!(late.unwrap_err().kind(), ErrorKind::NotFound);
///
/// // Housekeeping deletes the expired record; a second remove finds nothing.
/// assert_eq!(store.sweep().await?, 1);
/// assert!(!store.remove(&id).await?);
/// # Ok(())
/// # })
/// # }
/// ```
#[async_trait]
pub trait ConnectionStore: Debug + Send + Sync + 'static {
    /// A short name of the backend (`"memory"`, `"sled"`, `"sqlite"`, …) for reports.
    fn backend(&self) -> &'static str;

    /// The calls that missed their deadline and still run, for a wrapper that sets one
    /// ([`Metered::wrap_with_deadline`](crate::Metered::wrap_with_deadline)); `None` for a
    /// store that keeps no deadline (every backend: a deadline is the caller's choice).
    fn stuck_calls(&self) -> Option<crate::StuckCalls> {
        None
    }

    /// Creates or replaces the record of `id`: its room, endpoint, metadata and a fresh lease
    /// of `registration.ttl`. Registering an existing id (live or expired, in any room)
    /// replaces the whole record, which moves it to the new room and renews it.
    /// Returns the granted lease.
    async fn register(&self, id: &ConnectionId, registration: &Registration) -> Result<Lease>;

    /// Extends the lease of a live `id` to `now + ttl` (a heartbeat; a shorter ttl shortens
    /// it). An absent, removed or expired id is [`NotFound`](crate::StoreError::NotFound):
    /// an expired connection must register again, never be revived by a late heartbeat.
    async fn renew(&self, id: &ConnectionId, ttl: Duration) -> Result<Lease>;

    /// Deletes the record of `id`. Idempotent: removing an absent id is not an error.
    /// Returns `true` when a *live* record was removed; an expired record is deleted too,
    /// but answers `false` (it was no longer online).
    async fn remove(&self, id: &ConnectionId) -> Result<bool>;

    /// The record of a live `id`, or `None` when it is absent or expired.
    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>>;

    /// One page of the live connections of `room`, in ascending byte order of id, starting
    /// after `after` (keyset pagination; `None` starts at the beginning).
    ///
    /// A page holds at most `limit` members and may hold fewer even when more follow (an
    /// object store filters expired keys out of a full list page); only `next == None`
    /// ends a walk. A walk over all pages returns each id that is live throughout the walk
    /// exactly once, and never an id twice, even when records change meanwhile.
    async fn list(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page>;

    /// Every live member of `room`, in ascending byte order of id: what a broadcast needs,
    /// in as few backend calls as the store can make. The same guarantees as a walk over
    /// all [`list`](ConnectionStore::list) pages, which is what the default does (pages of
    /// `MAX_PAGE_SIZE`); a store that reads a whole room in one call (one statement, one
    /// scan on one blocking thread) overrides it. Memory grows with the room: a caller that
    /// cannot hold a whole room walks pages instead.
    async fn list_room(&self, room: &RoomName) -> Result<Vec<RoomMember>> {
        let mut members = Vec::new();
        let mut after = None;
        loop {
            let page = self.list(room, after.as_ref(), MAX_PAGE_SIZE).await?;
            members.extend(page.members);
            match page.next {
                Some(token) => after = Some(token),
                None => return Ok(members),
            }
        }
    }

    /// The number of live connections in `room` (the chat's "online" figure).
    async fn count(&self, room: &RoomName) -> Result<u64>;

    /// Deletes expired records and returns how many it deleted. Optional housekeeping:
    /// correctness never depends on it. Returns 0 when nothing had expired.
    async fn sweep(&self) -> Result<u64>;
}
