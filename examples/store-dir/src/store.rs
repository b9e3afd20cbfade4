//! [`DirStore`]: the contract on top of the files.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use store_core::{
    Connection, ConnectionId, ConnectionStore, Lease, Page, PageToken, Registration, Result,
    RoomMember, RoomName, SharedClock, StoreError, async_trait, check_page_size, ttl_millis,
};

use crate::config::DirConfig;
use crate::error::{BACKEND, map_io_error};
use crate::files::{
    Paths, Record, delete, read_entry, read_record, sorted_names, write_entry, write_record,
};

/// The store. Cheap to clone; clones share the write lock.
#[derive(Debug, Clone)]
pub struct DirStore {
    /// The two directories.
    paths: Paths,
    /// Decides liveness: the contract wants the store's clock, never the filesystem's
    /// modification times.
    clock: SharedClock,
    /// Serialises writes in this process, which makes each method atomic per id (two
    /// writers of one id would otherwise interleave their two files). Held only inside a
    /// blocking closure, never across an `.await`.
    writes: Arc<Mutex<()>>,
}

impl DirStore {
    /// Opens (creating when missing) the store `config` names, on its clock.
    pub async fn open(config: DirConfig) -> Result<Self> {
        let base = config.base();
        let paths = blocking(move || Paths::create(&base)).await?;
        Ok(DirStore {
            paths,
            clock: config.clock,
            writes: Arc::new(Mutex::new(())),
        })
    }

    /// Runs `work` on the blocking pool (file I/O must not stall the async runtime),
    /// holding the write lock when `exclusive`.
    async fn run<T, F>(&self, exclusive: bool, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Paths) -> Result<T> + Send + 'static,
    {
        let (paths, writes) = (self.paths.clone(), self.writes.clone());
        blocking(move || {
            // A panic while holding the lock left no half-written file (writes are
            // renames), so a poisoned lock is still safe to take.
            let _guard = exclusive.then(|| writes.lock().unwrap_or_else(|p| p.into_inner()));
            work(&paths)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Backend {
            store: BACKEND,
            source: Box::new(e),
        })?
}

#[async_trait]
impl ConnectionStore for DirStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn register(&self, id: &ConnectionId, registration: &Registration) -> Result<Lease> {
        // Validate before touching storage, like every backend.
        let expires_at_ms = self.clock.now_ms() + ttl_millis(registration.ttl)?;
        let (id, record) = (
            id.clone(),
            Record {
                room: registration.room.clone(),
                endpoint: registration.endpoint.clone(),
                metadata: registration.metadata.clone(),
                expires_at_ms,
            },
        );
        self.run(true, move |paths| {
            // A register moves the id: its entry in the old room goes.
            if let Some(old) = read_record(&paths.record(&id))?
                && old.room != record.room
            {
                delete(&paths.room(&old.room).join(id.as_str()))?;
            }
            write_entry(
                &paths.room(&record.room),
                &id,
                expires_at_ms,
                &record.endpoint,
            )?;
            write_record(&paths.record(&id), &record)
        })
        .await?;
        Ok(Lease { expires_at_ms })
    }

    async fn renew(&self, id: &ConnectionId, ttl: Duration) -> Result<Lease> {
        let ttl = ttl_millis(ttl)?;
        let (id, clock) = (id.clone(), self.clock.clone());
        self.run(true, move |paths| {
            let now = clock.now_ms();
            let Some(mut record) =
                read_record(&paths.record(&id))?.filter(|r| now < r.expires_at_ms)
            else {
                // Expired is as good as gone: never revived by a late heartbeat.
                return Err(StoreError::not_found(id.as_str()));
            };
            record.expires_at_ms = now + ttl;
            write_entry(
                &paths.room(&record.room),
                &id,
                record.expires_at_ms,
                &record.endpoint,
            )?;
            write_record(&paths.record(&id), &record)?;
            Ok(Lease {
                expires_at_ms: record.expires_at_ms,
            })
        })
        .await
    }

    async fn remove(&self, id: &ConnectionId) -> Result<bool> {
        let (id, now) = (id.clone(), self.clock.now_ms());
        self.run(true, move |paths| {
            let Some(record) = read_record(&paths.record(&id))? else {
                return Ok(false);
            };
            // The record first: from here on the id is gone for `get` and `renew`.
            delete(&paths.record(&id))?;
            delete(&paths.room(&record.room).join(id.as_str()))?;
            Ok(now < record.expires_at_ms)
        })
        .await
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let (id, now) = (id.clone(), self.clock.now_ms());
        self.run(false, move |paths| {
            Ok(read_record(&paths.record(&id))?
                .filter(|r| now < r.expires_at_ms)
                .map(|r| Connection {
                    id,
                    room: r.room,
                    endpoint: r.endpoint,
                    metadata: r.metadata,
                    expires_at_ms: r.expires_at_ms,
                }))
        })
        .await
    }

    async fn list(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page> {
        check_page_size(limit)?;
        let (room, now) = (room.clone(), self.clock.now_ms());
        let after = after.map(|token| token.last_id().as_str().to_owned());
        self.run(false, move |paths| {
            let dir = paths.room(&room);
            let names = sorted_names(&dir)?;
            // Keyset pagination: only ids above the token, in byte order (`sorted_names`).
            let start = after.map_or(0, |after| names.partition_point(|n| *n <= after));
            let mut members = Vec::new();
            for name in &names[start..] {
                // Filtering happens after reading: expired entries are skipped here.
                let Some((expires_at_ms, endpoint)) = read_entry(&dir.join(name))? else {
                    continue; // removed since the directory was read
                };
                if now >= expires_at_ms {
                    continue;
                }
                if members.len() == limit {
                    // The page is full and at least this live member follows: the next
                    // page resumes after the last member returned.
                    return Page::keyset(members, true);
                }
                members.push(RoomMember {
                    id: ConnectionId::trusted(name.clone()),
                    endpoint,
                    expires_at_ms,
                });
            }
            Ok(Page::last(members))
        })
        .await
    }

    async fn count(&self, room: &RoomName) -> Result<u64> {
        let (room, now) = (room.clone(), self.clock.now_ms());
        self.run(false, move |paths| {
            let dir = paths.room(&room);
            let mut live = 0;
            for name in sorted_names(&dir)? {
                if read_entry(&dir.join(&name))?.is_some_and(|(expires, _)| now < expires) {
                    live += 1;
                }
            }
            Ok(live)
        })
        .await
    }

    async fn sweep(&self) -> Result<u64> {
        let now = self.clock.now_ms();
        self.run(true, move |paths| {
            let mut swept = 0;
            for name in sorted_names(paths.conns())? {
                let id = ConnectionId::trusted(name);
                let path = paths.record(&id);
                if let Some(record) = read_record(&path)?.filter(|r| now >= r.expires_at_ms) {
                    delete(&paths.room(&record.room).join(id.as_str()))?;
                    delete(&path)?;
                    swept += 1;
                }
            }
            // Entries left by a crash between a remove's two deletes: expired ones go too.
            for room in sorted_names(paths.rooms())? {
                let dir = paths.rooms().join(&room);
                for name in sorted_names(&dir)? {
                    let entry = dir.join(&name);
                    if read_entry(&entry)?.is_some_and(|(expires, _)| now >= expires) {
                        delete(&entry)?;
                    }
                }
                // An emptied room's directory goes as well; a register racing this is
                // held off by the write lock.
                if sorted_names(&dir)?.is_empty() {
                    std::fs::remove_dir(&dir).map_err(map_io_error)?;
                }
            }
            Ok(swept)
        })
        .await
    }
}
