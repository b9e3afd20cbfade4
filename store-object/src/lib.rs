//! The connection store over object storage, written once for every object backend
//! (`store-s3`, `store-oss`): each backend only supplies an [`ObjectClient`] (get, put,
//! delete, list one page) and its own error mapping.
//!
//! # Object layout (under the configured prefix `p`, which ends in `/`)
//!
//! | key | body | written by |
//! |---|---|---|
//! | `p` `c/` *id* | JSON: room, endpoint, metadata, expiry | register, renew |
//! | `p` `r/` *room* `/` *id* `!` *inv-expiry* `!` *endpoint* | empty | register, renew |
//!
//! - *inv-expiry* is `u64::MAX - expires_at_ms` as 16 lowercase hex digits;
//! - *endpoint* is the push-back URL in unpadded base64url, cut into segments of at most
//!   200 characters joined by `/` (base64url has no `/`), so no path component of a key is
//!   longer than 255 bytes — filesystem-backed servers store keys as paths.
//!
//! # Why liveness is decided from the listing alone
//! A broadcast lists the room: `r/<room>/` keys carry everything it needs (id, expiry,
//! endpoint), so N live connections cost ceil(N/1000) list requests and no request per
//! object. `LastModified` is not used: its granularity is one second, it is the server's
//! clock (not the store's injectable one), and it cannot express a lease renewed for a
//! different ttl. The expiry in the key is computed from the writer's clock.
//!
//! - **Order.** `!` sorts below every id character, so keys order by id bytes exactly as
//!   `list` must, whatever ids prefix each other. Within one id the *inverted* expiry puts
//!   the newest lease first.
//! - **Duplicates.** A renew writes the new room key before deleting the old one, and a crash
//!   in between leaves a stale key. Listing keeps only the first key of each id run (the
//!   newest lease), and a page token skips every key of its id (`StartAfter = …/id!~`,
//!   `~` sorting above every hex digit), so a run cut by a page boundary still yields its
//!   newest key once and only once.
//! - **Clock skew.** Each writer's clock sets the expiry that every reader compares with
//!   its own clock: a skew of *d* lengthens or shortens leases by *d*. Keep nodes on NTP and
//!   leases far longer than the skew (the chat uses 60 s).
//! - **Renew racing remove.** A remove deletes the record first, then every room key of
//!   the id. A renew writes its new room key, then the record, so that a remove (or another
//!   writer) in between makes the renew answer `NotFound` instead of resurrecting the
//!   connection — how depends on the server:
//!   - *`If-Match` honoured* (AWS S3, s3s-fs, MinIO): the record is written back with
//!     `If-Match` on the ETag read; a remove in between makes it fail.
//!   - *`If-Match` ignored or rejected* (Garage 2.5 accepts the header and writes anyway;
//!     OSS has no conditional PUT): the renew re-reads the record before writing (gone or
//!     changed → fail) and lists the id's room keys after (its new key gone → a remove ran:
//!     delete the record again, `NotFound`); a remove ends by deleting the record once more.
//!     Two more requests per renew, one per remove.
//!
//!   Which case applies is learnt once per store by a probe object (PUT, PUT with a wrong
//!   `If-Match`, DELETE); `conditional_writes = false` skips the probe. Within one process,
//!   calls on the same id are serialised (a striped async mutex).
//!   `test_util::check_renew_remove_interleavings` runs a remove in every gap between a
//!   renew's requests (and the reverse) deterministically, on every server the tests use.
//! - **Crash leftovers.** A room key whose record is gone (a crash between the two deletes
//!   of `remove`) lists as live until its expiry, never longer; `sweep` deletes it.
//!
//! # Layout
//! - `client`: [`ObjectClient`], the five calls a backend provides.
//! - `keys`: the key layout above.
//! - `counter`: [`RequestCounts`], requests made by kind (the benchmark reads them).
//! - `retry`: bounded exponential backoff on temporary errors.
//! - `store`: [`ObjectStore`], the contract on top.
//! - `test_util` (feature `test-util`): the deterministic renew-vs-remove interleaving
//!   check every object backend's tests run, and an in-memory client.

mod client;
mod counter;
mod keys;
mod retry;
mod store;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use client::{ListPage, ObjectClient, PutCondition, StoredObject};
pub use counter::{RequestCounts, RequestKind, RequestSnapshot};
pub use keys::{MAX_PREFIX_LEN, join_prefix, normalize_prefix};
pub use retry::RetryPolicy;
pub use store::ObjectStore;
