//! [`SqliteStore`]: the contract on one SQLite table: one writing connection, and for a
//! file, [`READERS`] read-only ones (WAL).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection as SqliteConnection, OpenFlags, OptionalExtension, params};
use store_core::{
    Connection, ConnectionId, ConnectionStore, Endpoint, Lease, Metadata, Page, PageToken,
    Registration, Result, RoomMember, RoomName, SharedClock, StoreError, check_page_size,
    ttl_millis,
};

use super::config::SqliteConfig;
use super::error::parse_error;
use super::schema::{drop_table, migrate};
use super::writes::{Write, WriteQueue, Writer, Written, submit};
use crate::ident::TableName;

/// Rows `sweep` deletes per statement, so one sweep never holds the write lock for long.
const SWEEP_BATCH: i64 = 500;

/// How long a writer waits for another process's lock before answering `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read-only connections of a database file, beside the one writer: in WAL mode readers
/// never wait for the writer nor for each other, so the room walks of broadcasts run on
/// as many cores while registrations go on.
const READERS: usize = 4;

/// The SQL text of every call, built once for the table.
#[derive(Debug)]
pub(super) struct Queries {
    pub(super) upsert: String,
    pub(super) renew: String,
    pub(super) remove: String,
    get: String,
    list: String,
    count: String,
    sweep: String,
}

impl Queries {
    pub(super) fn new(t: &TableName) -> Self {
        Queries {
            upsert: format!(
                "INSERT INTO {t} (id, room, endpoint, metadata, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET room = excluded.room, endpoint = excluded.endpoint,
                 metadata = excluded.metadata, expires_at = excluded.expires_at"
            ),
            renew: format!("UPDATE {t} SET expires_at = ?1 WHERE id = ?2 AND expires_at > ?3"),
            remove: format!("DELETE FROM {t} WHERE id = ?1 RETURNING expires_at"),
            get: format!(
                "SELECT room, endpoint, metadata, expires_at FROM {t} WHERE id = ?1 AND expires_at > ?2"
            ),
            list: format!(
                "SELECT id, endpoint, expires_at FROM {t}
                 WHERE room = ?1 AND id > ?2 AND expires_at > ?3 ORDER BY id LIMIT ?4"
            ),
            count: format!("SELECT COUNT(*) FROM {t} WHERE room = ?1 AND expires_at > ?2"),
            sweep: format!(
                "DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE expires_at <= ?1 LIMIT ?2)"
            ),
        }
    }
}

/// What every clone shares.
#[derive(Debug)]
struct Shared {
    /// The one writing connection (and the reader of an in-memory database); only ever
    /// locked inside `spawn_blocking`, never across `.await`.
    conn: Mutex<SqliteConnection>,
    /// Read-only connections of a file (none in memory: a private in-memory database has
    /// one connection); locked as `conn` is.
    readers: Vec<Mutex<SqliteConnection>>,
    /// The reader the next read tries first (round robin).
    next_reader: AtomicUsize,
    /// The table, for `drop`.
    table: TableName,
    /// SQL text for the table.
    queries: Queries,
    /// Registers, renews and removes waiting for the writer (group commit).
    writes: WriteQueue,
}

impl Writer for Shared {
    fn connection(&self) -> MutexGuard<'_, SqliteConnection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn queries(&self) -> &Queries {
        &self.queries
    }

    fn queue(&self) -> &WriteQueue {
        &self.writes
    }
}

/// A [`ConnectionStore`] on SQLite. Cheap to clone; clones share the connection.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Connection, table and queries.
    shared: Arc<Shared>,
    /// Leases are computed from this clock.
    clock: SharedClock,
}

impl SqliteStore {
    /// Opens the database, creating the file and the table (migrations) as needed.
    pub async fn open(config: SqliteConfig) -> Result<Self> {
        let table = config.table_name()?;
        let (path, clock) = (config.path, config.clock);
        let migrate_table = table.clone();
        let opened = tokio::task::spawn_blocking(
            move || -> Result<(SqliteConnection, Vec<SqliteConnection>)> {
                let mut conn = match &path {
                    Some(path) => {
                        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                            std::fs::create_dir_all(dir).map_err(|e| {
                                StoreError::config(format!(
                                    "sqlite: cannot create {}: {e}",
                                    dir.display()
                                ))
                            })?;
                        }
                        SqliteConnection::open_with_flags(
                            path,
                            OpenFlags::SQLITE_OPEN_READ_WRITE
                                | OpenFlags::SQLITE_OPEN_CREATE
                                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                        )
                    }
                    None => SqliteConnection::open_in_memory(),
                }
                .map_err(parse_error)?;
                conn.busy_timeout(BUSY_TIMEOUT).map_err(parse_error)?;
                if path.is_some() {
                    // WAL lets readers in other processes proceed while we write.
                    conn.pragma_update(None, "journal_mode", "WAL")
                        .map_err(parse_error)?;
                    conn.pragma_update(None, "synchronous", "NORMAL")
                        .map_err(parse_error)?;
                }
                migrate(&mut conn, &migrate_table)?;
                // Opened after the writer set WAL and made the table.
                let readers = match &path {
                    Some(path) => (0..READERS)
                        .map(|_| open_reader(path))
                        .collect::<Result<Vec<_>>>()?,
                    None => Vec::new(),
                };
                Ok((conn, readers))
            },
        )
        .await
        .map_err(join_error)??;
        let (conn, readers) = opened;
        Ok(SqliteStore {
            shared: Arc::new(Shared {
                conn: Mutex::new(conn),
                readers: readers.into_iter().map(Mutex::new).collect(),
                next_reader: AtomicUsize::new(0),
                queries: Queries::new(&table),
                writes: WriteQueue::default(),
                table,
            }),
            clock,
        })
    }

    /// Drops this store's table (for tests and tools; the store is unusable afterwards).
    pub async fn drop_table(&self) -> Result<()> {
        self.blocking(|conn, shared| drop_table(conn, &shared.table))
            .await
    }

    /// Runs the read `f` with a reading connection where it costs least (as sled's reads;
    /// measured in `bench fanout`, one sender, 16 chat lines in flight): a read a broadcast
    /// waits on, handed to the blocking pool, wakes its caller behind every socket task the
    /// last broadcast woke, so each broadcast waits a full round of them.
    /// - `point`: a point read runs right here on a free reader (microseconds; a WAL reader
    ///   never waits on the writer); with none free, as a walk does.
    /// - a walk runs in place (`block_in_place`: the worker's other tasks move to another
    ///   thread meanwhile), on a free reader or the next in turn once free.
    ///
    /// A current-thread runtime (tests) runs nothing in place: there, reads go to the pool.
    /// An in-memory database has no readers: its reads go to the writer, on the pool.
    async fn reading<T, F>(&self, point: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection, &Shared) -> Result<T> + Send + 'static,
    {
        if self.shared.readers.is_empty() {
            return self.blocking(f).await;
        }
        let shared = self.shared.clone();
        if point && let Some(mut conn) = free_reader(&shared) {
            return f(&mut conn, &shared);
        }
        if tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread
        {
            return tokio::task::block_in_place(|| {
                let mut conn = some_reader(&shared);
                f(&mut conn, &shared)
            });
        }
        tokio::task::spawn_blocking(move || {
            let mut conn = some_reader(&shared);
            f(&mut conn, &shared)
        })
        .await
        .map_err(join_error)?
    }

    /// Runs `f` with the writing connection on a blocking thread.
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection, &Shared) -> Result<T> + Send + 'static,
    {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = shared
                .conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut conn, &shared)
        })
        .await
        .map_err(join_error)?
    }
}

/// A reader no one holds (the next in turn first), if any.
fn free_reader(shared: &Shared) -> Option<MutexGuard<'_, SqliteConnection>> {
    let readers = &shared.readers;
    let first = shared.next_reader.fetch_add(1, Ordering::Relaxed) % readers.len();
    (0..readers.len())
        .map(|i| &readers[(first + i) % readers.len()])
        .find_map(|reader| reader.try_lock().ok())
}

/// A free reader, else the next in turn once it is free.
fn some_reader(shared: &Shared) -> MutexGuard<'_, SqliteConnection> {
    free_reader(shared).unwrap_or_else(|| {
        let next = shared.next_reader.load(Ordering::Relaxed) % shared.readers.len();
        shared.readers[next]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    })
}

/// A read-only connection of the database file at `path` (WAL: it reads the last commit
/// without waiting for the writer).
fn open_reader(path: &std::path::Path) -> Result<SqliteConnection> {
    let conn = SqliteConnection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(parse_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(parse_error)?;
    Ok(conn)
}

fn join_error(err: tokio::task::JoinError) -> StoreError {
    StoreError::Backend {
        store: "sqlite",
        source: Box::new(err),
    }
}

/// Epoch ms as SQLite's signed 64-bit integer (saturating: leases end long before 2^63).
fn to_sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn corrupt(detail: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        store: "sqlite",
        source: format!("unexpected row in the connections table: {detail}").into(),
    }
}

#[async_trait]
impl ConnectionStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn register(&self, id: &ConnectionId, registration: &Registration) -> Result<Lease> {
        let ttl = ttl_millis(registration.ttl)?;
        let expires_at_ms = self.clock.now_ms().saturating_add(ttl);
        let metadata = serde_json::to_string(&registration.metadata).map_err(corrupt)?;
        let (id, room, endpoint) = (
            id.as_str().to_owned(),
            registration.room.as_str().to_owned(),
            registration.endpoint.as_str().to_owned(),
        );
        let write = Write::Upsert {
            id,
            room,
            endpoint,
            metadata,
            expires_at: to_sql_ms(expires_at_ms),
        };
        submit(self.shared.clone(), write).await?;
        Ok(Lease { expires_at_ms })
    }

    async fn renew(&self, id: &ConnectionId, ttl: Duration) -> Result<Lease> {
        let ttl = ttl_millis(ttl)?;
        let now = self.clock.now_ms();
        let expires_at_ms = now.saturating_add(ttl);
        let write = Write::Renew {
            id: id.as_str().to_owned(),
            expires_at: to_sql_ms(expires_at_ms),
            now: to_sql_ms(now),
        };
        match submit(self.shared.clone(), write).await? {
            Written::Rows(0) => Err(StoreError::not_found(id.as_str())),
            _ => Ok(Lease { expires_at_ms }),
        }
    }

    async fn remove(&self, id: &ConnectionId) -> Result<bool> {
        let now = to_sql_ms(self.clock.now_ms());
        let write = Write::Remove {
            id: id.as_str().to_owned(),
        };
        Ok(match submit(self.shared.clone(), write).await? {
            Written::Removed(expires) => expires.is_some_and(|expires| now < expires),
            Written::Rows(_) => return Err(corrupt("a remove answered with a row count")),
        })
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let now = to_sql_ms(self.clock.now_ms());
        let id = id.clone();
        self.reading(true, move |conn, shared| {
            let row = conn
                .prepare_cached(&shared.queries.get)
                .and_then(|mut stmt| {
                    stmt.query_row(params![id.as_str(), now], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, i64>(3)?,
                        ))
                    })
                    .optional()
                })
                .map_err(parse_error)?;
            let Some((room, endpoint, metadata, expires)) = row else {
                return Ok(None);
            };
            Ok(Some(Connection {
                id,
                room: RoomName::new(room).map_err(corrupt)?,
                endpoint: Endpoint::new(endpoint).map_err(corrupt)?,
                metadata: serde_json::from_str::<Metadata>(&metadata).map_err(corrupt)?,
                expires_at_ms: expires as u64,
            }))
        })
        .await
    }

    async fn list(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page> {
        check_page_size(limit)?;
        self.page(room, after, limit).await
    }

    /// One statement on one blocking thread, instead of a hop and a query per page.
    async fn list_room(&self, room: &RoomName) -> Result<Vec<RoomMember>> {
        Ok(self.page(room, None, WHOLE_ROOM).await?.members)
    }

    async fn count(&self, room: &RoomName) -> Result<u64> {
        let now = to_sql_ms(self.clock.now_ms());
        let room = room.as_str().to_owned();
        self.reading(false, move |conn, shared| {
            let count: i64 = conn
                .prepare_cached(&shared.queries.count)
                .and_then(|mut stmt| stmt.query_row(params![room, now], |row| row.get(0)))
                .map_err(parse_error)?;
            Ok(count as u64)
        })
        .await
    }

    async fn sweep(&self) -> Result<u64> {
        let now = to_sql_ms(self.clock.now_ms());
        let mut swept = 0u64;
        // Each batch is its own blocking call: other calls get the connection in between.
        loop {
            let deleted = self
                .blocking(move |conn, shared| {
                    conn.prepare_cached(&shared.queries.sweep)
                        .and_then(|mut stmt| stmt.execute(params![now, SWEEP_BATCH]))
                        .map_err(parse_error)
                })
                .await?;
            swept += deleted as u64;
            if (deleted as i64) < SWEEP_BATCH {
                return Ok(swept);
            }
        }
    }
}

impl SqliteStore {
    /// Up to `limit` live members of `room` after `after`, in id order.
    async fn page(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page> {
        let now = to_sql_ms(self.clock.now_ms());
        let room = room.as_str().to_owned();
        // '' sorts before every valid id, so "after nothing" is the start of the room.
        let after = after.map(|t| t.as_str().to_owned()).unwrap_or_default();
        self.reading(false, move |conn, shared| {
            let mut stmt = conn
                .prepare_cached(&shared.queries.list)
                .map_err(parse_error)?;
            // One row more than asked tells whether another page follows.
            let mut rows = stmt
                .query(params![room, after, now, (limit + 1) as i64])
                .map_err(parse_error)?;
            let mut members: Vec<RoomMember> = Vec::with_capacity(limit.min(1024));
            let mut more = false;
            while let Some(row) = rows.next().map_err(parse_error)? {
                if members.len() == limit {
                    more = true;
                    break;
                }
                // Rows this store wrote from checked values: trusted; the endpoint is read
                // in place and shared by the members of one node.
                let id = row.get::<_, String>(0).map_err(parse_error)?;
                let endpoint = row
                    .get_ref(1)
                    .and_then(|v| Ok(v.as_str()?))
                    .map_err(parse_error)?;
                let previous = members.last().map(|m| &m.endpoint);
                let endpoint = Endpoint::trusted_reusing(previous, endpoint.as_bytes())
                    .ok_or_else(|| corrupt("endpoint is not UTF-8"))?;
                members.push(RoomMember {
                    id: ConnectionId::trusted(id),
                    endpoint,
                    expires_at_ms: row.get::<_, i64>(2).map_err(parse_error)? as u64,
                });
            }
            Page::keyset(members, more)
        })
        .await
    }
}

/// A limit no room reaches: `list_room` reads the room in one statement.
const WHOLE_ROOM: usize = (i64::MAX - 1) as usize;
