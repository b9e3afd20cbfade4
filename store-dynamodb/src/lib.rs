//! The connection store on Amazon DynamoDB (or a DynamoDB-compatible server), over the
//! AWS SDK for Rust (`aws-sdk-dynamodb`): `dynamodb://table?region=…&endpoint=…`.
//!
//! # Table layout
//!
//! One table, partition key `pk` and sort key `sk` (strings), on-demand capacity, TTL on
//! `t`. The store creates it when it is missing (unless `create=false`).
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | record of a connection | `c#<id>` | `#` | `r` room, `e` endpoint, `m` metadata JSON, `x` lease end (ms), `t` TTL (s), `v` registration token |
//! | entry of a room | `r#<room>` | `<id>` | `e`, `x`, `t`, `v` |
//!
//! - **A walk is a `Query` on the room's partition in sort-key order**, never a `Scan`:
//!   DynamoDB orders string sort keys by their UTF-8 bytes, which is the contract's id
//!   order, and `sk > :after` is the keyset. Reads are strongly consistent (a register is
//!   listed by the next walk). Liveness is decided by the server from the lease (a filter
//!   `x > :now`, with `now` from the store's clock), but DynamoDB bills and limits the
//!   entries *read*, so a page holds at most `limit` entries read, and one with expired
//!   entries comes back short with a token, as the contract allows. A broadcast
//!   (`list_room`) reads pages of up to 1 MB: about 12,000 entries a request.
//! - **What a walk costs:** one strongly consistent read unit per 4 KB read, rounded up
//!   per request. An entry is about 80 bytes (attribute names are one or two letters for
//!   that reason), so about 50 entries per read unit; expired entries not yet swept are
//!   read, and billed, too. [`DynamoStore::read_units`] adds up what the server reported.
//! - **`count`** is a `Query` with `Select COUNT`: one request per MB, billed like a walk.
//! - **What a connection costs** (items under 1 KB): a register is one read unit and two
//!   write units (three when it moves rooms), a renew two write units, a remove one read
//!   unit and two write units, a `get` one read unit.
//! - **Writes and their guards:** every registration carries a random token `v` on its
//!   record and its entry. A register reads the record (strongly consistent: where the id
//!   was), writes the record, then the room's entry, then deletes the old room's entry on
//!   the condition that it still holds the old token. A renew updates the record on the
//!   condition `x > :now` (renewing an expired or removed connection is `NotFound`, never
//!   a revival), then the entry on the condition that it exists — a remove from another
//!   process between the two stays done — giving it the record's token. A remove reads the
//!   record, deletes it on the condition of its token (a newer registration written by
//!   another process meanwhile stays), then its entry on the same condition. Reading
//!   first instead of asking a write for the old item keeps every write safe to retry:
//!   the SDK retries a write whose reply was lost, and a retried `DeleteItem` would
//!   answer "nothing was there". Calls on one id are serialised within a process. A crash
//!   between a call's writes can leave an entry without its record (it lists until its
//!   lease ends, never longer; `sweep` deletes it) or a record without its entry (not
//!   listed; its next register writes one); two processes registering one id at once can
//!   leave the entry one lease behind the record until the next renew — the same bounds
//!   as the Redis and object stores. No transactions: `TransactWriteItems` bills twice the
//!   write units of plain writes.
//! - **Expiry:** liveness comes from the lease on the store's clock. DynamoDB's TTL on `t`
//!   (the lease's end plus an hour, in Unix seconds) is garbage collection only: its
//!   deletions run late by design and on AWS's clock. The store's clock must therefore be
//!   wall-clock time, within the hour (the system clock is).
//! - **`sweep`** scans the table for expired items (`x <= :now`, strongly consistent) and
//!   deletes each on the condition that it is still the same registration and still
//!   expired; a record takes its entry along, and an entry goes alone only when its
//!   record no longer holds its token (so a renew between its two writes never loses its
//!   entry). A scan reads the whole table: run it rarely, or rely on TTL.
//! - **Hot rooms:** one room is one partition key, and DynamoDB serves a partition at
//!   most 3,000 read units a second (about 150,000 entries a second, strongly
//!   consistent): a room of 100,000 members broadcast more than once a second needs
//!   another layout (sharded room keys), not this one.
//!
//! - **Credentials** are static: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//!   `AWS_SESSION_TOKEN` as read when the store opens (as for `store-s3`). Instance
//!   profiles, ECS task roles and web identity (IRSA) are not read, and a session token is
//!   not refreshed: a node on temporary credentials must be restarted before they expire.
//!
//! # Errors and time bounds
//!
//! [`map_dynamodb_error`] is the one mapping. The SDK retries throttling and server errors
//! (3 attempts, jittered backoff) within the operation timeout (10 s, each attempt 3 s),
//! after which the call answers `Unavailable`.
//!
//! # Layout
//! - `config`: [`DynamoConfig`], from a URL and the `AWS_*` environment, with its clock:
//!   `DynamoStore::open(config)`.
//! - `client`: the SDK client, with its timeouts and retries.
//! - `table`: checks or creates the table; drops it.
//! - `item`: key and attribute names, items to members.
//! - `error`: [`map_dynamodb_error`], the one error mapping.
//! - `store`: [`DynamoStore`], the contract on top.

mod client;
mod config;
mod error;
mod item;
mod store;
mod table;

pub use config::DynamoConfig;
pub use error::map_dynamodb_error;
pub use store::DynamoStore;
