//! The Node binding of svelte-realtime: the only code that touches napi.
//!
//! It converts JavaScript options into `realtime_core::ServerConfig`, starts the core server,
//! turns its event queue into batched calls of one JavaScript function, and exposes the
//! synchronous send/publish/subscribe surface the JavaScript runtime (`lib/runtime`) uses.
//! Everything else lives in `crates/realtime-core`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod merge;
mod options;
mod server;
