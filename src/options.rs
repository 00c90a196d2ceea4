//! JavaScript options → `ServerConfig`.
//!
//! `lib/runtime/options.js` validates and fills in defaults before calling the binding, so
//! this is a plain conversion. A field left out keeps the core's default.

use std::time::Duration;

use napi::Either;
use napi_derive::napi;
use realtime_core::EngineMode;
use realtime_core::origin::OriginPolicy;
use realtime_core::server::{StaticConfig, StaticDir};
use realtime_core::{HookSet, ServerConfig};

/// Which hooks the user's module exports.
#[napi(object)]
pub struct NativeHooks {
    pub upgrade: bool,
    pub subscribe: bool,
    pub drain: bool,
    pub http: bool,
}

/// A directory of static files.
#[napi(object)]
pub struct NativeStaticDir {
    pub path: String,
    /// URL path it is mounted at. @default '/'
    pub base: Option<String>,
    /// `x.html` answers `x`, `x/index.html` answers `x/`.
    pub prerendered: Option<bool>,
}

/// Static files served by Rust.
#[napi(object)]
pub struct NativeStaticFiles {
    pub dirs: Vec<NativeStaticDir>,
    /// URL prefix of files cached forever, e.g. `/_app/immutable/`.
    pub immutable_prefix: Option<String>,
}

/// Options of `new NativeServer(...)`. Times are in seconds, sizes in bytes.
#[napi(object)]
pub struct NativeServerOptions {
    pub host: Option<String>,
    pub port: Option<u32>,
    pub workers: Option<u32>,
    /// `auto` (default), `inline` or `threads`: see `engine_mode`.
    pub engine: Option<String>,
    pub listen_backlog: Option<u32>,
    pub path: Option<String>,
    /// `false`: no WebSocket endpoint.
    pub websocket: Option<bool>,
    pub max_payload_length: Option<f64>,
    pub idle_timeout: Option<f64>,
    pub send_pings_automatically: Option<bool>,
    pub max_backpressure: Option<f64>,
    pub close_on_backpressure_limit: Option<bool>,
    pub max_connections: Option<f64>,
    pub upgrade_timeout: Option<f64>,
    pub header_read_timeout: Option<f64>,
    pub body_read_timeout: Option<f64>,
    pub request_timeout: Option<f64>,
    /// `'same-origin'`, `'*'` or a list of origins.
    pub allowed_origins: Option<Either<String, Vec<String>>>,
    pub protocol_header: Option<String>,
    pub host_header: Option<String>,
    pub port_header: Option<String>,
    /// Bytes; `Infinity` means no limit.
    pub body_size_limit: Option<f64>,
    /// A path, or `false` to disable.
    pub health_check_path: Option<Either<String, bool>>,
    pub inbound_queue_bytes: Option<f64>,
    pub static_files: Option<NativeStaticFiles>,
    pub hooks: NativeHooks,
}

fn seconds(value: f64) -> Duration {
    Duration::from_secs_f64(value.max(0.0))
}

fn bytes(value: f64) -> usize {
    if value.is_finite() {
        value.max(0.0) as usize
    } else {
        usize::MAX
    }
}

/// Where the sockets run. `auto` is inline when there is no core to spare for an engine
/// thread (at most 2 cores, and no explicit `workers`): the engine thread would compete with
/// the JavaScript thread for the cores, and each message would cost two thread hops
/// (measured in benches/README.md). `inline` needs Node's libuv exports (Unix).
fn engine_mode(requested: Option<&str>, workers: usize) -> napi::Result<EngineMode> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match requested.unwrap_or("auto") {
        "threads" => Ok(EngineMode::Threads),
        "inline" if crate::inline::available() => Ok(EngineMode::Inline),
        "inline" => Err(napi::Error::from_reason(
            "engine 'inline' is not available here (it needs Node's libuv exports on a Unix system)",
        )),
        "auto" if crate::inline::available() && workers == 0 && cores <= 2 => {
            Ok(EngineMode::Inline)
        }
        "auto" => Ok(EngineMode::Threads),
        other => Err(napi::Error::from_reason(format!(
            "engine must be 'auto', 'inline' or 'threads', got {other:?}"
        ))),
    }
}

impl NativeServerOptions {
    pub fn into_config(self) -> napi::Result<ServerConfig> {
        let mut config = ServerConfig {
            on_worker_idle: Some(crate::return_free_memory),
            ..ServerConfig::default()
        };
        let defaults = &mut config;
        if let Some(host) = self.host {
            defaults.host = host;
        }
        if let Some(port) = self.port {
            defaults.port = u16::try_from(port)
                .map_err(|_| napi::Error::from_reason(format!("port {port} is out of range")))?;
        }
        if let Some(workers) = self.workers {
            defaults.worker_threads = workers as usize;
        }
        defaults.engine = engine_mode(self.engine.as_deref(), defaults.worker_threads)?;
        if let Some(backlog) = self.listen_backlog {
            defaults.listen_backlog = backlog;
        }
        if let Some(path) = self.path {
            defaults.ws_path = path;
        }
        if let Some(enabled) = self.websocket {
            defaults.websocket = enabled;
        }
        if let Some(v) = self.max_payload_length {
            defaults.max_payload_length = bytes(v);
        }
        if let Some(v) = self.idle_timeout {
            defaults.idle_timeout = seconds(v);
        }
        if let Some(v) = self.send_pings_automatically {
            defaults.send_pings_automatically = v;
        }
        if let Some(v) = self.max_backpressure {
            defaults.max_backpressure = bytes(v);
        }
        if let Some(v) = self.close_on_backpressure_limit {
            defaults.close_on_backpressure_limit = v;
        }
        if let Some(v) = self.max_connections {
            defaults.max_connections = bytes(v);
        }
        if let Some(v) = self.upgrade_timeout {
            defaults.upgrade_timeout = seconds(v);
        }
        if let Some(v) = self.header_read_timeout {
            defaults.header_read_timeout = seconds(v);
        }
        if let Some(v) = self.body_read_timeout {
            defaults.body_read_timeout = seconds(v);
        }
        if let Some(v) = self.request_timeout {
            defaults.request_timeout = seconds(v);
        }
        if let Some(origins) = self.allowed_origins {
            defaults.allowed_origins = match origins {
                Either::A(s) if s == "*" => OriginPolicy::Any,
                Either::A(s) if s == "same-origin" => OriginPolicy::SameOrigin,
                Either::A(s) => {
                    return Err(napi::Error::from_reason(format!(
                        "allowedOrigins must be 'same-origin', '*' or an array of origins, got {s:?}"
                    )));
                }
                Either::B(list) => OriginPolicy::List(list),
            };
        }
        defaults.protocol_header = self.protocol_header.map(|h| h.to_ascii_lowercase());
        defaults.host_header = self.host_header.map(|h| h.to_ascii_lowercase());
        defaults.port_header = self.port_header.map(|h| h.to_ascii_lowercase());
        if let Some(v) = self.body_size_limit {
            defaults.body_size_limit = bytes(v);
        }
        match self.health_check_path {
            Some(Either::A(path)) => defaults.health_check_path = Some(path),
            Some(Either::B(false)) => defaults.health_check_path = None,
            Some(Either::B(true)) | None => {}
        }
        if let Some(v) = self.inbound_queue_bytes {
            defaults.inbound_queue_bytes = bytes(v);
        }
        if let Some(files) = self.static_files {
            defaults.static_files = StaticConfig {
                dirs: files
                    .dirs
                    .into_iter()
                    .map(|d| StaticDir {
                        path: d.path.into(),
                        base: d.base.unwrap_or_else(|| "/".into()),
                        prerendered: d.prerendered.unwrap_or(false),
                    })
                    .collect(),
                immutable_prefix: files.immutable_prefix,
            };
        }
        defaults.hooks = HookSet {
            upgrade: self.hooks.upgrade,
            subscribe: self.hooks.subscribe,
            drain: self.hooks.drain,
            http: self.hooks.http,
        };
        Ok(config)
    }
}
