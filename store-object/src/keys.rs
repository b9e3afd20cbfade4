//! The key layout (see the crate docs).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use store_core::{ConnectionId, Endpoint, Result, RoomName, StoreError};

/// Longest configured prefix: the longest room key (64-byte room, 128-byte id, 16 hex
/// digits, a 512-byte endpoint in base64url with its separators) plus the prefix must stay
/// within the 1023 bytes OSS allows (S3 allows 1024).
pub const MAX_PREFIX_LEN: usize = 100;

/// Sorts below every id character: keys order by id bytes.
const ID_END: char = '!';
/// Sorts above every hex digit: `id!~` is after every key of `id`.
const AFTER_ID: char = '~';
/// Longest base64url run in the first path component, and in each one after it.
const FIRST_SEGMENT: usize = 100;
const SEGMENT: usize = 200;

/// Checks and normalises a user prefix: `""` or `a/b/` (a trailing `/` is added); no
/// leading `/`, no empty, `.` or `..` segments, at most [`MAX_PREFIX_LEN`] bytes of
/// `[A-Za-z0-9_.-/]`.
pub fn normalize_prefix(prefix: &str) -> Result<String> {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let bad = |why: &str| StoreError::config(format!("key prefix `{prefix}`: {why}"));
    if trimmed.len() + 1 > MAX_PREFIX_LEN {
        return Err(bad(&format!("longer than {MAX_PREFIX_LEN} bytes")));
    }
    for segment in trimmed.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(bad("empty, `.` or `..` path segment"));
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(bad("use only [A-Za-z0-9_.-] between slashes"));
        }
    }
    Ok(format!("{trimmed}/"))
}

/// `prefix/namespace` (or `prefix` alone), without a leading `/`: the namespace is one more
/// segment under the configured prefix. Validate the result with [`normalize_prefix`].
pub fn join_prefix(prefix: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("{}/{ns}", prefix.trim_end_matches('/')),
        None => prefix.to_owned(),
    }
    .trim_start_matches('/')
    .to_owned()
}

/// Builds and parses the keys of one store (one normalised prefix).
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// The normalised prefix (`""` or ending in `/`).
    prefix: String,
}

/// What a room key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoomEntry {
    pub room: RoomName,
    pub id: ConnectionId,
    pub expires_at_ms: u64,
    pub endpoint: Endpoint,
}

impl Keys {
    pub fn new(prefix: String) -> Self {
        Keys { prefix }
    }

    /// `p` `c/` id.
    pub fn record(&self, id: &ConnectionId) -> String {
        format!("{}c/{}", self.prefix, id.as_str())
    }

    /// `p` `probe/` tag: the object a store writes once to learn whether the server
    /// honours `If-Match`.
    pub fn probe(&self, tag: &str) -> String {
        format!("{}probe/{tag}", self.prefix)
    }

    /// `p` `r/`: every room key starts with it.
    pub fn all_rooms(&self) -> String {
        format!("{}r/", self.prefix)
    }

    /// `p` `r/` room `/`.
    pub fn room(&self, room: &RoomName) -> String {
        format!("{}r/{}/", self.prefix, room.as_str())
    }

    /// Every room key of `id` in `room` starts with this.
    pub fn id_in_room(&self, room: &RoomName, id: &ConnectionId) -> String {
        format!("{}{}{ID_END}", self.room(room), id.as_str())
    }

    /// The key after every key of `id` in `room`.
    pub fn after(&self, room: &RoomName, id: &ConnectionId) -> String {
        format!("{}{}{ID_END}{AFTER_ID}", self.room(room), id.as_str())
    }

    /// The room key of one lease.
    pub fn room_entry(&self, entry: &RoomEntry) -> String {
        let encoded = URL_SAFE_NO_PAD.encode(entry.endpoint.as_str());
        let mut key = format!(
            "{}{}{ID_END}{:016x}{ID_END}",
            self.room(&entry.room),
            entry.id.as_str(),
            u64::MAX - entry.expires_at_ms
        );
        let first = encoded.len().min(FIRST_SEGMENT);
        key.push_str(&encoded[..first]);
        for chunk in encoded.as_bytes()[first..].chunks(SEGMENT) {
            key.push('/');
            // base64url output is ASCII, so any byte boundary is a char boundary.
            key.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        }
        key
    }

    /// Parses a room key listed under [`Keys::all_rooms`]. `None` for a key this layout did
    /// not write (listing skips it rather than failing the whole broadcast).
    pub fn parse_room_entry(&self, key: &str) -> Option<RoomEntry> {
        let rest = key.strip_prefix(&self.all_rooms())?;
        let (room, rest) = rest.split_once('/')?;
        let (id, rest) = rest.split_once(ID_END)?;
        let (inv_expiry, endpoint) = rest.split_once(ID_END)?;
        if inv_expiry.len() != 16 {
            return None;
        }
        let expires_at_ms = u64::MAX - u64::from_str_radix(inv_expiry, 16).ok()?;
        let endpoint: String = endpoint.chars().filter(|&c| c != '/').collect();
        let endpoint = URL_SAFE_NO_PAD.decode(endpoint).ok()?;
        Some(RoomEntry {
            room: RoomName::new(room).ok()?,
            id: ConnectionId::new(id).ok()?,
            expires_at_ms,
            endpoint: Endpoint::new(String::from_utf8(endpoint).ok()?).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use store_core::MAX_ENDPOINT_LEN;

    use super::*;

    fn entry(room: &str, id: &str, expires: u64, endpoint: &str) -> RoomEntry {
        RoomEntry {
            room: RoomName::new(room).unwrap(),
            id: ConnectionId::new(id).unwrap(),
            expires_at_ms: expires,
            endpoint: Endpoint::new(endpoint).unwrap(),
        }
    }

    #[test]
    fn room_keys_round_trip() {
        let keys = Keys::new("app/ns/".into());
        let e = entry(
            "lobby",
            "a-b.c_D",
            1_700_000_000_123,
            "http://10.0.0.1:8081/x?y=z",
        );
        let key = keys.room_entry(&e);
        assert!(key.starts_with("app/ns/r/lobby/a-b.c_D!"));
        assert_eq!(keys.parse_room_entry(&key), Some(e));
    }

    #[test]
    fn the_longest_key_fits_and_no_component_exceeds_255_bytes() {
        let keys = Keys::new(format!("{}/", "p".repeat(MAX_PREFIX_LEN - 1)));
        let e = entry(
            &"R".repeat(64),
            &"i".repeat(128),
            u64::MAX - 1,
            &"e".repeat(MAX_ENDPOINT_LEN),
        );
        let key = keys.room_entry(&e);
        assert!(key.len() <= 1023, "{} bytes", key.len());
        assert!(key.split('/').all(|c| c.len() <= 255));
        assert_eq!(keys.parse_room_entry(&key), Some(e));
    }

    #[test]
    fn keys_order_by_id_bytes_then_newest_lease() {
        let keys = Keys::new(String::new());
        let mut ids = ["a", "a-b", "a.b", "a_b", "aB", "A", "0"];
        let mut listed: Vec<String> = ids
            .iter()
            .map(|id| keys.room_entry(&entry("r", id, 5, "http://n")))
            .collect();
        listed.sort();
        ids.sort();
        let parsed: Vec<String> = listed
            .iter()
            .map(|k| keys.parse_room_entry(k).unwrap().id.as_str().to_owned())
            .collect();
        assert_eq!(parsed, ids);
        let older = keys.room_entry(&entry("r", "a", 5, "http://n"));
        let newer = keys.room_entry(&entry("r", "a", 9, "http://n"));
        assert!(newer < older, "the newest lease must come first");
        let after = keys.after(
            &RoomName::new("r").unwrap(),
            &ConnectionId::new("a").unwrap(),
        );
        assert!(after > older && after > newer);
        assert!(after < keys.room_entry(&entry("r", "a-b", 5, "http://n")));
    }

    #[test]
    fn foreign_keys_are_skipped() {
        let keys = Keys::new(String::new());
        for foreign in [
            "r/room/no-bang",
            "r/room/x!zz!abc",
            "r/room/x!0000000000000001!%%%",
        ] {
            assert_eq!(keys.parse_room_entry(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn namespaces_join_as_one_more_segment() {
        assert_eq!(join_prefix("chat/prod/", Some("t1")), "chat/prod/t1");
        assert_eq!(join_prefix("", Some("t1")), "t1");
        assert_eq!(join_prefix("/chat", None), "chat");
    }

    #[test]
    fn prefixes_are_normalised_and_checked() {
        assert_eq!(normalize_prefix("").unwrap(), "");
        assert_eq!(normalize_prefix("chat").unwrap(), "chat/");
        assert_eq!(normalize_prefix("a/b/").unwrap(), "a/b/");
        for bad in ["/abs", "a//b", "a/../b", "a b", &"x".repeat(200)] {
            assert!(normalize_prefix(bad).is_err(), "{bad}");
        }
    }
}
