//! One connection's queue of outgoing frames, bounded in bytes.
//!
//! Every server→client frame of a connection goes through its outbox: published envelopes,
//! direct sends, pings and the close frame. One queue per connection is what keeps the
//! per-socket FIFO promise of reference-protocol §1.3 (a publish issued before an RPC
//! response is sent before it), whichever thread pushes.
//!
//! Overflow policy (uWebSockets' `maxBackpressure`): a push is refused with
//! [`SendStatus::Dropped`] while more than `max_bytes` are already queued, and counted; the
//! caller may close the socket instead (`closeOnBackpressureLimit`). Control frames bypass
//! the limit. The writer task takes the whole queue at once and writes it as one batch.
//!
//! Lock: one `parking_lot::Mutex` around the deque and the writer's waker. Nothing awaits
//! under it and it is held for a push or a swap, so a publish to N sockets costs N short
//! uncontended locks.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// A frame waiting to be written.
#[derive(Clone, Debug, PartialEq)]
pub enum Outgoing {
    Text(Utf8Bytes),
    Binary(Bytes),
    Ping,
    Close { code: u16, reason: String },
}

impl Outgoing {
    /// Bytes this frame counts against `maxBackpressure` (control frames count zero).
    pub fn accounted_len(&self) -> usize {
        match self {
            Outgoing::Text(t) => t.len(),
            Outgoing::Binary(b) => b.len(),
            Outgoing::Ping | Outgoing::Close { .. } => 0,
        }
    }
}

/// What `send` reports, with uWebSockets' numbering (the adapter API returns these numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SendStatus {
    /// Queued, but the socket is not keeping up: its last write could not complete, or more
    /// than [`Outbox::high_water`] bytes are waiting.
    Backpressure = 0,
    /// Queued for a socket that is writing freely.
    Success = 1,
    /// Not queued: the socket is closing or closed, or over its backpressure limit.
    Dropped = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// A close frame is queued; nothing more is accepted.
    Closing,
    /// The writer is gone or must stop now.
    Closed,
}

struct Queue {
    items: VecDeque<Outgoing>,
    waker: Option<Waker>,
    state: State,
}

/// The bounded outbox. Shared between the pushers (any thread) and one writer task.
pub struct Outbox {
    queue: Mutex<Queue>,
    buffered: AtomicUsize,
    max_bytes: usize,
    stalled: Arc<AtomicBool>,
    drain_wanted: AtomicBool,
    dropped: AtomicU64,
}

/// Result of a push that hit the limit, so the caller can apply its policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued(SendStatus),
    /// Refused because more than `max_bytes` were queued.
    OverLimit,
    /// Refused because the socket is closing.
    Closing,
}

impl Pushed {
    pub fn status(self) -> SendStatus {
        match self {
            Pushed::Queued(status) => status,
            Pushed::OverLimit | Pushed::Closing => SendStatus::Dropped,
        }
    }
}

impl Outbox {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                waker: None,
                state: State::Open,
            }),
            buffered: AtomicUsize::new(0),
            max_bytes,
            stalled: Arc::new(AtomicBool::new(false)),
            drain_wanted: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }
    }

    /// Queued bytes above which a push reports backpressure even while the socket still
    /// writes: the sender is outpacing it. 64 KiB, or half the limit if that is smaller.
    pub fn high_water(&self) -> usize {
        (self.max_bytes / 2).min(64 * 1024)
    }

    /// The flag the socket wrapper sets while the kernel refuses writes.
    pub fn stall_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stalled)
    }

    /// Queues a data frame, applying the byte limit.
    pub fn push(&self, msg: Outgoing) -> Pushed {
        let len = msg.accounted_len();
        let mut queue = self.queue.lock();
        if queue.state != State::Open {
            return Pushed::Closing;
        }
        if self.buffered.load(Ordering::Relaxed) > self.max_bytes {
            drop(queue);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.drain_wanted.store(true, Ordering::Relaxed);
            return Pushed::OverLimit;
        }
        self.buffered.fetch_add(len, Ordering::Relaxed);
        queue.items.push_back(msg);
        let waker = queue.waker.take();
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
        }
        let queued = self.buffered.load(Ordering::Relaxed);
        if self.stalled.load(Ordering::Relaxed) || queued > self.high_water() {
            self.drain_wanted.store(true, Ordering::Relaxed);
            Pushed::Queued(SendStatus::Backpressure)
        } else {
            Pushed::Queued(SendStatus::Success)
        }
    }

    /// Queues a ping; ignored once closing.
    pub fn push_ping(&self) {
        let mut queue = self.queue.lock();
        if queue.state == State::Open {
            queue.items.push_back(Outgoing::Ping);
            Self::wake(queue);
        }
    }

    /// Queues a close frame after what is already queued (or instead of it, with
    /// `discard_pending`) and refuses further pushes. Returns false if already closing.
    pub fn close(&self, code: u16, reason: String, discard_pending: bool) -> bool {
        let mut queue = self.queue.lock();
        if queue.state != State::Open {
            return false;
        }
        if discard_pending {
            queue.items.clear();
            self.buffered.store(0, Ordering::Relaxed);
        }
        queue.state = State::Closing;
        queue.items.push_back(Outgoing::Close { code, reason });
        Self::wake(queue);
        true
    }

    /// Stops the writer now and discards everything queued.
    pub fn abort(&self) {
        let mut queue = self.queue.lock();
        queue.state = State::Closed;
        queue.items.clear();
        self.buffered.store(0, Ordering::Relaxed);
        Self::wake(queue);
    }

    fn wake(mut queue: parking_lot::MutexGuard<'_, Queue>) {
        let waker = queue.waker.take();
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether pushes are still accepted.
    pub fn is_open(&self) -> bool {
        self.queue.lock().state == State::Open
    }

    /// Moves everything queued into `batch`. Ready(false) once aborted and empty.
    pub fn poll_take(&self, cx: &mut Context<'_>, batch: &mut VecDeque<Outgoing>) -> Poll<bool> {
        let mut queue = self.queue.lock();
        if !queue.items.is_empty() {
            std::mem::swap(&mut queue.items, batch);
            return Poll::Ready(true);
        }
        if queue.state == State::Closed {
            return Poll::Ready(false);
        }
        queue.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Waits for frames and moves them into `batch`; false once aborted.
    pub async fn take(&self, batch: &mut VecDeque<Outgoing>) -> bool {
        poll_fn(|cx| self.poll_take(cx, batch)).await
    }

    /// Moves whatever is queued into `batch` without waiting (benchmarks, tests).
    pub fn take_now(&self, batch: &mut VecDeque<Outgoing>) -> usize {
        let mut queue = self.queue.lock();
        std::mem::swap(&mut queue.items, batch);
        batch.len()
    }

    /// The writer reports `bytes` handed to the socket.
    pub fn written(&self, bytes: usize) {
        if bytes > 0 {
            self.buffered.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// Bytes queued and not yet handed to the socket (`getBufferedAmount`).
    pub fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Relaxed)
    }

    /// Messages refused for being over the limit since the connection opened.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// True once after a refused or backpressured send, when the queue has emptied and the
    /// socket writes freely again: time for the `drain` hook.
    pub fn take_drain(&self) -> bool {
        self.buffered() == 0
            && !self.stalled.load(Ordering::Relaxed)
            && self.drain_wanted.swap(false, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Outgoing {
        Outgoing::Text(Utf8Bytes::from(s))
    }

    #[test]
    fn keeps_fifo_order() {
        let outbox = Outbox::new(1024);
        for i in 0..10 {
            assert_eq!(
                outbox.push(text(&i.to_string())).status(),
                SendStatus::Success
            );
        }
        let mut batch = VecDeque::new();
        assert_eq!(outbox.take_now(&mut batch), 10);
        let got: Vec<_> = batch
            .iter()
            .map(|m| match m {
                Outgoing::Text(t) => t.to_string(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(got, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn refuses_while_over_the_limit_and_counts() {
        let outbox = Outbox::new(10);
        assert_eq!(
            outbox.push(text("0123456789")),
            Pushed::Queued(SendStatus::Backpressure)
        );
        // Exactly at the limit: still accepted (uWS drops only when above it).
        assert_eq!(
            outbox.push(text("x")),
            Pushed::Queued(SendStatus::Backpressure)
        );
        assert_eq!(outbox.buffered(), 11);
        assert_eq!(outbox.push(text("y")), Pushed::OverLimit);
        assert_eq!(outbox.dropped(), 1);
        let mut batch = VecDeque::new();
        outbox.take_now(&mut batch);
        outbox.written(11);
        assert_eq!(outbox.buffered(), 0);
        assert!(outbox.take_drain(), "a drop asks for a drain once emptied");
        assert!(!outbox.take_drain(), "only once");
        assert_eq!(outbox.push(text("z")), Pushed::Queued(SendStatus::Success));
    }

    #[test]
    fn a_deep_queue_reports_backpressure() {
        let outbox = Outbox::new(100);
        assert_eq!(outbox.high_water(), 50);
        assert_eq!(
            outbox.push(text(&"a".repeat(50))).status(),
            SendStatus::Success
        );
        assert_eq!(outbox.push(text("b")).status(), SendStatus::Backpressure);
    }

    #[test]
    fn stalled_socket_reports_backpressure() {
        let outbox = Outbox::new(1024);
        outbox.stall_flag().store(true, Ordering::Relaxed);
        assert_eq!(outbox.push(text("a")).status(), SendStatus::Backpressure);
        outbox.stall_flag().store(false, Ordering::Relaxed);
        let mut batch = VecDeque::new();
        outbox.take_now(&mut batch);
        outbox.written(1);
        assert!(outbox.take_drain());
    }

    #[test]
    fn close_refuses_later_pushes_and_can_discard() {
        let outbox = Outbox::new(1024);
        outbox.push(text("kept"));
        assert!(outbox.close(1001, "bye".into(), false));
        assert!(!outbox.close(1000, "again".into(), false));
        assert_eq!(outbox.push(text("late")), Pushed::Closing);
        let mut batch = VecDeque::new();
        outbox.take_now(&mut batch);
        assert_eq!(batch.len(), 2);
        assert_eq!(
            batch[1],
            Outgoing::Close {
                code: 1001,
                reason: "bye".into()
            }
        );

        let slow = Outbox::new(1024);
        slow.push(text("discarded"));
        slow.close(1008, "slow".into(), true);
        let mut batch = VecDeque::new();
        slow.take_now(&mut batch);
        assert_eq!(batch.len(), 1);
        assert_eq!(slow.buffered(), 0);
    }

    #[tokio::test]
    async fn writer_wakes_on_push_and_stops_on_abort() {
        let outbox = Arc::new(Outbox::new(1024));
        let writer = {
            let outbox = Arc::clone(&outbox);
            tokio::spawn(async move {
                let mut seen = 0;
                let mut batch = VecDeque::new();
                while outbox.take(&mut batch).await {
                    seen += batch.drain(..).count();
                }
                seen
            })
        };
        tokio::task::yield_now().await;
        outbox.push(text("a"));
        outbox.push_ping();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        outbox.abort();
        assert_eq!(writer.await.unwrap(), 2);
    }
}
