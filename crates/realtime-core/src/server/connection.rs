//! One open WebSocket: its shared state ([`Conn`]) and the two tasks that drive it.
//!
//! The reader task reads frames, answers control frames in Rust, queues messages for the
//! hook runner and enforces the idle timeout. The writer task drains the outbox in batches.
//! When the reader ends, the connection is cleaned up exactly once: removed from the
//! registry and every topic, its slot released, and one `Close` event queued.
//!
//! Close codes the `close` hook sees: the peer's code when the peer closed (1005 without
//! one); the code the server sent when it closed (`end`, shutdown 1001, oversized message
//! 1009, bad UTF-8 1007, protocol error 1002, backpressure 1008); 1006 when the socket died
//! without a close handshake (`close()`, idle timeout, network error).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::stall_io::StallIo;
use crate::ConnId;
use crate::control::{self, Inbound};
use crate::events::Event;
use crate::hub::Subscriber;
use crate::outbox::{Outbox, Outgoing, Pushed, SendStatus};

type Socket = StallIo<TokioIo<Upgraded>>;
type WsSink = SplitSink<WebSocketStream<Socket>, Message>;
type WsStream = SplitStream<WebSocketStream<Socket>>;

/// How long a close handshake the server started may take before the socket is dropped.
pub(crate) const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Close code for a socket closed because it reached `maxBackpressure`.
pub const BACKPRESSURE_CLOSE_CODE: u16 = 1008;

#[derive(Default)]
struct Topics {
    subscribed: HashSet<Arc<str>>,
    /// Topics the server subscribed this socket to; the client may re-subscribe to these.
    granted: HashSet<Arc<str>>,
    /// Set once at cleanup; no subscription is added after it.
    closed: bool,
}

/// The shared state of one WebSocket, reachable from the registry and from topics.
pub struct Conn {
    pub id: ConnId,
    pub outbox: Outbox,
    close_on_backpressure: bool,
    /// Server-wide count of messages refused for backpressure.
    dropped_total: Arc<AtomicU64>,
    /// Lock order: `topics` before any hub shard. Nothing awaits under it.
    topics: Mutex<Topics>,
    /// Aborts the reader now (no close handshake).
    cancel: CancellationToken,
    /// Cancelled when the server starts a close handshake, which arms its timeout.
    closing: CancellationToken,
    /// The code and reason of a close the server started.
    server_close: Mutex<Option<(u16, String)>>,
    /// Set when the `Close` event has been queued, so it is queued once.
    reported: AtomicBool,
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
        dropped_total: Arc<AtomicU64>,
    ) -> Self {
        Self {
            id,
            outbox: Outbox::new(max_backpressure),
            close_on_backpressure,
            dropped_total,
            topics: Mutex::new(Topics::default()),
            cancel: CancellationToken::new(),
            closing: CancellationToken::new(),
            server_close: Mutex::new(None),
            reported: AtomicBool::new(false),
        }
    }

    /// Queues a frame, applying the backpressure policy.
    pub fn push(&self, msg: Outgoing) -> SendStatus {
        let pushed = self.outbox.push(msg);
        if pushed == Pushed::OverLimit {
            self.dropped_total.fetch_add(1, Ordering::Relaxed);
        }
        if pushed == Pushed::OverLimit && self.close_on_backpressure {
            // The peer is not reading, so a close frame would wait behind the backlog:
            // drop the socket now and report 1008 to the `close` hook.
            let mut server_close = self.server_close.lock();
            if server_close.is_none() {
                *server_close = Some((
                    BACKPRESSURE_CLOSE_CODE,
                    "Backpressure limit exceeded".into(),
                ));
                drop(server_close);
                self.abort();
            }
        }
        pushed.status()
    }

    /// Starts a close handshake with `code`. Returns false if one was already started.
    /// The reason is cut to the 123 bytes a close frame can carry.
    pub(crate) fn start_close(&self, code: u16, reason: &str, discard_pending: bool) -> bool {
        let reason = close_reason(reason);
        let mut server_close = self.server_close.lock();
        if server_close.is_some() || !self.outbox.close(code, reason.into(), discard_pending) {
            return false;
        }
        *server_close = Some((code, reason.into()));
        self.closing.cancel();
        true
    }

    /// Drops the socket without a close handshake.
    pub(crate) fn abort(&self) {
        self.outbox.abort();
        self.cancel.cancel();
    }

    pub(crate) fn subscribe(self: &Arc<Self>, shared: &Shared, topic: &str) -> bool {
        let mut topics = self.topics.lock();
        if topics.closed {
            return false;
        }
        let topic = topics
            .granted
            .get(topic)
            .cloned()
            .unwrap_or_else(|| Arc::from(topic));
        topics.granted.insert(Arc::clone(&topic));
        if !topics.subscribed.insert(Arc::clone(&topic)) {
            return false;
        }
        shared.hub.subscribe(&topic, Arc::clone(self));
        true
    }

    /// Server-side unsubscribe: also withdraws the grant, so the client cannot re-subscribe.
    pub(crate) fn unsubscribe(&self, shared: &Shared, topic: &str, revoke: bool) -> bool {
        let mut topics = self.topics.lock();
        if revoke {
            topics.granted.remove(topic);
        }
        if !topics.subscribed.remove(topic) {
            return false;
        }
        shared.hub.unsubscribe(topic, self.id);
        drop(topics);
        shared
            .topic_states
            .forget_if_unwatched(topic, shared.hub.subscriber_count(topic));
        true
    }

    pub(crate) fn is_granted(&self, topic: &str) -> bool {
        self.topics.lock().granted.contains(topic)
    }

    pub(crate) fn topics(&self) -> Vec<String> {
        self.topics
            .lock()
            .subscribed
            .iter()
            .map(|t| t.to_string())
            .collect()
    }

    /// Marks the connection closed and removes it from every topic.
    fn leave_all_topics(&self, shared: &Shared) {
        let mut topics = self.topics.lock();
        topics.closed = true;
        let left: Vec<Arc<str>> = topics.subscribed.drain().collect();
        topics.granted.clear();
        drop(topics);
        for topic in left {
            shared.hub.unsubscribe(&topic, self.id);
            shared
                .topic_states
                .forget_if_unwatched(&topic, shared.hub.subscriber_count(&topic));
        }
    }

    /// Queues the `Close` event unless it was queued already.
    pub(crate) fn report_close(&self, shared: &Shared, code: u16, reason: &str) {
        if !self.reported.swap(true, Ordering::AcqRel) {
            shared.events.push(Event::Close {
                id: self.id,
                code,
                reason: Bytes::copy_from_slice(reason.as_bytes()),
            });
        }
    }
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

/// Runs an upgraded socket until it closes, then cleans up.
pub(crate) async fn run(shared: Arc<Shared>, conn: Arc<Conn>, upgraded: Upgraded) {
    let io = StallIo::new(TokioIo::new(upgraded), conn.outbox.stall_flag());
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(shared.ws_config)).await;
    let (sink, stream) = ws.split();
    let mut writer = tokio::spawn(write_loop(Arc::clone(&shared), Arc::clone(&conn), sink));
    let (code, reason) = read_loop(&shared, &conn, stream).await;
    if conn.outbox.is_open() {
        // Nothing left to say: the peer closed or the socket died.
        conn.outbox.abort();
    }
    if conn.cancel.is_cancelled() {
        // Aborted: the writer may be stuck on a socket that accepts nothing.
        writer.abort();
    }
    // Otherwise a close frame the server queued gets a short chance to reach the peer.
    if tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    shared.remove_conn(conn.id);
    conn.leave_all_topics(&shared);
    conn.report_close(&shared, code, &reason);
}

/// What ended the reader.
enum ReadEnd {
    /// The stream ended or failed; the close code is decided from what was seen.
    Ended,
    /// The server must close with this code (after sending a close frame).
    Fail(u16, &'static str),
    /// The socket was silent for too long.
    Idle,
    /// `abort()` or shutdown.
    Cancelled,
}

async fn read_loop(shared: &Shared, conn: &Arc<Conn>, mut stream: WsStream) -> (u16, String) {
    // Held while this socket reads; dropped when shutdown asks every socket to stop taking
    // messages (see `shutdown`).
    let mut reading = Some(shared.readers.token());
    let schedule = shared.config.idle_schedule();
    let mut last_inbound = Instant::now();
    let mut pinged = false;
    let far = Duration::from_secs(86_400 * 365);
    let idle_sleep = tokio::time::sleep(schedule.map_or(far, |s| s.ping_after));
    tokio::pin!(idle_sleep);
    let close_deadline = tokio::time::sleep(far);
    tokio::pin!(close_deadline);
    let mut close_armed = false;
    let mut peer_close: Option<(u16, String)> = None;

    let end = loop {
        let next = tokio::select! {
            biased;
            _ = conn.cancel.cancelled() => break ReadEnd::Cancelled,
            _ = conn.closing.cancelled(), if !close_armed => {
                close_armed = true;
                close_deadline.as_mut().reset(Instant::now() + CLOSE_HANDSHAKE_TIMEOUT);
                continue;
            }
            _ = &mut close_deadline, if close_armed => break ReadEnd::Cancelled,
            _ = &mut idle_sleep, if schedule.is_some() => {
                let s = schedule.expect("guarded");
                let silent = last_inbound.elapsed();
                if silent >= s.close_after {
                    break ReadEnd::Idle;
                }
                if silent >= s.ping_after && !pinged {
                    if shared.config.send_pings_automatically {
                        conn.outbox.push_ping();
                    }
                    pinged = true;
                }
                let deadline = if pinged { s.close_after } else { s.ping_after };
                idle_sleep.as_mut().reset(last_inbound + deadline);
                continue;
            }
            _ = shared.shutdown.cancelled(), if reading.is_some() => {
                reading = None;
                continue;
            }
            // Paused for shutdown: read again only to see the peer's answer to our close.
            next = stream.next(), if reading.is_some() || close_armed => next,
        };
        match next {
            None => break ReadEnd::Ended,
            Some(Ok(msg)) => {
                last_inbound = Instant::now();
                pinged = false;
                match msg {
                    // Shutdown stopped taking messages; only the close handshake is left.
                    Message::Text(_) | Message::Binary(_) if reading.is_none() => {}
                    Message::Text(text) => {
                        let data = Bytes::copy_from_slice(text.as_bytes());
                        if let Some(end) = handle_message(shared, conn, data, false).await {
                            break end;
                        }
                    }
                    Message::Binary(data) => {
                        if let Some(end) = handle_message(shared, conn, data, true).await {
                            break end;
                        }
                    }
                    Message::Close(frame) => {
                        peer_close = Some(match frame {
                            Some(f) => (f.code.into(), f.reason.to_string()),
                            None => (1005, String::new()),
                        });
                    }
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                break ReadEnd::Fail(1009, "Message too big");
            }
            Some(Err(WsError::Utf8(_))) => break ReadEnd::Fail(1007, "Invalid UTF-8"),
            Some(Err(WsError::Protocol(_))) => break ReadEnd::Fail(1002, "Protocol error"),
            Some(Err(_)) => break ReadEnd::Ended,
        }
    };

    match end {
        ReadEnd::Fail(code, reason) => {
            conn.start_close(code, reason, false);
            (code, reason.into())
        }
        ReadEnd::Idle => {
            conn.abort();
            (1006, "WebSocket timed out from inactivity".into())
        }
        ReadEnd::Cancelled | ReadEnd::Ended => {
            if let Some(server) = conn.server_close.lock().clone() {
                server
            } else if let Some(peer) = peer_close {
                peer
            } else {
                (1006, String::new())
            }
        }
    }
}

/// Handles one data message; returns how the reader must end, if it must.
async fn handle_message(
    shared: &Shared,
    conn: &Arc<Conn>,
    data: Bytes,
    is_binary: bool,
) -> Option<ReadEnd> {
    match control::classify(&data, is_binary) {
        Inbound::Subscribe(topic) => {
            client_subscribe(shared, conn, &topic).await;
        }
        Inbound::Unsubscribe(topic) => {
            conn.unsubscribe(shared, &topic, false);
        }
        Inbound::Message(kind) => {
            let event = Event::Message {
                id: conn.id,
                is_binary,
                kind,
                data,
            };
            tokio::select! {
                biased;
                _ = conn.cancel.cancelled() => return Some(ReadEnd::Cancelled),
                _ = shared.events.push_budgeted(event) => {}
            }
        }
    }
    None
}

/// A client's `{"type":"subscribe"}`: secure by default (see `docs/ARCHITECTURE.md`).
async fn client_subscribe(shared: &Shared, conn: &Arc<Conn>, topic: &str) {
    if conn.is_granted(topic) {
        conn.subscribe(shared, topic);
    } else if !topic.starts_with("__") && shared.config.hooks.subscribe {
        let event = Event::Subscribe {
            id: conn.id,
            topic: topic.to_string(),
        };
        tokio::select! {
            biased;
            _ = conn.cancel.cancelled() => {}
            _ = shared.events.push_budgeted(event) => {}
        }
    }
    // Otherwise refused silently: the protocol has no subscribe acknowledgements.
}

async fn write_loop(shared: Arc<Shared>, conn: Arc<Conn>, mut sink: WsSink) {
    let mut batch = VecDeque::new();
    while conn.outbox.take(&mut batch).await {
        for msg in batch.drain(..) {
            let len = msg.accounted_len();
            let (frame, last) = match msg {
                Outgoing::Text(text) => (Message::Text(text), false),
                Outgoing::Binary(data) => (Message::Binary(data), false),
                Outgoing::Ping => (Message::Ping(Bytes::new()), false),
                Outgoing::Close { code, reason } => (
                    Message::Close(Some(CloseFrame {
                        code: code.into(),
                        reason: Utf8Bytes::from(reason),
                    })),
                    true,
                ),
            };
            let fed = sink.feed(frame).await;
            conn.outbox.written(len);
            if fed.is_err() {
                // The socket is gone; the reader sees it too, unless the peer only half-closed.
                conn.cancel.cancel();
                return;
            }
            if last {
                let _ = sink.flush().await;
                return;
            }
        }
        if sink.flush().await.is_err() {
            conn.cancel.cancel();
            return;
        }
        if shared.config.hooks.drain && conn.outbox.take_drain() {
            shared.events.push(Event::Drain { id: conn.id });
        }
        if batch.capacity() > 256 {
            batch = VecDeque::new();
        }
    }
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
