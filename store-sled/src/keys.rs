//! Byte layout of the three trees (see the crate docs).

use serde::{Deserialize, Serialize};
use store_core::{ConnectionId, Endpoint, Metadata, Result, RoomName};

use crate::error::corrupt;

/// Separates room and id in `rooms` keys; neither may contain it.
const SEP: u8 = b'/';

/// What `records` holds per id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredRecord {
    /// The room, needed to find the `rooms` key when the record changes.
    pub room: RoomName,
    /// Push-back address of the gateway node.
    pub endpoint: Endpoint,
    /// Caller-supplied facts.
    pub metadata: Metadata,
    /// Lease expiry, epoch ms of the store clock.
    pub expires_at_ms: u64,
}

impl StoredRecord {
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| corrupt("record (encode)", e))
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| corrupt("record", e))
    }
}

/// `room/` : every key of one room starts with it.
pub(crate) fn room_prefix(room: &RoomName) -> Vec<u8> {
    let mut key = Vec::with_capacity(room.as_str().len() + 1);
    key.extend_from_slice(room.as_str().as_bytes());
    key.push(SEP);
    key
}

/// `room/id`.
pub(crate) fn room_key(room: &RoomName, id: &ConnectionId) -> Vec<u8> {
    let mut key = room_prefix(room);
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

/// The id part of a `rooms` key; this store wrote it from a checked id, so it is trusted
/// (a walk decodes thousands).
pub(crate) fn id_from_room_key(key: &[u8], prefix: &[u8]) -> Result<ConnectionId> {
    let id = std::str::from_utf8(&key[prefix.len()..]).map_err(|e| corrupt("room key", e))?;
    Ok(ConnectionId::trusted(id.to_owned()))
}

/// expiry ‖ endpoint.
pub(crate) fn room_value(expires_at_ms: u64, endpoint: &Endpoint) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + endpoint.as_str().len());
    value.extend_from_slice(&expires_at_ms.to_be_bytes());
    value.extend_from_slice(endpoint.as_str().as_bytes());
    value
}

/// The expiry of a `rooms` value, or a corruption error when it is too short to hold one.
pub(crate) fn decode_expiry(value: &[u8]) -> Result<u64> {
    read_expiry(value).ok_or_else(|| corrupt("room value", "shorter than 8 bytes"))
}

/// The endpoint of a `rooms` value (whose expiry [`decode_expiry`] read), sharing
/// `previous` when it is the same (members of a room mostly share a node); the endpoint was
/// checked when it was written, so it is trusted.
pub(crate) fn decode_endpoint(value: &[u8], previous: Option<&Endpoint>) -> Result<Endpoint> {
    let bytes = value.get(8..).unwrap_or_default();
    Endpoint::trusted_reusing(previous, bytes)
        .ok_or_else(|| corrupt("room value", "the endpoint is not UTF-8"))
}

/// Just the expiry of a `rooms` value (what `count` needs).
pub(crate) fn read_expiry(value: &[u8]) -> Option<u64> {
    let head: [u8; 8] = value.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(head))
}

/// expiry ‖ id: sorted by expiry, so `..=now` is exactly the expired records.
pub(crate) fn expiry_key(expires_at_ms: u64, id: &ConnectionId) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + id.as_str().len());
    key.extend_from_slice(&expires_at_ms.to_be_bytes());
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

/// The id part of an `expiry` key.
pub(crate) fn id_from_expiry_key(key: &[u8]) -> Result<ConnectionId> {
    let id = key
        .get(8..)
        .ok_or_else(|| corrupt("expiry key", "shorter than 8 bytes"))?;
    let id = std::str::from_utf8(id).map_err(|e| corrupt("expiry key", e))?;
    ConnectionId::new(id).map_err(|e| corrupt("expiry key", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_keys_of_prefix_rooms_do_not_overlap() {
        let a = RoomName::new("a").unwrap();
        let ab = RoomName::new("a-b").unwrap();
        let id = ConnectionId::new("x").unwrap();
        assert!(!room_key(&ab, &id).starts_with(&room_prefix(&a)));
    }

    #[test]
    fn expiry_keys_sort_by_time_first() {
        let late = expiry_key(2, &ConnectionId::new("a").unwrap());
        let early = expiry_key(1, &ConnectionId::new("z").unwrap());
        assert!(early < late);
        assert_eq!(id_from_expiry_key(&late).unwrap().as_str(), "a");
    }

    #[test]
    fn room_values_round_trip() {
        let endpoint = Endpoint::new("http://n:1").unwrap();
        let value = room_value(42, &endpoint);
        assert_eq!(decode_expiry(&value).unwrap(), 42);
        assert_eq!(decode_endpoint(&value, None).unwrap(), endpoint);
        let shared = decode_endpoint(&value, Some(&endpoint)).unwrap();
        assert_eq!(shared, endpoint);
        assert!(decode_expiry(b"short").is_err());
        assert!(decode_endpoint(&[0, 0, 0, 0, 0, 0, 0, 1, 0xff], None).is_err());
    }
}
