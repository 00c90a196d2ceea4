//! The Node binding of svelte-realtime: the only code that touches napi.
//!
//! It converts JavaScript options into `realtime_core::ServerConfig`, starts the core server,
//! turns its event queue into batched calls of one JavaScript function, and exposes the
//! synchronous send/publish/subscribe surface the JavaScript runtime (`lib/runtime`) uses.
//! Everything else lives in `crates/realtime-core`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns this thread's freed allocator pages to the OS. I/O threads call it when they
/// run out of work: mimalloc otherwise keeps what a burst freed (a message flood) until the
/// same thread allocates again, which an idle server never does.
pub(crate) fn return_free_memory() {
    // SAFETY: `mi_collect` only walks the calling thread's own heap.
    unsafe { libmimalloc_sys::mi_collect(false) };
}

mod merge;
mod options;
mod server;
