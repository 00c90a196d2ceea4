//! The Redis bus: publishes travel between instances, and land in the local hub without
//! crossing into JavaScript.
//!
//! Topics map to Redis channels one to one (`<channel>:<topic>`), and an instance subscribes
//! only to the channels of topics it has local subscribers for: the first local subscriber
//! makes it subscribe, the last one leaving makes it unsubscribe (reconciled by the subscriber
//! task from the hub's counts, so racing subscribes cannot leave it wrong). A message
//! therefore reaches only the instances that need it, once each; the payload travels once per
//! publish (`wire`), one Redis round trip per pipeline of publishes.
//!
//! Delivery: local subscribers first, synchronously, as without a bus; then the message is
//! queued (bounded) for the publisher task, which pipelines what has accumulated. Every
//! instance receives its own publishes back from Redis and drops them by origin id, so
//! nothing is delivered twice. Order per publisher holds: one publish connection, one
//! pipeline at a time, and Redis delivers in the order it executes.
//!
//! Faults: a full queue or a failed pipeline drops those messages and counts them
//! (`BusStats`), logged once per outage; redis-rs's `ConnectionManager` reconnects with
//! backoff and resubscribes every channel. A dead Redis never blocks the JS thread (the
//! queue is `try_send`) nor a socket (delivery is the normal outbox push). Messages on our
//! channels that are not ours (another program, truncated, oversized) are dropped and
//! counted.
//!
//! Sharded pub/sub (Redis Cluster): the channel of a topic is its own key, so switching to
//! `SSUBSCRIBE` / `SPUBLISH` means one subscriber connection per shard owning a channel's
//! slot; see docs/ARCHITECTURE.md.

pub mod presence;
mod publisher;
pub mod replay;
pub mod wire;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushKind, RedisResult, Value};
use thiserror::Error;
use tokio::sync::mpsc;

pub use wire::InstanceId;

/// Publishes waiting for the publisher task; past this they are dropped and counted.
const QUEUE: usize = 65_536;
/// Publishes sent in one pipeline at most.
const PIPELINE: usize = 512;
/// While Redis is down, how often a publish pipeline is tried (the others are dropped).
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// The longest wait between two reconnect attempts to a Redis that is down: the outage a
/// restart of Redis costs is at most about this much longer than the restart itself.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// Largest message accepted from the channel.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Where the bus connects and how it names things.
#[derive(Clone, Debug)]
pub struct BusConfig {
    /// `redis://host:port/db` (REDIS_URL).
    pub url: String,
    /// Prefix of the per-topic channels. Default `uws:pubsub` (as the reference's channel).
    pub channel: String,
}

#[derive(Debug, Error)]
pub enum BusError {
    #[error("invalid Redis URL {url:?}: {source}")]
    Url {
        url: String,
        source: redis::RedisError,
    },
}

/// What the bus does with what arrives: the server.
pub trait BusSink: Send + Sync + 'static {
    /// A publish from another instance (or our own sequenced one coming back): deliver it
    /// to local subscribers, with its replay sequence unless `seq` is 0.
    fn deliver(&self, topic: &str, event: &str, data: &str, seq: u64);
    /// Local subscribers of `topic` (the subscriber task's truth).
    fn subscribers(&self, topic: &str) -> usize;
    /// Presence (`false`) and cursor (`true`) topics with local subscribers, for the sweep.
    fn shared_topics(&self) -> Vec<(Arc<str>, bool)>;
    /// A line for the server's log (`level`: 0 info, 1 warn, 2 error).
    fn log(&self, level: u16, message: String);
}

/// Counters for `stats()`.
#[derive(Debug, Default)]
pub struct BusStats {
    pub published: AtomicU64,
    /// Pipelines sent: Redis round trips for `published` publishes.
    pub pipelines: AtomicU64,
    /// Not sent: the queue was full or Redis failed the pipeline.
    pub publish_failed: AtomicU64,
    pub received: AtomicU64,
    /// Received but refused: not ours, truncated, oversized.
    pub dropped: AtomicU64,
    /// Times the connection to Redis was lost.
    pub outages: AtomicU64,
}

/// A snapshot of [`BusStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusCounts {
    pub published: u64,
    pub pipelines: u64,
    pub publish_failed: u64,
    pub received: u64,
    pub dropped: u64,
    pub outages: u64,
}

/// One publish on its way to Redis (see `replay::PUBLISH` for how the parts are joined).
pub(crate) struct Outgoing {
    topic: Arc<str>,
    head: Vec<u8>,
    name: Vec<u8>,
    data: Box<str>,
    /// `Some(size)`: the topic keeps a replay log of `size` here, so Redis sequences it
    /// (creating the shared log) and our own subscribers get it when it comes back.
    replay: Option<usize>,
    /// The change to the topic's shared presence/cursor state, if it is such a topic.
    state: Option<presence::StateOp>,
}

impl Outgoing {
    /// The event name, from the message part that carries it after its length.
    pub(crate) fn event(&self) -> &str {
        std::str::from_utf8(&self.name[2..]).unwrap_or_default()
    }
}

/// A running bus. Dropping the server's runtime ends its tasks.
pub struct Bus {
    channel: String,
    instance: InstanceId,
    outbound: mpsc::Sender<publisher::Job>,
    /// For replay positions and `since` reads, connected on first use.
    client: redis::Client,
    queries: tokio::sync::OnceCell<ConnectionManager>,
    changes: mpsc::UnboundedSender<Arc<str>>,
    pub stats: BusStats,
    /// Set while Redis is unreachable, so an outage is logged once.
    down: AtomicBool,
    /// Topics whose Redis subscription is confirmed (written by the subscriber task).
    confirmed: parking_lot::Mutex<HashSet<Arc<str>>>,
    /// Notified whenever `confirmed` grows or the connection state changes.
    progress: tokio::sync::Notify,
    /// The sink, for local delivery of sequenced publishes Redis could not take.
    sink: std::sync::OnceLock<std::sync::Weak<dyn BusSink>>,
    /// Replayed topics with a publish Redis could not take: their shared logs get a new
    /// epoch once Redis is back, before anything else is published (`replay::mark_outage`).
    tainted: parking_lot::Mutex<HashSet<Arc<str>>>,
}

impl Bus {
    /// Starts the bus tasks on `runtime`. Fails only for a URL that cannot be parsed;
    /// connecting happens in the background, with retries.
    pub fn start(
        config: BusConfig,
        sink: Arc<dyn BusSink>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Arc<Bus>, BusError> {
        let mut info = config
            .url
            .as_str()
            .into_connection_info()
            .map_err(|source| BusError::Url {
                url: config.url.clone(),
                source,
            })?;
        // Push messages (RESP3) let one managed connection subscribe and receive.
        info.redis.protocol = ProtocolVersion::RESP3;
        let client = redis::Client::open(info).map_err(|source| BusError::Url {
            url: config.url.clone(),
            source,
        })?;
        let (outbound, outbound_rx) = mpsc::channel(QUEUE);
        let (changes, changes_rx) = mpsc::unbounded_channel();
        let bus = Arc::new(Bus {
            channel: config.channel,
            instance: rand::random(),
            outbound,
            client: client.clone(),
            queries: tokio::sync::OnceCell::new(),
            changes,
            stats: BusStats::default(),
            down: AtomicBool::new(false),
            confirmed: parking_lot::Mutex::new(HashSet::new()),
            progress: tokio::sync::Notify::new(),
            sink: std::sync::OnceLock::new(),
            tainted: parking_lot::Mutex::new(HashSet::new()),
        });
        let _ = bus.sink.set(Arc::downgrade(&sink));
        runtime.spawn(publisher::run(
            Arc::clone(&bus),
            Arc::clone(&sink),
            client.clone(),
            outbound_rx,
        ));
        runtime.spawn(liveness(Arc::clone(&bus), Arc::clone(&sink)));
        runtime.spawn(subscriber(Arc::clone(&bus), sink, client, changes_rx));
        Ok(bus)
    }

    /// This instance's id on the bus (hex), e.g. for rate-limit keys that must not collide.
    pub fn instance_hex(&self) -> String {
        self.instance.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn channel_of(&self, topic: &str) -> String {
        format!("{}:{}", self.channel, topic)
    }

    /// Relays a publish made here. Never blocks: past the queue bound it is dropped and
    /// counted. With `replay: Some(size)` the publish is sequenced in Redis and delivered to
    /// our own subscribers when it comes back (or, if Redis cannot take it, locally without
    /// a sequence); otherwise the caller has delivered it locally already.
    pub fn publish(
        &self,
        topic: &str,
        event: &str,
        data: &str,
        replay: Option<usize>,
        state: Option<presence::StateOp>,
    ) {
        let flags = if replay.is_some() {
            wire::AWAIT_ECHO
        } else {
            0
        };
        let (head, name) = wire::encode_parts(&self.instance, flags, event);
        let outgoing = Outgoing {
            topic: Arc::from(topic),
            head,
            name,
            data: data.into(),
            replay,
            state,
        };
        if let Err(error) = self.outbound.try_send(publisher::Job::Publish(outgoing)) {
            self.stats.publish_failed.fetch_add(1, Ordering::Relaxed);
            if let mpsc::error::TrySendError::Full(publisher::Job::Publish(o))
            | mpsc::error::TrySendError::Closed(publisher::Job::Publish(o)) = error
            {
                self.undelivered(o);
            }
        }
    }

    /// A sequenced publish that never reached Redis still reaches our own subscribers.
    pub(crate) fn undelivered(&self, outgoing: Outgoing) {
        if outgoing.replay.is_none() {
            return;
        }
        self.tainted.lock().insert(Arc::clone(&outgoing.topic));
        if let Some(sink) = self.sink.get().and_then(std::sync::Weak::upgrade) {
            sink.deliver(&outgoing.topic, outgoing.event(), &outgoing.data, 0);
        }
    }

    pub(crate) async fn query_conn(&self) -> RedisResult<ConnectionManager> {
        self.queries
            .get_or_try_init(|| {
                ConnectionManager::new_with_config(
                    self.client.clone(),
                    manager_config().set_number_of_retries(1),
                )
            })
            .await
            .cloned()
    }

    /// Where the shared replay log of `topic` stands, creating it: `(seq, epoch)`.
    pub async fn replay_position(&self, topic: &str, size: usize) -> RedisResult<(u64, u64)> {
        let keys = replay::keys(&self.channel, topic);
        replay::position(&mut self.query_conn().await?, &keys, size).await
    }

    /// The shared presence (or, with `cursor`, cursor) state of `topic` as a JSON array. It
    /// is read on the publish connection, after every publish queued here before it, so our
    /// own joins and leaves are in it whatever Redis' speed.
    pub async fn shared_state(&self, topic: &str, cursor: bool) -> RedisResult<String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = publisher::Job::Snapshot {
            topic: Arc::from(topic),
            cursor,
            reply,
        };
        if self.outbound.try_send(job).is_ok()
            && let Ok(result) = answer.await
        {
            return result;
        }
        presence::snapshot(&mut self.query_conn().await?, &self.channel, topic, cursor).await
    }

    /// The shared log's entries after `seq` (see `crate::replay::TopicLog::since`).
    pub async fn replay_since(
        &self,
        topic: &str,
        epoch: u64,
        seq: u64,
    ) -> RedisResult<Option<String>> {
        let keys = replay::keys(&self.channel, topic);
        replay::since(&mut self.query_conn().await?, &keys, epoch, seq).await
    }

    /// The local subscriber count of `topic` changed (first subscriber or last one left).
    pub fn topic_changed(&self, topic: &Arc<str>) {
        let _ = self.changes.send(Arc::clone(topic));
    }

    /// Waits until Redis has confirmed the subscription of `topic`, so that a publish on
    /// another instance from now on reaches this one, for at most `timeout`. Returns at once
    /// while Redis is unreachable (nothing can be confirmed then; the outage is counted).
    /// Returns whether the subscription is confirmed.
    pub async fn wait_subscribed(&self, topic: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.progress.notified();
            if self.confirmed.lock().contains(topic) {
                return true;
            }
            if self.down.load(Ordering::Acquire) {
                return false;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    pub fn counts(&self) -> BusCounts {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BusCounts {
            published: load(&self.stats.published),
            pipelines: load(&self.stats.pipelines),
            publish_failed: load(&self.stats.publish_failed),
            received: load(&self.stats.received),
            dropped: load(&self.stats.dropped),
            outages: load(&self.stats.outages),
        }
    }

    fn lost(&self, sink: &dyn BusSink, error: &dyn std::fmt::Display) {
        if !self.down.swap(true, Ordering::AcqRel) {
            self.stats.outages.fetch_add(1, Ordering::Relaxed);
            sink.log(
                1,
                format!("Redis bus: connection lost ({error}); messages between instances are dropped (counted in stats) until it is back"),
            );
        }
        self.progress.notify_waiters();
    }

    fn recovered(&self, sink: &dyn BusSink) {
        if self.down.swap(false, Ordering::AcqRel) {
            sink.log(0, "Redis bus: connection back".into());
            self.progress.notify_waiters();
        }
    }
}

/// Connects a managed connection, retrying with backoff (Redis may start after us).
async fn connect(
    bus: &Bus,
    sink: &dyn BusSink,
    client: &redis::Client,
    config: ConnectionManagerConfig,
) -> ConnectionManager {
    let mut delay = Duration::from_millis(100);
    loop {
        match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
            Ok(conn) => {
                bus.recovered(sink);
                return conn;
            }
            Err(error) => {
                bus.lost(sink, &error);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RECONNECT_DELAY);
            }
        }
    }
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(2))
        .set_response_timeout(Duration::from_secs(2))
        .set_max_delay(MAX_RECONNECT_DELAY.as_millis() as u64)
}

/// Keeps this instance's alive key fresh, and sweeps the shared state of the channel topics
/// watched here of entries whose instance is gone (`presence`).
async fn liveness(bus: Arc<Bus>, sink: Arc<dyn BusSink>) {
    let alive = format!(
        "{}{}",
        presence::alive_prefix(&bus.channel),
        bus.instance_hex()
    );
    let mut heartbeat = tokio::time::interval(presence::HEARTBEAT);
    let mut sweep = tokio::time::interval(presence::SWEEP);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                let Ok(mut conn) = bus.query_conn().await else { continue };
                let ttl = presence::ALIVE_TTL.as_millis() as u64;
                let _ = redis::cmd("SET").arg(&alive).arg(1).arg("PX").arg(ttl)
                    .query_async::<()>(&mut conn).await;
            }
            _ = sweep.tick() => {
                for (topic, cursor) in sink.shared_topics() {
                    if bus.shared_state(&topic, cursor).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
}

async fn subscriber(
    bus: Arc<Bus>,
    sink: Arc<dyn BusSink>,
    client: redis::Client,
    mut changes: mpsc::UnboundedReceiver<Arc<str>>,
) {
    let (push_tx, mut pushes) = mpsc::unbounded_channel();
    let config = manager_config()
        .set_push_sender(push_tx)
        .set_automatic_resubscription();
    let mut conn = connect(&bus, &*sink, &client, config).await;
    let prefix = format!("{}:", bus.channel);
    // Topics whose subscription may be out of date (retried every second on failure).
    let mut dirty: HashSet<Arc<str>> = HashSet::new();
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(topic) = changes.recv() => {
                dirty.insert(topic);
                while let Ok(topic) = changes.try_recv() {
                    dirty.insert(topic);
                }
            }
            Some(push) = pushes.recv() => {
                on_push(&bus, &*sink, &prefix, push);
                continue;
            }
            _ = retry.tick() => {
                if bus.down.load(Ordering::Acquire) {
                    // Nothing else may tell us Redis is back (no publish, no subscribe).
                    match redis::cmd("PING").query_async::<()>(&mut conn).await {
                        Ok(()) => bus.recovered(&*sink),
                        Err(error) => bus.lost(&*sink, &error),
                    }
                }
            }
        }
        let mut failed = Vec::new();
        for topic in dirty.drain() {
            let wanted = sink.subscribers(&topic) > 0;
            let channel = bus.channel_of(&topic);
            let have = bus.confirmed.lock().contains(&topic);
            let result = match (wanted, have) {
                (true, false) => conn.subscribe(&channel).await.map(|()| {
                    bus.confirmed.lock().insert(Arc::clone(&topic));
                    bus.progress.notify_waiters();
                }),
                (false, true) => conn.unsubscribe(&channel).await.map(|()| {
                    bus.confirmed.lock().remove(&topic);
                }),
                _ => Ok(()),
            };
            match result {
                Ok(()) => bus.recovered(&*sink),
                Err(error) => {
                    bus.lost(&*sink, &error);
                    failed.push(topic);
                }
            }
        }
        dirty.extend(failed);
    }
}

fn on_push(bus: &Bus, sink: &dyn BusSink, prefix: &str, push: redis::PushInfo) {
    match push.kind {
        PushKind::Message => {
            let [Value::BulkString(channel), Value::BulkString(payload)] = push.data.as_slice()
            else {
                return;
            };
            let Some(topic) = std::str::from_utf8(channel)
                .ok()
                .and_then(|c| c.strip_prefix(prefix))
            else {
                return;
            };
            match wire::decode(payload, MAX_MESSAGE) {
                // Our own, delivered locally already.
                Ok(message)
                    if message.origin == bus.instance && message.flags & wire::AWAIT_ECHO == 0 => {}
                Ok(message) => {
                    if message.origin != bus.instance {
                        bus.stats.received.fetch_add(1, Ordering::Relaxed);
                    }
                    sink.deliver(topic, message.event, message.data, message.seq);
                }
                Err(_) => {
                    bus.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        PushKind::Disconnection => bus.lost(sink, &"disconnected"),
        _ => {}
    }
}
