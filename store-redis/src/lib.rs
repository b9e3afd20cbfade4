//! The connection store on Redis: a standalone server (`redis://`, `rediss://`) or a
//! Redis Cluster (`redis+cluster://host1:port1,host2:port2`), over redis-rs.
//!
//! Why redis-rs: the reference Rust client, maintained by the Redis project, with tokio
//! support, a reconnecting connection manager for one server, an async Cluster client
//! (slot routing, `MOVED`/`ASK`, failover) and Lua scripts that reload themselves after a
//! `NOSCRIPT` — one crate for both deployments, behind one `ConnectionLike` trait.
//!
//! # Key layout (under the prefix `p`)
//!
//! | key | type | holds | slot |
//! |---|---|---|---|
//! | `p:c:{id}` | hash | `r` room, `e` endpoint, `m` metadata JSON, `x` expiry | the id's |
//! | `p:r:{room}:i` | sorted set, all scores 0 | the room's ids | the room's |
//! | `p:r:{room}:e` | hash | id → endpoint | the room's |
//! | `p:r:{room}:x` | sorted set | id scored by expiry | the room's |
//! | `p:rooms` | set | every room that may hold entries (for `sweep`) | its own |
//!
//! - **A walk is one ordered range read per page.** `ZRANGE p:r:{room}:i (after + BYLEX
//!   LIMIT` reads ids in byte order (Redis compares members with `memcmp` when scores are
//!   equal); the same script reads their expiries with one `ZMSCORE`, keeps the live ones
//!   and reads their endpoints with one `HMGET`: liveness is decided on the server, from
//!   the lease, in one round trip per page of up to 1,000. A page script reads at most 4,000 ids so that a room of
//!   expired entries never holds the server long; the page then comes back short with a
//!   token, as the contract allows.
//! - **`count` without a walk:** `ZCOUNT p:r:{room}:x (now +inf`, O(log N).
//! - **Why two sorted sets:** byte order needs equal scores, and counting or sweeping by
//!   expiry needs expiry scores.
//! - **Cluster:** every key of one room carries the hash tag `{room}` and lives in one slot,
//!   so each script touches one node. A record carries its id's tag: `get`, `renew` and
//!   `remove` find an id without knowing its room. No script touches two slots.
//! - **Atomicity:** each script is atomic. A register is three steps — the record (which
//!   answers the room the id was in), the new room's entry, then the old room's entry
//!   goes — and runs under a per-id lock in the process. A renew updates the record only
//!   while it is live, then the room entry only if it is still there (`REINDEX`), so a
//!   remove from another process between the two is never undone. A crash between steps,
//!   or a register and a remove of one id racing from two processes, can leave a room
//!   entry without its record: it lists as live until its lease ends, never longer, and
//!   `sweep` deletes it — the same bound as the object stores.
//! - **Expiry:** liveness is decided from the lease on the store's clock, never from
//!   Redis's. A record key also gets `PEXPIRE` of its lease plus one hour: garbage
//!   collection for a record whose room entry a crash lost.
//! - **`sweep`** walks `p:rooms` (`SSCAN`), reads each room's expired entries (by expiry
//!   score, 500 per script) and lets each one's record decide: a record that expired in
//!   the room goes, then its entry; a live record keeps its entry (a renew between its two
//!   scripts is about to update it, and must find it); an entry without its record goes.
//!   Emptied rooms leave the set.
//!
//! # Layout
//! - `config`: [`RedisConfig`], from a URL, with its clock: `RedisStore::open(config)`.
//! - `connection`: one handle over a server or a Cluster, with bounded timeouts.
//! - `error`: [`map_redis_error`], the one error mapping.
//! - `keys`: key names.
//! - `scripts`: the Lua scripts.
//! - `store`: [`RedisStore`], the contract on top.

mod config;
mod connection;
mod error;
mod keys;
mod scripts;
mod store;

pub use config::RedisConfig;
pub use error::map_redis_error;
pub use store::RedisStore;
