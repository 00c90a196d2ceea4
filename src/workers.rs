//! Worker threads on one server (issue 11): the main thread's `NativeServer` shares itself
//! under a key; a worker thread's `NativeServer.attachWorker(key, index, ...)` gets a handle
//! on the same Rust server with an event queue of its own, which the server feeds with the
//! events of the sockets and requests it gives that worker. Every other method works the
//! same on either handle: the hub, outboxes and bus are one.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Weak};

use napi::Either;
use napi::bindgen_prelude::{Buffer, Function};
use napi_derive::napi;
use parking_lot::Mutex;
use realtime_core::{EventQueue, RunningServer};

use crate::server::{NativeServer, event_waker};

/// Shared servers of this process by key (several servers may share at once).
static SHARED: LazyLock<Mutex<HashMap<u32, Weak<RunningServer>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

#[napi]
impl NativeServer {
    /// Makes this server reachable from worker threads; returns the key they attach with.
    #[napi]
    pub fn share(&self) -> napi::Result<u32> {
        let server = self
            .server
            .as_ref()
            .ok_or_else(|| napi::Error::from_reason("the server has been disposed"))?;
        let mut shared = SHARED.lock();
        shared.retain(|_, weak| weak.strong_count() > 0);
        let key = (1..).find(|k| !shared.contains_key(k)).unwrap_or(u32::MAX);
        shared.insert(key, Arc::downgrade(server));
        Ok(key)
    }

    /// A worker thread's handle on the server shared under `key`, as worker `index` (1..=64):
    /// `onEvents` and `batchBuffer` as for the constructor, called on this thread.
    #[napi(factory)]
    pub fn attach_worker(
        key: u32,
        index: u32,
        on_events: Function<Either<u32, Buffer>, ()>,
        batch_buffer: Buffer,
    ) -> napi::Result<Self> {
        let server = SHARED
            .lock()
            .get(&key)
            .and_then(Weak::upgrade)
            .ok_or_else(|| napi::Error::from_reason(format!("no shared server under key {key}")))?;
        let events = Arc::new(EventQueue::new(server.inbound_queue_bytes()));
        events.set_waker(event_waker(
            &events,
            on_events,
            crate::server::batch_buffer(batch_buffer)?,
        )?);
        let index = index as usize;
        if !server.attach_worker(index, Arc::clone(&events)) {
            events.clear_waker();
            return Err(napi::Error::from_reason(format!(
                "worker index {index} is taken or not in 1..=64"
            )));
        }
        let addr = server.local_addr();
        Ok(Self {
            port: addr.port(),
            address: addr.ip().to_string(),
            server: Some(server),
            events,
            worker: Some(index),
            inline: None,
        })
    }

    /// Detaches worker `index` from the main thread's handle (the worker died without
    /// disposing): its sockets close with 1011. False if it was not attached.
    #[napi]
    pub fn detach_worker(&self, index: u32) -> napi::Result<bool> {
        Ok(self.server()?.detach_worker(index as usize))
    }
}
