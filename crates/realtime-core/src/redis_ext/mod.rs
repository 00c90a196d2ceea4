//! Redis-backed helpers beside the bus: the shared rate limiter (`ratelimit`) and a generic
//! command path for `svelte-realtime/redis`'s client. Every operation that must be atomic
//! across instances is one Lua script, and every clock reading is Redis `TIME`, so N
//! instances agree on one budget whatever their own clocks say.
//!
//! [`RedisHandle`] connects lazily: the first command opens a managed connection (redis-rs
//! reconnects it with backoff after a loss); while Redis is unreachable commands fail fast
//! with the connection error instead of queueing.

pub mod ratelimit;

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, RedisResult};
use tokio::sync::OnceCell;

/// A lazily connected, shareable Redis connection.
pub struct RedisHandle {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
}

impl RedisHandle {
    /// Parses `url`; does not connect.
    pub fn open(url: &str) -> RedisResult<Self> {
        let info = url.into_connection_info()?;
        Ok(Self {
            client: redis::Client::open(info)?,
            conn: OnceCell::new(),
        })
    }

    /// The managed connection (a cheap clone), connecting on first use.
    pub async fn conn(&self) -> RedisResult<ConnectionManager> {
        let conn = self
            .conn
            .get_or_try_init(|| {
                // Fail fast while Redis is down: a caller (an RPC waiting on its rate
                // limit) gets the error at once instead of after a retry series.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Duration::from_secs(1))
                    .set_response_timeout(Duration::from_secs(2))
                    .set_number_of_retries(0)
                    .set_max_delay(1_000);
                ConnectionManager::new_with_config(self.client.clone(), config)
            })
            .await?;
        Ok(conn.clone())
    }

    /// Runs one command given as its words (`["HGET", "key", "field"]`).
    pub async fn command(&self, args: &[Vec<u8>]) -> RedisResult<redis::Value> {
        let Some((name, rest)) = args.split_first() else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::ClientError,
                "empty command",
            )));
        };
        let mut cmd = redis::cmd(&String::from_utf8_lossy(name));
        for arg in rest {
            cmd.arg(arg.as_slice());
        }
        cmd.query_async(&mut self.conn().await?).await
    }
}

/// `pattern` with Redis glob characters escaped, for `SCAN MATCH`.
pub fn glob_escape(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Deletes every key that starts with `prefix` (SCAN, then DEL in batches); returns how many.
pub async fn delete_prefixed(handle: &RedisHandle, prefix: &str) -> RedisResult<u64> {
    let mut conn = handle.conn().await?;
    let pattern = format!("{}*", glob_escape(prefix));
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let n: u64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_glob_characters() {
        assert_eq!(glob_escape("app:[x]*?\\"), "app:\\[x\\]\\*\\?\\\\");
        assert_eq!(glob_escape("plain:"), "plain:");
    }
}
