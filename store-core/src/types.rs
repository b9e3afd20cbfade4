//! The values that cross the [`ConnectionStore`](crate::ConnectionStore) boundary.
//!
//! Ids, room names, endpoints and metadata are validated when they are built, so a backend
//! never sees a value that could corrupt a key (a `/` in an object key, a NUL in a sled key,
//! an over-long SQL column). Building one from bad input is an
//! [`InvalidInput`](crate::StoreError::InvalidInput) error, never a panic.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

/// Longest connection id, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Longest room name, in bytes.
pub const MAX_ROOM_LEN: usize = 64;
/// Longest push-back endpoint, in bytes.
pub const MAX_ENDPOINT_LEN: usize = 512;
/// Most metadata entries on one connection.
pub const MAX_METADATA_ENTRIES: usize = 16;
/// Longest metadata key, in bytes.
pub const MAX_METADATA_KEY_LEN: usize = 64;
/// Longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_LEN: usize = 256;
/// Largest page `list` returns (object stores list at most 1000 keys per request).
pub const MAX_PAGE_SIZE: usize = 1000;
/// Longest lease a store grants; a connection must heartbeat at least this often.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Checks the shared shape of ids and room names: 1..=max bytes of `[A-Za-z0-9_.-]` and
/// the `extra` characters, not starting with `.` (so `.` and `..` never become path segments
/// in object keys).
fn check_name(what: &'static str, value: &str, max: usize, extra: &[char]) -> Result<()> {
    if value.is_empty() {
        return Err(StoreError::invalid(what, "must not be empty"));
    }
    if value.len() > max {
        return Err(StoreError::invalid(
            what,
            format!("is {} bytes long, the limit is {max}", value.len()),
        ));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') || extra.contains(c)))
    {
        let extra: String = extra.iter().map(|c| format!(", '{c}'")).collect();
        return Err(StoreError::invalid(
            what,
            format!(
                "contains {bad:?}; only ASCII letters, digits, '_', '-', '.'{extra} are allowed"
            ),
        ));
    }
    if value.starts_with('.') {
        return Err(StoreError::invalid(what, "must not start with '.'"));
    }
    Ok(())
}

macro_rules! validated_name {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr, $extra:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self> {
                let value = value.into();
                check_name($what, &value, $max, $extra)?;
                Ok($name(value))
            }

            /// Wraps `value` without checking it, for a store decoding what it wrote
            /// itself (every value it writes went through [`Self::new`]): a room walk
            /// then pays nothing per member for a check that cannot fail. Debug builds
            /// check anyway. Never for input from outside the store.
            pub fn trusted(value: String) -> Self {
                debug_assert!(
                    check_name($what, &value, $max, $extra).is_ok(),
                    "an untrusted {} reached `trusted`: {value:?}",
                    $what
                );
                $name(value)
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = StoreError;
            fn try_from(value: String) -> Result<Self> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;
            fn from_str(value: &str) -> Result<Self> {
                $name::new(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

validated_name!(
    /// The id of one WebSocket connection: 1..=128 bytes of `[A-Za-z0-9_.@-]`, not starting
    /// with `.`. Ids order by their bytes; `list` returns them in that order. (`@` because
    /// Alibaba's client SDKs name devices `<uuid>@<appKey>`, and a device id is a connection
    /// id; it is safe in object keys, SQL and sled, and sorts after the `!` that ends an id
    /// in the object layout.)
    ConnectionId,
    "connection id",
    MAX_ID_LEN,
    &['@']
);

validated_name!(
    /// A room (chat room, channel): 1..=64 bytes of `[A-Za-z0-9_.-]`, not starting with `.`.
    RoomName,
    "room name",
    MAX_ROOM_LEN,
    &[]
);

/// Where the gateway node holding a connection accepts push-back calls, e.g.
/// `http://10.0.0.7:8081`: 1..=512 bytes of visible ASCII (no spaces or control bytes).
///
/// Shared text: every member of a room held by one node carries the same endpoint, so a
/// store decoding a page hands out clones of one value (a reference count, no copy).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Endpoint(Arc<str>);

impl Endpoint {
    /// Validates and wraps `value`.
    pub fn new(value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        Self::check(&value)?;
        Ok(Endpoint(value.into()))
    }

    /// Wraps `value` without checking it, for a store decoding what it wrote (see
    /// [`ConnectionId::trusted`]). Debug builds check anyway.
    pub fn trusted(value: &str) -> Self {
        debug_assert!(
            Self::check(value).is_ok(),
            "an untrusted endpoint reached `trusted`: {value:?}"
        );
        Endpoint(value.into())
    }

    /// `previous` when it holds exactly `bytes` (sharing its text), else the endpoint
    /// `bytes` spell, trusted as [`Endpoint::trusted`] — how a store decodes a page whose
    /// members mostly share a node. `None` when `bytes` are not UTF-8.
    pub fn trusted_reusing(previous: Option<&Endpoint>, bytes: &[u8]) -> Option<Self> {
        match previous {
            Some(previous) if previous.0.as_bytes() == bytes => Some(previous.clone()),
            _ => std::str::from_utf8(bytes).ok().map(Endpoint::trusted),
        }
    }

    fn check(value: &str) -> Result<()> {
        if value.is_empty() {
            return Err(StoreError::invalid("endpoint", "must not be empty"));
        }
        if value.len() > MAX_ENDPOINT_LEN {
            return Err(StoreError::invalid(
                "endpoint",
                format!(
                    "is {} bytes long, the limit is {MAX_ENDPOINT_LEN}",
                    value.len()
                ),
            ));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StoreError::invalid(
                "endpoint",
                "only visible ASCII is allowed (no spaces or control characters)",
            ));
        }
        Ok(())
    }

    /// The validated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Endpoint {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self> {
        Endpoint::new(value)
    }
}

impl From<Endpoint> for String {
    fn from(value: Endpoint) -> String {
        value.0.to_string()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({:?})", self.0)
    }
}

/// Small string metadata kept with a connection (source IP, connected-at, user agent…):
/// at most 16 entries, keys of 1..=64 bytes of `[a-z0-9_-]`, values of at most 256 bytes of
/// UTF-8 without control characters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// No metadata.
    pub fn new() -> Self {
        Metadata(BTreeMap::new())
    }

    /// Validates a whole map.
    pub fn from_map(map: BTreeMap<String, String>) -> Result<Self> {
        if map.len() > MAX_METADATA_ENTRIES {
            return Err(StoreError::invalid(
                "metadata",
                format!(
                    "has {} entries, the limit is {MAX_METADATA_ENTRIES}",
                    map.len()
                ),
            ));
        }
        for (key, value) in &map {
            check_metadata_entry(key, value)?;
        }
        Ok(Metadata(map))
    }

    /// Adds one entry, validated.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Result<Self> {
        let (key, value) = (key.into(), value.into());
        check_metadata_entry(&key, &value)?;
        if !self.0.contains_key(&key) && self.0.len() >= MAX_METADATA_ENTRIES {
            return Err(StoreError::invalid(
                "metadata",
                format!("the limit is {MAX_METADATA_ENTRIES} entries"),
            ));
        }
        self.0.insert(key, value);
        Ok(self)
    }

    /// One value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// All entries, in key order.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

fn check_metadata_entry(key: &str, value: &str) -> Result<()> {
    if key.is_empty()
        || key.len() > MAX_METADATA_KEY_LEN
        || !key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(StoreError::invalid(
            "metadata key",
            format!(
                "{key:?}: keys are 1..={MAX_METADATA_KEY_LEN} bytes of lowercase ASCII letters, digits, '_' or '-'"
            ),
        ));
    }
    if value.len() > MAX_METADATA_VALUE_LEN || value.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            "metadata value",
            format!(
                "value of {key:?}: at most {MAX_METADATA_VALUE_LEN} bytes, no control characters"
            ),
        ));
    }
    Ok(())
}

impl TryFrom<BTreeMap<String, String>> for Metadata {
    type Error = StoreError;
    fn try_from(map: BTreeMap<String, String>) -> Result<Self> {
        Metadata::from_map(map)
    }
}

impl From<Metadata> for BTreeMap<String, String> {
    fn from(value: Metadata) -> Self {
        value.0
    }
}

/// Converts a lease duration to whole milliseconds, enforcing 1 ms ..= [`MAX_TTL`].
/// Every backend calls this before writing, so all of them reject the same ttls.
pub fn ttl_millis(ttl: Duration) -> Result<u64> {
    if ttl > MAX_TTL {
        return Err(StoreError::invalid(
            "ttl",
            format!("{ttl:?} is longer than the limit of {MAX_TTL:?}"),
        ));
    }
    let ms = ttl.as_millis() as u64;
    if ms == 0 {
        return Err(StoreError::invalid("ttl", "must be at least 1 ms"));
    }
    Ok(ms)
}

/// Checks a page size: 1..=[`MAX_PAGE_SIZE`].
pub fn check_page_size(limit: usize) -> Result<()> {
    if limit == 0 || limit > MAX_PAGE_SIZE {
        return Err(StoreError::invalid(
            "page size",
            format!("{limit} is outside 1..={MAX_PAGE_SIZE}"),
        ));
    }
    Ok(())
}

/// What a connection registers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The room the connection joins; `list` and `count` are per room.
    pub room: RoomName,
    /// Push-back address of the gateway node holding the socket, so any function can reach it.
    pub endpoint: Endpoint,
    /// Small facts about the connection, returned by `get`.
    pub metadata: Metadata,
    /// How long the lease lasts without a renew.
    pub ttl: Duration,
}

/// A granted lease: the connection counts as live while `now < expires_at_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lease {
    /// Expiry in epoch milliseconds of the store's clock.
    pub expires_at_ms: u64,
}

/// The full record of a live connection, as `get` returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The connection's id.
    pub id: ConnectionId,
    /// Its room.
    pub room: RoomName,
    /// Push-back address of its gateway node.
    pub endpoint: Endpoint,
    /// Its metadata.
    pub metadata: Metadata,
    /// Lease expiry in epoch milliseconds.
    pub expires_at_ms: u64,
}

/// One live connection of a room, as `list` returns it: what a broadcast needs, no more.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoomMember {
    /// The connection's id.
    pub id: ConnectionId,
    /// Push-back address of its gateway node (broadcasts group by it).
    pub endpoint: Endpoint,
    /// Lease expiry in epoch milliseconds.
    pub expires_at_ms: u64,
}

/// Where the next page starts. Opaque to callers: pass back what `list` returned.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PageToken(ConnectionId);

impl PageToken {
    /// The token that continues after `id` (keyset pagination on id).
    pub fn after(id: ConnectionId) -> Self {
        PageToken(id)
    }

    /// The last id of the previous page; the next page holds only larger ids.
    pub fn last_id(&self) -> &ConnectionId {
        &self.0
    }

    /// The token as text, to carry across an HTTP boundary.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Parses a token that came back as text. A malformed one is `InvalidInput`.
    pub fn parse(text: &str) -> Result<Self> {
        ConnectionId::new(text)
            .map(PageToken)
            .map_err(|_| StoreError::invalid("page token", "not a token `list` returned"))
    }
}

impl fmt::Debug for PageToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PageToken({:?})", self.0.as_str())
    }
}

/// One page of a room's live connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Live members in ascending id order.
    pub members: Vec<RoomMember>,
    /// Where the next page starts; `None` means the walk is complete.
    pub next: Option<PageToken>,
}

impl Page {
    /// The last page of a walk: nothing follows `members`.
    pub fn last(members: Vec<RoomMember>) -> Self {
        Page {
            members,
            next: None,
        }
    }

    /// A page after which the walk goes on from just after `last_read`: the last id the
    /// backend read for this page, live or expired. When the backend filters expired
    /// records itself (a `WHERE` clause) that is the last member's id; when it filters
    /// after reading (an object listing, a scan), a page may hold fewer members than were
    /// read, even none, and the walk must still resume after what was read — which is why
    /// the id is asked for rather than taken from `members`.
    pub fn resume_after(members: Vec<RoomMember>, last_read: ConnectionId) -> Self {
        Page {
            members,
            next: Some(PageToken::after(last_read)),
        }
    }

    /// A keyset page of a backend that filters expired records before they reach it:
    /// when `more` members follow, the next page starts after the last one of this page.
    /// A full page of live members has a last member; with `more` and no members this is
    /// a backend bug, and the answer is a [`StoreError::Backend`] error rather than a page
    /// that would silently end the walk early.
    pub fn keyset(members: Vec<RoomMember>, more: bool) -> Result<Self> {
        match (more, members.last()) {
            (false, _) => Ok(Page::last(members)),
            (true, Some(last)) => {
                let last = last.id.clone();
                Ok(Page::resume_after(members, last))
            }
            (true, None) => Err(StoreError::Backend {
                store: "page",
                source: "a page said more members follow but held none: build it with \
                         Page::resume_after and the last id read"
                    .into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn ids_accept_the_documented_alphabet() {
        assert!(ConnectionId::new("abc-DEF_123.x").is_ok());
        assert!(ConnectionId::new("ffd3234343dae324342@12344133").is_ok());
        assert!(RoomName::new("a@b").is_err());
        assert!(ConnectionId::new("a".repeat(MAX_ID_LEN)).is_ok());
    }

    #[test]
    fn bad_ids_are_invalid_input() {
        for bad in [
            "",
            "a/b",
            "a b",
            "..",
            ".hidden",
            "é",
            "a\0b",
            "a%2F",
            &"a".repeat(MAX_ID_LEN + 1),
        ] {
            let err = ConnectionId::new(bad).expect_err(bad);
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(RoomName::new("a".repeat(MAX_ROOM_LEN + 1)).is_err());
    }

    #[test]
    fn endpoints_reject_spaces_and_control_bytes() {
        assert!(Endpoint::new("http://127.0.0.1:8081/push").is_ok());
        assert!(Endpoint::new("http://x y").is_err());
        assert!(Endpoint::new("http://x\n").is_err());
        assert!(Endpoint::new("").is_err());
        assert!(Endpoint::new("h".repeat(MAX_ENDPOINT_LEN + 1)).is_err());
    }

    #[test]
    fn metadata_limits_hold() {
        let meta = Metadata::new().with("source_ip", "127.0.0.1").unwrap();
        assert_eq!(meta.get("source_ip"), Some("127.0.0.1"));
        assert!(Metadata::new().with("Bad Key", "x").is_err());
        assert!(Metadata::new().with("k", "line\nbreak").is_err());
        assert!(
            Metadata::new()
                .with("k", "v".repeat(MAX_METADATA_VALUE_LEN + 1))
                .is_err()
        );
        let mut full = Metadata::new();
        for i in 0..MAX_METADATA_ENTRIES {
            full = full.with(format!("k{i}"), "v").unwrap();
        }
        assert!(full.clone().with("one-more", "v").is_err());
        assert!(full.with("k0", "replaced").is_ok());
    }

    #[test]
    fn ttls_are_bounded() {
        assert_eq!(ttl_millis(Duration::from_secs(60)).unwrap(), 60_000);
        assert!(ttl_millis(Duration::ZERO).is_err());
        assert!(ttl_millis(Duration::from_micros(999)).is_err());
        assert!(ttl_millis(MAX_TTL + Duration::from_millis(1)).is_err());
    }

    #[test]
    fn deserializing_validates() {
        let ok: ConnectionId = serde_json_like("abc").unwrap();
        assert_eq!(ok.as_str(), "abc");
        assert!(serde_json_like::<ConnectionId>("a/b").is_err());
    }

    /// Round-trips through serde's string form without pulling serde_json into the core.
    fn serde_json_like<T: TryFrom<String, Error = StoreError>>(s: &str) -> Result<T> {
        T::try_from(s.to_owned())
    }
}
