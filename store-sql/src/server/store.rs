//! [`SqlxStore`]: the contract on PostgreSQL or MySQL/MariaDB.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};
use store_core::{
    Connection, ConnectionId, ConnectionStore, Endpoint, Lease, Metadata, Page, PageToken,
    Registration, Result, RoomMember, RoomName, SharedClock, StoreError, check_page_size,
    ttl_millis,
};

use crate::ident::TableName;

use super::config::SqlxConfig;
use super::dialect::{Queries, qualified};
use super::error::parse_error;
use super::pool::{NativePool, on_pool};
use super::schema::{drop_table, migrate};

/// Rows one `sweep` statement deletes, so it never holds locks on a big table for long.
const SWEEP_BATCH: i64 = 1_000;

/// A [`ConnectionStore`] on a SQL server. Cheap to clone; clones share the pool.
#[derive(Debug, Clone)]
pub struct SqlxStore {
    /// The connection pool, in the server's own driver (bounded acquire timeout: calls
    /// never hang on a dead server).
    /// Its variant is the server (`NativePool::dialect`), for error names.
    pool: NativePool,
    /// SQL text for this table.
    queries: Arc<Queries>,
    /// The table's schema, for `drop_table`.
    schema: Option<TableName>,
    /// The table, for `drop_table`.
    table: TableName,
    /// Leases are computed from this clock, never the server's `now()`.
    clock: SharedClock,
}

impl SqlxStore {
    /// Connects, then creates or upgrades the table. A server that cannot be reached is
    /// `Unavailable` after at most the pool's acquire timeout.
    pub async fn open(config: SqlxConfig) -> Result<Self> {
        let table = config.table_name()?;
        let pool = NativePool::connect_lazy(&config)?;
        migrate(&pool, config.schema.as_ref(), &table).await?;
        let queries = Queries::new(
            config.dialect,
            &qualified(config.schema.as_ref(), &table),
            &format!("{table}_room"),
        );
        Ok(SqlxStore {
            pool,
            queries: Arc::new(queries),
            schema: config.schema,
            table,
            clock: config.clock,
        })
    }

    /// Drops this store's table (for tests and tools; the store is unusable afterwards).
    pub async fn drop_table(&self) -> Result<()> {
        drop_table(&self.pool, self.schema.as_ref(), &self.table).await
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn err(&self) -> impl Fn(sqlx::Error) -> StoreError + use<> {
        let store = self.backend();
        move |e| parse_error(store, e)
    }
}

/// Epoch ms as the servers' signed BIGINT (saturating: leases end long before 2^63).
fn to_sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn corrupt(store: &'static str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        store,
        source: format!("unexpected row in the connections table: {detail}").into(),
    }
}

#[async_trait]
impl ConnectionStore for SqlxStore {
    fn backend(&self) -> &'static str {
        self.pool.dialect().backend()
    }

    async fn register(&self, id: &ConnectionId, registration: &Registration) -> Result<Lease> {
        let ttl = ttl_millis(registration.ttl)?;
        let expires_at_ms = self.clock.now_ms().saturating_add(ttl);
        let metadata = serde_json::to_string(&registration.metadata)
            .map_err(|e| corrupt(self.backend(), e))?;
        on_pool!(&self.pool, pool => sqlx::query(AssertSqlSafe(self.queries.upsert.clone()))
            .bind(id.as_str())
            .bind(registration.room.as_str())
            .bind(registration.endpoint.as_str())
            .bind(metadata)
            .bind(to_sql_ms(expires_at_ms))
            .execute(pool)
            .await
            .map(drop))
        .map_err(self.err())?;
        Ok(Lease { expires_at_ms })
    }

    async fn renew(&self, id: &ConnectionId, ttl: Duration) -> Result<Lease> {
        let ttl = ttl_millis(ttl)?;
        let now = self.clock.now_ms();
        let expires_at_ms = now.saturating_add(ttl);
        // One conditional UPDATE: a renew racing a remove either lands before the delete
        // or matches no row. (MySQL reports matched rows, not changed rows, via sqlx's
        // FOUND_ROWS flag, so renewing to the same expiry still counts.)
        let renewed =
            on_pool!(&self.pool, pool => sqlx::query(AssertSqlSafe(self.queries.renew.clone()))
            .bind(to_sql_ms(expires_at_ms))
            .bind(id.as_str())
            .bind(to_sql_ms(now))
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
            .map_err(self.err())?;
        if renewed == 0 {
            return Err(StoreError::not_found(id.as_str()));
        }
        Ok(Lease { expires_at_ms })
    }

    async fn remove(&self, id: &ConnectionId) -> Result<bool> {
        let now = to_sql_ms(self.clock.now_ms());
        // Lock the row, read its expiry, delete it: "was it live" and the delete are one
        // atomic step (MySQL has no DELETE … RETURNING).
        let expires: Option<i64> = on_pool!(&self.pool, pool => async {
            let mut tx = pool.begin().await?;
            let expires: Option<i64> =
                sqlx::query_scalar(AssertSqlSafe(self.queries.lock_row.clone()))
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if expires.is_some() {
                sqlx::query(AssertSqlSafe(self.queries.delete.clone()))
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(expires)
        }
        .await)
        .map_err(self.err())?;
        Ok(expires.is_some_and(|expires| now < expires))
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let now = to_sql_ms(self.clock.now_ms());
        let row: Option<(String, String, String, i64)> = on_pool!(&self.pool, pool =>
            sqlx::query_as(AssertSqlSafe(self.queries.get.clone()))
                .bind(id.as_str())
                .bind(now)
                .fetch_optional(pool)
                .await)
        .map_err(self.err())?;
        let Some((room, endpoint, metadata, expires)) = row else {
            return Ok(None);
        };
        let bad = |e: StoreError| corrupt(self.backend(), e);
        Ok(Some(Connection {
            id: id.clone(),
            room: RoomName::new(room).map_err(bad)?,
            endpoint: Endpoint::new(endpoint).map_err(bad)?,
            metadata: serde_json::from_str::<Metadata>(&metadata)
                .map_err(|e| corrupt(self.backend(), e))?,
            expires_at_ms: expires as u64,
        }))
    }

    async fn list(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page> {
        check_page_size(limit)?;
        let now = to_sql_ms(self.clock.now_ms());
        // '' sorts before every valid id, so "after nothing" is the start of the room.
        let after = after.map(|t| t.as_str()).unwrap_or_default();
        let mut previous = None;
        // One row more than asked tells whether another page follows.
        let mut members = on_pool!(&self.pool, pool =>
            sqlx::query(AssertSqlSafe(self.queries.list.clone()))
                .bind(room.as_str())
                .bind(after)
                .bind(now)
                .bind((limit + 1) as i64)
                .try_map(|row| decode_member(&row, &mut previous))
                .fetch_all(pool)
                .await)
        .map_err(self.err())?;
        let more = members.len() > limit;
        members.truncate(limit);
        Page::keyset(members, more)
    }

    /// One statement for the whole room (the `SELECT` a page is, without its keyset bound
    /// and limit), decoded row by row as it arrives.
    async fn list_room(&self, room: &RoomName) -> Result<Vec<RoomMember>> {
        let now = to_sql_ms(self.clock.now_ms());
        let mut previous = None;
        on_pool!(&self.pool, pool =>
            sqlx::query(AssertSqlSafe(self.queries.room.clone()))
                .bind(room.as_str())
                .bind(now)
                .try_map(|row| decode_member(&row, &mut previous))
                .fetch_all(pool)
                .await)
        .map_err(self.err())
    }

    async fn count(&self, room: &RoomName) -> Result<u64> {
        let now = to_sql_ms(self.clock.now_ms());
        let count: i64 = on_pool!(&self.pool, pool =>
            sqlx::query_scalar(AssertSqlSafe(self.queries.count.clone()))
                .bind(room.as_str())
                .bind(now)
                .fetch_one(pool)
                .await)
        .map_err(self.err())?;
        Ok(count as u64)
    }

    async fn sweep(&self) -> Result<u64> {
        let now = to_sql_ms(self.clock.now_ms());
        let mut swept = 0u64;
        loop {
            let deleted = on_pool!(&self.pool, pool =>
                sqlx::query(AssertSqlSafe(self.queries.sweep.clone()))
                    .bind(now)
                    .bind(SWEEP_BATCH)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected()))
            .map_err(self.err())?;
            swept += deleted;
            if deleted < SWEEP_BATCH as u64 {
                return Ok(swept);
            }
        }
    }
}

/// One row of a room walk (`id, endpoint, expires_at`) as a member. The row is one this
/// store wrote from checked values, so it is trusted; the text is read in place, and a
/// member on the same node as the row before shares its endpoint (`previous`) instead of
/// copying it.
fn decode_member<R>(row: &R, previous: &mut Option<Endpoint>) -> sqlx::Result<RoomMember>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: &str = row.try_get(0)?;
    let text: &str = row.try_get(1)?;
    let expires: i64 = row.try_get(2)?;
    let endpoint = match previous {
        Some(shared) if shared.as_str() == text => shared.clone(),
        _ => {
            let endpoint = Endpoint::trusted(text);
            *previous = Some(endpoint.clone());
            endpoint
        }
    };
    Ok(RoomMember {
        id: ConnectionId::trusted(id.to_owned()),
        endpoint,
        expires_at_ms: expires as u64,
    })
}
