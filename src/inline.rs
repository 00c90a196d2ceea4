//! The inline engine's driver: the server's sockets run on the JavaScript thread, inside
//! Node's own event loop (`engine: 'inline'`, the default on machines with at most 2 cores).
//!
//! A libuv poll handle watches the engine's epoll set (`InlineEngine::fd`). When it is
//! readable (a socket has data or room, or another thread woke the engine), the callback, on
//! the JavaScript thread: runs a round of socket work (reads decoded into events, queues
//! written), hands the events to `onEvents` at once (no threadsafe-function hop: the same
//! batch buffer and callback, called inside a callback scope so the microtasks the hooks
//! queue, and with them the reply batch, run before it returns), then runs another round,
//! which writes those replies. A few rounds per callback at most, so timers and other I/O
//! keep their turn; work left over re-arms the handle through the engine's wake descriptor.
//!
//! Why: with one core for JavaScript and one to spare at most, an engine thread competes
//! with the JavaScript thread for the cores (and with whatever else runs), and each message
//! costs two thread hops and their wakes. On the 2-core benchmark machine this took RPC CPU
//! per call to 0.92x, p99 to 0.90x and calls/s to 1.10x of the engine thread's
//! (benches/README.md). The cost: socket work waits while a hook blocks the thread, as in
//! uWebSockets.js.
//!
//! The libuv functions come from the host process (Node exports libuv to addons). Lifetime:
//! `InlineDriver::close` (from `dispose()`, on the same thread) stops and closes the handle;
//! its close callback drops the engine (and the sockets still in it). If the environment is
//! torn down first (a worker thread that ended without disposing), a cleanup hook closes it.

use std::ffi::c_void;
use std::os::raw::c_int;
use std::ptr;
use std::sync::{Arc, LazyLock};

use napi::bindgen_prelude::{Buffer, Function, JsValue, ToNapiValue};
use napi::{Either, Env, sys};
use realtime_core::EventQueue;
use realtime_core::events::Drained;
use realtime_core::server::InlineEngine;

use crate::server::BatchBuffer;

type PollCallback = unsafe extern "C" fn(*mut c_void, c_int, c_int);
type CloseCallback = unsafe extern "C" fn(*mut c_void);

/// The libuv functions used (uv.h signatures; handles as opaque pointers).
struct Uv {
    handle_size: unsafe extern "C" fn(c_int) -> usize,
    poll_init: unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int,
    poll_start: unsafe extern "C" fn(*mut c_void, c_int, PollCallback) -> c_int,
    poll_stop: unsafe extern "C" fn(*mut c_void) -> c_int,
    close: unsafe extern "C" fn(*mut c_void, Option<CloseCallback>),
}

/// `UV_POLL` in libuv's `uv_handle_type`, `UV_READABLE` in `uv_poll_event` (stable since 1.0).
const UV_POLL: c_int = 8;
const UV_READABLE: c_int = 1;

static UV: LazyLock<Option<Uv>> = LazyLock::new(|| {
    // SAFETY: the host process is Node, whose libuv exports have these signatures; the
    // process's own library handle stays valid for its life.
    unsafe {
        let host: libloading::Library = libloading::os::unix::Library::this().into();
        let uv = Uv {
            handle_size: *host.get(b"uv_handle_size\0").ok()?,
            poll_init: *host.get(b"uv_poll_init\0").ok()?,
            poll_start: *host.get(b"uv_poll_start\0").ok()?,
            poll_stop: *host.get(b"uv_poll_stop\0").ok()?,
            close: *host.get(b"uv_close\0").ok()?,
        };
        std::mem::forget(host);
        Some(uv)
    }
});

/// Whether this Node exports what the inline engine needs.
pub(crate) fn available() -> bool {
    UV.is_some()
}

/// Rounds of socket work per readable callback (then other callbacks get their turn).
const ROUNDS: usize = 4;

/// What the callback needs; owned by the handle (its `data` field, the first one of every
/// libuv handle) and freed by its close callback.
struct State {
    env: sys::napi_env,
    callback: sys::napi_ref,
    async_context: sys::napi_async_context,
    events: Arc<EventQueue>,
    batch: BatchBuffer,
    engine: InlineEngine,
    closed: bool,
    /// The environment is being torn down: its references go with it (no Node-API calls).
    env_gone: bool,
}

/// The running poll handle; [`close`](Self::close) stops it.
pub(crate) struct InlineDriver {
    handle: *mut c_void,
    /// The loop's thread: the only one that may close the handle.
    thread: std::thread::ThreadId,
}

// SAFETY: the pointer is only used by `close`, which does nothing off the loop's thread (the
// `NativeServer` holding this is shared with async methods that never touch it).
unsafe impl Send for InlineDriver {}
unsafe impl Sync for InlineDriver {}

/// Starts driving `engine` from the current (JavaScript) thread's event loop.
pub(crate) fn start(
    env: &Env,
    engine: InlineEngine,
    events: &Arc<EventQueue>,
    on_events: &Function<Either<u32, Buffer>, ()>,
    batch: BatchBuffer,
) -> napi::Result<InlineDriver> {
    let uv = UV
        .as_ref()
        .ok_or_else(|| napi::Error::from_reason("engine 'inline' needs Node's libuv exports"))?;
    let env = env.raw();
    // SAFETY: Node-API calls on the current thread with values of this call; the handle's
    // memory is sized by libuv and initialized by `uv_poll_init` before any other use.
    unsafe {
        let mut uv_loop = ptr::null_mut();
        check(sys::napi_get_uv_event_loop(env, &mut uv_loop))?;
        let mut callback = ptr::null_mut();
        check(sys::napi_create_reference(
            env,
            on_events.value().value,
            1,
            &mut callback,
        ))?;
        let name = ToNapiValue::to_napi_value(env, "svelte-realtime:engine")?;
        let mut async_context = ptr::null_mut();
        check(sys::napi_async_init(
            env,
            ptr::null_mut(),
            name,
            &mut async_context,
        ))?;
        let fd = engine.fd();
        let memory = std::alloc::alloc_zeroed(layout(uv)).cast::<c_void>();
        if memory.is_null() || (uv.poll_init)(uv_loop.cast(), memory, fd) != 0 {
            return Err(napi::Error::from_reason(
                "could not watch the inline engine",
            ));
        }
        let state = Box::new(State {
            env,
            callback,
            async_context,
            events: Arc::clone(events),
            batch,
            engine,
            closed: false,
            env_gone: false,
        });
        *memory.cast::<*mut State>() = Box::into_raw(state);
        check(sys::napi_add_env_cleanup_hook(
            env,
            Some(on_env_cleanup),
            memory,
        ))?;
        if (uv.poll_start)(memory, UV_READABLE, on_poll) != 0 {
            sys::napi_remove_env_cleanup_hook(env, Some(on_env_cleanup), memory);
            close(memory);
            return Err(napi::Error::from_reason(
                "could not watch the inline engine",
            ));
        }
        // Sockets may have arrived before the watch began.
        (*state_of(memory)).engine.wake_later();
        Ok(InlineDriver {
            handle: memory,
            thread: std::thread::current().id(),
        })
    }
}

impl InlineDriver {
    /// Stops the engine: the handle closes and the sockets still in it are dropped. On the
    /// thread that started it.
    pub(crate) fn close(self) {
        if std::thread::current().id() != self.thread {
            return; // only the loop's thread may; its environment cleanup closes it then
        }
        // SAFETY: the handle is open until its state says closed; same thread.
        unsafe {
            let state = &mut *state_of(self.handle);
            if state.closed {
                return;
            }
            sys::napi_remove_env_cleanup_hook(state.env, Some(on_env_cleanup), self.handle);
            close(self.handle);
        }
    }
}

fn layout(uv: &Uv) -> std::alloc::Layout {
    // SAFETY: a plain libuv query.
    let size = unsafe { (uv.handle_size)(UV_POLL) };
    std::alloc::Layout::from_size_align(size.max(64), 16).expect("uv handle layout")
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!(
            "Node-API call failed ({status})"
        )))
    }
}

/// The `State` a handle's `data` field points to.
unsafe fn state_of(handle: *mut c_void) -> *mut State {
    unsafe { *handle.cast::<*mut State>() }
}

/// The epoll set is readable: rounds of socket work, with the events handed to JavaScript
/// in between (see the module comment).
unsafe extern "C" fn on_poll(handle: *mut c_void, _status: c_int, _events: c_int) {
    // SAFETY: libuv calls this only for the open handle whose `data` we set.
    let state = unsafe { &mut *state_of(handle) };
    if state.closed {
        return;
    }
    state.engine.begin();
    let mut left = false;
    for _ in 0..ROUNDS {
        // Events this round queues for this thread are handed over below, not woken for.
        state.events.defer_wake();
        left = state.engine.turn();
        if state.events.end_deferred_wake() {
            // SAFETY: on the runner's thread, outside any other JavaScript call.
            unsafe { deliver(state) };
            left = true; // the replies it queued are written by the next round
        } else if !left {
            break;
        }
    }
    if state.engine.end() || left {
        state.engine.wake_later();
    } else {
        state.engine.idle();
    }
}

/// Drains the queue into the batch buffer and calls `onEvents` in a callback scope.
unsafe fn deliver(state: &mut State) {
    // Anything a caller held and did not release goes with this batch (as in the
    // threadsafe function's callback).
    realtime_core::server::release_wakes();
    let env = state.env;
    // SAFETY: Node-API calls on the thread that owns `env`, within a handle scope.
    unsafe {
        let mut scope = ptr::null_mut();
        if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
            return;
        }
        let drained = state.events.drain_into(&mut state.batch.lock());
        let argument = match drained {
            Drained::Written(len) => ToNapiValue::to_napi_value(env, len as u32),
            Drained::Oversized(alone) => ToNapiValue::to_napi_value(env, Buffer::from(alone)),
        };
        let mut function = ptr::null_mut();
        let mut receiver = ptr::null_mut();
        if let Ok(argument) = argument
            && sys::napi_get_reference_value(env, state.callback, &mut function)
                == sys::Status::napi_ok
            && sys::napi_get_global(env, &mut receiver) == sys::Status::napi_ok
        {
            let mut result = ptr::null_mut();
            let status = sys::napi_make_callback(
                env,
                state.async_context,
                receiver,
                function,
                1,
                &argument,
                &mut result,
            );
            if status == sys::Status::napi_pending_exception {
                // What a throwing threadsafe-function callback does: `uncaughtException`.
                let mut error = ptr::null_mut();
                sys::napi_get_and_clear_last_exception(env, &mut error);
                sys::napi_fatal_exception(env, error);
            }
        }
        sys::napi_close_handle_scope(env, scope);
    }
}

/// The environment is going away with the engine still watched.
unsafe extern "C" fn on_env_cleanup(handle: *mut c_void) {
    // SAFETY: the hook is removed when the handle closes, so it is open here.
    unsafe {
        (*state_of(handle)).env_gone = true;
        close(handle);
    }
}

/// # Safety
/// On the loop's thread, for an open handle.
unsafe fn close(handle: *mut c_void) {
    let Some(uv) = UV.as_ref() else { return };
    unsafe {
        let state = &mut *state_of(handle);
        if state.closed {
            return;
        }
        state.closed = true;
        (uv.poll_stop)(handle);
        (uv.close)(handle, Some(on_closed));
    }
}

/// libuv is done with the handle: free it, its state and the engine (loop thread).
unsafe extern "C" fn on_closed(handle: *mut c_void) {
    let Some(uv) = UV.as_ref() else { return };
    // SAFETY: `data` holds the state boxed in `start`; nothing uses either after this.
    unsafe {
        let state = Box::from_raw(state_of(handle));
        if state.env_gone {
            // The environment's teardown frees V8's side; the engine still drops its sockets.
            let State { engine, batch, .. } = *state;
            drop(engine);
            std::mem::forget(batch);
        } else {
            sys::napi_delete_reference(state.env, state.callback);
            sys::napi_async_destroy(state.env, state.async_context);
            drop(state);
        }
        std::alloc::dealloc(handle.cast(), layout(uv));
    }
}
