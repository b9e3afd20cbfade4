//! [`RedisStore`]: the contract on top of the keys and scripts.

use std::sync::Arc;
use std::time::Duration;

use redis::{FromRedisValue, Script};
use store_core::{
    Connection, ConnectionId, ConnectionStore, Endpoint, IdLocks, Lease, Metadata, Page, PageToken,
    Registration, Result, RoomMember, RoomName, SharedClock, StoreError, async_trait,
    check_page_size, ttl_millis,
};

use crate::config::RedisConfig;
use crate::connection::Connection as Redis;
use crate::error::{BACKEND, map_redis_error, timed_out, unexpected};
use crate::keys::{Keys, RoomKeys};
use crate::scripts::{
    DELETE_RECORD, DELETE_RECORD_IF_EXPIRED, EXPIRED_ENTRIES, INDEX, PAGE, REINDEX, RENEW_RECORD,
    UNINDEX, UNINDEX_IF_EXPIRED, WRITE_RECORD,
};

/// How long a record key outlives its lease before Redis deletes it by itself: garbage
/// collection for a record whose room entry a crash lost, never a liveness decision
/// (Redis's clock is not the store's).
const RECORD_GRACE_MS: u64 = 3_600_000;
/// Ids one page script reads at most, so that a room full of expired entries never holds
/// the server (one thread for everybody) for long; the page then comes back short.
const PAGE_READ_BUDGET: usize = 4_000;
/// Expired entries one sweep script reads at most, for the same reason.
const SWEEP_BATCH: usize = 500;

/// The connection store on Redis, standalone or Cluster.
#[derive(Clone)]
pub struct RedisStore {
    /// The server or Cluster (cheap to clone per call).
    redis: Redis,
    /// Key names under the configured prefix.
    keys: Keys,
    /// Decides liveness: leases are compared with this clock, never Redis's.
    clock: SharedClock,
    /// The most one call may take before it answers `Unavailable`: redis-rs bounds each
    /// request, but a command queued behind a reconnect could otherwise wait longer.
    bound: Duration,
    /// Serialises the calls on one id within this process: a register, renew or remove
    /// touches the record's slot and then a room's, and two of them interleaving could
    /// leave the id listed in a room it left. An async mutex, held across those requests.
    stripes: IdLocks,
    /// For `Debug` and reports: the config without secrets.
    config: Arc<RedisConfig>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects as `config` says, on its clock.
    pub async fn open(config: RedisConfig) -> Result<Self> {
        config.validate()?;
        let redis = Redis::open(&config).await?;
        Ok(RedisStore {
            redis,
            keys: Keys::new(&config.prefix),
            clock: config.clock.clone(),
            bound: config.response_timeout * 3,
            stripes: IdLocks::default(),
            config: Arc::new(config),
        })
    }

    /// Whether this store talks to a Cluster.
    pub fn is_cluster(&self) -> bool {
        self.config.cluster
    }

    /// Deletes every key of this store (its prefix): each room in the room set, the
    /// records of the ids those rooms hold, then the set. For tests and benchmarks that
    /// leave nothing behind; a record no room lists (a crash leftover) is left to its own
    /// key expiry.
    pub async fn destroy(&self) -> Result<()> {
        let mut cursor: u64 = 0;
        // Bounded by the room set, as in `sweep`.
        loop {
            let (next, rooms) = self.rooms_page(cursor).await?;
            for room in rooms {
                let keys = self.keys.room(&room);
                let ids: Vec<String> = self
                    .query(redis::cmd("ZRANGE").arg(&keys.ids).arg(0).arg(-1))
                    .await?;
                // One key per DEL: on a Cluster the records live in many slots.
                for id in ids {
                    let id = ConnectionId::new(id).map_err(|_| unexpected("an id in a room"))?;
                    self.query::<i64>(redis::cmd("DEL").arg(self.keys.record(&id)))
                        .await?;
                }
                for key in [&keys.ids, &keys.endpoints, &keys.expiries] {
                    self.query::<i64>(redis::cmd("DEL").arg(key)).await?;
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        self.query::<i64>(redis::cmd("DEL").arg(self.keys.rooms()))
            .await?;
        Ok(())
    }

    /// The three keys of `room`'s index, for a raw reader (the benchmark's floor).
    pub fn room_keys(&self, room: &RoomName) -> [String; 3] {
        let keys = self.keys.room(room);
        [keys.ids, keys.endpoints, keys.expiries]
    }

    /// A handle on the same server or Cluster, for a raw reader (the benchmark's floor).
    pub fn raw_connection(
        &self,
    ) -> impl redis::aio::ConnectionLike + Clone + Send + Sync + 'static {
        self.redis.clone()
    }

    /// Runs `script` on the node owning `keys` (one slot), within the call bound.
    async fn eval<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let mut redis = self.redis.clone();
        tokio::time::timeout(self.bound, invocation.invoke_async(&mut redis))
            .await
            .map_err(|_| timed_out("a Redis script", self.bound))?
            .map_err(map_redis_error)
    }

    /// Runs one command within the call bound.
    async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> Result<T> {
        let mut redis = self.redis.clone();
        tokio::time::timeout(self.bound, command.query_async(&mut redis))
            .await
            .map_err(|_| timed_out("a Redis command", self.bound))?
            .map_err(map_redis_error)
    }

    async fn index(
        &self,
        room: &RoomKeys,
        id: &ConnectionId,
        expiry: &str,
        endpoint: &str,
    ) -> Result<()> {
        let keys = [room.ids.as_str(), &room.endpoints, &room.expiries];
        self.eval::<i64>(&INDEX, &keys, &[id.as_str(), expiry, endpoint])
            .await
            .map(drop)
    }

    async fn unindex(&self, room: &RoomKeys, id: &ConnectionId) -> Result<()> {
        let keys = [room.ids.as_str(), &room.endpoints, &room.expiries];
        self.eval::<i64>(&UNINDEX, &keys, &[id.as_str()])
            .await
            .map(drop)
    }

    /// One `SSCAN` step over the room set: the next cursor (0 when the scan is over) and
    /// the rooms of this step.
    async fn rooms_page(&self, cursor: u64) -> Result<(u64, Vec<RoomName>)> {
        let (next, names): (u64, Vec<String>) = self
            .query(
                redis::cmd("SSCAN")
                    .arg(self.keys.rooms())
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(100),
            )
            .await?;
        let rooms = names
            .into_iter()
            .map(|name| RoomName::new(name).map_err(|_| unexpected("a room in the room set")))
            .collect::<Result<_>>()?;
        Ok((next, rooms))
    }

    /// Sweeps one room: each expired entry's record decides first — deleted when it
    /// expired in this room, kept with its entry when it is live (a renew between its two
    /// scripts: the entry is about to follow) — then the entry goes if it is still
    /// expired. Answers how many connections went, and forgets the room once it is empty.
    async fn sweep_room(&self, name: &RoomName, now: u64) -> Result<u64> {
        let room = name.as_str();
        let keys = self.keys.room(name);
        let room_keys = [keys.ids.as_str(), &keys.endpoints, &keys.expiries];
        let now_text = now.to_string();
        let (mut swept, mut kept) = (0, 0usize);
        // Each round deletes or keeps every entry it reads, and the kept ones are skipped
        // by the next: bounded by the room's size.
        loop {
            let ids: Vec<String> = self
                .eval(
                    &EXPIRED_ENTRIES,
                    &room_keys,
                    &[&now_text, &kept.to_string(), &SWEEP_BATCH.to_string()],
                )
                .await?;
            for id in &ids {
                let id =
                    ConnectionId::new(id.as_str()).map_err(|_| unexpected("an id in a room"))?;
                let record = self.keys.record(&id);
                let state: i64 = self
                    .eval(&DELETE_RECORD_IF_EXPIRED, &[&record], &[&now_text, room])
                    .await?;
                if state == 0 {
                    kept += 1;
                    continue;
                }
                let unindexed: i64 = self
                    .eval(&UNINDEX_IF_EXPIRED, &room_keys, &[id.as_str(), &now_text])
                    .await?;
                if state == 1 || unindexed == 1 {
                    swept += 1;
                }
            }
            if ids.len() < SWEEP_BATCH {
                self.forget_room(name, &keys).await?;
                return Ok(swept);
            }
        }
    }

    /// Takes an empty room out of the room set. A register that indexed the room
    /// meanwhile is seen by the second look (it adds the room to the set after indexing),
    /// and the room goes back.
    async fn forget_room(&self, room: &RoomName, keys: &RoomKeys) -> Result<()> {
        let rooms = self.keys.rooms();
        self.query::<i64>(redis::cmd("SREM").arg(&rooms).arg(room.as_str()))
            .await?;
        let left: u64 = self.query(redis::cmd("ZCARD").arg(&keys.ids)).await?;
        if left > 0 {
            self.query::<i64>(redis::cmd("SADD").arg(&rooms).arg(room.as_str()))
                .await?;
        }
        Ok(())
    }
}

/// Splits a page script's reply into members and the next token.
fn decode_page(reply: Vec<String>) -> Result<Page> {
    let mut parts = reply.into_iter();
    let (Some(status), Some(resume)) = (parts.next(), parts.next()) else {
        return Err(unexpected("a page without its status"));
    };
    let mut members: Vec<RoomMember> = Vec::with_capacity(parts.len() / 3);
    loop {
        let (id, expiry, endpoint) = match (parts.next(), parts.next(), parts.next()) {
            (None, _, _) => break,
            (Some(id), Some(expiry), Some(endpoint)) => (id, expiry, endpoint),
            _ => return Err(unexpected("a page whose members are not triples")),
        };
        let expires_at_ms = expiry.parse().map_err(|_| unexpected("an expiry"))?;
        // Written by this store from checked values: trusted, and one endpoint text is
        // shared by the members of one node.
        let previous = members.last().map(|m| &m.endpoint);
        let endpoint = Endpoint::trusted_reusing(previous, endpoint.as_bytes())
            .ok_or_else(|| unexpected("an endpoint"))?;
        members.push(RoomMember {
            id: ConnectionId::trusted(id),
            endpoint,
            expires_at_ms,
        });
    }
    match status.as_str() {
        "end" => Ok(Page::last(members)),
        "more" => Ok(Page::resume_after(members, ConnectionId::trusted(resume))),
        _ => Err(unexpected("a page status")),
    }
}

#[async_trait]
impl ConnectionStore for RedisStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn register(&self, id: &ConnectionId, registration: &Registration) -> Result<Lease> {
        let ttl = ttl_millis(registration.ttl)?;
        let metadata =
            serde_json::to_string(&registration.metadata).map_err(|e| StoreError::Backend {
                store: BACKEND,
                source: Box::new(e),
            })?;
        let _serial = self.stripes.lock(id).await;
        let expires_at_ms = self.clock.now_ms() + ttl;
        let (expiry, record_ttl) = (
            expires_at_ms.to_string(),
            (ttl + RECORD_GRACE_MS).to_string(),
        );
        let room = registration.room.as_str();
        let endpoint = registration.endpoint.as_str();
        // 1. The record (the truth for `get`, `renew`, `remove`); it says where the id was.
        let old: Option<String> = self
            .eval(
                &WRITE_RECORD,
                &[&self.keys.record(id)],
                &[room, endpoint, &metadata, &expiry, &record_ttl],
            )
            .await?;
        // 2. The room's entry, then the room set (after: see `forget_room`).
        self.index(&self.keys.room(&registration.room), id, &expiry, endpoint)
            .await?;
        self.query::<i64>(redis::cmd("SADD").arg(self.keys.rooms()).arg(room))
            .await?;
        // 3. A move: the old room's entry goes.
        if let Some(old) = old.filter(|old| old != room) {
            let old = RoomName::new(old).map_err(|_| unexpected("a room in a record"))?;
            self.unindex(&self.keys.room(&old), id).await?;
        }
        Ok(Lease { expires_at_ms })
    }

    async fn renew(&self, id: &ConnectionId, ttl: Duration) -> Result<Lease> {
        let ttl = ttl_millis(ttl)?;
        let _serial = self.stripes.lock(id).await;
        let now = self.clock.now_ms();
        let expires_at_ms = now + ttl;
        let (now_text, expiry) = (now.to_string(), expires_at_ms.to_string());
        let record_ttl = (ttl + RECORD_GRACE_MS).to_string();
        let renewed: Option<(String, String)> = self
            .eval(
                &RENEW_RECORD,
                &[&self.keys.record(id)],
                &[&now_text, &expiry, &record_ttl],
            )
            .await?;
        let Some((room, endpoint)) = renewed else {
            return Err(StoreError::not_found(id.as_str()));
        };
        let room = RoomName::new(room).map_err(|_| unexpected("a room in a record"))?;
        let keys = self.keys.room(&room);
        let keys = [keys.ids.as_str(), &keys.endpoints, &keys.expiries];
        // Only an entry still there is updated: a remove from another process between the
        // two scripts deleted it, and stays done.
        self.eval::<i64>(&REINDEX, &keys, &[id.as_str(), &expiry, &endpoint])
            .await?;
        Ok(Lease { expires_at_ms })
    }

    async fn remove(&self, id: &ConnectionId) -> Result<bool> {
        let _serial = self.stripes.lock(id).await;
        let now = self.clock.now_ms();
        let removed: Option<Vec<Option<String>>> = self
            .eval(&DELETE_RECORD, &[&self.keys.record(id)], &[])
            .await?;
        let Some(removed) = removed else {
            return Ok(false);
        };
        let (Some(Some(room)), expiry) = (removed.first(), removed.get(1)) else {
            return Err(unexpected("a removed record without its room"));
        };
        let room = RoomName::new(room.as_str()).map_err(|_| unexpected("a room in a record"))?;
        self.unindex(&self.keys.room(&room), id).await?;
        let expires_at_ms: u64 = expiry
            .and_then(|e| e.as_deref())
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        Ok(now < expires_at_ms)
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let now = self.clock.now_ms();
        let fields: Vec<Option<String>> = self
            .query(
                redis::cmd("HMGET")
                    .arg(self.keys.record(id))
                    .arg("r")
                    .arg("e")
                    .arg("m")
                    .arg("x"),
            )
            .await?;
        let [Some(room), Some(endpoint), Some(metadata), Some(expiry)] =
            <[Option<String>; 4]>::try_from(fields).map_err(|_| unexpected("HMGET of 4 fields"))?
        else {
            return Ok(None);
        };
        let expires_at_ms: u64 = expiry.parse().map_err(|_| unexpected("an expiry"))?;
        if now >= expires_at_ms {
            return Ok(None);
        }
        let metadata: Metadata =
            serde_json::from_str(&metadata).map_err(|_| unexpected("a record's metadata"))?;
        Ok(Some(Connection {
            id: id.clone(),
            room: RoomName::trusted(room),
            endpoint: Endpoint::trusted(&endpoint),
            metadata,
            expires_at_ms,
        }))
    }

    async fn list(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page> {
        check_page_size(limit)?;
        let now = self.clock.now_ms().to_string();
        let keys = self.keys.room(room);
        let after = after.map_or("", |token| token.last_id().as_str());
        let budget = PAGE_READ_BUDGET.max(2 * limit).to_string();
        let reply: Vec<String> = self
            .eval(
                &PAGE,
                &[&keys.ids, &keys.endpoints, &keys.expiries],
                &[after, &limit.to_string(), &now, &budget],
            )
            .await?;
        decode_page(reply)
    }

    async fn count(&self, room: &RoomName) -> Result<u64> {
        let now = self.clock.now_ms();
        // Live means expiry > now: an exclusive lower bound, counted by the server.
        self.query(
            redis::cmd("ZCOUNT")
                .arg(self.keys.room(room).expiries)
                .arg(format!("({now}"))
                .arg("+inf"),
        )
        .await
    }

    async fn sweep(&self) -> Result<u64> {
        let now = self.clock.now_ms();
        let mut swept = 0;
        let mut cursor: u64 = 0;
        // SSCAN ends when the cursor comes back to 0: bounded by the room set.
        loop {
            let (next, rooms) = self.rooms_page(cursor).await?;
            for room in &rooms {
                swept += self.sweep_room(room, now).await?;
            }
            if next == 0 {
                return Ok(swept);
            }
            cursor = next;
        }
    }
}
