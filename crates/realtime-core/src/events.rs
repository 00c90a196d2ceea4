//! Events from the server to the hook runner, and the queue that batches them.
//!
//! I/O threads push [`Event`]s; the hook runner (Node's main thread in production, a test
//! thread in `tests/`) drains them. Draining encodes a whole batch into one byte buffer
//! ([`encode`]), so JavaScript is entered once per batch rather than once per message; the
//! layout is decoded by `lib/runtime/batch.js`, and both sides are tested on the same bytes.
//!
//! The queue is a crossbeam MPSC channel plus a "wake pending" flag: the first push after a
//! drain calls the waker (the napi threadsafe function), later pushes ride along. Messages and
//! other client-driven events take permits from a byte budget before they are queued, so a
//! slow hook runner stops the readers (and TCP pushes back on clients) instead of queueing
//! without bound. Events the server itself creates once per connection or request (open,
//! close, upgrade, ...) are bounded by `max_connections` and skip the budget, so a full
//! budget can never keep a close from being reported.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Semaphore;

use crate::ConnId;
use crate::control::MessageKind;

/// Something the hook runner must hear about.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// An upgrade request waiting for the `upgrade` hook. `request` is JSON:
    /// `{"url","headers","remoteAddress"}`.
    Upgrade { id: ConnId, request: String },
    /// An upgrade the hook was asked about will not open (client gone, handshake failed).
    UpgradeAborted { id: ConnId },
    /// A WebSocket is open.
    Open { id: ConnId, remote_address: String },
    /// A message for the `message` hook.
    Message {
        id: ConnId,
        is_binary: bool,
        kind: MessageKind,
        data: Bytes,
    },
    /// A WebSocket closed; `code` is what the `close` hook sees.
    Close {
        id: ConnId,
        code: u16,
        reason: Bytes,
    },
    /// A socket that reported backpressure has emptied its outbox.
    Drain { id: ConnId },
    /// A client asked to subscribe to a topic it was not granted; the `subscribe` hook
    /// decides.
    Subscribe { id: ConnId, topic: String },
    /// An HTTP request for the HTTP handler. `head` is JSON:
    /// `{"method","url","headers","remoteAddress"}`. With `has_body`, `HttpBody` events
    /// follow, then one `HttpBodyEnd`.
    HttpRequest {
        id: ConnId,
        head: String,
        has_body: bool,
    },
    /// A chunk of a request body.
    HttpBody { id: ConnId, chunk: Bytes },
    /// The request body ended: `code` 0 when complete, 413 over the limit, 400 broken.
    HttpBodyEnd { id: ConnId, code: u16 },
    /// A response body that was full has room again.
    HttpDrain { id: ConnId },
    /// The client of an HTTP request went away before the response.
    HttpAborted { id: ConnId },
    /// A message for the log (`level`: 0 info, 1 warn, 2 error).
    Log { level: u16, message: String },
    /// Shutdown has begun and every socket has stopped reading: no client message follows.
    /// The runner finishes the handlers it has in flight (their replies still go out), then
    /// calls `RunningServer::finish_shutdown` so the sockets close with 1001.
    Drained,
    /// The server has stopped: no event follows.
    Stopped,
}

/// Event kinds as they appear in the encoded batch (`lib/runtime/batch.js` mirrors them).
pub mod kind {
    pub const UPGRADE: u8 = 1;
    pub const UPGRADE_ABORTED: u8 = 2;
    pub const OPEN: u8 = 3;
    pub const MESSAGE: u8 = 4;
    pub const CLOSE: u8 = 5;
    pub const DRAIN: u8 = 6;
    pub const SUBSCRIBE: u8 = 7;
    pub const HTTP_REQUEST: u8 = 8;
    pub const HTTP_ABORTED: u8 = 9;
    pub const LOG: u8 = 10;
    pub const STOPPED: u8 = 11;
    pub const HTTP_BODY: u8 = 12;
    pub const HTTP_BODY_END: u8 = 13;
    pub const HTTP_DRAIN: u8 = 14;
    pub const DRAINED: u8 = 15;
}

/// Size of the fixed record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// The fixed header fields and the payload of one event's record.
struct Record<'a> {
    kind: u8,
    flags: u8,
    code: u16,
    id: ConnId,
    payload: &'a [u8],
}

fn record(kind: u8, flags: u8, code: u16, id: ConnId, payload: &[u8]) -> Record<'_> {
    Record {
        kind,
        flags,
        code,
        id,
        payload,
    }
}

fn record_of(event: &Event) -> Record<'_> {
    match event {
        Event::Upgrade { id, request } => record(kind::UPGRADE, 0, 0, *id, request.as_bytes()),
        Event::UpgradeAborted { id } => record(kind::UPGRADE_ABORTED, 0, 0, *id, &[]),
        Event::Open { id, remote_address } => {
            record(kind::OPEN, 0, 0, *id, remote_address.as_bytes())
        }
        Event::Message {
            id,
            is_binary,
            kind: message_kind,
            data,
        } => {
            let flags = u8::from(*is_binary) | (message_kind.number() << 1);
            record(kind::MESSAGE, flags, message_kind.code(), *id, data)
        }
        Event::Close { id, code, reason } => record(kind::CLOSE, 0, *code, *id, reason),
        Event::Drain { id } => record(kind::DRAIN, 0, 0, *id, &[]),
        Event::Subscribe { id, topic } => record(kind::SUBSCRIBE, 0, 0, *id, topic.as_bytes()),
        Event::HttpRequest { id, head, has_body } => record(
            kind::HTTP_REQUEST,
            u8::from(*has_body),
            0,
            *id,
            head.as_bytes(),
        ),
        Event::HttpBody { id, chunk } => record(kind::HTTP_BODY, 0, 0, *id, chunk),
        Event::HttpBodyEnd { id, code } => record(kind::HTTP_BODY_END, 0, *code, *id, &[]),
        Event::HttpDrain { id } => record(kind::HTTP_DRAIN, 0, 0, *id, &[]),
        Event::HttpAborted { id } => record(kind::HTTP_ABORTED, 0, 0, *id, &[]),
        Event::Log { level, message } => record(kind::LOG, 0, *level, 0, message.as_bytes()),
        Event::Drained => record(kind::DRAINED, 0, 0, 0, &[]),
        Event::Stopped => record(kind::STOPPED, 0, 0, 0, &[]),
    }
}

/// Bytes `event` takes in a batch.
pub fn encoded_len(event: &Event) -> usize {
    RECORD_HEADER_LEN + record_of(event).payload.len()
}

/// Writes one event into `out`, which must be exactly [`encoded_len`] bytes.
///
/// Record layout, little-endian:
/// `kind u8 | flags u8 | code u16 | payload length u32 | id u64 | payload`.
/// `flags`: messages: bit 0 = binary frame, bits 1–2 = [`MessageKind::number`] (`code`:
/// [`MessageKind::code`]); HTTP requests:
/// bit 0 = a body follows. `code`: close code, log level, or HTTP body end code.
pub fn encode_into(event: &Event, out: &mut [u8]) {
    let record = record_of(event);
    let (header, payload) = out.split_at_mut(RECORD_HEADER_LEN);
    header[0] = record.kind;
    header[1] = record.flags;
    header[2..4].copy_from_slice(&record.code.to_le_bytes());
    header[4..8].copy_from_slice(&(record.payload.len() as u32).to_le_bytes());
    header[8..16].copy_from_slice(&record.id.to_le_bytes());
    payload.copy_from_slice(record.payload);
}

/// Appends one event to `out`.
pub fn encode(event: &Event, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + encoded_len(event), 0);
    encode_into(event, &mut out[start..]);
}

/// What one drain produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// This many bytes of records were written into the caller's buffer (0: nothing queued).
    Written(usize),
    /// One event larger than the caller's whole buffer, encoded on its own.
    Oversized(Vec<u8>),
}

type Waker = Box<dyn Fn() + Send + Sync>;

/// The batching queue between the server and the hook runner.
pub struct EventQueue {
    tx: Sender<Event>,
    rx: Receiver<Event>,
    /// An event that did not fit the last batch; it leads the next one. Only the single
    /// draining thread takes this lock.
    carry: Mutex<Option<Event>>,
    wake_pending: AtomicBool,
    /// Read on every wake, written twice in a server's life (set, clear).
    waker: RwLock<Option<Waker>>,
    budget: Semaphore,
    budget_total: usize,
}

/// Most events handed over in one drain, so one batch never monopolizes the JS thread.
pub const MAX_BATCH_EVENTS: usize = 4096;

impl EventQueue {
    /// A queue whose budgeted events may hold at most `budget_bytes` (capped at 4 GiB).
    pub fn new(budget_bytes: usize) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let budget_total = budget_bytes.clamp(1, u32::MAX as usize);
        Self {
            tx,
            rx,
            carry: Mutex::new(None),
            wake_pending: AtomicBool::new(false),
            waker: RwLock::new(None),
            budget: Semaphore::new(budget_total),
            budget_total,
        }
    }

    /// Installs the function called when events arrive after a drain.
    pub fn set_waker(&self, waker: impl Fn() + Send + Sync + 'static) {
        *self.waker.write() = Some(Box::new(waker));
        // Events may already be waiting.
        if !self.rx.is_empty() || self.carry.lock().is_some() {
            self.wake();
        }
    }

    /// Drops the waker (and with it, in Node, the threadsafe function that keeps the
    /// process alive).
    pub fn clear_waker(&self) {
        self.waker.write().take();
    }

    /// Holds wakes until [`end_deferred_wake`](Self::end_deferred_wake): the caller drains
    /// this queue itself right after (an inline engine's turn on the runner's thread).
    pub fn defer_wake(&self) {
        self.wake_pending.store(true, Ordering::Release);
    }

    /// Ends [`defer_wake`](Self::defer_wake); true when events wait (the caller drains them).
    pub fn end_deferred_wake(&self) -> bool {
        self.wake_pending.store(false, Ordering::Release);
        !self.rx.is_empty() || self.carry.lock().is_some()
    }

    fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel)
            && let Some(waker) = self.waker.read().as_ref()
        {
            waker();
        }
    }

    /// Queues an event that is bounded by the number of connections. Client-driven events
    /// (those with a [`cost`](Self::cost)) must use [`push_budgeted`](Self::push_budgeted),
    /// or draining them would hand back budget nobody took.
    pub fn push(&self, event: Event) {
        debug_assert_eq!(self.cost(&event), 0, "budgeted event pushed without budget");
        self.enqueue(event);
    }

    fn enqueue(&self, event: Event) {
        // The receiver lives in `self`, so sending cannot fail.
        let _ = self.tx.send(event);
        self.wake();
    }

    /// Queues a client-driven event after taking its bytes from the budget; waits while
    /// the budget is spent.
    pub async fn push_budgeted(&self, event: Event) {
        let cost = self.cost(&event);
        if cost > 0 {
            match self.budget.acquire_many(cost).await {
                Ok(permit) => permit.forget(),
                Err(_) => return, // the semaphore is never closed
            }
        }
        self.enqueue(event);
    }

    /// [`push_budgeted`](Self::push_budgeted) without waiting: the event comes back when the
    /// budget is spent, so the caller can wait for it without holding anything else.
    pub fn try_push_budgeted(&self, event: Event) -> Result<(), Event> {
        let cost = self.cost(&event);
        if cost > 0 {
            match self.budget.try_acquire_many(cost) {
                Ok(permit) => permit.forget(),
                Err(_) => return Err(event),
            }
        }
        self.enqueue(event);
        Ok(())
    }

    fn cost(&self, event: &Event) -> u32 {
        let bytes = match event {
            Event::Message { data, .. } => data.len(),
            Event::Subscribe { topic, .. } => topic.len() + RECORD_HEADER_LEN,
            Event::HttpRequest { head, .. } => head.len(),
            Event::HttpBody { chunk, .. } => chunk.len(),
            _ => 0,
        };
        bytes.min(self.budget_total) as u32
    }

    /// Encodes queued events into `out` until the next one does not fit (it leads the next
    /// batch) or [`MAX_BATCH_EVENTS`] are in; returns their budget. Re-arms the waker first,
    /// so an event pushed during the drain wakes again. Writing into the caller's buffer
    /// means no allocation per batch: in Node it is one `Buffer` reused for every batch.
    pub fn drain_into(&self, out: &mut [u8]) -> Drained {
        self.wake_pending.store(false, Ordering::Release);
        let mut carry = self.carry.lock();
        let mut written = 0;
        let mut count = 0;
        let mut released = 0u64;
        let mut oversized = None;
        while count < MAX_BATCH_EVENTS {
            let Some(event) = carry.take().or_else(|| self.rx.try_recv().ok()) else {
                break;
            };
            let len = encoded_len(&event);
            if written + len > out.len() {
                if written == 0 {
                    let mut alone = Vec::new();
                    encode(&event, &mut alone);
                    released += u64::from(self.cost(&event));
                    oversized = Some(alone);
                } else {
                    *carry = Some(event);
                }
                break;
            }
            encode_into(&event, &mut out[written..written + len]);
            written += len;
            released += u64::from(self.cost(&event));
            count += 1;
        }
        let more = carry.is_some() || !self.rx.is_empty();
        drop(carry);
        self.release(released);
        if more {
            self.wake();
        }
        match oversized {
            Some(alone) => Drained::Oversized(alone),
            None => Drained::Written(written),
        }
    }

    /// Takes one event, waiting up to `timeout` (Rust tests drive the server this way).
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<Event> {
        let carried = self.carry.lock().take();
        let event = match carried {
            Some(event) => event,
            None => self.rx.recv_timeout(timeout).ok()?,
        };
        self.release(u64::from(self.cost(&event)));
        Some(event)
    }

    fn release(&self, permits: u64) {
        if permits > 0 {
            self.budget.add_permits(permits as usize);
        }
    }

    /// Budget bytes currently held by queued events.
    pub fn budget_in_use(&self) -> usize {
        self.budget_total - self.budget.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    #[test]
    fn encodes_records_byte_for_byte() {
        let mut out = Vec::new();
        encode(
            &Event::Message {
                id: 0x0102_0304_0506,
                is_binary: true,
                kind: MessageKind::RpcBinary,
                data: Bytes::from_static(b"hi"),
            },
            &mut out,
        );
        assert_eq!(
            out,
            [
                4, 0b101, 0, 0, // kind, flags (binary | RpcBinary << 1), code
                2, 0, 0, 0, // payload length
                6, 5, 4, 3, 2, 1, 0, 0, // id
                b'h', b'i'
            ]
        );
        out.clear();
        encode(
            &Event::Close {
                id: 7,
                code: 1009,
                reason: Bytes::from_static(b"big"),
            },
            &mut out,
        );
        assert_eq!(&out[..4], &[5, 0, 0xf1, 0x03]);
        assert_eq!(&out[16..], b"big");
        out.clear();
        encode(
            &Event::HttpRequest {
                id: 1,
                head: "{}".into(),
                has_body: true,
            },
            &mut out,
        );
        assert_eq!(&out[..8], &[8, 1, 0, 0, 2, 0, 0, 0]);
        assert_eq!(&out[16..], b"{}");
        out.clear();
        encode(&Event::HttpBodyEnd { id: 1, code: 413 }, &mut out);
        assert_eq!(&out[..8], &[13, 0, 0x9d, 0x01, 0, 0, 0, 0]);
    }

    #[test]
    fn wakes_once_per_batch() {
        let queue = EventQueue::new(1024);
        let wakes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&wakes);
        queue.set_waker(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        for id in 0..5 {
            queue.push(Event::Drain { id });
        }
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        let mut out = vec![0u8; 1024];
        assert_eq!(
            queue.drain_into(&mut out),
            Drained::Written(5 * RECORD_HEADER_LEN)
        );
        queue.push(Event::Drain { id: 9 });
        assert_eq!(wakes.load(Ordering::SeqCst), 2, "re-armed after the drain");
    }

    #[tokio::test]
    async fn a_record_that_does_not_fit_leads_the_next_batch() {
        let queue = EventQueue::new(1 << 20);
        let message = |n: usize| Event::Message {
            id: 1,
            is_binary: false,
            kind: MessageKind::Other,
            data: Bytes::from(vec![b'x'; n]),
        };
        queue.push_budgeted(message(40)).await;
        queue.push_budgeted(message(40)).await;
        queue.push_budgeted(message(500)).await;
        let mut out = vec![0u8; 128];
        // Two 56-byte records fit in 128; the third waits.
        assert_eq!(queue.drain_into(&mut out), Drained::Written(112));
        // Alone it is larger than the whole buffer: it comes out encoded on its own.
        let Drained::Oversized(alone) = queue.drain_into(&mut out) else {
            panic!("expected the oversized record");
        };
        assert_eq!(alone.len(), RECORD_HEADER_LEN + 500);
        assert_eq!(&alone[4..8], &500u32.to_le_bytes());
        assert_eq!(queue.drain_into(&mut out), Drained::Written(0));
        assert_eq!(queue.budget_in_use(), 0, "every budget byte returned");
    }

    #[tokio::test]
    async fn budget_blocks_producers_until_drained() {
        let queue = Arc::new(EventQueue::new(10));
        let message = |n: usize| Event::Message {
            id: 1,
            is_binary: false,
            kind: MessageKind::Other,
            data: Bytes::from(vec![b'x'; n]),
        };
        queue.push_budgeted(message(8)).await;
        assert_eq!(queue.budget_in_use(), 8);
        let blocked = {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move { queue.push_budgeted(message(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!blocked.is_finished(), "over budget: the producer waits");
        let mut out = vec![0u8; 1024];
        assert_eq!(
            queue.drain_into(&mut out),
            Drained::Written(RECORD_HEADER_LEN + 8)
        );
        blocked.await.unwrap();
        assert_eq!(queue.budget_in_use(), 5);
        // A message larger than the whole budget still goes through, alone.
        queue.drain_into(&mut out);
        queue.push_budgeted(message(50)).await;
        assert_eq!(queue.budget_in_use(), 10);
    }
}
