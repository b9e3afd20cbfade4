//! [`SledStore`]: the contract on three sled trees.

use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use store_core::{
    Connection, ConnectionId, ConnectionStore, Lease, Page, PageToken, Registration, Result,
    RoomMember, RoomName, SharedClock, StoreError, check_page_size, ttl_millis,
};

use crate::config::{SledConfig, check_namespace};
use crate::error::{parse_error, parse_transaction_error};
use crate::keys::{
    StoredRecord, decode_endpoint, decode_expiry, expiry_key, id_from_expiry_key, id_from_room_key,
    read_expiry, room_key, room_prefix, room_value,
};
use crate::walk_sizes::WalkSizes;

/// Where a read a broadcast waits on runs (see `SledStore::read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadOn {
    /// Right here on the worker: a point read, a few microseconds from sled's cache.
    Worker,
    /// On the blocking pool: the walk of a room last seen small.
    Pool,
    /// In place (`block_in_place`) on a multi-thread runtime, else on the pool: the walk of
    /// a large room, or of one never walked (it may be of any size).
    InPlace,
}

/// The largest room (members at its last walk) whose walk goes to the blocking pool rather
/// than in place (see `SledStore::read`).
const SMALL_ROOM: usize = 1_000;

/// The three trees of one namespace.
#[derive(Debug, Clone)]
struct Trees {
    /// id → record.
    records: sled::Tree,
    /// room/id → expiry ‖ endpoint.
    rooms: sled::Tree,
    /// expiry ‖ id → ().
    expiry: sled::Tree,
}

/// A [`ConnectionStore`] on sled. Cheap to clone; clones share the database.
#[derive(Debug, Clone)]
pub struct SledStore {
    /// The open trees; sled handles are reference-counted, so clones are cheap.
    trees: Trees,
    /// Kept so the database stays open as long as any store uses it.
    _db: sled::Db,
    /// Leases are computed from this clock.
    clock: SharedClock,
    /// Each room's last walk size: a broadcast's walk allocates its result once.
    walk_sizes: Arc<WalkSizes>,
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<StoreError>>;

impl SledStore {
    /// Opens (or creates) the database at `config.path` (or uses the one
    /// [`with_db`](SledConfig::with_db) gave), creating the namespace's trees if needed.
    pub async fn open(config: SledConfig) -> Result<Self> {
        // The field is public: a namespace set by hand is checked here too.
        check_namespace(&config.namespace)?;
        let db = match config.db {
            Some(db) => db,
            None => {
                let open = sled::Config::new()
                    .path(config.path.clone())
                    .cache_capacity(config.cache_bytes);
                run_blocking(move || open.open().map_err(parse_error)).await?
            }
        };
        let (db2, ns) = (db.clone(), config.namespace);
        let trees = run_blocking(move || {
            let open = |name: &str| db2.open_tree(format!("{ns}/{name}")).map_err(parse_error);
            Ok(Trees {
                records: open("records")?,
                rooms: open("rooms")?,
                expiry: open("expiry")?,
            })
        })
        .await?;
        Ok(SledStore {
            trees,
            _db: db,
            clock: config.clock,
            walk_sizes: Arc::default(),
        })
    }

    /// Runs `f` on the trees on a blocking thread: sled calls may touch the disk.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Trees) -> Result<T> + Send + 'static,
    {
        let trees = self.trees.clone();
        run_blocking(move || f(&trees)).await
    }

    /// Runs a read a broadcast waits on, where it costs least; measured in `bench fanout`
    /// (one sender, 16 chat lines in flight, on 2 CPUs shared with the clients):
    /// - a point read (`get`) runs on the worker: it takes microseconds, less than any
    ///   hand-off. Through the pool, the chat line that made it waited to be woken behind
    ///   every socket task the previous line woke, so each socket wrote one frame per
    ///   flush: at 1,000 clients 102–173k deliveries/s through the pool, 392–446k here.
    /// - a small room's walk goes to the pool: while it runs there, this worker writes the
    ///   last line's frames to the room's few sockets. At 100 clients: 171–200k
    ///   deliveries/s (0.82–0.86× the floor) through the pool, 123–142k on the worker.
    /// - a large room's walk runs in place: its worker hands its other tasks to another
    ///   thread meanwhile, and the caller goes on at once instead of waiting behind
    ///   thousands of socket tasks (at 5,000 clients, 0.59–0.64× the floor's deliveries/s
    ///   through the pool, 0.78–0.84× in place).
    ///
    /// A current-thread runtime (tests) cannot run anything in place: there, `InPlace` goes
    /// to the pool.
    async fn read<T, F>(&self, on: ReadOn, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Trees) -> Result<T> + Send + 'static,
    {
        if on == ReadOn::Worker {
            return f(&self.trees);
        }
        if on == ReadOn::InPlace
            && tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::MultiThread
        {
            return tokio::task::block_in_place(|| f(&self.trees));
        }
        self.blocking(f).await
    }
}

async fn run_blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend {
            store: "sled",
            source: Box::new(e),
        })?
}

/// Deletes `id`'s index entries for `old` inside a transaction.
fn unindex(
    rooms: &TransactionalTree,
    expiry: &TransactionalTree,
    id: &ConnectionId,
    old: &StoredRecord,
) -> TxResult<()> {
    rooms.remove(room_key(&old.room, id))?;
    expiry.remove(expiry_key(old.expires_at_ms, id))?;
    Ok(())
}

/// Writes `record` and its index entries inside a transaction.
fn write_record(
    (records, rooms, expiry): (&TransactionalTree, &TransactionalTree, &TransactionalTree),
    id: &ConnectionId,
    record: &StoredRecord,
) -> TxResult<()> {
    let encoded = record
        .encode()
        .map_err(ConflictableTransactionError::Abort)?;
    records.insert(id.as_str().as_bytes(), encoded)?;
    rooms.insert(
        room_key(&record.room, id),
        room_value(record.expires_at_ms, &record.endpoint),
    )?;
    expiry.insert(expiry_key(record.expires_at_ms, id), &[])?;
    Ok(())
}

fn read_record(records: &TransactionalTree, id: &ConnectionId) -> TxResult<Option<StoredRecord>> {
    match records.get(id.as_str().as_bytes())? {
        Some(bytes) => Ok(Some(
            StoredRecord::decode(&bytes).map_err(ConflictableTransactionError::Abort)?,
        )),
        None => Ok(None),
    }
}

#[async_trait]
impl ConnectionStore for SledStore {
    fn backend(&self) -> &'static str {
        "sled"
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
        let id = id.clone();
        self.blocking(move |t| {
            (&t.records, &t.rooms, &t.expiry)
                .transaction(|(records, rooms, expiry)| {
                    if let Some(old) = read_record(records, &id)? {
                        unindex(rooms, expiry, &id, &old)?;
                    }
                    write_record((records, rooms, expiry), &id, &record)
                })
                .map_err(parse_transaction_error)
        })
        .await?;
        Ok(Lease { expires_at_ms })
    }

    async fn renew(&self, id: &ConnectionId, ttl: Duration) -> Result<Lease> {
        let ttl = ttl_millis(ttl)?;
        let now = self.clock.now_ms();
        let expires_at_ms = now.saturating_add(ttl);
        let id = id.clone();
        self.blocking(move |t| {
            (&t.records, &t.rooms, &t.expiry)
                .transaction(|(records, rooms, expiry)| {
                    let old = match read_record(records, &id)? {
                        Some(old) if now < old.expires_at_ms => old,
                        _ => {
                            return Err(ConflictableTransactionError::Abort(
                                StoreError::not_found(id.as_str()),
                            ));
                        }
                    };
                    unindex(rooms, expiry, &id, &old)?;
                    let renewed = StoredRecord {
                        expires_at_ms,
                        ..old
                    };
                    write_record((records, rooms, expiry), &id, &renewed)
                })
                .map_err(parse_transaction_error)
        })
        .await?;
        Ok(Lease { expires_at_ms })
    }

    async fn remove(&self, id: &ConnectionId) -> Result<bool> {
        let now = self.clock.now_ms();
        let id = id.clone();
        self.blocking(move |t| {
            (&t.records, &t.rooms, &t.expiry)
                .transaction(|(records, rooms, expiry)| {
                    let Some(old) = read_record(records, &id)? else {
                        return Ok(false);
                    };
                    unindex(rooms, expiry, &id, &old)?;
                    records.remove(id.as_str().as_bytes())?;
                    Ok(now < old.expires_at_ms)
                })
                .map_err(parse_transaction_error)
        })
        .await
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let now = self.clock.now_ms();
        let id = id.clone();
        // Every chat line reads its sender's record first (see `read`).
        self.read(ReadOn::Worker, move |t| {
            let Some(bytes) = t.records.get(id.as_str().as_bytes()).map_err(parse_error)? else {
                return Ok(None);
            };
            let record = StoredRecord::decode(&bytes)?;
            Ok((now < record.expires_at_ms).then_some(Connection {
                id,
                room: record.room,
                endpoint: record.endpoint,
                metadata: record.metadata,
                expires_at_ms: record.expires_at_ms,
            }))
        })
        .await
    }

    async fn list(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page> {
        check_page_size(limit)?;
        let now = self.clock.now_ms();
        let prefix = room_prefix(room);
        let start = match after {
            Some(token) => Bound::Excluded(room_key(room, token.last_id())),
            None => Bound::Included(prefix.clone()),
        };
        self.blocking(move |t| {
            let (members, more) = scan_room(&t.rooms, &prefix, start, now, limit, limit)?;
            Page::keyset(members, more)
        })
        .await
    }

    /// One scan, not pages: a walk in pages would make one store call (and one hand-off,
    /// see `read`) per page.
    async fn list_room(&self, room: &RoomName) -> Result<Vec<RoomMember>> {
        let now = self.clock.now_ms();
        let prefix = room_prefix(room);
        let (sizes, room) = (self.walk_sizes.clone(), room.clone());
        // A broadcast's walk (see `read`).
        let capacity = sizes.capacity(&room);
        let on = if capacity > 0 && capacity <= SMALL_ROOM {
            ReadOn::Pool
        } else {
            ReadOn::InPlace
        };
        self.read(on, move |t| {
            let start = Bound::Included(prefix.clone());
            let (members, _) = scan_room(&t.rooms, &prefix, start, now, usize::MAX, capacity)?;
            sizes.record(&room, members.len());
            Ok(members)
        })
        .await
    }

    async fn count(&self, room: &RoomName) -> Result<u64> {
        let now = self.clock.now_ms();
        let prefix = room_prefix(room);
        self.blocking(move |t| {
            let mut count = 0;
            for entry in t.rooms.scan_prefix(&prefix) {
                let (_, value) = entry.map_err(parse_error)?;
                if read_expiry(&value).is_some_and(|expires| now < expires) {
                    count += 1;
                }
            }
            Ok(count)
        })
        .await
    }

    async fn sweep(&self) -> Result<u64> {
        let now = self.clock.now_ms();
        self.blocking(move |t| {
            // Every expiry key below (now + 1) belongs to a record with expiry <= now.
            let end = now.saturating_add(1).to_be_bytes();
            let mut swept = 0;
            for entry in t.expiry.range(..end.as_slice()) {
                let (key, _) = entry.map_err(parse_error)?;
                let id = id_from_expiry_key(&key)?;
                let deleted = (&t.records, &t.rooms, &t.expiry)
                    .transaction(|(records, rooms, expiry)| {
                        // Re-check inside the transaction: a concurrent register may have
                        // replaced the record since the scan saw its old expiry key.
                        if expiry.get(&key)?.is_none() {
                            return Ok(false);
                        }
                        if let Some(old) = read_record(records, &id)? {
                            unindex(rooms, expiry, &id, &old)?;
                            records.remove(id.as_str().as_bytes())?;
                        } else {
                            expiry.remove(&key)?;
                        }
                        Ok(true)
                    })
                    .map_err(parse_transaction_error)?;
                swept += u64::from(deleted);
            }
            Ok(swept)
        })
        .await
    }
}

/// The live members of the room under `prefix` from `start` on, at most `limit`, and
/// whether more follow.
fn scan_room(
    rooms: &sled::Tree,
    prefix: &[u8],
    start: Bound<Vec<u8>>,
    now: u64,
    limit: usize,
    capacity: usize,
) -> Result<(Vec<RoomMember>, bool)> {
    let mut members: Vec<RoomMember> = Vec::with_capacity(capacity);
    for entry in rooms.range((start, Bound::Unbounded)) {
        // A match, not `map_err(..)?`: the latter moved every entry through a larger
        // `Result` first, which showed in the profile of a 100,000-member walk.
        let (key, value) = match entry {
            Ok(pair) => pair,
            Err(e) => return Err(parse_error(e)),
        };
        if !key.starts_with(prefix) {
            break;
        }
        // The expiry first: an expired entry (until a sweep, as many as a third of a
        // room's) is skipped without decoding its endpoint.
        let expires_at_ms = decode_expiry(&value)?;
        if now >= expires_at_ms {
            continue;
        }
        if members.len() == limit {
            return Ok((members, true));
        }
        let previous = members.last().map(|m| &m.endpoint);
        members.push(RoomMember {
            id: id_from_room_key(&key, prefix)?,
            endpoint: decode_endpoint(&value, previous)?,
            expires_at_ms,
        });
    }
    Ok((members, false))
}
