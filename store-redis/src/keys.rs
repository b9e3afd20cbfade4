//! Key names (see the crate docs' layout table).

use store_core::{ConnectionId, RoomName};

/// Names every key of one store from its prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// `<prefix>:`, validated to hold no braces.
    prefix: String,
}

/// The three keys of one room, all in the room's hash slot (`{room}`).
#[derive(Debug, Clone)]
pub(crate) struct RoomKeys {
    /// Sorted set, every score 0, members the ids: read `BYLEX`, in byte order.
    pub ids: String,
    /// Hash id → endpoint: what a walk returns per live member, with its expiry.
    pub endpoints: String,
    /// Sorted set id scored by expiry: `count` and `sweep` without a walk.
    pub expiries: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: format!("{prefix}:"),
        }
    }

    /// `<prefix>:c:{<id>}`: the record, a hash (`r` room, `e` endpoint, `m` metadata JSON,
    /// `x` expiry), in the id's own slot.
    pub fn record(&self, id: &ConnectionId) -> String {
        format!("{}c:{{{}}}", self.prefix, id.as_str())
    }

    /// `<prefix>:r:{<room>}:i|e|x`.
    pub fn room(&self, room: &RoomName) -> RoomKeys {
        let base = format!("{}r:{{{}}}:", self.prefix, room.as_str());
        RoomKeys {
            ids: format!("{base}i"),
            endpoints: format!("{base}e"),
            expiries: format!("{base}x"),
        }
    }

    /// `<prefix>:rooms`: a set of every room that may hold entries, so that a sweep can
    /// find them on a Cluster without scanning every node's keyspace.
    pub fn rooms(&self) -> String {
        format!("{}rooms", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis Cluster hashes the text between a key's first `{` and the next `}`.
    fn hash_tag(key: &str) -> &str {
        let open = key.find('{').expect("a tag");
        let close = open + key[open..].find('}').expect("a closing brace");
        &key[open + 1..close]
    }

    #[test]
    fn a_rooms_keys_share_its_tag_and_records_have_their_own() {
        let keys = Keys::new("p:ns-1");
        let room = keys.room(&RoomName::new("lobby").unwrap());
        for key in [&room.ids, &room.endpoints, &room.expiries] {
            assert_eq!(hash_tag(key), "lobby");
        }
        let id = ConnectionId::new("lobby").unwrap();
        assert_eq!(hash_tag(&keys.record(&id)), "lobby");
        assert_eq!(keys.record(&id), "p:ns-1:c:{lobby}");
        assert_ne!(keys.record(&id), room.ids);
    }
}
