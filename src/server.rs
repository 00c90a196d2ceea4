//! `NativeServer`: the core server as a JavaScript class.
//!
//! Events reach JavaScript through one threadsafe function, called at most once per batch:
//! the call runs on Node's main thread and drains the event queue straight into the batch
//! `Buffer` JavaScript gave the constructor (layout in `realtime_core::events::encode_into`,
//! decoded by `lib/runtime/batch.js`), then calls back with the length written. The same
//! buffer serves every batch, so a message flood allocates nothing per batch on either side
//! (a fresh buffer per batch left hundreds of MiB to the allocator under a flood); only an
//! event larger than the whole buffer comes as a `Buffer` of its own. The threadsafe function is strong (it keeps Node
//! alive while the server runs), unbounded in Node's own queue (our queue bounds itself and
//! wakes at most one pending call), and released by `dispose()` after the `Stopped` event.
//!
//! Every other method is synchronous and cheap: it queues bytes or flips state in Rust.
//! Connection ids are JavaScript numbers (integers below 2^53).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use napi::bindgen_prelude::{Buffer, FnArgs, Function, Uint8ArraySlice};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Either, Env, Status};
use napi_derive::napi;
use realtime_core::events::Drained;
use realtime_core::merge::MergeOptions;
use realtime_core::server::{HttpHead, HttpResponse, UpgradeDecision};
use realtime_core::{EventQueue, RunningServer, SendStatus};

use crate::options::NativeServerOptions;

/// Counters for diagnostics.
#[napi(object)]
pub struct NativeStats {
    pub connections: u32,
    pub topics: u32,
    pub inbound_queue_bytes: f64,
    /// Messages refused for backpressure since the server started.
    pub dropped_messages: f64,
    /// The Redis bus's counters, when one is attached.
    pub bus: Option<NativeBusStats>,
}

/// Counters of the Redis bus.
#[napi(object)]
pub struct NativeBusStats {
    /// This instance's id on the bus (16 hex digits).
    pub instance: String,
    /// Publishes sent to Redis.
    pub published: f64,
    /// Pipelines they went in: Redis round trips.
    pub pipelines: f64,
    /// Publishes that could not be sent (Redis down, queue full).
    pub publish_failed: f64,
    /// Messages from other instances delivered here.
    pub received: f64,
    /// Messages on our channels refused as foreign, malformed or oversized.
    pub dropped: f64,
    /// Times the connection to Redis was lost.
    pub outages: f64,
}

/// Where a topic's replay log stands.
#[napi(object)]
pub struct ReplayPosition {
    /// The log's epoch, 16 hex digits.
    pub epoch: String,
    /// The last sequence given out (0 before the first publish).
    pub seq: f64,
}

/// A running server. Create it with options and an event callback; it listens at once.
#[napi]
pub struct NativeServer {
    pub(crate) server: Option<Arc<RunningServer>>,
    pub(crate) events: Arc<EventQueue>,
    pub(crate) port: u16,
    pub(crate) address: String,
    /// For a worker thread's handle (`workers.rs`): its index, detached on `dispose`.
    pub(crate) worker: Option<usize>,
    /// The inline engine's driver (`engine: 'inline'`), closed on `dispose`.
    pub(crate) inline: Option<crate::inline::InlineDriver>,
}

/// Smallest batch buffer accepted: room for a batch of ordinary events.
const MIN_BATCH_BUFFER: usize = 64 * 1024;

fn id_of(id: i64) -> u64 {
    id.max(0) as u64
}

fn status(status: SendStatus) -> u32 {
    status as u32
}

/// `[name, value, name, value, ...]` → pairs.
fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut iter = flat.into_iter();
    while let (Some(name), Some(value)) = (iter.next(), iter.next()) {
        out.push((name, value));
    }
    out
}

/// The batch buffer JavaScript handed over, shared by the threadsafe function's callback and
/// the inline engine's (both on the runner's thread, never at once). Refuses a buffer too
/// small for a batch of ordinary events.
pub(crate) type BatchBuffer = Arc<parking_lot::Mutex<Buffer>>;

pub(crate) fn batch_buffer(buffer: Buffer) -> napi::Result<BatchBuffer> {
    if buffer.len() < MIN_BATCH_BUFFER {
        return Err(napi::Error::from_reason(format!(
            "batchBuffer must hold at least {MIN_BATCH_BUFFER} bytes"
        )));
    }
    Ok(Arc::new(parking_lot::Mutex::new(buffer)))
}

/// The waker of a hook runner's queue: calls `on_events` on the runner's thread, which
/// drains the queue into `batch_buffer` (see the module comment).
pub(crate) fn event_waker(
    events: &Arc<EventQueue>,
    on_events: Function<Either<u32, Buffer>, ()>,
    batch_buffer: BatchBuffer,
) -> napi::Result<impl Fn() + Send + Sync + 'static> {
    let drain_events = Arc::clone(events);
    let tsfn = on_events
        .build_threadsafe_function::<()>()
        .callee_handled::<false>()
        .build_callback(move |_ctx| {
            // A turn that held wakes and did not release (it cannot happen through the
            // runtime, which releases in a microtask) releases before the next batch.
            realtime_core::server::release_wakes();
            Ok(match drain_events.drain_into(&mut batch_buffer.lock()) {
                Drained::Written(len) => Either::A(len as u32),
                Drained::Oversized(alone) => Either::B(Buffer::from(alone)),
            })
        })?;
    Ok(move || {
        tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
    })
}

#[napi]
impl NativeServer {
    /// Starts listening. `onEvents(batch)` is called on the main thread whenever events are
    /// waiting: `batch` is the number of bytes written at the start of `batchBuffer`, or a
    /// `Buffer` holding one event too large for it. Throws if an option is invalid or the
    /// port cannot be bound.
    #[napi(constructor)]
    pub fn new(
        env: Env,
        options: NativeServerOptions,
        on_events: Function<Either<u32, Buffer>, ()>,
        batch_buffer: Buffer,
    ) -> napi::Result<Self> {
        let config = options.into_config()?;
        let events = Arc::new(EventQueue::new(config.inbound_queue_bytes));
        let batch = self::batch_buffer(batch_buffer)?;
        let server = RunningServer::start(config, Arc::clone(&events))
            .map_err(|e| napi::Error::new(Status::GenericFailure, e.to_string()))?;
        let inline = match server.take_inline_engine() {
            Some(engine) => Some(crate::inline::start(
                &env,
                engine,
                &events,
                &on_events,
                Arc::clone(&batch),
            )?),
            None => None,
        };
        let wake = event_waker(&events, on_events, batch)?;
        events.set_waker(wake);
        let addr = server.local_addr();
        Ok(Self {
            port: addr.port(),
            address: addr.ip().to_string(),
            server: Some(Arc::new(server)),
            events,
            worker: None,
            inline,
        })
    }

    pub(crate) fn server(&self) -> napi::Result<&RunningServer> {
        self.server
            .as_deref()
            .ok_or_else(|| napi::Error::from_reason("the server has been disposed"))
    }

    /// The port the server listens on.
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        u32::from(self.port)
    }

    /// Where the WebSockets run: `inline` (this thread's event loop) or `threads`.
    #[napi(getter)]
    pub fn engine(&self) -> String {
        if self.inline.is_some() {
            "inline"
        } else {
            "threads"
        }
        .to_string()
    }

    /// The address the server listens on.
    #[napi(getter)]
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// Sends a text frame. Returns 0 (backpressure), 1 (success) or 2 (dropped).
    #[napi]
    pub fn send_text(&self, id: i64, text: String) -> napi::Result<u32> {
        Ok(status(self.server()?.send_text(id_of(id), &text)))
    }

    /// Sends a binary frame (the bytes are copied once, into the frame).
    #[napi]
    pub fn send_binary(&self, id: i64, data: Uint8ArraySlice) -> napi::Result<u32> {
        Ok(status(self.server()?.send_binary(id_of(id), &data)))
    }

    /// Sends the envelope `{"topic","event","data"}` to one socket; `dataJson` is JSON text.
    #[napi]
    pub fn send_envelope(
        &self,
        id: i64,
        topic: String,
        event: String,
        data_json: String,
    ) -> napi::Result<u32> {
        let server = self.server()?;
        Ok(status(server.send_envelope(
            id_of(id),
            &topic,
            &event,
            Some(&data_json),
        )))
    }

    /// From now until `releaseWakes()`, the sockets this thread queues frames for are woken
    /// together at the release (one wake per I/O thread, one write per socket). The caller
    /// must release, and soon: the runtime does in a microtask at the end of the turn.
    #[napi]
    pub fn hold_wakes(&self) {
        realtime_core::server::hold_wakes();
    }

    /// Wakes the sockets held since `holdWakes()`.
    #[napi]
    pub fn release_wakes(&self) {
        realtime_core::server::release_wakes();
    }

    /// Sends a batch of text frames (records `id f64 | length u32 | UTF-8`, little-endian),
    /// waking each socket once; returns how many were queued.
    #[napi]
    pub fn send_batch(&self, batch: Uint8ArraySlice) -> napi::Result<u32> {
        Ok(self.server()?.send_batch(&batch) as u32)
    }

    /// Sends one envelope, built once, to several sockets; returns how many accepted it.
    #[napi]
    pub fn send_envelope_many(
        &self,
        ids: Vec<i64>,
        topic: String,
        event: String,
        data_json: String,
    ) -> napi::Result<u32> {
        let ids: Vec<u64> = ids.into_iter().map(id_of).collect();
        let sent = self
            .server()?
            .send_envelope_many(&ids, &topic, &event, Some(&data_json));
        Ok(sent as u32)
    }

    /// Publishes an envelope to a topic's subscribers; returns how many there were.
    #[napi]
    /// With a bus attached it is relayed to the other instances too, unless `relay` is false.
    pub fn publish(
        &self,
        topic: String,
        event: String,
        data_json: String,
        relay: Option<bool>,
    ) -> napi::Result<u32> {
        let relay = relay.unwrap_or(true);
        Ok(self
            .server()?
            .publish_with(&topic, &event, Some(&data_json), relay) as u32)
    }

    /// Resolves once the Redis bus confirmed its subscription of `topic` (true), or right
    /// away without a bus; false after 2 s or while Redis is unreachable.
    #[napi]
    pub async fn bus_ready(&self, topic: String) -> napi::Result<bool> {
        let ready = self.server()?.bus_ready(&topic, Duration::from_secs(2));
        Ok(ready.await)
    }

    /// Connects the server to the Redis bus at `url` on channel prefix `channel`. False if a
    /// bus is attached already. Throws for a URL that cannot be parsed; connecting happens in
    /// the background.
    #[napi]
    pub fn attach_bus(&self, url: String, channel: String) -> napi::Result<bool> {
        let config = realtime_core::bus::BusConfig { url, channel };
        self.server()?
            .attach_bus(config)
            .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    /// Listens for Postgres NOTIFY on `channel` over its own connection to `pg`'s server and
    /// publishes each notification here (never relayed to other instances: each listens
    /// itself). Without `parse`, payloads are `{topic, event, data}` JSON read in Rust and
    /// anything else is dropped (counted); with it, `parse(channel, payload)` gets each one.
    #[napi]
    pub fn listen_notify(
        &self,
        pg: &crate::postgres::NativePg,
        channel: String,
        reconnect_ms: f64,
        auto_reconnect: bool,
        parse: Option<Function<FnArgs<(String, String)>, ()>>,
    ) -> napi::Result<crate::postgres::NativeNotify> {
        crate::postgres::listen(
            self.server()?,
            pg,
            channel,
            reconnect_ms,
            auto_reconnect,
            parse,
        )
    }

    /// Starts (or keeps) the replay log of `topic` with room for `size` events: from now on
    /// its envelopes carry `"seq"`. Resolves to `{ epoch, seq }` where the log stands; with a
    /// Redis bus the log is the shared one in Redis, and null while Redis cannot answer.
    #[napi]
    pub async fn replay_enable(
        &self,
        topic: String,
        size: u32,
    ) -> napi::Result<Option<ReplayPosition>> {
        let position = self.server()?.replay_enable(&topic, size as usize).await;
        Ok(position.map(|position| ReplayPosition {
            epoch: realtime_core::replay::epoch_text(position.epoch),
            seq: position.seq as f64,
        }))
    }

    /// The events after `seq` as a JSON array of `{seq, event, data}`, or null when the log of
    /// `epoch` does not hold them all (the client must refetch).
    #[napi]
    pub async fn replay_since(
        &self,
        topic: String,
        epoch: String,
        seq: f64,
    ) -> napi::Result<Option<String>> {
        let Some(epoch) = realtime_core::replay::parse_epoch(&epoch) else {
            return Ok(None);
        };
        if !(seq.is_finite() && seq >= 0.0 && seq.fract() == 0.0) {
            return Ok(None);
        }
        Ok(self.server()?.replay_since(&topic, epoch, seq as u64).await)
    }

    /// Subscribes a socket (and grants the topic to its client).
    #[napi]
    pub fn subscribe(&self, id: i64, topic: String) -> napi::Result<bool> {
        Ok(self.server()?.subscribe(id_of(id), &topic))
    }

    /// Unsubscribes a socket (and withdraws the grant).
    #[napi]
    pub fn unsubscribe(&self, id: i64, topic: String) -> napi::Result<bool> {
        Ok(self.server()?.unsubscribe(id_of(id), &topic))
    }

    #[napi]
    pub fn is_subscribed(&self, id: i64, topic: String) -> napi::Result<bool> {
        Ok(self.server()?.is_subscribed(id_of(id), &topic))
    }

    #[napi]
    pub fn topics(&self, id: i64) -> napi::Result<Vec<String>> {
        Ok(self.server()?.topics(id_of(id)))
    }

    /// Keeps server-side state for a presence/cursor channel topic until its last
    /// subscriber leaves; publishes to it are merged in. `merge` is a strategy name.
    #[napi]
    /// With `anchor`, the state also lives while that topic has subscribers.
    pub fn track_topic(
        &self,
        topic: String,
        merge: String,
        key: String,
        anchor: Option<String>,
    ) -> napi::Result<()> {
        let strategy = merge
            .parse()
            .map_err(|e: realtime_core::merge::MergeOptionsError| {
                napi::Error::from_reason(e.to_string())
            })?;
        let options = MergeOptions {
            strategy,
            key,
            ..MergeOptions::default()
        };
        self.server()?
            .track_topic(&topic, options, anchor.as_deref());
        Ok(())
    }

    /// The tracked state of a channel topic as JSON text, or null when untracked. With a
    /// Redis bus, a presence or cursor topic's state is every instance's, read from Redis.
    #[napi]
    pub async fn topic_state(&self, topic: String) -> napi::Result<Option<String>> {
        Ok(self.server()?.topic_state_shared(&topic).await)
    }

    #[napi]
    pub fn subscriber_count(&self, topic: String) -> napi::Result<u32> {
        Ok(self.server()?.subscriber_count(&topic) as u32)
    }

    #[napi]
    pub fn connection_count(&self) -> u32 {
        self.server
            .as_ref()
            .map_or(0, |s| s.connection_count() as u32)
    }

    #[napi]
    pub fn buffered_amount(&self, id: i64) -> napi::Result<f64> {
        Ok(self.server()?.buffered_amount(id_of(id)) as f64)
    }

    /// Closes with a close frame; false if the socket is unknown or already closing.
    #[napi]
    pub fn end(&self, id: i64, code: u32, reason: String) -> napi::Result<bool> {
        let code = u16::try_from(code).unwrap_or(1000);
        Ok(self.server()?.end(id_of(id), code, &reason))
    }

    /// Closes at once without a close frame.
    #[napi]
    pub fn abort(&self, id: i64) -> napi::Result<bool> {
        Ok(self.server()?.abort(id_of(id)))
    }

    /// Answers an upgrade: 101 accepts, any other status refuses with it. False if the
    /// upgrade is no longer waiting (the caller must drop the user data it kept).
    #[napi]
    pub fn resolve_upgrade(&self, id: i64, status: u32) -> napi::Result<bool> {
        let decision = match status {
            101 => UpgradeDecision::Accept,
            other => UpgradeDecision::Reject(u16::try_from(other).unwrap_or(500)),
        };
        Ok(self.server()?.resolve_upgrade(id_of(id), decision))
    }

    /// Answers an HTTP request whole (sent with Content-Length). `headers` alternates names
    /// and values.
    #[napi]
    pub fn respond_http(
        &self,
        id: i64,
        status: u32,
        headers: Vec<String>,
        body: Either<Uint8ArraySlice, String>,
    ) -> napi::Result<bool> {
        let body = match body {
            Either::A(bytes) => Bytes::copy_from_slice(&bytes),
            Either::B(text) => Bytes::from(text),
        };
        let response = HttpResponse {
            status: u16::try_from(status).unwrap_or(500),
            headers: pairs(headers),
            body,
        };
        Ok(self.server()?.respond_http(id_of(id), response))
    }

    /// Sends a response head (status and header pairs); body chunks and the end follow.
    #[napi]
    pub fn respond_head(&self, id: i64, status: u32, headers: Vec<String>) -> napi::Result<bool> {
        let head = HttpHead {
            status: u16::try_from(status).unwrap_or(500),
            headers: pairs(headers),
        };
        Ok(self.server()?.respond_head(id_of(id), head))
    }

    /// Queues a response body chunk (copied). 0: more may follow; 1: queued, wait for the
    /// drain event before the next; 2: the response is gone, stop.
    #[napi]
    pub fn respond_chunk(&self, id: i64, chunk: Uint8ArraySlice) -> napi::Result<u32> {
        let status = self
            .server()?
            .respond_chunk(id_of(id), Bytes::copy_from_slice(&chunk));
        Ok(status as u32)
    }

    /// Ends a response body.
    #[napi]
    pub fn respond_end(&self, id: i64) -> napi::Result<bool> {
        Ok(self.server()?.respond_end(id_of(id)))
    }

    /// Starts the graceful shutdown; a `Stopped` event follows. Idempotent.
    #[napi]
    pub fn shutdown(&self, timeout_ms: f64) -> napi::Result<()> {
        let timeout = Duration::from_secs_f64(timeout_ms.max(0.0) / 1000.0);
        self.server()?.begin_shutdown(timeout);
        Ok(())
    }

    /// Tells shutdown that the handlers in flight at the `Drained` event are done, so the
    /// sockets close now (after their replies) instead of at the timeout.
    /// A no-op once the server has stopped.
    #[napi]
    pub fn finish_shutdown(&self) {
        if let Some(server) = &self.server {
            server.finish_shutdown();
        }
    }

    /// Releases the event callback and the I/O threads. Call after `Stopped`. Idempotent.
    #[napi]
    pub fn dispose(&mut self) {
        self.events.clear_waker();
        if let Some(inline) = self.inline.take() {
            inline.close();
        }
        if let (Some(server), Some(index)) = (&self.server, self.worker) {
            server.detach_worker(index);
        }
        self.server.take();
    }

    #[napi]
    pub fn stats(&self) -> NativeStats {
        let stats = self.server.as_deref().map(RunningServer::stats);
        NativeStats {
            connections: stats.map_or(0, |s| s.connections as u32),
            topics: stats.map_or(0, |s| s.topics as u32),
            inbound_queue_bytes: stats.map_or(0.0, |s| s.inbound_queue_bytes as f64),
            dropped_messages: stats.map_or(0.0, |s| s.dropped_messages as f64),
            bus: self.server.as_ref().and_then(|server| {
                let counts = server.bus_counts()?;
                Some(NativeBusStats {
                    instance: server.bus_instance().unwrap_or_default(),
                    published: counts.published as f64,
                    pipelines: counts.pipelines as f64,
                    publish_failed: counts.publish_failed as f64,
                    received: counts.received as f64,
                    dropped: counts.dropped as f64,
                    outages: counts.outages as f64,
                })
            }),
        }
    }
}
