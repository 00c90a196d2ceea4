//! The Node binding of svelte-realtime: the only code that touches napi.
//!
//! It converts JavaScript options into `realtime_core::ServerConfig`, starts the core server,
//! turns its event queue into batched calls of one JavaScript function, and exposes the
//! synchronous send/publish/subscribe surface the JavaScript runtime (`lib/runtime`) uses.
//! Everything else lives in `crates/realtime-core`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns this thread's freed allocator pages to the OS. I/O threads call it when they
/// run out of work: mimalloc otherwise keeps what a burst freed (a message flood, a wave of
/// handshakes) until the same thread allocates again, which an idle server never does.
///
/// mimalloc purges freed memory only once it has been free for a while (10 ms for pages,
/// 100 ms for arena ranges) and only when asked after that; a thread that parks for good
/// right after a burst would never ask. So at most every [`FORCED_COLLECT`] a park forces
/// the purge; the parks in between only collect what is already due.
pub(crate) fn return_free_memory() {
    use std::cell::Cell;
    use std::time::Instant;
    const FORCED_COLLECT: std::time::Duration = std::time::Duration::from_millis(100);
    thread_local! {
        static LAST_FORCED: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    let force = LAST_FORCED.with(|last| {
        let due = last
            .get()
            .is_none_or(|at| now.duration_since(at) >= FORCED_COLLECT);
        if due {
            last.set(Some(now));
        }
        due
    });
    // SAFETY: `mi_collect` only walks the calling thread's own heap (and the shared arenas,
    // under mimalloc's own locks).
    unsafe { libmimalloc_sys::mi_collect(force) };
}

#[cfg(unix)]
mod inline;
/// Without epoll/kqueue descriptors libuv can watch, sockets run on engine threads.
#[cfg(not(unix))]
mod inline {
    pub(crate) fn available() -> bool {
        false
    }
    pub(crate) struct InlineDriver;
    impl InlineDriver {
        pub(crate) fn close(self) {}
    }
    pub(crate) fn start(
        _env: &napi::Env,
        _engine: realtime_core::server::InlineEngine,
        _events: &std::sync::Arc<realtime_core::EventQueue>,
        _on_events: &napi::bindgen_prelude::Function<
            napi::Either<u32, napi::bindgen_prelude::Buffer>,
            (),
        >,
        _batch: crate::server::BatchBuffer,
    ) -> napi::Result<InlineDriver> {
        Err(napi::Error::from_reason(
            "engine 'inline' is not available here",
        ))
    }
}
mod merge;
mod options;
mod postgres;
mod redis_client;
mod server;
mod workers;

/// The runtime of the addon's promises (Redis and Postgres helpers): one thread, apart from
/// each server's own I/O runtime, because this work is a few round trips, not a hot path.
#[napi_derive::module_init]
fn init() {
    if let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("svelte-realtime-bg")
        .enable_all()
        .build()
    {
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    }
}
