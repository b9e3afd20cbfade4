//! [`ObjectStore`]: the contract on any [`ObjectClient`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use store_core::{
    Connection, ConnectionId, ConnectionStore, Endpoint, ErrorKind, IdLocks, Lease, MAX_PAGE_SIZE,
    Metadata, Page, PageToken, Registration, Result, RoomMember, RoomName, SharedClock,
    StoreConfig, StoreError, check_page_size, ttl_millis,
};
use tokio::sync::OnceCell;

use crate::client::{ListPage, ObjectClient, PutCondition, StoredObject};
use crate::counter::{RequestCounts, RequestKind};
use crate::keys::{Keys, RoomEntry, normalize_prefix};
use crate::retry::RetryPolicy;

/// How often a renew re-reads and retries after losing a conditional write to a writer
/// that left the connection live.
const RENEW_ATTEMPTS: u32 = 3;

/// The record object's body.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredRecord {
    room: RoomName,
    endpoint: Endpoint,
    metadata: Metadata,
    expires_at_ms: u64,
}

impl StoredRecord {
    fn entry(&self, id: &ConnectionId) -> RoomEntry {
        RoomEntry {
            room: self.room.clone(),
            id: id.clone(),
            expires_at_ms: self.expires_at_ms,
            endpoint: self.endpoint.clone(),
        }
    }
}

/// A [`ConnectionStore`] on object storage. Cheap to clone; clones share client, counters
/// and locks.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    /// Makes the requests.
    client: Arc<dyn ObjectClient>,
    /// Builds and parses keys under the prefix.
    keys: Keys,
    /// Leases are computed from this clock.
    clock: SharedClock,
    /// Retries of temporary failures.
    retry: RetryPolicy,
    /// Requests made, by kind.
    counts: RequestCounts,
    /// Whether renew sends `If-Match` (off for servers that reject the header).
    conditional_writes: bool,
    /// Whether the server honours `If-Match` on PUT, learnt once by a probe (some
    /// S3-compatible servers, Garage among them, accept the header and ignore it). When it
    /// does not, renew and remove verify instead (see `renew`).
    honoured: Arc<OnceCell<bool>>,
    /// Serialises the read-modify-write calls on one id within this process. An async
    /// mutex, meant to be held across the requests of one call.
    stripes: IdLocks,
}

impl ObjectStore {
    /// Opens the store an object backend's config describes: `S3Store::open(config)`
    /// (`store-s3`), `OssStore::open(config)` (`store-oss`), both this function (the
    /// config's [`StoreConfig::open`] builds its client and calls [`ObjectStore::new`]).
    pub async fn open<C>(config: C) -> Result<Self>
    where
        C: StoreConfig<Store = ObjectStore>,
    {
        config.open().await
    }

    /// A store on `client` whose keys live under `prefix` (normalised; see
    /// [`normalize_prefix`]): what a backend's config builds when it opens.
    pub fn new(client: Arc<dyn ObjectClient>, prefix: &str, clock: SharedClock) -> Result<Self> {
        Ok(ObjectStore {
            client,
            keys: Keys::new(normalize_prefix(prefix)?),
            clock,
            retry: RetryPolicy::default(),
            counts: RequestCounts::default(),
            conditional_writes: true,
            honoured: Arc::new(OnceCell::new()),
            stripes: IdLocks::default(),
        })
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Whether renew writes with `If-Match` (default on).
    pub fn with_conditional_writes(mut self, enabled: bool) -> Self {
        self.conditional_writes = enabled;
        self
    }

    /// The request counters (shared with clones).
    pub fn request_counts(&self) -> RequestCounts {
        self.counts.clone()
    }

    /// Whether the server honours `If-Match` on PUT. Learnt on first use with one probe
    /// object (PUT, PUT with a wrong `If-Match`, DELETE: three requests per process), and
    /// `false` without asking when conditional writes are off.
    pub async fn conditional_writes_honoured(&self) -> Result<bool> {
        if !self.conditional_writes {
            return Ok(false);
        }
        self.honoured
            .get_or_try_init(|| async {
                let tag = format!(
                    "{}-{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_nanos()
                );
                let key = self.keys.probe(&tag);
                self.put_object(&key, b"probe", &PutCondition::None).await?;
                let wrong = PutCondition::IfMatch("\"no-such-etag\"".to_owned());
                let answer = self.put_object(&key, b"overwritten", &wrong).await;
                self.delete_object(&key).await?;
                match answer {
                    Ok(()) => {
                        tracing::warn!(
                            backend = self.client.backend(),
                            "the server ignores If-Match on PUT: renew and remove verify by \
                             re-reading instead (two more requests per renew, one per remove)"
                        );
                        Ok(false)
                    }
                    Err(err) if matches!(err.kind(), ErrorKind::Conflict | ErrorKind::NotFound) => {
                        Ok(true)
                    }
                    // Rejecting the header (400/501) also means "no conditional writes".
                    Err(err) if !err.is_temporary() => Ok(false),
                    Err(err) => Err(err),
                }
            })
            .await
            .copied()
    }

    async fn get_object(&self, key: &str) -> Result<Option<StoredObject>> {
        self.retry
            .run(|| {
                self.counts.record(RequestKind::Get);
                self.client.get(key)
            })
            .await
    }

    async fn put_object(&self, key: &str, body: &[u8], condition: &PutCondition) -> Result<()> {
        self.retry
            .run(|| {
                self.counts.record(RequestKind::Put);
                self.client.put(key, body.to_vec(), condition.clone())
            })
            .await
    }

    async fn delete_object(&self, key: &str) -> Result<()> {
        self.retry
            .run(|| {
                self.counts.record(RequestKind::Delete);
                self.client.delete(key)
            })
            .await
    }

    async fn list_keys(&self, prefix: &str, start: Option<&str>, max: usize) -> Result<ListPage> {
        self.retry
            .run(|| {
                self.counts.record(RequestKind::List);
                self.client.list(prefix, start, max)
            })
            .await
    }

    /// Renew's record write on a server that ignores `If-Match`: the same guarantee from
    /// two reads. Our new room key is already written, and a remove deletes the record
    /// first and then every room key of the id, so:
    /// 1. re-read the record: gone or rewritten since we read it → a writer came between
    ///    (answer like a failed `If-Match`);
    /// 2. write the record;
    /// 3. list the id's room keys: ours gone → a remove ran after step 1 and our write may
    ///    have brought the record back: delete it and answer `NotFound`.
    ///
    /// A remove whose key deletion comes after step 3 deletes the record once more at its
    /// end (see `remove`), so no interleaving leaves a record behind.
    async fn verified_write(
        &self,
        id: &ConnectionId,
        renewed: &StoredRecord,
        etag: Option<&str>,
        new_key: &str,
    ) -> Result<()> {
        match self.get_object(&self.keys.record(id)).await? {
            None => return Err(StoreError::not_found(id.as_str())),
            Some(now) if now.etag.as_deref() != etag => {
                return Err(StoreError::Conflict {
                    message: format!("the record of `{id}` changed during renew"),
                });
            }
            Some(_) => {}
        }
        let body = self.encode(renewed)?;
        self.put_object(&self.keys.record(id), &body, &PutCondition::None)
            .await?;
        if self
            .id_room_keys(&renewed.room, id)
            .await?
            .iter()
            .any(|key| key == new_key)
        {
            return Ok(());
        }
        self.delete_object(&self.keys.record(id)).await?;
        Err(StoreError::not_found(id.as_str()))
    }

    /// Every room key of `id` in `room` (normally one; two while a renew is between its
    /// writes, more after crashes).
    async fn id_room_keys(&self, room: &RoomName, id: &ConnectionId) -> Result<Vec<String>> {
        let id_prefix = self.keys.id_in_room(room, id);
        let mut keys = Vec::new();
        loop {
            let page = self
                .list_keys(&id_prefix, keys.last().map(String::as_str), MAX_PAGE_SIZE)
                .await?;
            keys.extend(page.keys);
            if !page.truncated {
                return Ok(keys);
            }
        }
    }

    async fn read_record(
        &self,
        id: &ConnectionId,
    ) -> Result<Option<(StoredRecord, Option<String>)>> {
        let Some(object) = self.get_object(&self.keys.record(id)).await? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&object.body).map_err(|e| StoreError::Backend {
            store: self.client.backend(),
            source: format!("corrupt record object for `{id}`: {e}").into(),
        })?;
        Ok(Some((record, object.etag)))
    }

    fn encode(&self, record: &StoredRecord) -> Result<Vec<u8>> {
        serde_json::to_vec(record).map_err(|e| StoreError::Backend {
            store: self.client.backend(),
            source: Box::new(e),
        })
    }

    /// One page of a room: parsed, deduplicated (first key of an id run = newest lease),
    /// live only. Keys this layout did not write are skipped.
    async fn room_page(
        &self,
        room: &RoomName,
        after: Option<&PageToken>,
        limit: usize,
        now: u64,
    ) -> Result<Page> {
        let prefix = self.keys.room(room);
        let mut start = after.map(|token| self.keys.after(room, token.last_id()));
        loop {
            let page = self.list_keys(&prefix, start.as_deref(), limit).await?;
            let mut members = Vec::new();
            let mut last_id: Option<ConnectionId> = None;
            for key in &page.keys {
                let Some(entry) = self.keys.parse_room_entry(key) else {
                    continue;
                };
                if entry.room != *room || last_id.as_ref() == Some(&entry.id) {
                    continue;
                }
                last_id = Some(entry.id.clone());
                if now < entry.expires_at_ms {
                    members.push(RoomMember {
                        id: entry.id,
                        endpoint: entry.endpoint,
                        expires_at_ms: entry.expires_at_ms,
                    });
                }
            }
            match (page.truncated, last_id) {
                (false, _) => {
                    return Ok(Page {
                        members,
                        next: None,
                    });
                }
                (true, Some(id)) => {
                    return Ok(Page {
                        members,
                        next: Some(PageToken::after(id)),
                    });
                }
                // A whole page of foreign keys: carry on after the last raw key.
                (true, None) => start = page.keys.last().cloned(),
            }
        }
    }
}

#[async_trait]
impl ConnectionStore for ObjectStore {
    fn backend(&self) -> &'static str {
        self.client.backend()
    }

    async fn register(&self, id: &ConnectionId, registration: &Registration) -> Result<Lease> {
        let ttl = ttl_millis(registration.ttl)?;
        let expires_at_ms = self.clock.now_ms().saturating_add(ttl);
        let record = StoredRecord {
            room: registration.room.clone(),
            endpoint: registration.endpoint.clone(),
            metadata: registration.metadata.clone(),
            expires_at_ms,
        };
        let body = self.encode(&record)?;
        let _serial = self.stripes.lock(id).await;
        let old = self.read_record(id).await?;
        // Room key first: a crash after it lists the connection a little longer, never
        // hides a registered one from broadcasts.
        let new_key = self.keys.room_entry(&record.entry(id));
        self.put_object(&new_key, b"", &PutCondition::None).await?;
        self.put_object(&self.keys.record(id), &body, &PutCondition::None)
            .await?;
        if let Some((old, _)) = old {
            let old_key = self.keys.room_entry(&old.entry(id));
            if old_key != new_key {
                self.delete_object(&old_key).await?;
            }
        }
        Ok(Lease { expires_at_ms })
    }

    async fn renew(&self, id: &ConnectionId, ttl: Duration) -> Result<Lease> {
        let ttl = ttl_millis(ttl)?;
        let honoured = self.conditional_writes_honoured().await?;
        let _serial = self.stripes.lock(id).await;
        for _ in 0..RENEW_ATTEMPTS {
            let now = self.clock.now_ms();
            let (old, etag) = match self.read_record(id).await? {
                Some((old, etag)) if now < old.expires_at_ms => (old, etag),
                _ => return Err(StoreError::not_found(id.as_str())),
            };
            let renewed = StoredRecord {
                expires_at_ms: now.saturating_add(ttl),
                ..old.clone()
            };
            let new_key = self.keys.room_entry(&renewed.entry(id));
            self.put_object(&new_key, b"", &PutCondition::None).await?;
            let written = if honoured {
                let condition = match etag {
                    Some(etag) => PutCondition::IfMatch(etag),
                    None => PutCondition::None,
                };
                let body = self.encode(&renewed)?;
                self.put_object(&self.keys.record(id), &body, &condition)
                    .await
            } else {
                self.verified_write(id, &renewed, etag.as_deref(), &new_key)
                    .await
            };
            match written {
                Ok(()) => {
                    let old_key = self.keys.room_entry(&old.entry(id));
                    if old_key != new_key {
                        self.delete_object(&old_key).await?;
                    }
                    return Ok(Lease {
                        expires_at_ms: renewed.expires_at_ms,
                    });
                }
                // The record changed under us (another process removed or rewrote it):
                // withdraw our room key and decide again from what is there now.
                Err(err) if matches!(err.kind(), ErrorKind::Conflict | ErrorKind::NotFound) => {
                    self.delete_object(&new_key).await?;
                }
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::Conflict {
            message: format!("renew of `{id}` kept losing to concurrent writers"),
        })
    }

    async fn remove(&self, id: &ConnectionId) -> Result<bool> {
        let now = self.clock.now_ms();
        let _serial = self.stripes.lock(id).await;
        let Some((old, _)) = self.read_record(id).await? else {
            return Ok(false);
        };
        // Record first: once it is gone, `get` and `renew` agree the connection is gone,
        // and a renew in another process can no longer write it back (its `If-Match`
        // fails). Then every room key of the id, not just the one we read: that renew may
        // have added a newer key before it lost, and it must not outlive the record.
        self.delete_object(&self.keys.record(id)).await?;
        for key in self.id_room_keys(&old.room, id).await? {
            self.delete_object(&key).await?;
        }
        // Without a server-side `If-Match`, a renew that verified its room key just before
        // we deleted it may have written the record after our first delete: delete it again,
        // now that no room key is left for such a renew to find (see `verified_write`).
        if !self.conditional_writes_honoured().await? {
            self.delete_object(&self.keys.record(id)).await?;
        }
        Ok(now < old.expires_at_ms)
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let now = self.clock.now_ms();
        Ok(self
            .read_record(id)
            .await?
            .filter(|(record, _)| now < record.expires_at_ms)
            .map(|(record, _)| Connection {
                id: id.clone(),
                room: record.room,
                endpoint: record.endpoint,
                metadata: record.metadata,
                expires_at_ms: record.expires_at_ms,
            }))
    }

    async fn list(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page> {
        check_page_size(limit)?;
        self.room_page(room, after, limit, self.clock.now_ms())
            .await
    }

    async fn count(&self, room: &RoomName) -> Result<u64> {
        let now = self.clock.now_ms();
        let mut count = 0u64;
        let mut after = None;
        loop {
            let page = self
                .room_page(room, after.as_ref(), MAX_PAGE_SIZE, now)
                .await?;
            count += page.members.len() as u64;
            match page.next {
                Some(token) => after = Some(token),
                None => return Ok(count),
            }
        }
    }

    async fn sweep(&self) -> Result<u64> {
        let now = self.clock.now_ms();
        let prefix = self.keys.all_rooms();
        let mut start: Option<String> = None;
        let mut swept = 0u64;
        loop {
            let page = self
                .list_keys(&prefix, start.as_deref(), MAX_PAGE_SIZE)
                .await?;
            for key in &page.keys {
                let Some(entry) = self.keys.parse_room_entry(key) else {
                    continue;
                };
                if now < entry.expires_at_ms {
                    continue;
                }
                let _serial = self.stripes.lock(&entry.id).await;
                match self.read_record(&entry.id).await? {
                    // The record this expired key belongs to: delete both.
                    Some((record, _)) if self.keys.room_entry(&record.entry(&entry.id)) == *key => {
                        self.delete_object(&self.keys.record(&entry.id)).await?;
                        self.delete_object(key).await?;
                        swept += 1;
                    }
                    // A stale key (the record moved on, or is gone): delete just the key.
                    _ => self.delete_object(key).await?,
                }
            }
            if !page.truncated {
                return Ok(swept);
            }
            start = page.keys.last().cloned();
        }
    }
}
