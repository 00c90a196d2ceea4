//! One open WebSocket: its shared state ([`Conn`]) and the end of its life.
//!
//! A connection is one task (`driver`) that reads, writes and answers control frames, plus
//! this state, reachable from the registry and from topics. Timers are not per connection:
//! the server's sweeper (`sweeper`) pings silent sockets and drops the ones past their idle
//! timeout or close handshake deadline, from the timestamps kept here. When the task ends,
//! the connection is cleaned up exactly once: removed from the registry and every topic, its
//! slot released, and one `Close` event queued.
//!
//! Close codes the `close` hook sees: the peer's code when the peer closed (1005 without
//! one); the code the server sent when it closed (`end`, shutdown 1001, oversized message
//! 1009, bad UTF-8 1007, protocol error 1002, backpressure 1008); 1006 when the socket died
//! without a close handshake (`close()`, idle timeout, network error).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::Wake;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::net::TcpStream;

use super::driver::Driver;
use super::engine::Engine;
use super::socket::Socket;
use super::{Shared, Slot};
use crate::ConnId;
use crate::events::Event;
use crate::hub::Subscriber;
use crate::outbox::{Outbox, Pushed, SendStatus};

/// How long a close handshake the server started may take before the socket is dropped.
pub(crate) const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Close code for a socket closed because it reached `maxBackpressure`.
pub const BACKPRESSURE_CLOSE_CODE: u16 = 1008;

/// "Never", for the millisecond deadlines below.
const NEVER: u64 = u64::MAX;

/// Monotonic milliseconds: the clock of connection timestamps. One epoch for the process (an
/// `Instant`, not mutable state), so a connection need not carry its own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock;

impl Clock {
    pub(crate) fn now_ms(self) -> u64 {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
    }
}

#[derive(Default)]
struct TopicSets {
    subscribed: HashSet<Arc<str>>,
    /// Topics the server subscribed this socket to; the client may re-subscribe to these.
    granted: HashSet<Arc<str>>,
}

/// A socket's topics, allocated on its first subscription (an idle socket holds none).
/// What a socket's one lock guards: its topics and the close the server decided.
#[derive(Default)]
struct Topics {
    sets: Option<Box<TopicSets>>,
    /// The code and reason the `close` hook will see for a close the server decided (boxed:
    /// most sockets never have one).
    server_close: Option<Box<(u16, String)>>,
    /// Set once at cleanup; no subscription is added after it.
    closed: bool,
}

impl Topics {
    fn sets(&mut self) -> &mut TopicSets {
        self.sets.get_or_insert_default()
    }

    fn granted(&self, topic: &str) -> bool {
        self.sets
            .as_ref()
            .is_some_and(|s| s.granted.contains(topic))
    }
}

/// The shared state of one WebSocket, reachable from the registry and from topics.
pub struct Conn {
    pub id: ConnId,
    pub outbox: Outbox,
    close_on_backpressure: bool,
    /// Lock order: `topics` before any hub shard. Nothing awaits under it.
    topics: Mutex<Topics>,
    /// Set when the `Close` event has been queued, so it is queued once.
    reported: AtomicBool,
    /// When bytes last arrived from the client.
    last_inbound_ms: AtomicU64,
    /// `last_inbound_ms` as it was when the idle ping went out (`NEVER`: not pinged).
    pinged_for_ms: AtomicU64,
    /// When a close handshake in progress gives up (`NEVER`: none).
    close_deadline_ms: AtomicU64,
    /// The JavaScript worker that hears this socket's events (`super::workers`).
    pub(crate) worker: super::workers::Assigned,
    /// The engine that runs this socket, and its slab key there (set when it adopts it):
    /// what the socket's waker wakes.
    engine: Arc<Engine>,
    engine_key: AtomicU32,
}

/// A socket's waker is its `Arc<Conn>`: waking puts it on its engine's ready list.
impl Wake for Conn {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.engine.wake(self.engine_key.load(Ordering::Relaxed));
    }
}

impl Subscriber for Arc<Conn> {
    fn key(&self) -> u64 {
        self.id
    }
}

impl Conn {
    pub(crate) fn new(
        id: ConnId,
        max_backpressure: usize,
        close_on_backpressure: bool,
        worker: super::workers::Assigned,
        engine: Arc<Engine>,
    ) -> Self {
        Self {
            id,
            outbox: Outbox::new(max_backpressure),
            close_on_backpressure,
            topics: Mutex::new(Topics::default()),
            reported: AtomicBool::new(false),
            last_inbound_ms: AtomicU64::new(Clock.now_ms()),
            pinged_for_ms: AtomicU64::new(NEVER),
            close_deadline_ms: AtomicU64::new(NEVER),
            worker,
            engine,
            engine_key: AtomicU32::new(u32::MAX),
        }
    }

    /// Its engine put this socket at `key` (before it builds the socket's waker).
    pub(crate) fn bind(&self, key: u32) {
        self.engine_key.store(key, Ordering::Relaxed);
    }

    /// The event queue of this socket's worker.
    pub(crate) fn events<'a>(&'a self, shared: &'a Shared) -> &'a Arc<crate::EventQueue> {
        self.worker.queue(&shared.events)
    }

    /// Queues a data frame, applying the backpressure policy.
    pub fn push(&self, frame: Bytes) -> SendStatus {
        // This thread's pending run of publishes goes first (socket FIFO).
        super::coalesce::flush();
        self.push_flushed(frame, true, 1)
    }

    /// Queues `frame`, `count` messages (a run of publishes, `coalesce`, counts each), for a
    /// caller that delivered this thread's pending run once for many pushes
    /// (`coalesce::flush`): a fan-out or a reply batch, not one check per socket.
    pub(crate) fn push_flushed(&self, frame: Bytes, wake: bool, count: u32) -> SendStatus {
        let pushed = if wake {
            self.outbox.push(frame)
        } else {
            self.outbox.push_corked(frame)
        };
        if pushed == Pushed::OverLimit {
            self.engine.count_dropped(count);
            if self.close_on_backpressure {
                // The peer is not reading, so a close frame would wait behind the backlog:
                // drop the socket now and report 1008 to the `close` hook.
                self.abort_with(BACKPRESSURE_CLOSE_CODE, "Backpressure limit exceeded");
            }
        }
        pushed.status()
    }

    /// Starts a close handshake with `code`. Returns false if one was already started.
    /// The reason is cut to the 123 bytes a close frame can carry.
    pub(crate) fn start_close(&self, code: u16, reason: &str, discard_pending: bool) -> bool {
        super::coalesce::flush(); // publishes made before the close go before it
        let reason = close_reason(reason);
        // Lock order: `topics` before the outbox (as before any hub shard).
        let mut state = self.topics.lock();
        if state.server_close.is_some() || !self.outbox.close(code, reason, discard_pending) {
            return false;
        }
        state.server_close = Some(Box::new((code, reason.into())));
        drop(state);
        self.arm_close_deadline();
        true
    }

    /// Answers the peer's close frame (echoing its code) unless the server closed first.
    pub(crate) fn answer_close(&self, peer: &Option<(u16, String)>) {
        let sent = match peer {
            Some((code, _)) => self.outbox.close(*code, "", false),
            None => self.outbox.close_empty(),
        };
        if sent {
            self.arm_close_deadline();
        }
    }

    fn arm_close_deadline(&self) {
        let deadline = Clock.now_ms() + CLOSE_HANDSHAKE_TIMEOUT.as_millis() as u64;
        self.close_deadline_ms
            .fetch_min(deadline, Ordering::Relaxed);
    }

    /// Drops the socket without a close handshake.
    pub(crate) fn abort(&self) {
        self.outbox.abort();
    }

    /// Drops the socket and reports `code` (unless a close was decided already).
    pub(crate) fn abort_with(&self, code: u16, reason: &str) {
        let mut state = self.topics.lock();
        if state.server_close.is_none() {
            state.server_close = Some(Box::new((code, reason.into())));
        }
        drop(state);
        self.abort();
    }

    /// The close the server decided, if any.
    pub(crate) fn server_close(&self) -> Option<(u16, String)> {
        self.topics.lock().server_close.as_deref().cloned()
    }

    /// Bytes arrived from the client.
    pub(crate) fn touch(&self) {
        self.last_inbound_ms
            .store(Clock.now_ms(), Ordering::Relaxed);
    }

    /// What the sweeper must do for this socket at `now_ms`.
    pub(crate) fn due(&self, now_ms: u64, schedule: Option<crate::config::IdleSchedule>) -> Due {
        if now_ms >= self.close_deadline_ms.load(Ordering::Relaxed) {
            return Due::Drop;
        }
        let Some(schedule) = schedule else {
            return Due::Nothing;
        };
        let last = self.last_inbound_ms.load(Ordering::Relaxed);
        let silent = now_ms.saturating_sub(last);
        if silent >= schedule.close_after.as_millis() as u64 {
            Due::TimeOut
        } else if silent >= schedule.ping_after.as_millis() as u64
            && self.pinged_for_ms.swap(last, Ordering::Relaxed) != last
        {
            Due::Ping
        } else {
            Due::Nothing
        }
    }

    pub(crate) fn subscribe(self: &Arc<Self>, shared: &Shared, topic: &str) -> bool {
        // A subscriber gets what is published after it joined, not the pending run before.
        super::coalesce::flush();
        let mut topics = self.topics.lock();
        if topics.closed {
            return false;
        }
        let sets = topics.sets();
        let topic = sets
            .granted
            .get(topic)
            .cloned()
            .unwrap_or_else(|| Arc::from(topic));
        sets.granted.insert(Arc::clone(&topic));
        if !sets.subscribed.insert(Arc::clone(&topic)) {
            return false;
        }
        let count = shared.hub.join(&topic, Arc::clone(self));
        drop(topics);
        shared.topic_joined(&topic, count);
        true
    }

    /// Server-side unsubscribe: also withdraws the grant, so the client cannot re-subscribe.
    pub(crate) fn unsubscribe(&self, shared: &Shared, topic: &str, revoke: bool) -> bool {
        super::coalesce::flush(); // what was published while subscribed still arrives
        let mut topics = self.topics.lock();
        let Some(sets) = topics.sets.as_mut() else {
            return false;
        };
        if revoke {
            sets.granted.remove(topic);
        }
        if !sets.subscribed.remove(topic) {
            return false;
        }
        let left = shared.hub.leave(topic, self.id);
        drop(topics);
        shared.topic_left(topic, left);
        shared
            .topic_states
            .forget_unwatched(topic, |t| shared.hub.subscriber_count(t));
        true
    }

    pub(crate) fn is_granted(&self, topic: &str) -> bool {
        self.topics.lock().granted(topic)
    }

    pub(crate) fn topics(&self) -> Vec<String> {
        self.topics
            .lock()
            .sets
            .as_ref()
            .map(|s| s.subscribed.iter().map(|t| t.to_string()).collect())
            .unwrap_or_default()
    }

    /// Marks the connection closed and removes it from every topic.
    fn leave_all_topics(&self, shared: &Shared) {
        super::coalesce::flush();
        let mut topics = self.topics.lock();
        topics.closed = true;
        let left: Vec<Arc<str>> = topics
            .sets
            .take()
            .map(|s| s.subscribed.into_iter().collect())
            .unwrap_or_default();
        drop(topics);
        for topic in left {
            let left = shared.hub.leave(&topic, self.id);
            shared.topic_left(&topic, left);
            shared
                .topic_states
                .forget_unwatched(&topic, |t| shared.hub.subscriber_count(t));
        }
    }

    /// Queues the `Close` event unless it was queued already.
    pub(crate) fn report_close(&self, shared: &Shared, code: u16, reason: &str) {
        if !self.reported.swap(true, Ordering::AcqRel) {
            self.events(shared).push(Event::Close {
                id: self.id,
                code,
                reason: Bytes::copy_from_slice(reason.as_bytes()),
            });
        }
    }
}

/// What the sweeper found due for one socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    Nothing,
    /// Silent for `ping_after`: send a ping.
    Ping,
    /// Silent for the whole idle timeout: drop it (1006).
    TimeOut,
    /// Its close handshake ran out of time: drop it.
    Drop,
}

/// The longest prefix of `reason` that fits a close frame (125 bytes minus the code), cut at
/// a character boundary.
fn close_reason(reason: &str) -> &str {
    const MAX: usize = 123;
    if reason.len() <= MAX {
        return reason;
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Hands an upgraded socket to its engine, which runs it until it closes and then cleans up.
/// The caller's task (the upgrade) ends here: the engine holds only the driver, not the
/// upgrade's state (memory per idle socket).
pub(crate) fn start(shared: Arc<Shared>, conn: Arc<Conn>, upgraded: Upgraded, slot: Slot) {
    // We serve every connection as `TokioIo<TcpStream>`, so the upgrade gives it back with
    // whatever hyper read past the request head (frames a client sent right away).
    let (stream, early) = match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => (parts.io.into_inner(), parts.read_buf),
        Err(_) => {
            shared.log(2, "upgraded connection is not a TCP stream; dropping it");
            finish(&shared, &conn, Some((1011, String::new())));
            return;
        }
    };
    let stream = match Socket::from_tokio(stream) {
        Ok(stream) => stream,
        Err(_) => {
            finish(&shared, &conn, None);
            return;
        }
    };
    // `early` is a view of hyper's whole read buffer: the driver copies it and it goes now.
    let driver = Driver::new(Arc::clone(&shared), Arc::clone(&conn), stream, &early);
    drop(early);
    conn.engine.adopt(driver.run(slot));
}

/// The one cleanup of a connection whose task ended.
pub(crate) fn finish(shared: &Shared, conn: &Conn, peer_close: Option<(u16, String)>) {
    let (code, reason) = conn
        .server_close()
        .or(peer_close)
        .unwrap_or((1006, String::new()));
    shared.remove_conn(conn.id);
    conn.leave_all_topics(shared);
    conn.report_close(shared, code, &reason);
}

#[cfg(test)]
mod tests {
    use super::close_reason;

    #[test]
    fn close_reasons_fit_a_control_frame() {
        assert_eq!(close_reason("bye"), "bye");
        assert_eq!(close_reason(&"a".repeat(200)).len(), 123);
        // 'é' is two bytes: 61 of them are 122 bytes, the 62nd would cross 123.
        assert_eq!(close_reason(&"é".repeat(100)).len(), 122);
    }
}
