//! The Lua scripts behind every write and every page: each runs atomically on the one
//! server (or Cluster shard) that owns its keys, which all share one hash slot — the
//! record's (`{id}`) or the room's (`{room}`), never both (see the crate docs).
//!
//! Numbers cross as decimal strings: an expiry in epoch ms is below 2^53, so Lua's
//! doubles hold it exactly, and replies stay strings (Redis would truncate a Lua number).

use std::sync::LazyLock;

use redis::Script;

/// KEYS: record. ARGV: room, endpoint, metadata JSON, expiry, record key ttl (ms).
/// Writes the whole record; answers the room it was in before (nil when new).
pub(crate) static WRITE_RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = redis.call('HGET', KEYS[1], 'r')
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'e', ARGV[2], 'm', ARGV[3], 'x', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return old
",
    )
});

/// KEYS: record. ARGV: now, new expiry, record key ttl (ms).
/// Extends a live record; answers {room, endpoint}, or nil when absent or expired (a
/// late heartbeat never revives).
pub(crate) static RENEW_RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HMGET', KEYS[1], 'r', 'e', 'x')
if not cur[3] or tonumber(cur[3]) <= tonumber(ARGV[1]) then return nil end
redis.call('HSET', KEYS[1], 'x', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {cur[1], cur[2]}
",
    )
});

/// KEYS: record. Deletes it; answers {room, expiry}, or nil when there was none.
pub(crate) static DELETE_RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HMGET', KEYS[1], 'r', 'x')
if not cur[1] then return nil end
redis.call('DEL', KEYS[1])
return cur
",
    )
});

/// KEYS: record. ARGV: now, room. A sweep's look at the record of an expired entry of
/// that room: deletes it when it expired there and answers 1; answers 0 when it is live
/// there (a renew between its two scripts: the entry is about to follow, keep it); 2 when
/// it is absent or in another room (the entry is a leftover).
pub(crate) static DELETE_RECORD_IF_EXPIRED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HMGET', KEYS[1], 'r', 'x')
if cur[1] ~= ARGV[2] or not cur[2] then return 2 end
if tonumber(cur[2]) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
    )
});

/// KEYS: ids, endpoints, expiries of one room. ARGV: id, now.
/// Deletes the id's entry if it is still expired (a renew since leaves it); answers 1
/// when deleted.
pub(crate) static UNINDEX_IF_EXPIRED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local expiry = redis.call('ZSCORE', KEYS[3], ARGV[1])
if not expiry or tonumber(expiry) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
",
    )
});

/// KEYS: ids, endpoints, expiries of one room. ARGV: id, expiry, endpoint.
/// Adds or replaces the id's entry.
pub(crate) static INDEX: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
",
    )
});

/// KEYS: ids, endpoints, expiries of one room. ARGV: id, expiry, endpoint.
/// Updates the id's entry only when it is still there: a remove that ran between a
/// renew's two steps deleted it, and the renew must not bring it back.
pub(crate) static REINDEX: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
",
    )
});

/// KEYS: ids, endpoints, expiries of one room. ARGV: id. Deletes the id's entry.
pub(crate) static UNINDEX: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
",
    )
});

/// KEYS: ids, endpoints, expiries of one room. ARGV: after ('' from the start), limit,
/// now, budget.
///
/// One page: ids in byte order (`ZRANGE … BYLEX` compares with memcmp) above `after`,
/// live ones only (their expiry scores read with one `ZMSCORE` per batch, compared as
/// numbers), at most `limit`, reading at most `budget` ids so that a room of expired
/// entries never holds the server (one thread for every client) for long. The endpoints
/// of the live ones come with one `HMGET`. Answers a flat array:
/// `status, resume, id, expiry, endpoint, id, expiry, endpoint, …` where status is `end`
/// (the room ended) or `more`, and `resume` the id the next page starts after: the last
/// member when the page is full, the last id read when the budget ran out first.
pub(crate) static PAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local min = '-'
if ARGV[1] ~= '' then min = '(' .. ARGV[1] end
local limit, now, budget = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local live, expiries = {}, {}
local status, resume = 'end', ''
local read, last_read = 0, ''
while true do
  -- One more than still fits tells whether more follow; at least 64, so that a run of
  -- expired entries after a full page is not read one call at a time.
  local want = math.max(limit - #live + 1, 64)
  if want > budget - read then want = budget - read end
  if want <= 0 then
    status, resume = 'more', last_read
    break
  end
  local ids = redis.call('ZRANGE', KEYS[1], min, '+', 'BYLEX', 'LIMIT', 0, want)
  if #ids == 0 then break end
  local scores = redis.call('ZMSCORE', KEYS[3], unpack(ids))
  local full = false
  for i = 1, #ids do
    read = read + 1
    last_read = ids[i]
    local score = scores[i]
    if score and now < tonumber(score) then
      if #live == limit then
        status, resume, full = 'more', live[#live], true
        break
      end
      live[#live + 1] = ids[i]
      expiries[#expiries + 1] = score
    end
  end
  if full or #ids < want then break end
  min = '(' .. ids[#ids]
end
local out = {status, resume}
if #live > 0 then
  local endpoints = redis.call('HMGET', KEYS[2], unpack(live))
  for i = 1, #live do
    -- Written together with the expiry by one script: never missing, but a member
    -- without one could not be pushed to anyway.
    if endpoints[i] then
      out[#out + 1] = live[i]
      out[#out + 1] = expiries[i]
      out[#out + 1] = endpoints[i]
    end
  end
end
return out
",
    )
});

/// KEYS: ids, endpoints, expiries of one room. ARGV: now, offset, count.
/// Up to `count` ids whose entries expired by `now`, in expiry order, skipping the first
/// `offset` (entries a sweep kept: their records are live).
pub(crate) static EXPIRED_ENTRIES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
return redis.call('ZRANGE', KEYS[3], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', ARGV[2], ARGV[3])
",
    )
});
