//! `NativePg` and `NativeNotify`: the PostgreSQL helpers of `svelte-realtime/postgres`.
//! Queries run on the addon's background runtime and resolve as promises; a NOTIFY
//! listener runs on its server's I/O runtime and publishes into the hub without entering
//! JavaScript, unless the app gave its own `parse` (then each payload is handed to it).

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{FnArgs, Function};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use realtime_core::RunningServer;
use realtime_core::postgres::notify::{ListenConfig, Listener};
use realtime_core::postgres::{PgHandle, TextParam};
use realtime_core::server::NotifyParse;
use serde_json::Value as Json;

fn invalid_url(error: impl std::fmt::Display) -> napi::Error {
    napi::Error::from_reason(format!("invalid Postgres connection string: {error}"))
}

/// A column of a result, named as in node-postgres.
#[napi(object)]
pub struct PgField {
    pub name: String,
    #[napi(js_name = "dataTypeID")]
    pub data_type_id: u32,
}

/// What `query` resolves to: rows as arrays in field order (the JavaScript side makes
/// objects of them).
#[napi(object)]
pub struct PgResult {
    pub fields: Vec<PgField>,
    pub rows: Vec<Vec<Json>>,
    pub row_count: f64,
}

/// One PostgreSQL server, connected on first use and reconnected after a loss.
#[napi]
pub struct NativePg {
    handle: Arc<PgHandle>,
}

#[napi]
impl NativePg {
    /// Parses the connection string (URL or `key=value` pairs); does not connect.
    #[napi(constructor)]
    pub fn new(connection_string: String) -> napi::Result<Self> {
        let handle = PgHandle::open(&connection_string).map_err(invalid_url)?;
        Ok(Self {
            handle: Arc::new(handle),
        })
    }

    /// Runs one statement; each parameter is its text or null. Without parameters the text
    /// may hold several statements (run as one batch, resolving with no rows).
    #[napi]
    pub async fn query(&self, sql: String, params: Vec<Option<String>>) -> napi::Result<PgResult> {
        let params: Vec<TextParam> = params.into_iter().map(TextParam).collect();
        let handle = Arc::clone(&self.handle);
        let result = handle
            .query(&sql, &params)
            .await
            .map_err(|e| napi::Error::from_reason(e.to_string()))?;
        Ok(PgResult {
            fields: result
                .fields
                .into_iter()
                .map(|f| PgField {
                    name: f.name,
                    data_type_id: f.type_oid,
                })
                .collect(),
            rows: result.rows,
            row_count: result.row_count as f64,
        })
    }

    /// Closes the connection; a later query reconnects.
    #[napi]
    pub fn close(&self) {
        self.handle.close();
    }

    /// The connection string's config, for a listener on the same server.
    pub(crate) fn config(&self) -> tokio_postgres::Config {
        self.handle.config().clone()
    }
}

/// Counters of one NOTIFY listener.
#[napi(object)]
pub struct NotifyStats {
    /// Notifications that arrived on the channel.
    pub received: f64,
    /// Of those, refused as malformed by the default parser.
    pub dropped: f64,
    /// Connections opened (the first and each reconnect).
    pub connects: f64,
    /// Whether LISTEN is in effect right now.
    pub listening: bool,
}

/// A running NOTIFY listener.
#[napi]
pub struct NativeNotify {
    listener: Arc<Listener>,
}

#[napi]
impl NativeNotify {
    /// Stops listening (the connection closes, which ends the LISTEN). Idempotent.
    #[napi]
    pub fn stop(&self) {
        self.listener.stop();
    }

    #[napi]
    pub fn stats(&self) -> NotifyStats {
        let stats = &self.listener.stats;
        use std::sync::atomic::Ordering::Relaxed;
        NotifyStats {
            received: stats.received.load(Relaxed) as f64,
            dropped: stats.dropped.load(Relaxed) as f64,
            connects: stats.connects.load(Relaxed) as f64,
            listening: self.listener.is_listening(),
        }
    }
}

/// What `NativeServer.listenNotify` starts (see there).
pub(crate) fn listen(
    server: &RunningServer,
    pg: &NativePg,
    channel: String,
    reconnect_ms: f64,
    auto_reconnect: bool,
    parse: Option<Function<FnArgs<(String, String)>, ()>>,
) -> napi::Result<NativeNotify> {
    if channel.is_empty() {
        return Err(napi::Error::from_reason(
            "channel must be a non-empty string",
        ));
    }
    if !(reconnect_ms.is_finite() && reconnect_ms >= 0.0) {
        return Err(napi::Error::from_reason(format!(
            "reconnectInterval must be a non-negative number of milliseconds, got {reconnect_ms}"
        )));
    }
    let parse = match parse {
        None => NotifyParse::Json,
        Some(callback) => {
            let tsfn = callback
                .build_threadsafe_function::<FnArgs<(String, String)>>()
                .weak::<true>()
                .callee_handled::<false>()
                .build()?;
            NotifyParse::Custom(Arc::new(move |channel: &str, payload: &str| {
                tsfn.call(
                    FnArgs::from((channel.to_string(), payload.to_string())),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
            }))
        }
    };
    let config = ListenConfig {
        channel,
        reconnect_interval: Duration::from_millis(reconnect_ms as u64),
        auto_reconnect,
    };
    let listener = server
        .listen_notify(pg.config(), config, parse)
        .ok_or_else(|| napi::Error::from_reason("the server has stopped"))?;
    Ok(NativeNotify { listener })
}
