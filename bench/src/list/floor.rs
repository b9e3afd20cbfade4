//! The floor of a room walk: the same listing done with the backend's raw client and no
//! store logic (no parsing, validation, dedupe, paging tokens or retries), to show what the
//! store adds on top of what the backend itself costs.
//!
//! | backend | floor |
//! |---|---|
//! | sled | one `scan_prefix` over the room's index range, reading each entry's expiry to keep the live ones (as the SQL floors' `WHERE` does) |
//! | sqlite | one `SELECT id, endpoint, expires_at … WHERE room = ? AND expires_at > ? ORDER BY id` on rusqlite |
//! | postgres, mysql | the same `SELECT`, one statement on a native sqlx pool (PostgreSQL's with the store's `expires_at + 0`, which keeps the expiry index out of its plan) |
//! | s3, oss | `ListObjectsV2` (OSS: `ListObjects`) pages of 1,000 over the room prefix, keys only |
//! | dynamodb | `Query` pages (up to 1 MB each) of the room's partition, strongly consistent, the id, endpoint and expiry of the live entries (the same projection and lease filter as the store, no decoding) |
//! | redis | pages of 1,000: `ZRANGE … BYLEX LIMIT` of the room's ids, then `ZMSCORE` of their expiries and `HMGET` of their endpoints (three plain commands per page, no script, no filtering) |

use async_trait::async_trait;
use store_core::{Result, RoomName};

/// What one floor walk read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloorWalk {
    /// Rows, entries or keys returned by the backend.
    pub rows: u64,
    /// Bytes of those rows (keys and values as returned).
    pub bytes: u64,
    /// Requests or statements sent to a server (0 for an embedded store).
    pub requests: u64,
}

/// One backend's floor.
#[async_trait]
pub trait Floor: Send + Sync {
    /// Walks `room` once, the raw way; `now_ms` is the store clock (for SQL's live filter).
    async fn walk(&self, room: &RoomName, now_ms: u64) -> Result<FloorWalk>;
}

#[cfg(feature = "dynamodb")]
pub use dynamodb_floor::DynamoFloor;
#[cfg(feature = "sled")]
pub use embedded::SledFloor;
#[cfg(feature = "sqlite")]
pub use embedded::SqliteFloor;
#[cfg(any(feature = "s3", feature = "oss"))]
pub use object::ObjectFloor;
#[cfg(feature = "redis")]
pub use redis_floor::RedisFloor;
#[cfg(feature = "mysql")]
pub use server::MySqlFloor;
#[cfg(feature = "postgres")]
pub use server::PostgresFloor;

#[cfg(feature = "dynamodb")]
mod dynamodb_floor {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};

    use super::*;

    /// Raw `Query` pages of the room's partition with the SDK (the store's layout: the
    /// partition key `pk` is `r#<room>`).
    #[derive(Debug)]
    pub struct DynamoFloor {
        /// A client on the store's server.
        pub client: aws_sdk_dynamodb::Client,
        /// The store's table.
        pub table: String,
    }

    impl DynamoFloor {
        /// One eventually consistent `Scan` of the whole table, as AWS's WebSocket chat
        /// sample does on every message: the read units the server reported.
        pub async fn scan_read_units(&self) -> Result<f64> {
            let mut units = 0.0;
            let mut start = None;
            loop {
                let page = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(store_dynamodb::map_dynamodb_error)?;
                units += page
                    .consumed_capacity()
                    .and_then(|c| c.capacity_units())
                    .unwrap_or(0.0);
                match page.last_evaluated_key {
                    Some(key) => start = Some(key),
                    None => return Ok(units),
                }
            }
        }
    }

    #[async_trait]
    impl Floor for DynamoFloor {
        async fn walk(&self, room: &RoomName, now_ms: u64) -> Result<FloorWalk> {
            let mut walk = FloorWalk::default();
            let mut start = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .consistent_read(true)
                    .key_condition_expression("pk = :p")
                    .filter_expression("x > :now")
                    .projection_expression("sk, e, x")
                    .expression_attribute_values(":p", AttributeValue::S(format!("r#{room}")))
                    .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(store_dynamodb::map_dynamodb_error)?;
                walk.requests += 1;
                walk.rows += page.items().len() as u64;
                walk.bytes += page.items().iter().map(item_bytes).sum::<u64>();
                match page.last_evaluated_key {
                    Some(key) => start = Some(key),
                    None => return Ok(walk),
                }
            }
        }
    }

    /// The size of what a page returned, by DynamoDB's rule for item sizes: each
    /// attribute's name plus its value (a string's UTF-8 bytes; a number's significant
    /// digits, two per byte, plus one).
    fn item_bytes(item: &HashMap<String, AttributeValue>) -> u64 {
        item.iter()
            .map(|(name, value)| {
                let value = match value {
                    AttributeValue::S(text) => text.len(),
                    AttributeValue::N(number) => {
                        let digits = number.trim_start_matches(['-', '0']).replace('.', "");
                        digits.trim_end_matches('0').len().div_ceil(2) + 1
                    }
                    _ => 0,
                };
                (name.len() + value) as u64
            })
            .sum()
    }
}

#[cfg(feature = "redis")]
mod redis_floor {
    use super::*;
    use store_core::StoreError;

    /// The keys of a room's index, by room (the store's layout).
    pub type RoomKeysOf = Box<dyn Fn(&RoomName) -> [String; 3] + Send + Sync>;

    /// Raw pages of the room's index through a connection of the store's own client.
    pub struct RedisFloor<C> {
        /// The same server or Cluster.
        pub connection: C,
        /// The room's ids (sorted set), endpoints (hash) and expiries (sorted set) keys.
        pub keys: RoomKeysOf,
    }

    impl<C> std::fmt::Debug for RedisFloor<C> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisFloor").finish_non_exhaustive()
        }
    }

    #[async_trait]
    impl<C> Floor for RedisFloor<C>
    where
        C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
    {
        async fn walk(&self, room: &RoomName, _now_ms: u64) -> Result<FloorWalk> {
            let [ids_key, endpoints_key, expiries_key] = (self.keys)(room);
            let mut connection = self.connection.clone();
            let failed = |e: redis::RedisError| StoreError::Backend {
                store: "redis",
                source: Box::new(e),
            };
            let mut walk = FloorWalk::default();
            let mut min = "-".to_owned();
            loop {
                let ids: Vec<String> = redis::cmd("ZRANGE")
                    .arg(&ids_key)
                    .arg(&min)
                    .arg("+")
                    .arg("BYLEX")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(1000)
                    .query_async(&mut connection)
                    .await
                    .map_err(failed)?;
                walk.requests += 1;
                let Some(last) = ids.last() else {
                    return Ok(walk);
                };
                let expiries: Vec<Option<f64>> = redis::cmd("ZMSCORE")
                    .arg(&expiries_key)
                    .arg(&ids)
                    .query_async(&mut connection)
                    .await
                    .map_err(failed)?;
                let values: Vec<Option<String>> = redis::cmd("HMGET")
                    .arg(&endpoints_key)
                    .arg(&ids)
                    .query_async(&mut connection)
                    .await
                    .map_err(failed)?;
                walk.requests += 2;
                walk.rows += ids.len() as u64;
                walk.bytes += ids.iter().map(|id| id.len() as u64).sum::<u64>()
                    + 8 * expiries.iter().flatten().count() as u64
                    + values.iter().flatten().map(|v| v.len() as u64).sum::<u64>();
                if ids.len() < 1000 {
                    return Ok(walk);
                }
                min = format!("({last}");
            }
        }
    }
}

#[cfg(any(feature = "sled", feature = "sqlite"))]
mod embedded {
    use super::*;
    use store_core::StoreError;

    fn blocking_failed(e: tokio::task::JoinError) -> StoreError {
        StoreError::Backend {
            store: "bench",
            source: Box::new(e),
        }
    }

    /// A bare prefix scan of the store's `rooms` tree.
    #[cfg(feature = "sled")]
    #[derive(Debug)]
    pub struct SledFloor {
        /// The `<namespace>/rooms` tree the store writes.
        pub rooms: sled::Tree,
    }

    #[cfg(feature = "sled")]
    #[async_trait]
    impl Floor for SledFloor {
        async fn walk(&self, room: &RoomName, now_ms: u64) -> Result<FloorWalk> {
            let (rooms, prefix) = (self.rooms.clone(), format!("{room}/"));
            tokio::task::spawn_blocking(move || {
                let mut walk = FloorWalk::default();
                for entry in rooms.scan_prefix(prefix.as_bytes()) {
                    let (key, value) = entry.map_err(|e| StoreError::Backend {
                        store: "sled",
                        source: Box::new(e),
                    })?;
                    // The lease filter the SQL floors put in their `WHERE`: a value starts
                    // with its expiry (big-endian ms). Reading it is what every listing
                    // must do; a floor that only counted lengths never touched the values.
                    let live = value
                        .get(..8)
                        .and_then(|head| head.try_into().ok())
                        .is_some_and(|head| now_ms < u64::from_be_bytes(head));
                    if live {
                        walk.rows += 1;
                        walk.bytes += (key.len() + value.len()) as u64;
                    }
                }
                Ok(walk)
            })
            .await
            .map_err(blocking_failed)?
        }
    }

    /// One `SELECT` on its own rusqlite connection to the store's file.
    #[cfg(feature = "sqlite")]
    #[derive(Debug)]
    pub struct SqliteFloor {
        /// A connection of the floor's own; behind a mutex because walks run on blocking
        /// threads one at a time.
        pub connection: std::sync::Arc<std::sync::Mutex<rusqlite::Connection>>,
        /// The store's table.
        pub table: String,
    }

    #[cfg(feature = "sqlite")]
    #[async_trait]
    impl Floor for SqliteFloor {
        async fn walk(&self, room: &RoomName, now_ms: u64) -> Result<FloorWalk> {
            let connection = self.connection.clone();
            let sql = format!(
                "SELECT id, endpoint, expires_at FROM {} \
                 WHERE room = ?1 AND expires_at > ?2 ORDER BY id",
                self.table
            );
            let room = room.to_string();
            tokio::task::spawn_blocking(move || {
                let sqlite = |e: rusqlite::Error| StoreError::Backend {
                    store: "sqlite",
                    source: Box::new(e),
                };
                let connection = connection.lock().expect("poisoned");
                let mut statement = connection.prepare_cached(&sql).map_err(sqlite)?;
                let mut rows = statement
                    .query(rusqlite::params![room, now_ms as i64])
                    .map_err(sqlite)?;
                let mut walk = FloorWalk {
                    requests: 0,
                    ..FloorWalk::default()
                };
                while let Some(row) = rows.next().map_err(sqlite)? {
                    let id: String = row.get(0).map_err(sqlite)?;
                    let endpoint: String = row.get(1).map_err(sqlite)?;
                    walk.rows += 1;
                    walk.bytes += (id.len() + endpoint.len() + 8) as u64;
                }
                Ok(walk)
            })
            .await
            .map_err(blocking_failed)?
        }
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod server {
    use super::*;
    use store_core::StoreError;

    fn sql_error(store: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
        move |e| StoreError::Backend {
            store,
            source: Box::new(e),
        }
    }

    fn tally(rows: &[(String, String, i64)]) -> FloorWalk {
        FloorWalk {
            rows: rows.len() as u64,
            bytes: rows
                .iter()
                .map(|(id, endpoint, _)| (id.len() + endpoint.len() + 8) as u64)
                .sum(),
            requests: 1,
        }
    }

    /// One `SELECT` on a native `PgPool`.
    #[cfg(feature = "postgres")]
    #[derive(Debug)]
    pub struct PostgresFloor {
        /// The floor's own pool.
        pub pool: sqlx::PgPool,
        /// The store's table (schema-qualified if it has one).
        pub table: String,
    }

    #[cfg(feature = "postgres")]
    #[async_trait]
    impl Floor for PostgresFloor {
        async fn walk(&self, room: &RoomName, now_ms: u64) -> Result<FloorWalk> {
            // `expires_at + 0`, as the store writes it: the natural `expires_at > $2`
            // gets the expiry index in PostgreSQL's generic plan (a sixth run on) when the
            // table holds few rooms, which scans every room (`store-sql`'s dialect docs).
            // The floor is the best bare query, not that trap.
            let sql = format!(
                "SELECT id, endpoint, expires_at FROM {} \
                 WHERE room = $1 AND expires_at + 0 > $2 ORDER BY id",
                self.table
            );
            let rows: Vec<(String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(room.as_str())
                .bind(now_ms as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(sql_error("postgres"))?;
            Ok(tally(&rows))
        }
    }

    /// One `SELECT` on a native `MySqlPool`.
    #[cfg(feature = "mysql")]
    #[derive(Debug)]
    pub struct MySqlFloor {
        /// The floor's own pool.
        pub pool: sqlx::MySqlPool,
        /// The store's table.
        pub table: String,
    }

    #[cfg(feature = "mysql")]
    #[async_trait]
    impl Floor for MySqlFloor {
        async fn walk(&self, room: &RoomName, now_ms: u64) -> Result<FloorWalk> {
            let sql = format!(
                "SELECT id, endpoint, expires_at FROM {} \
                 WHERE room = ? AND expires_at > ? ORDER BY id",
                self.table
            );
            let rows: Vec<(String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(room.as_str())
                .bind(now_ms as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(sql_error("mysql"))?;
            Ok(tally(&rows))
        }
    }
}

#[cfg(any(feature = "s3", feature = "oss"))]
mod object {
    use std::sync::Arc;

    use super::*;
    use store_object::ObjectClient;

    /// List pages of 1,000 over the room's key prefix with the backend's client (one SDK
    /// list call per page, keys only).
    #[derive(Debug)]
    pub struct ObjectFloor {
        /// A client of the floor's own (same endpoint and credentials as the store).
        pub client: Arc<dyn ObjectClient>,
        /// The store's full key prefix (ends in `/`).
        pub prefix: String,
    }

    #[async_trait]
    impl Floor for ObjectFloor {
        async fn walk(&self, room: &RoomName, _now_ms: u64) -> Result<FloorWalk> {
            // The documented layout: room keys live under `<prefix>r/<room>/`.
            let prefix = format!("{}r/{room}/", self.prefix);
            let mut walk = FloorWalk::default();
            let mut start: Option<String> = None;
            loop {
                let page = self.client.list(&prefix, start.as_deref(), 1000).await?;
                walk.requests += 1;
                walk.rows += page.keys.len() as u64;
                walk.bytes += page.keys.iter().map(|k| k.len() as u64).sum::<u64>();
                if !page.truncated {
                    return Ok(walk);
                }
                start = page.keys.last().cloned();
            }
        }
    }
}
