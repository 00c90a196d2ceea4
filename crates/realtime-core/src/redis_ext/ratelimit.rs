//! The shared rate limiter: a fixed window of `points` per `interval` per key, with an
//! optional ban (`block`) once a window is exhausted. One Lua script per `consume`, with
//! Redis `TIME` as the clock (ban and unban too), so every instance spends one budget.
//!
//! A key is a hash `{points, resetAt, bannedUntil}` (milliseconds of Redis time) that
//! expires `interval + block + 60 s` after its last use.

use std::sync::LazyLock;

use redis::{RedisResult, Script};

use super::RedisHandle;

/// Limits of one limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub points: u64,
    pub interval_ms: u64,
    /// Ban length once the window is exhausted; 0 for none.
    pub block_ms: u64,
}

/// The answer to one `consume`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub remaining: u64,
    /// Milliseconds until the window refills (or the ban ends).
    pub reset_ms: u64,
}

const CONSUME: &str = r#"
local max = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local block = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'points', 'resetAt', 'bannedUntil')
local points = tonumber(h[1])
local resetAt = tonumber(h[2])
local banned = tonumber(h[3]) or 0
if banned > now then
  return {0, 0, banned - now}
end
if points == nil or resetAt == nil or resetAt <= now then
  points = max
  resetAt = now + interval
end
local ttl = interval + block + 60000
if points >= cost then
  points = points - cost
  redis.call('HSET', KEYS[1], 'points', points, 'resetAt', resetAt, 'bannedUntil', 0)
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {1, points, resetAt - now}
end
if block > 0 then
  redis.call('HSET', KEYS[1], 'points', 0, 'resetAt', resetAt, 'bannedUntil', now + block)
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {0, 0, block}
end
redis.call('HSET', KEYS[1], 'points', points, 'resetAt', resetAt, 'bannedUntil', 0)
redis.call('PEXPIRE', KEYS[1], ttl)
return {0, math.max(0, points), resetAt - now}
"#;

const BAN: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local duration = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'bannedUntil', now + duration)
local ttl = redis.call('PTTL', KEYS[1])
if ttl < duration + 60000 then
  redis.call('PEXPIRE', KEYS[1], duration + 60000)
end
return now + duration
"#;

static CONSUME_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CONSUME));
static BAN_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(BAN));

/// Spends `cost` points of `key`'s window.
pub async fn consume(
    handle: &RedisHandle,
    key: &str,
    limits: Limits,
    cost: u64,
) -> RedisResult<Decision> {
    let (allowed, remaining, reset_ms): (u8, i64, i64) = CONSUME_SCRIPT
        .key(key)
        .arg(limits.points)
        .arg(limits.interval_ms)
        .arg(limits.block_ms)
        .arg(cost)
        .invoke_async(&mut handle.conn().await?)
        .await?;
    Ok(Decision {
        allowed: allowed == 1,
        remaining: remaining.max(0) as u64,
        reset_ms: reset_ms.max(0) as u64,
    })
}

/// Bans `key` for `duration_ms` from now (Redis time).
pub async fn ban(handle: &RedisHandle, key: &str, duration_ms: u64) -> RedisResult<()> {
    let _: i64 = BAN_SCRIPT
        .key(key)
        .arg(duration_ms)
        .invoke_async(&mut handle.conn().await?)
        .await?;
    Ok(())
}

/// Lifts a ban; the window's points stay as they are.
pub async fn unban(handle: &RedisHandle, key: &str) -> RedisResult<()> {
    redis::cmd("HDEL")
        .arg(key)
        .arg("bannedUntil")
        .query_async::<i64>(&mut handle.conn().await?)
        .await?;
    Ok(())
}

/// Forgets `key`: a full window and no ban.
pub async fn reset(handle: &RedisHandle, key: &str) -> RedisResult<()> {
    redis::cmd("DEL")
        .arg(key)
        .query_async::<i64>(&mut handle.conn().await?)
        .await?;
    Ok(())
}
