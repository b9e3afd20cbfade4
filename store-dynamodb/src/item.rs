//! Item layout: key and attribute names, and the items the store writes and reads.
//!
//! Attribute names are one or two letters because DynamoDB bills every item by its size,
//! names included: a room entry is about 80 bytes, so a strongly consistent walk reads
//! about 50 entries per read unit.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use store_core::{ConnectionId, Endpoint, Result, RoomMember, RoomName};

use crate::error::unexpected;

/// Partition key (string): `c#<id>` for a record, `r#<room>` for a room entry.
pub(crate) const PK: &str = "pk";
/// Sort key (string): [`RECORD_SORT_KEY`] for a record, the id for a room entry.
pub(crate) const SK: &str = "sk";
/// The record's room.
pub(crate) const ROOM: &str = "r";
/// The push-back endpoint (record and entry).
pub(crate) const ENDPOINT: &str = "e";
/// The record's metadata, as JSON.
pub(crate) const METADATA: &str = "m";
/// The lease's end in ms on the store's clock (number; record and entry): liveness.
pub(crate) const EXPIRY: &str = "x";
/// DynamoDB's TTL attribute, epoch seconds (number; record and entry): garbage collection
/// only, set an hour past the lease, since DynamoDB's clock is not the store's and its
/// deletions run late by design.
pub(crate) const TTL: &str = "t";
/// A random token of the registration (number; record and entry): the guarded writes on
/// an entry name it, so a late write of an old registration never touches a newer one.
pub(crate) const VERSION: &str = "v";
/// The sort key of a record: sorts before every id, and no id can be it.
pub(crate) const RECORD_SORT_KEY: &str = "#";

/// How long an item outlives its lease before DynamoDB's TTL may delete it.
const TTL_GRACE_SECS: u64 = 3_600;

/// A primary key.
pub(crate) type Key = HashMap<String, AttributeValue>;
/// An item as the SDK hands it over.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// The partition key of `id`'s record.
pub(crate) fn record_pk(id: &ConnectionId) -> String {
    format!("c#{id}")
}

/// The partition key of `room`'s entries.
pub(crate) fn room_pk(room: &RoomName) -> String {
    format!("r#{room}")
}

/// The key of `id`'s record.
pub(crate) fn record_key(id: &ConnectionId) -> Key {
    key(record_pk(id), RECORD_SORT_KEY.to_owned())
}

/// The key of `id`'s entry in `room`.
pub(crate) fn entry_key(room: &RoomName, id: &ConnectionId) -> Key {
    key(room_pk(room), id.as_str().to_owned())
}

fn key(pk: String, sk: String) -> Key {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk)),
        (SK.to_owned(), AttributeValue::S(sk)),
    ])
}

/// A number attribute.
pub(crate) fn number(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The TTL attribute's value for a lease ending at `expires_at_ms`.
pub(crate) fn ttl_seconds(expires_at_ms: u64) -> AttributeValue {
    number(expires_at_ms / 1000 + TTL_GRACE_SECS)
}

/// The string attribute `name` of `item`.
pub(crate) fn string<'a>(item: &'a Item, name: &str) -> Result<&'a str> {
    item.get(name)
        .and_then(|value| value.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| unexpected(name))
}

/// The number attribute `name` of `item`, as a `u64`.
pub(crate) fn unsigned(item: &Item, name: &str) -> Result<u64> {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| unexpected(name))
}

/// The room a record names.
pub(crate) fn record_room(item: &Item) -> Result<RoomName> {
    RoomName::new(string(item, ROOM)?).map_err(|_| unexpected("a record's room"))
}

/// A room entry as a member, sharing `previous`'s endpoint text when it is the same.
pub(crate) fn member(item: &Item, previous: Option<&RoomMember>) -> Result<RoomMember> {
    let id = string(item, SK)?;
    let endpoint = string(item, ENDPOINT)?;
    // Written by this store from checked values: trusted, without a check per member.
    let endpoint = Endpoint::trusted_reusing(previous.map(|m| &m.endpoint), endpoint.as_bytes())
        .ok_or_else(|| unexpected("an endpoint"))?;
    Ok(RoomMember {
        id: ConnectionId::trusted(id.to_owned()),
        endpoint,
        expires_at_ms: unsigned(item, EXPIRY)?,
    })
}

/// The id in a room entry's key (a page's resume point).
pub(crate) fn entry_id(key: &Key) -> Result<ConnectionId> {
    let id = string(key, SK)?;
    ConnectionId::new(id).map_err(|_| unexpected("an entry's id"))
}
