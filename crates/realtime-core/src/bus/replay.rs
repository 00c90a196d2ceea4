//! Replay logs in Redis, shared by every instance on a bus: a client that reconnects to any
//! instance gets exactly the events it missed (`crate::replay` is the one-process log).
//!
//! Per topic three keys under the bus channel (`<channel>:replay:{seq,buf,meta}:<topic>`):
//! the last sequence, a sorted set of `{"seq","event","data"}` entries scored by sequence,
//! and a hash with the epoch and the log's size (the largest any stream asked for, so an
//! instance that only publishes trims the same way). Every publish on the bus runs one script ([`PUBLISH`]): if the topic has a
//! log (some instance serves a `replay` stream on it, or `force`), the script gives the
//! publish the next sequence, stores it, trims the log and publishes the message with the
//! sequence in its header, all atomically, so every instance sees sequences in order; without
//! a log it is a plain PUBLISH. One round trip per publish either way, the payload sent once.
//!
//! A log created again (keys expired or lost with a Redis restart) starts from Redis' clock
//! in microseconds and takes a new epoch, exactly as the in-memory log does, so clients see
//! a jump and refetch. Keys expire `TTL_SECONDS` after the topic's last publish or subscribe.

use std::sync::LazyLock;

use redis::aio::ConnectionManager;
use redis::{RedisResult, Script};

/// Keys live this long after the last publish or subscribe of their topic.
pub const TTL_SECONDS: u64 = 24 * 3600;

/// KEYS: seq, buf, meta, shared state (`bus::presence`). ARGV: channel, message header
/// before the sequence, event part (length and name), data, event as JSON, size, ttl, new
/// epoch, force (1: create the log), state op (`u` upsert, `d` delete, empty), the entry's
/// key as JSON, our instance, our alive key and its TTL in ms (refreshed with each entry, so
/// an entry is never older than its owner's heartbeat). The data travels once; the script builds the message, the log
/// entry and the state entry from it. Returns the sequence given (as text), or 0 for a plain
/// publish.
pub const PUBLISH: &str = r#"
if ARGV[10] == 'u' then
  local old = redis.call('HGET', KEYS[4], ARGV[11])
  local order = old and string.match(old, '^[^|]*|([^|]*)|')
  if not order then order = redis.call('HINCRBY', KEYS[4], '#', 1) end
  redis.call('HSET', KEYS[4], ARGV[11], ARGV[12] .. '|' .. order .. '|' .. ARGV[4])
  redis.call('EXPIRE', KEYS[4], ARGV[7])
  redis.call('SET', ARGV[13], 1, 'PX', ARGV[14])
elseif ARGV[10] == 'd' then
  redis.call('HDEL', KEYS[4], ARGV[11])
end
local has = redis.call('EXISTS', KEYS[1]) == 1
if not has and ARGV[9] ~= '1' then
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. '\0\0\0\0\0\0\0\0' .. ARGV[3] .. ARGV[4])
  return 0
end
local seq
local epoch = redis.call('HGET', KEYS[3], 'epoch')
if has and epoch then
  seq = redis.call('INCR', KEYS[1])
else
  local t = redis.call('TIME')
  seq = tonumber(t[1]) * 1000000 + tonumber(t[2]) + 1
  redis.call('SET', KEYS[1], string.format('%.0f', seq))
  redis.call('HSET', KEYS[3], 'epoch', ARGV[8])
  redis.call('DEL', KEYS[2])
end
local size = tonumber(redis.call('HGET', KEYS[3], 'size') or ARGV[6])
local text = string.format('%.0f', seq)
redis.call('ZADD', KEYS[2], text, '{"seq":' .. text .. ',"event":' .. ARGV[5] .. ',"data":' .. ARGV[4] .. '}')
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(size + 1))
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[7]) end
local bytes, n = '', seq
for _ = 1, 8 do
  bytes = string.char(n % 256) .. bytes
  n = math.floor(n / 256)
end
redis.call('PUBLISH', ARGV[1], ARGV[2] .. bytes .. ARGV[3] .. ARGV[4])
return text
"#;

/// KEYS: seq, buf, meta. ARGV: new epoch, ttl, size. Creates the log if missing, raises its
/// size to `size`; returns `{seq, epoch}` as text.
const POSITION: &str = r#"
local seq = redis.call('GET', KEYS[1])
local epoch = redis.call('HGET', KEYS[3], 'epoch')
if not seq or not epoch then
  if not seq then
    local t = redis.call('TIME')
    seq = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
    redis.call('SET', KEYS[1], seq)
  end
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[3], 'epoch', epoch)
end
local size = tonumber(redis.call('HGET', KEYS[3], 'size') or '0')
if tonumber(ARGV[3]) > size then redis.call('HSET', KEYS[3], 'size', ARGV[3]) end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return {seq, epoch}
"#;

/// KEYS: seq, buf, meta. ARGV: the client's epoch and sequence. Returns the entries after
/// it, or false when this log cannot answer (other epoch, future sequence, evicted gap).
const SINCE: &str = r#"
local cur = redis.call('GET', KEYS[1])
local epoch = redis.call('HGET', KEYS[3], 'epoch')
if not cur or epoch ~= ARGV[1] then return false end
local since = tonumber(ARGV[2])
cur = tonumber(cur)
if since > cur then return false end
if since == cur then return {} end
local first = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[2], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if #first == 0 or tonumber(first[2]) ~= since + 1 then return false end
return redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[2], '+inf')
"#;

/// KEYS: seq, buf, meta. ARGV: new epoch, ttl. Marks an outage: a publish of this topic
/// could not be sequenced (Redis was unreachable), so subscribers elsewhere may have missed
/// it. A new epoch makes reconnecting clients refetch, and the sequence jumps to Redis'
/// clock, so connected clients see a hole at the next event and refetch too.
const MARK: &str = r#"
local t = redis.call('TIME')
redis.call('SET', KEYS[1], string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2])), 'EX', ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[3], 'epoch', ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 1
"#;

static MARK_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(MARK));

/// See [`MARK`].
pub async fn mark_outage(conn: &mut ConnectionManager, keys: &[String; 3]) -> RedisResult<()> {
    let epoch = crate::replay::epoch_text(crate::replay::new_epoch());
    MARK_SCRIPT
        .key(&keys[0])
        .key(&keys[1])
        .key(&keys[2])
        .arg(epoch)
        .arg(TTL_SECONDS)
        .invoke_async::<i64>(conn)
        .await?;
    Ok(())
}

pub static PUBLISH_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(PUBLISH));
static POSITION_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(POSITION));
static SINCE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SINCE));

/// The three keys of `topic`'s log on bus channel `channel`.
pub fn keys(channel: &str, topic: &str) -> [String; 3] {
    ["seq", "buf", "meta"].map(|kind| format!("{channel}:replay:{kind}:{topic}"))
}

/// Where the shared log of `topic` stands, creating it: `(seq, epoch)`.
pub async fn position(
    conn: &mut ConnectionManager,
    keys: &[String; 3],
    size: usize,
) -> RedisResult<(u64, u64)> {
    let epoch = crate::replay::epoch_text(crate::replay::new_epoch());
    let (seq, epoch): (String, String) = POSITION_SCRIPT
        .key(&keys[0])
        .key(&keys[1])
        .key(&keys[2])
        .arg(epoch)
        .arg(TTL_SECONDS)
        .arg(size)
        .invoke_async(conn)
        .await?;
    let seq = seq.parse().unwrap_or(0);
    Ok((seq, crate::replay::parse_epoch(&epoch).unwrap_or(0)))
}

/// The entries after `seq` as a JSON array, or `None` when the client must refetch.
pub async fn since(
    conn: &mut ConnectionManager,
    keys: &[String; 3],
    epoch: u64,
    seq: u64,
) -> RedisResult<Option<String>> {
    let entries: Option<Vec<String>> = SINCE_SCRIPT
        .key(&keys[0])
        .key(&keys[1])
        .key(&keys[2])
        .arg(crate::replay::epoch_text(epoch))
        .arg(seq)
        .invoke_async(conn)
        .await?;
    Ok(entries.map(|entries| format!("[{}]", entries.join(","))))
}

/// An event name as JSON text.
pub fn event_json(event: &str) -> String {
    let mut out = String::with_capacity(event.len() + 2);
    crate::envelope::push_json_string(&mut out, event);
    out
}
