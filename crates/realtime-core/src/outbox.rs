//! One connection's queue of outgoing frames, bounded in bytes.
//!
//! Every server→client frame of a connection goes through its outbox: published envelopes,
//! direct sends, pongs, pings and the close frame. One queue per connection is what keeps the
//! per-socket FIFO promise of reference-protocol §1.3 (a publish issued before an RPC
//! response is sent before it), whichever thread pushes. Frames arrive already framed
//! (`ws::encode`): a publish queues the same `Bytes` in every subscriber's outbox.
//!
//! Overflow policy (uWebSockets' `maxBackpressure`): a data frame is refused with
//! [`SendStatus::Dropped`] while more than `max_bytes` are already queued ([`Pushed::OverLimit`],
//! which the caller counts server-wide); the caller may close the socket instead (`closeOnBackpressureLimit`). Control frames take no
//! budget and cannot grow: at most [`MAX_PENDING_PONGS`] pongs wait (past that the oldest is
//! dropped: RFC 6455 §5.5.3 lets an endpoint answer only the latest ping), one ping, one
//! close frame. So a client that floods pings and never reads holds about 2 KiB here.
//!
//! The connection task takes everything queued at once ([`Outbox::take`]) and writes it in
//! one vectored write.
//!
//! Lock: one `parking_lot::Mutex` around the queue and the task's waker. Nothing awaits under
//! it and it is held for a push or a swap, so a publish to N sockets costs N short
//! uncontended locks.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::task::{Context, Waker};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::ws::encode;

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
#[repr(u8)]
enum State {
    Open,
    /// A close frame is queued after the data; nothing more is accepted.
    Closing,
    /// The task must stop now; everything queued is dropped.
    Closed,
}

/// Pongs that may wait to be written; a newer ping pushes the oldest out.
pub const MAX_PENDING_PONGS: usize = 16;

struct Queue {
    frames: VecDeque<Bytes>,
    /// Pending pongs and the close frame: rare, so boxed (an idle socket holds none).
    control: Option<Box<Control>>,
    ping: bool,
    waker: Option<Waker>,
    state: State,
}

#[derive(Default)]
struct Control {
    pongs: VecDeque<Bytes>,
    close: Option<Bytes>,
}

impl Queue {
    fn control(&mut self) -> &mut Control {
        self.control.get_or_insert_default()
    }

    fn has_control(&self) -> bool {
        self.ping
            || self
                .control
                .as_ref()
                .is_some_and(|c| !c.pongs.is_empty() || c.close.is_some())
    }
}

/// The bounded outbox. Shared between the pushers (any thread) and one connection task.
pub struct Outbox {
    queue: Mutex<Queue>,
    /// `queue.state`, readable without the lock (written under it).
    state: AtomicU8,
    buffered: AtomicUsize,
    /// `maxBackpressure` (up to 4 GiB: a u32 packs with the flags next to it).
    max_bytes: u32,
    stalled: AtomicBool,
    drain_wanted: AtomicBool,
}

/// Result of a push, so the caller can apply its policy.
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

/// What the connection task took from the outbox to write, in this order: control frames
/// (pongs, a ping: taken only at a frame boundary), the data frames, then the close frame.
#[derive(Debug, Default)]
pub struct Taken {
    pub control: VecDeque<Bytes>,
    pub frames: VecDeque<Bytes>,
    pub close: Option<Bytes>,
    /// Bytes of the first item already written (a partial write).
    pub offset: usize,
}

/// What [`Taken::advance`] finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Advanced {
    /// Bytes of data frames now wholly written (to report with [`Outbox::written`]).
    pub data_bytes: usize,
    /// The close frame went out.
    pub closed: bool,
}

impl Taken {
    pub fn is_empty(&self) -> bool {
        self.control.is_empty() && self.frames.is_empty() && self.close.is_none()
    }

    /// How many buffers are left to write.
    pub fn len(&self) -> usize {
        self.control.len() + self.frames.len() + usize::from(self.close.is_some())
    }

    /// Fills `out` with the bytes still to write, in order, skipping the first `offset` bytes
    /// of the first item; returns how many slices it used.
    pub fn slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let offset = self.offset;
        let items = self
            .control
            .iter()
            .chain(self.frames.iter())
            .chain(self.close.iter());
        let mut used = 0;
        for (slot, (i, item)) in out.iter_mut().zip(items.enumerate()) {
            *slot = IoSlice::new(if i == 0 { &item[offset..] } else { item });
            used += 1;
        }
        used
    }

    /// Accounts for `written` more bytes after the first `offset` bytes of the first item;
    /// drops what went out whole and updates `offset`.
    pub fn advance(&mut self, mut written: usize) -> Advanced {
        let offset = &mut self.offset;
        let mut done = Advanced::default();
        while written > 0 {
            let (len, is_data) = if let Some(control) = self.control.front() {
                (control.len(), false)
            } else if let Some(frame) = self.frames.front() {
                (frame.len(), true)
            } else if let Some(close) = &self.close {
                (close.len(), false)
            } else {
                break;
            };
            let left = len - *offset;
            if written < left {
                *offset += written;
                break;
            }
            written -= left;
            *offset = 0;
            if self.control.pop_front().is_some() {
                continue;
            }
            if is_data {
                self.frames.pop_front();
                done.data_bytes += len;
            } else {
                self.close = None;
                done.closed = true;
            }
        }
        done
    }
}

impl Outbox {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            queue: Mutex::new(Queue {
                frames: VecDeque::new(),
                control: None,
                ping: false,
                waker: None,
                state: State::Open,
            }),
            state: AtomicU8::new(State::Open as u8),
            buffered: AtomicUsize::new(0),
            max_bytes: u32::try_from(max_bytes).unwrap_or(u32::MAX),
            stalled: AtomicBool::new(false),
            drain_wanted: AtomicBool::new(false),
        }
    }

    /// Queued bytes above which a push reports backpressure even while the socket still
    /// writes: the sender is outpacing it. 64 KiB, or half the limit if that is smaller.
    pub fn high_water(&self) -> usize {
        (self.max_bytes as usize / 2).min(64 * 1024)
    }

    /// Queues a data frame, applying the byte limit, and wakes the connection task.
    pub fn push(&self, frame: Bytes) -> Pushed {
        self.push_with(frame, true)
    }

    /// [`push`](Self::push) without waking the task (corked): the caller pushes more and
    /// calls [`notify`](Self::notify) once, so a batch of replies is one wake and one write.
    pub fn push_corked(&self, frame: Bytes) -> Pushed {
        self.push_with(frame, false)
    }

    fn push_with(&self, frame: Bytes, wake: bool) -> Pushed {
        let len = frame.len();
        let mut queue = self.queue.lock();
        if queue.state != State::Open {
            return Pushed::Closing;
        }
        if self.buffered.load(Ordering::Relaxed) > self.max_bytes as usize {
            drop(queue);
            self.drain_wanted.store(true, Ordering::Relaxed);
            return Pushed::OverLimit;
        }
        let queued = self.buffered.fetch_add(len, Ordering::Relaxed) + len;
        queue.frames.push_back(frame);
        if wake {
            Self::wake(queue);
        } else {
            drop(queue);
        }
        if self.stalled.load(Ordering::Relaxed) || queued > self.high_water() {
            self.drain_wanted.store(true, Ordering::Relaxed);
            Pushed::Queued(SendStatus::Backpressure)
        } else {
            Pushed::Queued(SendStatus::Success)
        }
    }

    /// Queues the answer to a ping; past [`MAX_PENDING_PONGS`] unwritten, the oldest goes.
    pub fn push_pong(&self, payload: &[u8]) {
        let mut queue = self.queue.lock();
        if queue.state == State::Open {
            let pongs = &mut queue.control().pongs;
            if pongs.len() == MAX_PENDING_PONGS {
                pongs.pop_front();
            }
            pongs.push_back(encode::pong(payload));
            Self::wake(queue);
        }
    }

    /// Queues a ping (idle check); one at most.
    pub fn push_ping(&self) {
        let mut queue = self.queue.lock();
        if queue.state == State::Open && !queue.ping {
            queue.ping = true;
            Self::wake(queue);
        }
    }

    /// Queues a close frame after what is already queued (or instead of it, with
    /// `discard_pending`) and refuses further pushes. Returns false if already closing.
    pub fn close(&self, code: u16, reason: &str, discard_pending: bool) -> bool {
        self.close_with(encode::close(code, reason), discard_pending)
    }

    /// [`close`](Self::close) with a close frame that carries no code (answering one).
    pub fn close_empty(&self) -> bool {
        self.close_with(encode::close_empty(), false)
    }

    fn close_with(&self, frame: Bytes, discard_pending: bool) -> bool {
        let mut queue = self.queue.lock();
        if queue.state != State::Open {
            return false;
        }
        if discard_pending {
            queue.frames.clear();
            self.buffered.store(0, Ordering::Relaxed);
        }
        queue.ping = false;
        queue.state = State::Closing;
        self.state.store(State::Closing as u8, Ordering::Release);
        let control = queue.control();
        control.pongs.clear();
        control.close = Some(frame);
        Self::wake(queue);
        true
    }

    /// Stops the task now and discards everything queued.
    pub fn abort(&self) {
        let mut queue = self.queue.lock();
        queue.state = State::Closed;
        self.state.store(State::Closed as u8, Ordering::Release);
        queue.frames.clear();
        queue.control = None;
        self.buffered.store(0, Ordering::Relaxed);
        Self::wake(queue);
    }

    /// Wakes the task without queueing anything (it re-checks the server state).
    pub fn notify(&self) {
        Self::wake(self.queue.lock());
    }

    fn wake(mut queue: parking_lot::MutexGuard<'_, Queue>) {
        let waker = queue.waker.take();
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether data pushes are still accepted.
    pub fn is_open(&self) -> bool {
        self.state.load(Ordering::Acquire) == State::Open as u8
    }

    /// Whether [`abort`](Self::abort) was called.
    pub fn is_aborted(&self) -> bool {
        self.state.load(Ordering::Acquire) == State::Closed as u8
    }

    /// Moves everything queued into `taken` (which must be empty). With `boundary` false the
    /// task is in the middle of a frame, so control frames stay queued for later. Returns
    /// false once aborted.
    pub fn take(&self, taken: &mut Taken, boundary: bool) -> bool {
        let mut queue = self.queue.lock();
        if queue.state == State::Closed {
            return false;
        }
        if boundary {
            if let Some(control) = queue.control.as_mut() {
                taken.control = std::mem::take(&mut control.pongs);
            }
            if std::mem::take(&mut queue.ping) {
                taken.control.push_back(encode::ping());
            }
        }
        std::mem::swap(&mut queue.frames, &mut taken.frames);
        if taken.frames.is_empty() {
            // The close frame goes last, after every data frame taken before it.
            taken.close = queue.control.as_mut().and_then(|c| c.close.take());
        }
        // Nothing pending in the box: give it back.
        if queue
            .control
            .as_ref()
            .is_some_and(|c| c.pongs.is_empty() && c.close.is_none())
        {
            queue.control = None;
        }
        true
    }

    /// Registers the task's waker unless there is something for it already: an abort, or,
    /// with `queued_counts`, anything queued (a task blocked on a full socket only cares
    /// about aborts). True when registered: the task may sleep.
    pub fn register_if_idle(&self, cx: &mut Context<'_>, queued_counts: bool) -> bool {
        let mut queue = self.queue.lock();
        let work = queue.state == State::Closed
            || (queued_counts && (!queue.frames.is_empty() || queue.has_control()));
        if !work {
            queue.waker = Some(cx.waker().clone());
        }
        !work
    }

    /// The task reports `bytes` of data frames handed to the socket.
    pub fn written(&self, bytes: usize) {
        if bytes > 0 {
            self.buffered.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// The task reports whether the kernel refused a write (the socket is not keeping up).
    pub fn set_stalled(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::Relaxed);
    }

    /// Bytes queued and not yet handed to the socket (`getBufferedAmount`).
    pub fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Relaxed)
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
    use std::sync::Arc;
    use std::task::Wake;

    use super::*;

    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        (Arc::clone(&flag), Waker::from(flag))
    }

    fn take(outbox: &Outbox) -> Taken {
        let mut taken = Taken::default();
        assert!(outbox.take(&mut taken, true));
        taken
    }

    fn frame(s: &str) -> Bytes {
        encode::frame(encode::TEXT, s.as_bytes())
    }

    #[test]
    fn keeps_fifo_order() {
        let outbox = Outbox::new(1024);
        for i in 0..10 {
            assert_eq!(
                outbox.push(frame(&i.to_string())).status(),
                SendStatus::Success
            );
        }
        let taken = take(&outbox);
        let expected: Vec<Bytes> = (0..10).map(|i| frame(&i.to_string())).collect();
        assert_eq!(taken.frames, expected);
    }

    #[test]
    fn refuses_while_over_the_limit_and_counts() {
        let outbox = Outbox::new(10);
        let ten = Bytes::from_static(b"0123456789");
        assert_eq!(outbox.push(ten), Pushed::Queued(SendStatus::Backpressure));
        // Exactly at the limit: still accepted (uWS drops only when above it).
        let one = Bytes::from_static(b"x");
        assert_eq!(
            outbox.push(one.clone()),
            Pushed::Queued(SendStatus::Backpressure)
        );
        assert_eq!(outbox.buffered(), 11);
        assert_eq!(outbox.push(one.clone()), Pushed::OverLimit);
        take(&outbox);
        outbox.written(11);
        assert_eq!(outbox.buffered(), 0);
        assert!(outbox.take_drain(), "a drop asks for a drain once emptied");
        assert!(!outbox.take_drain(), "only once");
        assert_eq!(outbox.push(one), Pushed::Queued(SendStatus::Success));
    }

    #[test]
    fn a_deep_queue_or_a_stalled_socket_reports_backpressure() {
        let outbox = Outbox::new(100);
        assert_eq!(outbox.high_water(), 50);
        assert_eq!(
            outbox.push(Bytes::from(vec![0; 50])).status(),
            SendStatus::Success
        );
        assert_eq!(
            outbox.push(Bytes::from_static(b"b")).status(),
            SendStatus::Backpressure
        );
        let stalled = Outbox::new(1024);
        stalled.set_stalled(true);
        assert_eq!(
            stalled.push(Bytes::from_static(b"a")).status(),
            SendStatus::Backpressure
        );
        stalled.set_stalled(false);
        take(&stalled);
        stalled.written(1);
        assert!(stalled.take_drain());
    }

    #[test]
    fn pending_pongs_and_pings_are_bounded() {
        let outbox = Outbox::new(1024);
        for i in 0..10_000u32 {
            outbox.push_pong(&i.to_be_bytes());
        }
        outbox.push_ping();
        outbox.push_ping();
        let taken = take(&outbox);
        let latest: VecDeque<Bytes> = (10_000 - MAX_PENDING_PONGS as u32..10_000)
            .map(|i| encode::pong(&i.to_be_bytes()))
            .chain([encode::ping()])
            .collect();
        assert_eq!(taken.control, latest, "the latest pongs, then one ping");
        assert!(take(&outbox).is_empty());
        assert_eq!(outbox.buffered(), 0, "control frames take no budget");
    }

    #[test]
    fn control_frames_wait_for_a_frame_boundary() {
        let outbox = Outbox::new(1024);
        outbox.push(frame("a"));
        outbox.push_pong(b"p");
        let mut taken = Taken::default();
        outbox.take(&mut taken, false);
        assert!(taken.control.is_empty());
        assert_eq!(taken.frames.len(), 1);
        assert_eq!(take(&outbox).control, [encode::pong(b"p")]);
    }

    #[test]
    fn partial_writes_advance_through_control_data_and_close() {
        let mut taken = Taken {
            control: [encode::ping()].into(),
            frames: [frame("ab"), frame("cde")].into(),
            close: Some(encode::close(1000, "")),
            offset: 0,
        };
        assert_eq!(taken.slices(&mut [IoSlice::new(&[]); 8]), 4);
        // The ping (2 bytes) and one byte of "ab"'s frame (4 bytes).
        assert_eq!(taken.advance(3), Advanced::default());
        assert_eq!((taken.control.is_empty(), taken.offset), (true, 1));
        let mut out = [IoSlice::new(&[]); 8];
        assert_eq!(taken.slices(&mut out), 3);
        assert_eq!(&out[0][..], &frame("ab")[1..]);
        // The rest of "ab", all of "cde" (5 bytes), the close frame (4 bytes).
        let done = taken.advance(3 + 5 + 4);
        assert_eq!(
            done,
            Advanced {
                data_bytes: 4 + 5,
                closed: true
            }
        );
        assert!(taken.is_empty());
        assert_eq!(taken.offset, 0);
    }

    #[test]
    fn close_goes_after_the_data_and_refuses_later_pushes() {
        let outbox = Outbox::new(1024);
        outbox.push(frame("kept"));
        assert!(outbox.close(1001, "bye", false));
        assert!(!outbox.close(1000, "again", false));
        assert_eq!(outbox.push(frame("late")), Pushed::Closing);
        let taken = take(&outbox);
        assert_eq!(taken.frames, [frame("kept")]);
        assert_eq!(taken.close, None, "not in the same take as data before it");
        assert_eq!(take(&outbox).close, Some(encode::close(1001, "bye")));

        let slow = Outbox::new(1024);
        slow.push(frame("discarded"));
        slow.close(1008, "slow", true);
        let taken = take(&slow);
        assert!(taken.frames.is_empty());
        assert_eq!(taken.close, Some(encode::close(1008, "slow")));
        assert_eq!(slow.buffered(), 0);
    }

    #[test]
    fn an_idle_task_registers_and_a_push_wakes_it() {
        let outbox = Outbox::new(1024);
        let (flag, waker) = waker();
        let mut cx = Context::from_waker(&waker);
        assert!(outbox.register_if_idle(&mut cx, true));
        outbox.push(frame("a"));
        assert!(flag.0.load(Ordering::SeqCst));
        assert!(
            !outbox.register_if_idle(&mut cx, true),
            "something is queued"
        );
        assert!(
            outbox.register_if_idle(&mut cx, false),
            "blocked on the socket: only aborts count"
        );
        outbox.abort();
        assert!(!outbox.register_if_idle(&mut cx, false));
        assert!(!outbox.take(&mut Taken::default(), true));
    }
}
