//! Server configuration: one struct, every default written down once.
//!
//! The JavaScript options (`lib/runtime/options.js`, `index.d.ts`) mirror these defaults; when
//! one changes here it changes there too. Validation happens in [`ServerConfig::validate`], so
//! a bad option fails at startup with a message naming the option, never later.

use std::time::Duration;

use thiserror::Error;

use crate::origin::OriginPolicy;
use crate::server::StaticConfig;

/// Which optional user hooks exist. The server only crosses into the hook runner for the
/// ones that do: no `upgrade` hook means an upgrade completes without a round trip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HookSet {
    /// `upgrade({ headers, cookies, url, remoteAddress })` decides who connects.
    pub upgrade: bool,
    /// `subscribe(ws, topic)` may allow client subscriptions to topics not granted yet.
    pub subscribe: bool,
    /// `drain(ws)` wants to hear when a backpressured socket has emptied its outbox.
    pub drain: bool,
    /// A `fetch`-style HTTP handler answers requests that are not WebSocket upgrades.
    pub http: bool,
}

/// Everything the server needs to start. Build it with `ServerConfig::default()` and
/// change fields; [`ServerConfig::validate`] runs when the server starts.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Interface to bind. Default `0.0.0.0`.
    pub host: String,
    /// TCP port; `0` picks a free one. Default `3000`.
    pub port: u16,
    /// I/O threads: this many tokio workers and this many WebSocket engine threads. `0`
    /// means one per core but one, at least one ([`ServerConfig::io_threads`]). Default `0`.
    pub worker_threads: usize,
    /// Listen backlog passed to `listen(2)`. Default `4096` (tokio's own default of 128
    /// overflows under connection storms; see `MEASURED-PITFALLS.md`).
    pub listen_backlog: u32,
    /// Path of the WebSocket endpoint; must start with `/`. Default `/ws`.
    pub ws_path: String,
    /// Serve WebSockets at all; when false the path is plain HTTP. Default `true`.
    pub websocket: bool,
    /// Largest inbound WebSocket message in bytes. A larger one closes the socket with 1009.
    /// Default 16 KiB.
    pub max_payload_length: usize,
    /// Inbound silence after which a socket is closed; zero disables. Default 120 s.
    pub idle_timeout: Duration,
    /// Send a ping before the idle timeout closes a silent socket. Default `true`.
    pub send_pings_automatically: bool,
    /// Bytes a connection may have queued for sending before new messages are dropped
    /// (or the socket closed, see below). Default 1 MiB.
    pub max_backpressure: usize,
    /// Close a socket that reaches `max_backpressure` (code 1008) instead of dropping
    /// messages for it. Default `false`.
    pub close_on_backpressure_limit: bool,
    /// Open WebSockets (plus upgrades in progress) above which upgrades get 503.
    /// Default 100,000.
    pub max_connections: usize,
    /// How long the `upgrade` hook may take before the client gets 504; zero disables.
    /// Default 10 s.
    pub upgrade_timeout: Duration,
    /// How long a client may take to send a complete HTTP request head. Default 10 s.
    pub header_read_timeout: Duration,
    /// Longest silence between two reads of a request body handed to the HTTP handler;
    /// past it the request gets 408 and the connection closes. Zero disables. Default 10 s.
    pub body_read_timeout: Duration,
    /// Longest time to receive a whole request body (Node's `requestTimeout`), however
    /// steadily it trickles in; past it, 408 and close. Zero disables. Default 300 s.
    pub request_timeout: Duration,
    /// Which `Origin` headers may open a WebSocket. Default same-origin.
    pub allowed_origins: OriginPolicy,
    /// Header carrying the original scheme behind a proxy (e.g. `x-forwarded-proto`).
    pub protocol_header: Option<String>,
    /// Header carrying the original host behind a proxy (e.g. `x-forwarded-host`).
    pub host_header: Option<String>,
    /// Header carrying the original port behind a proxy (e.g. `x-forwarded-port`).
    pub port_header: Option<String>,
    /// Largest HTTP request body handed to the HTTP handler; larger gets 413. Default 512 KiB.
    pub body_size_limit: usize,
    /// Path answered with `200 OK` by the server itself; `None` disables. Default `/healthz`.
    pub health_check_path: Option<String>,
    /// Bytes of inbound messages waiting for the hook runner before sockets stop being read
    /// (TCP backpressure reaches the clients). Default 64 MiB.
    pub inbound_queue_bytes: usize,
    /// Directories of static and prerendered files served by Rust. Default none.
    pub static_files: StaticConfig,
    /// Which hooks exist.
    pub hooks: HookSet,
    /// Where the open WebSockets run. Default [`EngineMode::Threads`] (the Node binding
    /// resolves its `auto`).
    pub engine: EngineMode,
    /// Called on an I/O thread each time it runs out of work and parks. The Node binding
    /// hands the allocator's freed pages back to the OS here, so memory a flood took comes
    /// back once the flood is over. Default none.
    pub on_worker_idle: Option<fn()>,
}

/// Where a server's open WebSockets are read, decoded and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineMode {
    /// Engine threads of their own (`io_threads()` of them): socket work runs beside the
    /// hook runner, on other cores.
    Threads,
    /// One engine driven by the hook runner's own thread, as uWebSockets.js runs its sockets
    /// on the JavaScript thread: no thread hop, no wake, no event queue crossing for a
    /// message, but socket work shares that thread's core (`RunningServer::take_inline_engine`
    /// hands the engine to the runner, which must drive it).
    Inline,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 3000,
            worker_threads: 0,
            listen_backlog: 4096,
            ws_path: "/ws".into(),
            websocket: true,
            max_payload_length: 16 * 1024,
            idle_timeout: Duration::from_secs(120),
            send_pings_automatically: true,
            max_backpressure: 1024 * 1024,
            close_on_backpressure_limit: false,
            max_connections: 100_000,
            upgrade_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            allowed_origins: OriginPolicy::SameOrigin,
            protocol_header: None,
            host_header: None,
            port_header: None,
            body_size_limit: 512 * 1024,
            health_check_path: Some("/healthz".into()),
            inbound_queue_bytes: 64 * 1024 * 1024,
            static_files: StaticConfig::default(),
            hooks: HookSet::default(),
            engine: EngineMode::Threads,
            on_worker_idle: None,
        }
    }
}

/// A configuration value the server cannot run with.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("websocket path must start with '/', got {0:?}")]
    WsPath(String),
    #[error("healthCheckPath must start with '/', got {0:?}")]
    HealthPath(String),
    #[error("{0} must be greater than 0")]
    Zero(&'static str),
    #[error("idleTimeout must be 0 (disabled) or at least 1 second")]
    IdleTimeout,
    #[error("allowedOrigins entry {0:?} is not an origin like 'https://example.com'")]
    Origin(String),
}

impl ServerConfig {
    /// The I/O threads the server starts: `worker_threads`, or one per core but one. The
    /// core left over is the JavaScript thread's: it runs every hook, and an I/O thread
    /// competing with it for a core preempts it mid-batch (measured on 2 cores: one engine
    /// instead of two took RPC CPU per call 0.81x and p99 0.80x, same throughput and fan-out;
    /// benches/README.md).
    pub fn io_threads(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .saturating_sub(1)
                .max(1),
            n => n,
        }
    }

    /// Checks every option; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.ws_path.starts_with('/') {
            return Err(ConfigError::WsPath(self.ws_path.clone()));
        }
        if let Some(path) = &self.health_check_path
            && !path.starts_with('/')
        {
            return Err(ConfigError::HealthPath(path.clone()));
        }
        for (name, value) in [
            ("maxPayloadLength", self.max_payload_length),
            ("maxBackpressure", self.max_backpressure),
            ("maxConnections", self.max_connections),
            ("inboundQueueBytes", self.inbound_queue_bytes),
            ("listenBacklog", self.listen_backlog as usize),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if !self.idle_timeout.is_zero() && self.idle_timeout < Duration::from_secs(1) {
            return Err(ConfigError::IdleTimeout);
        }
        self.allowed_origins.validate()
    }

    /// Ping and close deadlines derived from `idle_timeout`, or `None` when disabled.
    ///
    /// Mirrors uWebSockets: a margin starts at 4 s and doubles while the idle time still
    /// covers four margins and the margin is below 16 s. The ping goes out after
    /// `idle - margin` of inbound silence; the close follows at `idle`. For the default 120 s
    /// that is a ping at 104 s and a close at 120 s. Short timeouts use half of the idle
    /// time as margin.
    pub fn idle_schedule(&self) -> Option<IdleSchedule> {
        let idle = self.idle_timeout;
        if idle.is_zero() {
            return None;
        }
        let mut margin = Duration::from_secs(4);
        while idle.saturating_sub(margin * 2) >= margin * 2 && margin < Duration::from_secs(16) {
            margin *= 2;
        }
        if margin * 2 > idle {
            margin = idle / 2;
        }
        Some(IdleSchedule {
            ping_after: idle - margin,
            close_after: idle,
        })
    }
}

/// When a silent socket gets pinged and when it gets closed, counted from its last inbound
/// frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleSchedule {
    pub ping_after: Duration,
    pub close_after: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_threads_leave_a_core_to_javascript() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let default = ServerConfig::default();
        assert_eq!(default.io_threads(), cores.saturating_sub(1).max(1));
        let set = ServerConfig {
            worker_threads: 3,
            ..ServerConfig::default()
        };
        assert_eq!(set.io_threads(), 3);
    }

    #[test]
    fn default_is_valid() {
        assert_eq!(ServerConfig::default().validate(), Ok(()));
    }

    #[test]
    fn default_idle_schedule_matches_uws() {
        let s = ServerConfig::default().idle_schedule().unwrap();
        assert_eq!(s.ping_after, Duration::from_secs(104));
        assert_eq!(s.close_after, Duration::from_secs(120));
    }

    #[test]
    fn short_idle_schedule_pings_halfway() {
        let cfg = ServerConfig {
            idle_timeout: Duration::from_secs(2),
            ..Default::default()
        };
        let s = cfg.idle_schedule().unwrap();
        assert_eq!(s.ping_after, Duration::from_secs(1));
        assert_eq!(s.close_after, Duration::from_secs(2));
    }

    #[test]
    fn zero_idle_disables_schedule() {
        let cfg = ServerConfig {
            idle_timeout: Duration::ZERO,
            ..Default::default()
        };
        assert_eq!(cfg.idle_schedule(), None);
    }

    #[test]
    fn rejects_bad_values() {
        let bad_path = ServerConfig {
            ws_path: "ws".into(),
            ..Default::default()
        };
        assert_eq!(bad_path.validate(), Err(ConfigError::WsPath("ws".into())));
        let zero = ServerConfig {
            max_payload_length: 0,
            ..Default::default()
        };
        assert_eq!(zero.validate(), Err(ConfigError::Zero("maxPayloadLength")));
        let short_idle = ServerConfig {
            idle_timeout: Duration::from_millis(200),
            ..Default::default()
        };
        assert_eq!(short_idle.validate(), Err(ConfigError::IdleTimeout));
    }
}
