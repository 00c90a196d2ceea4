//! The HTTP/WebSocket server and the handle the binding drives it with.
//!
//! [`RunningServer::start`] builds a multi-thread tokio runtime, binds, and spawns the accept
//! loop (`listener`). Each TCP connection is served by hyper (`http`); requests on the
//! WebSocket path become upgrades (`upgrade`) and then connections (`connection`). The
//! synchronous methods of [`RunningServer`] (send, publish, subscribe, ...) are what the
//! binding calls from Node's main thread: they only push into outboxes and take short
//! locks, never block on I/O. Shutdown follows a fixed order (`shutdown`).

mod bus_link;
mod coalesce;
mod connection;
mod driver;
mod engine;
mod handler;
mod http;
mod listener;
mod notify_link;
mod park;
mod shutdown;
mod socket;
mod static_files;
mod sweeper;
mod topic_state;
mod upgrade;
pub mod workers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use thiserror::Error;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use connection::{BACKPRESSURE_CLOSE_CODE, Conn};
pub use engine::{InlineEngine, hold_wakes, release_wakes};
pub use handler::{ChunkStatus, HttpHead, HttpResponse, RESPONSE_CHUNKS};
pub use notify_link::{NotifyParse, parse_json as parse_notification};
pub use static_files::{StaticConfig, StaticDir};
pub use upgrade::UpgradeDecision;

use crate::bus::{Bus, BusConfig, BusCounts, BusError};
use crate::config::{ConfigError, ServerConfig};
use crate::events::{Event, EventQueue};
use crate::hub::Hub;
use crate::outbox::SendStatus;
use crate::ws::encode;
use crate::{ConnId, envelope, reply_batch};

/// Why the server did not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("invalid option: {0}")]
    Config(#[from] ConfigError),
    #[error("could not start the I/O runtime: {0}")]
    Runtime(std::io::Error),
    #[error("could not resolve host {host:?}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("could not index static files: {0}")]
    Static(std::io::Error),
    #[error("could not listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

const CONN_SHARDS: usize = 16;

/// Connection ids are sequential integers of our own: a plain multiply hash serves them
/// (SipHash was a visible share of each reply batch).
type ConnShard = RwLock<FxHashMap<ConnId, Arc<Conn>>>;

/// State shared by every task of one server.
pub(crate) struct Shared {
    pub config: ServerConfig,
    /// The clock of connection timestamps (idle, close deadlines).
    pub clock: connection::Clock,
    pub events: Arc<EventQueue>,
    /// Worker threads' event queues, attached at run time (`workers`).
    pub workers: workers::Workers,
    /// Postgres NOTIFY listeners by channel (`listen_notify`).
    listeners: Mutex<HashMap<String, Arc<crate::postgres::notify::Listener>>>,
    pub hub: Hub<Arc<Conn>>,
    /// State of presence/cursor channel topics (see `topic_state`).
    pub topic_states: topic_state::TopicStates,
    /// Replay logs of the topics streams with `replay` use (see `crate::replay`).
    pub replay: crate::replay::ReplayLogs,
    /// Static files served by Rust (see `static_files`).
    pub statics: static_files::Index,
    /// Open WebSockets by id. Read-mostly: lookups on every send.
    conns: Box<[ConnShard]>,
    conn_count: AtomicUsize,
    /// Messages refused for backpressure since start, all connections together.
    pub dropped: Arc<AtomicU64>,
    next_id: AtomicU64,
    /// Open WebSockets plus upgrades in progress, checked against `max_connections`.
    slots: AtomicUsize,
    pending_upgrades: Mutex<HashMap<ConnId, oneshot::Sender<UpgradeDecision>>>,
    pending_http: Mutex<HashMap<ConnId, handler::Pending>>,
    /// Cancelled when shutdown starts: stops accepting, makes hyper finish gracefully.
    shutdown: CancellationToken,
    /// Set by the first `begin_shutdown`, so the sequence runs once.
    shutdown_started: std::sync::atomic::AtomicBool,
    /// Every connection task, so shutdown can wait for them.
    tracker: TaskTracker,
    /// One token per socket still reading; shutdown waits for all of them to pause.
    readers: TaskTracker,
    /// Notified by the hook runner when its in-flight handlers are done (`finish_shutdown`).
    /// One permit per hook runner (main thread and each worker) done at `Drained`.
    handlers_done: tokio::sync::Semaphore,
    /// The Redis bus, once attached (`attach_bus`).
    pub bus: OnceLock<Arc<Bus>>,
    /// The connection engines that run the open WebSockets (`engine`).
    engines: engine::Engines,
}

impl Shared {
    fn new(
        config: ServerConfig,
        events: Arc<EventQueue>,
        statics: static_files::Index,
        engines: engine::Engines,
    ) -> Self {
        let dropped = Arc::clone(&engines.dropped);
        Self {
            engines,
            clock: connection::Clock,
            workers: workers::Workers::new(Arc::clone(&events)),
            events,
            listeners: Mutex::new(HashMap::new()),
            hub: Hub::new(),
            topic_states: topic_state::TopicStates::default(),
            replay: crate::replay::ReplayLogs::default(),
            statics,
            conns: (0..CONN_SHARDS)
                .map(|_| RwLock::new(FxHashMap::default()))
                .collect(),
            conn_count: AtomicUsize::new(0),
            dropped,
            next_id: AtomicU64::new(1),
            slots: AtomicUsize::new(0),
            pending_upgrades: Mutex::new(HashMap::new()),
            pending_http: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            shutdown_started: std::sync::atomic::AtomicBool::new(false),
            tracker: TaskTracker::new(),
            readers: TaskTracker::new(),
            handlers_done: tokio::sync::Semaphore::new(0),
            bus: OnceLock::new(),
            config,
        }
    }

    pub(crate) fn next_id(&self) -> ConnId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn shard(&self, id: ConnId) -> &ConnShard {
        &self.conns[(id as usize) % CONN_SHARDS]
    }

    pub(crate) fn conn(&self, id: ConnId) -> Option<Arc<Conn>> {
        self.shard(id).read().get(&id).cloned()
    }

    pub(crate) fn insert_conn(&self, conn: Arc<Conn>) {
        self.shard(conn.id).write().insert(conn.id, conn);
        self.conn_count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn remove_conn(&self, id: ConnId) -> Option<Arc<Conn>> {
        let removed = self.shard(id).write().remove(&id);
        if removed.is_some() {
            self.conn_count.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Calls `f` for every open WebSocket, each shard under its read lock (`f` must not
    /// wait or take a shard lock).
    pub(crate) fn for_each_conn(&self, mut f: impl FnMut(&Arc<Conn>)) {
        for shard in self.conns.iter() {
            for conn in shard.read().values() {
                f(conn);
            }
        }
    }

    pub(crate) fn all_conns(&self) -> Vec<Arc<Conn>> {
        self.conns
            .iter()
            .flat_map(|shard| shard.read().values().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// Shutdown has begun: set synchronously by `begin_shutdown` (and on drop), so a message a
    /// socket reads after `close()` returned is never handled. One atomic load: sockets ask
    /// it per message.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown_started.load(Ordering::Acquire)
    }

    /// Delivers an envelope to this process's subscribers of `topic` (merging it into a
    /// tracked channel's state first); returns how many were reached.
    pub(crate) fn publish_local(
        self: &Arc<Self>,
        topic: &str,
        event: &str,
        data_json: Option<&str>,
    ) -> usize {
        if self.bus.get().is_some() {
            // With a bus, sequences come from Redis (`deliver`); a publish that is not
            // relayed (NOTIFY) goes out without one.
            return self.deliver(topic, event, data_json, None);
        }
        self.topic_states.apply(topic, event, data_json);
        if let Some(log) = self.replay.get(topic) {
            // Sequence and delivery under the topic's lock: subscribers see them in order.
            let mut log = log.lock();
            let seq = log.record(event, data_json.unwrap_or("null"));
            if self.hub.subscriber_count(topic) == 0 {
                return 0;
            }
            let frame = envelope::framed_seq(topic, event, data_json, Some(seq));
            return self.push_to_subscribers(topic, &frame);
        }
        if self.hub.subscriber_count(topic) == 0 {
            return 0;
        }
        let frame = envelope::framed(topic, event, data_json);
        self.publish_frame(topic, &frame)
    }

    /// Queues a publish's `frame` for the subscribers of `topic`: as part of this thread's
    /// run of publishes (`coalesce`) inside a held turn, else now. Returns how many
    /// subscribers there are.
    pub(crate) fn publish_frame(self: &Arc<Self>, topic: &str, frame: &Bytes) -> usize {
        if coalesce::publish(self, topic, frame) {
            return self.hub.subscriber_count(topic);
        }
        self.push_to_subscribers(topic, frame)
    }

    /// Queues `frame` (the same bytes) for every subscriber of `topic`, waking each engine
    /// once; returns how many subscribers there were.
    pub(crate) fn push_to_subscribers(&self, topic: &str, frame: &Bytes) -> usize {
        // This thread's pending run first, and outside the hub's lock taken below.
        coalesce::flush();
        engine::gathering_wakes(|| {
            self.hub.for_each_subscriber(topic, |conn| {
                conn.push_flushed(frame.clone(), true, 1);
            })
        })
    }

    /// Delivers one publish to the local subscribers, with `seq` in the envelope if given.
    pub(crate) fn deliver(
        self: &Arc<Self>,
        topic: &str,
        event: &str,
        data_json: Option<&str>,
        seq: Option<u64>,
    ) -> usize {
        self.topic_states.apply(topic, event, data_json);
        if self.hub.subscriber_count(topic) == 0 {
            return 0;
        }
        let frame = envelope::framed_seq(topic, event, data_json, seq);
        if seq.is_some() {
            // In sequence order across threads: not held back in a run.
            return self.push_to_subscribers(topic, &frame);
        }
        self.publish_frame(topic, &frame)
    }

    pub(crate) fn log(&self, level: u16, message: impl Into<String>) {
        self.events.push(Event::Log {
            level,
            message: message.into(),
        });
    }
}

/// A reserved place under `max_connections`, released on drop.
pub(crate) struct Slot(Arc<Shared>);

impl Slot {
    pub(crate) fn reserve(shared: &Arc<Shared>) -> Option<Slot> {
        let max = shared.config.max_connections;
        shared
            .slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(Slot(Arc::clone(shared)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.slots.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counters for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub connections: usize,
    pub topics: usize,
    pub inbound_queue_bytes: usize,
    /// Messages refused for backpressure since the server started.
    pub dropped_messages: u64,
}

/// A started server. Dropping it stops the runtime without the graceful sequence; call
/// [`RunningServer::begin_shutdown`] and wait for [`Event::Stopped`] first.
pub struct RunningServer {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    local_addr: SocketAddr,
}

impl RunningServer {
    /// Validates `config`, starts the runtime and listens. Events go to `events`.
    pub fn start(config: ServerConfig, events: Arc<EventQueue>) -> Result<Self, StartError> {
        config.validate()?;
        let threads = config.io_threads();
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        let settle = config.on_worker_idle.map(park::Settle::new);
        if let Some(settle) = &settle {
            let settle = Arc::clone(settle);
            builder.on_thread_park(move || settle.parked());
        }
        let runtime = builder
            .thread_name("svelte-realtime-io")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        if let Some(settle) = settle {
            runtime.spawn(settle.run());
        }
        let statics =
            static_files::Index::build(&config.static_files).map_err(StartError::Static)?;
        let engines = engine::Engines::start(
            threads,
            runtime.handle(),
            config.on_worker_idle,
            config.engine == crate::config::EngineMode::Inline,
        )
        .map_err(StartError::Runtime)?;
        let shared = Arc::new(Shared::new(config, events, statics, engines));
        let listener = {
            let _context = runtime.enter();
            listener::bind(&shared.config)?
        };
        let local_addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: SocketAddr::from(([0, 0, 0, 0], shared.config.port)),
            source,
        })?;
        runtime.spawn(listener::accept_loop(Arc::clone(&shared), listener));
        runtime.spawn(sweeper::run(Arc::clone(&shared)));
        Ok(Self {
            shared,
            runtime: Some(runtime),
            local_addr,
        })
    }

    /// The inbound budget of one hook runner's queue (`inboundQueueBytes`).
    pub fn inbound_queue_bytes(&self) -> usize {
        self.shared.config.inbound_queue_bytes
    }

    /// The address the server listens on (with the real port when `port` was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sends a text frame to one socket.
    pub fn send_text(&self, id: ConnId, text: &str) -> SendStatus {
        self.push(id, encode::frame(encode::TEXT, text.as_bytes()))
    }

    /// Sends a binary frame to one socket.
    pub fn send_binary(&self, id: ConnId, data: &[u8]) -> SendStatus {
        self.push(id, encode::frame(encode::BINARY, data))
    }

    /// Queues a frame built by `ws::encode` for one socket.
    fn push(&self, id: ConnId, frame: Bytes) -> SendStatus {
        match self.shared.conn(id) {
            Some(conn) => conn.push(frame),
            None => SendStatus::Dropped,
        }
    }

    /// Sends one envelope to one socket (`platform.send`).
    pub fn send_envelope(
        &self,
        id: ConnId,
        topic: &str,
        event: &str,
        data_json: Option<&str>,
    ) -> SendStatus {
        self.push(id, envelope::framed(topic, event, data_json))
    }

    /// Sends a batch of text frames, each to one socket: the records `lib/runtime/outbound.js`
    /// writes for the replies of one dispatch turn (layout in `reply_batch`). Every socket is
    /// woken once, after all its frames are queued, so its task writes them in one `writev`. Returns how many frames were queued; a malformed
    /// record ends the batch.
    pub fn send_batch(&self, batch: &[u8]) -> usize {
        let mut queued = 0;
        // Publishes this thread made before the replies go first (socket FIFO), once.
        coalesce::flush();
        // Each socket looked up once per batch, and notified once at the end.
        let mut touched: FxHashMap<ConnId, Option<Arc<Conn>>> = FxHashMap::default();
        for (id, frame) in reply_batch::frames(batch) {
            let conn = touched.entry(id).or_insert_with(|| self.shared.conn(id));
            if let Some(conn) = conn
                && conn.push_flushed(frame, false, 1) != SendStatus::Dropped
            {
                queued += 1;
            }
        }
        engine::gathering_wakes(|| {
            for conn in touched.into_values().flatten() {
                conn.outbox.notify();
            }
        });
        queued
    }

    /// Sends one envelope, built once, to several sockets (`platform.sendTo`). Returns how
    /// many accepted it.
    pub fn send_envelope_many(
        &self,
        ids: &[ConnId],
        topic: &str,
        event: &str,
        data_json: Option<&str>,
    ) -> usize {
        let frame = envelope::framed(topic, event, data_json);
        engine::gathering_wakes(|| {
            ids.iter()
                .filter(|&&id| self.push(id, frame.clone()) != SendStatus::Dropped)
                .count()
        })
    }

    /// Publishes an envelope to every subscriber of `topic`, here and, with a bus attached,
    /// on every other instance; returns how many local subscribers were reached. A tracked
    /// channel topic merges the event into its state first.
    pub fn publish(&self, topic: &str, event: &str, data_json: Option<&str>) -> usize {
        self.publish_with(topic, event, data_json, true)
    }

    /// [`publish`](Self::publish), relayed to other instances only if `relay`.
    pub fn publish_with(
        &self,
        topic: &str,
        event: &str,
        data_json: Option<&str>,
        relay: bool,
    ) -> usize {
        let data = data_json.unwrap_or("null");
        match self.shared.bus.get() {
            Some(bus) if relay => {
                let replay = self.shared.replay.get(topic).map(|log| log.lock().size());
                let state = self
                    .shared
                    .topic_states
                    .shared_kind(topic)
                    .and_then(|cursor| crate::bus::presence::op_of(cursor, event, data));
                if replay.is_some() {
                    // Sequenced in Redis; our subscribers get it when it comes back.
                    bus.publish(topic, event, data, replay, state);
                    return self.shared.hub.subscriber_count(topic);
                }
                let reached = self.shared.deliver(topic, event, data_json, None);
                bus.publish(topic, event, data, None, state);
                reached
            }
            _ => self.shared.publish_local(topic, event, data_json),
        }
    }

    /// Connects this server to the Redis bus (see `crate::bus`): publishes are relayed to
    /// the other instances on the same channel, theirs are delivered here. Connecting and
    /// reconnecting happen in the background. `Ok(false)` if a bus is attached already.
    pub fn attach_bus(&self, config: BusConfig) -> Result<bool, BusError> {
        match &self.runtime {
            Some(runtime) => bus_link::attach(&self.shared, config, runtime.handle()),
            None => Ok(false),
        }
    }

    /// Resolves once the bus has confirmed its Redis subscription of `topic` (at once without
    /// a bus, or while Redis is down; at most `timeout`). The stream path awaits it before
    /// answering a first subscribe, so no publish from another instance falls in between.
    pub fn bus_ready(
        &self,
        topic: &str,
        timeout: Duration,
    ) -> impl std::future::Future<Output = bool> + Send + 'static {
        let bus = self.shared.bus.get().cloned();
        let topic: Arc<str> = Arc::from(topic);
        async move {
            match bus {
                Some(bus) => bus.wait_subscribed(&topic, timeout).await,
                None => true,
            }
        }
    }

    /// Starts a Postgres NOTIFY listener whose notifications are published here (never
    /// relayed: every instance listens itself). `None` once the server stopped.
    pub fn listen_notify(
        &self,
        pg: tokio_postgres::Config,
        config: crate::postgres::notify::ListenConfig,
        parse: NotifyParse,
    ) -> Option<Arc<crate::postgres::notify::Listener>> {
        let runtime = self.runtime.as_ref()?;
        // One LISTEN per channel per process, whichever runner (worker thread) asks first.
        let mut listeners = self.shared.listeners.lock();
        if let Some(listener) = listeners.get(&config.channel)
            && !listener.is_stopped()
        {
            return Some(Arc::clone(listener));
        }
        let channel = config.channel.clone();
        let listener = notify_link::listen(&self.shared, pg, config, parse, runtime.handle());
        listeners.insert(channel, Arc::clone(&listener));
        Some(listener)
    }

    /// Starts (or keeps) the replay log of `topic` with room for `size` events; from now on
    /// its publishes carry a sequence. Returns where the log stands.
    ///
    /// With a bus the log is the shared one in Redis (`crate::bus::replay`); `None` while
    /// Redis cannot answer (the stream then answers without replay).
    pub fn replay_enable(
        &self,
        topic: &str,
        size: usize,
    ) -> impl std::future::Future<Output = Option<crate::replay::Position>> + Send + 'static {
        let local = self.shared.replay.enable(topic, size);
        let bus = self.shared.bus.get().cloned();
        let topic = topic.to_string();
        async move {
            let Some(bus) = bus else {
                return Some(local);
            };
            match bus.replay_position(&topic, size).await {
                Ok((seq, epoch)) => Some(crate::replay::Position { epoch, seq }),
                Err(_) => None,
            }
        }
    }

    /// The events of `topic` after `seq` as a JSON array, if the log of `epoch` still holds
    /// them all; `None` means the client must refetch.
    pub fn replay_since(
        &self,
        topic: &str,
        epoch: u64,
        seq: u64,
    ) -> impl std::future::Future<Output = Option<String>> + Send + 'static {
        let bus = self.shared.bus.get().cloned();
        let local = match bus {
            None => self.shared.replay.since(topic, epoch, seq),
            Some(_) => None,
        };
        let topic = topic.to_string();
        async move {
            match bus {
                None => local,
                Some(bus) => bus.replay_since(&topic, epoch, seq).await.ok().flatten(),
            }
        }
    }

    /// Attaches a JavaScript worker thread's event queue as worker `index` (1..=64): from now
    /// on new sockets and requests may be given to it (see `workers`). False if the index is
    /// taken or out of range.
    pub fn attach_worker(&self, index: usize, queue: Arc<EventQueue>) -> bool {
        self.shared.workers.attach(index, queue)
    }

    /// Detaches worker `index` (it exited or crashed): its sockets close with 1011 and its
    /// HTTP requests in flight are answered 503; new work goes to the others.
    pub fn detach_worker(&self, index: usize) -> bool {
        if !self.shared.workers.detach(index) {
            return false;
        }
        for conn in self.shared.all_conns() {
            if conn.worker.index() == index {
                conn.start_close(1011, "Worker exited", false);
            }
        }
        self.shared
            .pending_http
            .lock()
            .retain(|_, pending| pending.worker.index() != index);
        true
    }

    /// The bus's counters, if one is attached.
    pub fn bus_counts(&self) -> Option<BusCounts> {
        self.shared.bus.get().map(|bus| bus.counts())
    }

    /// The attached bus's instance id (hex), if any.
    pub fn bus_instance(&self) -> Option<String> {
        self.shared.bus.get().map(|bus| bus.instance_hex())
    }

    /// Publishes a frame built by `ws::encode` to every subscriber of `topic`: the same
    /// bytes are queued for all of them.
    pub fn publish_frame(&self, topic: &str, frame: Bytes) -> usize {
        self.shared.publish_frame(topic, &frame)
    }

    /// Server-side subscribe; grants the topic to the client as well.
    pub fn subscribe(&self, id: ConnId, topic: &str) -> bool {
        self.shared
            .conn(id)
            .is_some_and(|conn| conn.subscribe(&self.shared, topic))
    }

    /// Server-side unsubscribe; withdraws the grant.
    pub fn unsubscribe(&self, id: ConnId, topic: &str) -> bool {
        self.shared
            .conn(id)
            .is_some_and(|conn| conn.unsubscribe(&self.shared, topic, true))
    }

    pub fn is_subscribed(&self, id: ConnId, topic: &str) -> bool {
        self.shared.hub.is_subscribed(topic, id)
    }

    /// Topics the socket is subscribed to (empty once closed).
    pub fn topics(&self, id: ConnId) -> Vec<String> {
        self.shared
            .conn(id)
            .map(|conn| conn.topics())
            .unwrap_or_default()
    }

    /// Keeps server-side state for a presence/cursor channel topic (until its last
    /// subscriber leaves); later publishes to it are merged in.
    /// With `anchor`, the state also lives while that topic has subscribers (a room's
    /// presence, kept while the room's data topic has members).
    pub fn track_topic(
        &self,
        topic: &str,
        options: crate::merge::MergeOptions,
        anchor: Option<&str>,
    ) {
        self.shared.topic_states.track(topic, options, anchor);
    }

    /// The tracked state of `topic` as JSON text.
    pub fn topic_state_json(&self, topic: &str) -> Option<String> {
        self.shared.topic_states.snapshot(topic)
    }

    /// [`topic_state_json`](Self::topic_state_json), from Redis for a presence or cursor
    /// topic when a bus is attached (every instance's members; see `crate::bus::presence`).
    /// Falls back to the local state while Redis cannot answer.
    pub fn topic_state_shared(
        &self,
        topic: &str,
    ) -> impl std::future::Future<Output = Option<String>> + Send + 'static {
        let local = self.shared.topic_states.snapshot(topic);
        let kind = self.shared.topic_states.shared_kind(topic);
        let bus = self.shared.bus.get().cloned();
        let topic = topic.to_string();
        async move {
            match (bus, kind) {
                (Some(bus), Some(cursor)) => match bus.shared_state(&topic, cursor).await {
                    Ok(json) => Some(json),
                    Err(_) => local,
                },
                _ => local,
            }
        }
    }

    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.shared.hub.subscriber_count(topic)
    }

    pub fn connection_count(&self) -> usize {
        self.shared.conn_count.load(Ordering::Relaxed)
    }

    /// Bytes queued for the socket and not yet written (`getBufferedAmount`).
    pub fn buffered_amount(&self, id: ConnId) -> usize {
        self.shared
            .conn(id)
            .map_or(0, |conn| conn.outbox.buffered())
    }

    /// Closes gracefully with a close frame (`ws.end`). False if unknown or closing.
    pub fn end(&self, id: ConnId, code: u16, reason: &str) -> bool {
        self.shared
            .conn(id)
            .is_some_and(|conn| conn.start_close(code, reason, false))
    }

    /// Closes at once without a close frame (`ws.close`); the hook sees 1006.
    pub fn abort(&self, id: ConnId) -> bool {
        self.shared.conn(id).map(|conn| conn.abort()).is_some()
    }

    /// Answers an upgrade the `upgrade` hook was asked about. False if the request is gone
    /// (client left, timed out, server stopping): the caller must then forget the user data.
    pub fn resolve_upgrade(&self, id: ConnId, decision: UpgradeDecision) -> bool {
        upgrade::resolve(&self.shared, id, decision)
    }

    /// Answers an HTTP request whole (head, body, end). False if the request is gone.
    pub fn respond_http(&self, id: ConnId, response: HttpResponse) -> bool {
        handler::respond_whole(&self.shared, id, response)
    }

    /// Sends a response head; body chunks and the end follow.
    pub fn respond_head(&self, id: ConnId, head: HttpHead) -> bool {
        handler::respond_head(&self.shared, id, head)
    }

    /// Queues a response body chunk; on `Full`, wait for `HttpDrain` before the next.
    pub fn respond_chunk(&self, id: ConnId, chunk: Bytes) -> ChunkStatus {
        handler::respond_chunk(&self.shared, id, chunk)
    }

    /// Ends a response body.
    pub fn respond_end(&self, id: ConnId) -> bool {
        handler::respond_end(&self.shared, id)
    }

    /// Starts the graceful shutdown (see `shutdown`): [`Event::Drained`] once no client
    /// message can arrive any more, [`Event::Stopped`] when done. Calling it again does
    /// nothing.
    pub fn begin_shutdown(&self, timeout: Duration) {
        if self.shared.shutdown_started.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(runtime) = &self.runtime {
            runtime.spawn(shutdown::run(Arc::clone(&self.shared), timeout));
        }
    }

    /// The hook runner has finished the handlers it had in flight at [`Event::Drained`]:
    /// shutdown goes on to close the sockets (it would after the timeout anyway).
    pub fn finish_shutdown(&self) {
        self.shared.handlers_done.add_permits(1);
    }

    pub fn stats(&self) -> Stats {
        Stats {
            connections: self.connection_count(),
            topics: self.shared.hub.topic_count(),
            inbound_queue_bytes: self.shared.events.budget_in_use()
                + self
                    .shared
                    .workers
                    .queues()
                    .iter()
                    .map(|q| q.budget_in_use())
                    .sum::<usize>(),
            dropped_messages: self.shared.dropped.load(Ordering::Relaxed),
        }
    }
}

impl RunningServer {
    /// The inline engine ([`EngineMode::Inline`](crate::EngineMode::Inline)), once: the hook
    /// runner's thread must drive it, or no socket is served.
    pub fn take_inline_engine(&self) -> Option<InlineEngine> {
        self.shared.engines.take_inline()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shared.shutdown_started.store(true, Ordering::Release);
        self.shared.shutdown.cancel();
        self.shared.engines.stop();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
