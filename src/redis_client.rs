//! `NativeRedis`: the Redis helpers of `svelte-realtime/redis` (rate limits, plain commands)
//! as a JavaScript class. Every method returns a promise; the work runs on the addon's
//! background runtime (`lib.rs`), never on Node's thread, and a dead Redis only makes the
//! promises reject with its connection error.

use std::sync::Arc;

use napi::Either;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use realtime_core::redis_ext::{self, RedisHandle, ratelimit};
use serde_json::Value as Json;

fn to_napi(error: redis::RedisError) -> napi::Error {
    napi::Error::from_reason(format!("Redis: {error}"))
}

/// A Redis reply as JSON: bulk strings as text (lossy for binary), maps as objects.
fn to_json(value: redis::Value) -> Json {
    use redis::Value as V;
    match value {
        V::Nil => Json::Null,
        V::Int(n) => Json::from(n),
        V::BulkString(bytes) => Json::String(String::from_utf8_lossy(&bytes).into_owned()),
        V::SimpleString(s) => Json::String(s),
        V::Okay => Json::String("OK".into()),
        V::Array(items) | V::Set(items) => Json::Array(items.into_iter().map(to_json).collect()),
        V::Map(pairs) => {
            let mut object = serde_json::Map::new();
            for (key, value) in pairs {
                let key = match to_json(key) {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                object.insert(key, to_json(value));
            }
            Json::Object(object)
        }
        V::Double(d) => serde_json::Number::from_f64(d).map_or(Json::Null, Json::Number),
        V::Boolean(b) => Json::Bool(b),
        V::VerbatimString { text, .. } => Json::String(text),
        V::BigNumber(n) => Json::String(n.to_string()),
        V::Attribute { data, .. } => to_json(*data),
        V::Push { data, .. } => Json::Array(data.into_iter().map(to_json).collect()),
        V::ServerError(error) => Json::String(format!("{error:?}")),
    }
}

fn whole(n: f64, name: &str) -> napi::Result<u64> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 {
        Ok(n as u64)
    } else {
        Err(napi::Error::from_reason(format!(
            "{name} must be a non-negative integer, got {n}"
        )))
    }
}

/// The answer of `rateLimitConsume`.
#[napi(object)]
pub struct RateDecision {
    pub allowed: bool,
    pub remaining: f64,
    pub reset_ms: f64,
}

/// One Redis server, connected on first use.
#[napi]
pub struct NativeRedis {
    handle: Arc<RedisHandle>,
}

#[napi]
impl NativeRedis {
    /// Parses the URL (`redis://[user:password@]host:port[/db]`); does not connect.
    #[napi(constructor)]
    pub fn new(url: String) -> napi::Result<Self> {
        let handle = RedisHandle::open(&url)
            .map_err(|e| napi::Error::from_reason(format!("invalid Redis URL {url:?}: {e}")))?;
        Ok(Self {
            handle: Arc::new(handle),
        })
    }

    /// Runs one command, e.g. `["SET", "k", "v"]`.
    #[napi]
    pub async fn command(&self, args: Vec<Either<String, Buffer>>) -> napi::Result<Json> {
        let words: Vec<Vec<u8>> = args
            .into_iter()
            .map(|arg| match arg {
                Either::A(text) => text.into_bytes(),
                Either::B(bytes) => bytes.to_vec(),
            })
            .collect();
        let handle = Arc::clone(&self.handle);
        let value = handle.command(&words).await.map_err(to_napi)?;
        Ok(to_json(value))
    }

    /// One atomic `consume` (see `realtime_core::redis_ext::ratelimit`).
    #[napi]
    pub async fn rate_limit_consume(
        &self,
        key: String,
        points: f64,
        interval_ms: f64,
        block_ms: f64,
        cost: f64,
    ) -> napi::Result<RateDecision> {
        let limits = ratelimit::Limits {
            points: whole(points, "points")?,
            interval_ms: whole(interval_ms, "interval")?,
            block_ms: whole(block_ms, "blockDuration")?,
        };
        let cost = whole(cost, "cost")?;
        let handle = Arc::clone(&self.handle);
        let decision = ratelimit::consume(&handle, &key, limits, cost)
            .await
            .map_err(to_napi)?;
        Ok(RateDecision {
            allowed: decision.allowed,
            remaining: decision.remaining as f64,
            reset_ms: decision.reset_ms as f64,
        })
    }

    #[napi]
    pub async fn rate_limit_ban(&self, key: String, duration_ms: f64) -> napi::Result<()> {
        let duration = whole(duration_ms, "duration")?;
        let handle = Arc::clone(&self.handle);
        ratelimit::ban(&handle, &key, duration)
            .await
            .map_err(to_napi)
    }

    #[napi]
    pub async fn rate_limit_unban(&self, key: String) -> napi::Result<()> {
        let handle = Arc::clone(&self.handle);
        ratelimit::unban(&handle, &key).await.map_err(to_napi)
    }

    #[napi]
    pub async fn rate_limit_reset(&self, key: String) -> napi::Result<()> {
        let handle = Arc::clone(&self.handle);
        ratelimit::reset(&handle, &key).await.map_err(to_napi)
    }

    /// Deletes every key starting with `prefix`; resolves to how many.
    #[napi]
    pub async fn delete_prefixed(&self, prefix: String) -> napi::Result<f64> {
        let handle = Arc::clone(&self.handle);
        let n = redis_ext::delete_prefixed(&handle, &prefix)
            .await
            .map_err(to_napi)?;
        Ok(n as f64)
    }
}
