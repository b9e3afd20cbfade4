//! Group commit: the writes that arrive while the writer is busy go to SQLite together, in
//! one transaction.
//!
//! Every register, renew and remove is a write on the one writing connection. Made one at a
//! time, each is a transaction of its own (a WAL commit: the pages it touched appended to
//! the log, the log's index updated) and a hop to the blocking pool and back. In a join
//! storm thousands of registers queue behind one another that way. Here the first write
//! starts a drain on the blocking pool; the writes that arrive meanwhile queue, and the
//! drain takes them [`MAX_BATCH`] at a time into one transaction: one commit and one hop
//! for the lot, while a lone write still costs what it did.
//!
//! The queue holds at most one write per caller awaiting its answer; callers are bounded by
//! the node (its connection caps, and the store deadline's cap on stuck calls).
//!
//! A write that fails in a batch fails no other: the batch is rolled back and its writes are
//! made again one by one, each answered with its own outcome.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection as SqliteConnection, OptionalExtension, TransactionBehavior, params};
use store_core::{Result, StoreError};
use tokio::sync::oneshot;

use super::error::parse_error;
use super::store::Queries;

/// Writes per transaction: enough to make a storm's commits rare, few enough that a batch
/// holds the write lock (and other processes' writers) for milliseconds, not seconds.
const MAX_BATCH: usize = 256;

/// One write, with everything its statement binds.
#[derive(Debug)]
pub(super) enum Write {
    /// Insert or replace a connection's row.
    Upsert {
        id: String,
        room: String,
        endpoint: String,
        metadata: String,
        expires_at: i64,
    },
    /// Move a live row's expiry.
    Renew {
        id: String,
        expires_at: i64,
        now: i64,
    },
    /// Delete a row.
    Remove { id: String },
}

/// What a write did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Written {
    /// Rows the statement changed (an upsert: 1; a renew: 0 when the lease had ended).
    Rows(usize),
    /// The expiry of the row a remove deleted, if there was one.
    Removed(Option<i64>),
}

/// A write and where its answer goes.
type Queued = (Write, oneshot::Sender<Result<Written>>);

/// The writes waiting for the writer.
#[derive(Debug, Default)]
pub(super) struct WriteQueue {
    /// Queued writes, and whether a drain is running (set and cleared under this lock, so
    /// no write is left queued with no drain to take it).
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    /// Writes in arrival order.
    writes: Vec<Queued>,
    /// A drain is running: a new write only queues.
    draining: bool,
}

/// The writing connection and the statements' text, as the drain needs them.
pub(super) trait Writer: Send + Sync + 'static {
    /// The writing connection (the drain holds it for one batch at a time, so other users
    /// of the writer, a sweep, get it in between).
    fn connection(&self) -> MutexGuard<'_, SqliteConnection>;
    /// The table's statements.
    fn queries(&self) -> &Queries;
    /// The queue the drain takes from.
    fn queue(&self) -> &WriteQueue;
}

/// Queues `write` and waits for its outcome; starts a drain if none is running.
pub(super) async fn submit<W: Writer>(writer: Arc<W>, write: Write) -> Result<Written> {
    let (answer, outcome) = oneshot::channel();
    let start = {
        let mut state = writer.queue().lock();
        state.writes.push((write, answer));
        !std::mem::replace(&mut state.draining, true)
    };
    if start {
        // Detached: the drain answers through each write's channel.
        drop(tokio::task::spawn_blocking(move || drain(&*writer)));
    }
    outcome.await.map_err(|_| StoreError::Backend {
        store: "sqlite",
        source: "the writer stopped before answering (the runtime is shutting down)".into(),
    })?
}

impl WriteQueue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Takes batches until the queue is empty.
fn drain<W: Writer>(writer: &W) {
    // Should a batch panic, the next write starts a new drain instead of waiting forever.
    let _running = Running(writer.queue());
    loop {
        let batch = {
            let mut state = writer.queue().lock();
            if state.writes.is_empty() {
                state.draining = false;
                return;
            }
            let take = state.writes.len().min(MAX_BATCH);
            state.writes.drain(..take).collect::<Vec<_>>()
        };
        let mut conn = writer.connection();
        commit(&mut conn, writer.queries(), batch);
    }
}

/// When a drain unwinds: fails the writes still queued (their callers get an error now,
/// not at their deadline) and clears `draining`, so the next write starts a new drain.
struct Running<'a>(&'a WriteQueue);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut state = self.0.lock();
            state.draining = false;
            // Dropping a write's sender answers its caller with an error.
            state.writes.clear();
        }
    }
}

/// Makes `batch` in one transaction, or, if any of it fails, each write on its own.
fn commit(conn: &mut SqliteConnection, queries: &Queries, batch: Vec<Queued>) {
    if batch.len() > 1 {
        let together = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .and_then(|tx| {
                let outcomes = batch
                    .iter()
                    .map(|(write, _)| apply(&tx, queries, write))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                tx.commit()?;
                Ok(outcomes)
            });
        // On an error the transaction was rolled back (dropped): nothing of it stands.
        match together {
            Ok(outcomes) => {
                for ((_, answer), outcome) in batch.into_iter().zip(outcomes) {
                    let _ = answer.send(Ok(outcome));
                }
                return;
            }
            // Another process holds the database past the busy timeout: made one by one,
            // each write would wait that long again. All are unavailable now.
            Err(err) if is_busy(&err) => {
                for (_, answer) in batch {
                    let _ = answer.send(Err(StoreError::Unavailable {
                        store: "sqlite",
                        source: format!("the database stayed locked: {err}").into(),
                    }));
                }
                return;
            }
            Err(_) => {}
        }
    }
    for (write, answer) in batch {
        // A caller that gave up has dropped its receiver; the write stands regardless.
        let _ = answer.send(apply(conn, queries, &write).map_err(parse_error));
    }
}

/// Another connection (another process) holds the lock SQLite needs.
fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Runs one write's statement.
fn apply(conn: &SqliteConnection, queries: &Queries, write: &Write) -> rusqlite::Result<Written> {
    match write {
        Write::Upsert {
            id,
            room,
            endpoint,
            metadata,
            expires_at,
        } => conn
            .prepare_cached(&queries.upsert)?
            .execute(params![id, room, endpoint, metadata, expires_at])
            .map(Written::Rows),
        Write::Renew {
            id,
            expires_at,
            now,
        } => conn
            .prepare_cached(&queries.renew)?
            .execute(params![expires_at, id, now])
            .map(Written::Rows),
        Write::Remove { id } => conn
            .prepare_cached(&queries.remove)?
            .query_row(params![id], |row| row.get(0))
            .optional()
            .map(Written::Removed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::TableName;
    use crate::sqlite::schema::migrate;

    /// A writer on an in-memory table, its statements as the store's.
    struct TestWriter {
        conn: Mutex<SqliteConnection>,
        queries: Queries,
        queue: WriteQueue,
    }

    impl Writer for TestWriter {
        fn connection(&self) -> MutexGuard<'_, SqliteConnection> {
            self.conn.lock().unwrap()
        }
        fn queries(&self) -> &Queries {
            &self.queries
        }
        fn queue(&self) -> &WriteQueue {
            &self.queue
        }
    }

    fn writer() -> TestWriter {
        let table = TableName::new("connections").unwrap();
        let mut conn = SqliteConnection::open_in_memory().unwrap();
        migrate(&mut conn, &table).unwrap();
        TestWriter {
            conn: Mutex::new(conn),
            queries: Queries::new(&table),
            queue: WriteQueue::default(),
        }
    }

    fn upsert(id: &str) -> Write {
        Write::Upsert {
            id: id.into(),
            room: "lobby".into(),
            endpoint: "http://node".into(),
            metadata: "{}".into(),
            expires_at: 1_000,
        }
    }

    fn rows(writer: &TestWriter) -> Vec<String> {
        let conn = writer.connection();
        let mut stmt = conn
            .prepare("SELECT id FROM connections ORDER BY id")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_write_that_fails_in_a_batch_fails_alone() {
        let mut writer = writer();
        // A plain insert: a second row with the same id breaks the primary key.
        writer.queries.upsert =
            "INSERT INTO connections (id, room, endpoint, metadata, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)"
                .into();
        let (batch, mut answers): (Vec<Queued>, Vec<_>) = ["a", "b", "a", "c"]
            .into_iter()
            .map(|id| {
                let (tx, rx) = oneshot::channel();
                ((upsert(id), tx), rx)
            })
            .unzip();
        commit(&mut writer.connection(), &writer.queries, batch);
        let outcomes: Vec<_> = answers
            .iter_mut()
            .map(|rx| rx.try_recv().expect("every write answered"))
            .collect();
        assert_eq!(outcomes[0].as_ref().unwrap(), &Written::Rows(1));
        assert_eq!(outcomes[1].as_ref().unwrap(), &Written::Rows(1));
        assert!(
            matches!(outcomes[2], Err(StoreError::Backend { .. })),
            "{:?}",
            outcomes[2]
        );
        assert_eq!(outcomes[3].as_ref().unwrap(), &Written::Rows(1));
        assert_eq!(rows(&writer), ["a", "b", "c"]);
    }

    #[test]
    fn a_batch_answers_each_write_with_its_own_outcome() {
        let writer = writer();
        let ops = vec![
            upsert("a"),
            Write::Renew {
                id: "a".into(),
                expires_at: 2_000,
                now: 500,
            },
            Write::Renew {
                id: "nobody".into(),
                expires_at: 2_000,
                now: 500,
            },
            Write::Remove { id: "a".into() },
            Write::Remove { id: "a".into() },
        ];
        let (batch, answers): (Vec<Queued>, Vec<_>) = ops
            .into_iter()
            .map(|write| {
                let (tx, rx) = oneshot::channel();
                ((write, tx), rx)
            })
            .unzip();
        commit(&mut writer.connection(), &writer.queries, batch);
        let outcomes: Vec<Written> = answers
            .into_iter()
            .map(|mut rx| rx.try_recv().unwrap().unwrap())
            .collect();
        assert_eq!(
            outcomes,
            [
                Written::Rows(1),
                Written::Rows(1),
                Written::Rows(0),
                Written::Removed(Some(2_000)),
                Written::Removed(None),
            ]
        );
    }

    #[test]
    fn a_batch_on_a_database_another_process_holds_is_unavailable_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let table = TableName::new("connections").unwrap();
        let mut conn = SqliteConnection::open(&path).unwrap();
        migrate(&mut conn, &table).unwrap();
        conn.busy_timeout(std::time::Duration::ZERO).unwrap();
        let queries = Queries::new(&table);
        // Another connection (as another process would) holds the write lock; this one
        // waits for no one, so the batch's BEGIN fails at once.
        let blocker = SqliteConnection::open(&path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (batch, answers): (Vec<Queued>, Vec<_>) = ["a", "b", "c"]
            .into_iter()
            .map(|id| {
                let (tx, rx) = oneshot::channel();
                ((upsert(id), tx), rx)
            })
            .unzip();
        commit(&mut conn, &queries, batch);
        for mut answer in answers {
            let outcome = answer.try_recv().expect("answered");
            assert!(
                matches!(outcome, Err(StoreError::Unavailable { .. })),
                "{outcome:?}"
            );
        }
        blocker.execute_batch("ROLLBACK").unwrap();
        let count: i64 = conn
            .query_row("SELECT COUNT(*) FROM connections", [], |row| row.get(0))
            .unwrap();
        assert_eq!(count, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_all_made_and_answered() {
        let writer = Arc::new(writer());
        let tasks: Vec<_> = (0..2_000)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move { submit(writer, upsert(&format!("c{i:04}"))).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), Written::Rows(1));
        }
        assert_eq!(rows(&writer).len(), 2_000);
        // The last drain ends (it may still be between its last answer and its last look
        // at the queue), and says so: the next write starts another.
        let started = std::time::Instant::now();
        while writer.queue.lock().draining {
            assert!(started.elapsed() < std::time::Duration::from_secs(10));
            tokio::task::yield_now().await;
        }
        let again = submit(writer.clone(), Write::Remove { id: "c0000".into() }).await;
        assert_eq!(again.unwrap(), Written::Removed(Some(1_000)));
    }
}
