//! The svelte-realtime runtime, without Node.
//!
//! This crate owns everything that does not need a JavaScript engine: the HTTP/WebSocket
//! server (`server`), the topic index (`hub`), per-connection outboxes (`outbox`), the wire
//! codecs (`envelope`, `binary_rpc`, `control`), the origin policy (`origin`) and the event
//! queue through which the server talks to whatever runs the user's hooks (`events`). The
//! Node binding at the repository root turns those events into JavaScript calls; the tests
//! in `tests/` drive the same events from plain Rust.
//!
//! Nothing here imports napi. See `docs/ARCHITECTURE.md` for the data path and threading.

pub mod binary_rpc;
pub mod bus;
pub mod config;
pub mod control;
pub mod envelope;
pub mod events;
pub mod hub;
pub mod merge;
pub mod origin;
pub mod outbox;
pub mod postgres;
pub mod redis_ext;
pub mod replay;
pub mod reply_batch;
pub mod rpc_call;
pub mod server;
pub mod ws;

pub use config::{ConfigError, EngineMode, HookSet, ServerConfig};
pub use events::{Event, EventQueue};
pub use outbox::SendStatus;
pub use server::{RunningServer, StartError};

/// Identifies one upgrade request, and then the WebSocket it becomes, or one HTTP request.
///
/// Ids come from one 64-bit counter per server, start at 1 and are never reused; they stay
/// below 2^53, so JavaScript holds them exactly as numbers.
pub type ConnId = u64;
