//! The state machine behind each WebSocket: reads, writes and control frames, driven by socket
//! readiness. The connection engine (`engine`) owns it and polls it when its socket or its
//! outbox has something to do.
//!
//! Reading: when the socket is readable, one `read` fills the I/O thread's shared read
//! buffer (`READ_BUF`); complete frames are decoded (`ws::decode`) straight from it and each
//! message is copied once, into the event that carries it to the hook runner. Only the bytes
//! of an incomplete frame are kept by the connection (`partial`), and given back once the
//! frame completes, so an idle socket holds no read buffer. A message that finds the inbound
//! budget spent waits in `waiting` and the socket is not read meanwhile: TCP pushes back on
//! the client.
//!
//! Writing: everything queued in the outbox is taken at once and written with one vectored
//! write (`try_write_vectored`) of the shared, pre-framed buffers; a partial write keeps its
//! place. Pongs, pings and the close frame come from the outbox's fixed slots, so a client
//! that floods pings and never reads cannot grow anything.
//!
//! Closing: the peer's close frame is answered (echoing its code) and the socket ends once
//! the answer is written; a frame the decoder refuses starts a close with its code (1002,
//! 1007, 1009) and nothing more is read; a close the server started keeps reading, dropping
//! data, until the peer's close arrives. The sweeper drops the socket if any of these takes
//! longer than the close handshake timeout.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::connection::{Conn, finish};
use super::socket::Socket;
use super::{Shared, Slot};
use crate::control::{self, Inbound as Control};
use crate::events::Event;
use crate::outbox::Taken;
use crate::ws::{DecodeError, Decoded, Decoder, Inbound};

/// Size of each I/O thread's read buffer.
const READ_BUF_LEN: usize = 64 * 1024;
/// Buffers of a vectored write gathered on the stack; more (a burst of publishes) go
/// through a heap list, up to [`MAX_IOV`].
const STACK_IOV: usize = 64;
/// Most buffers in one vectored write (Linux's `UIO_MAXIOV`): a turn that published 100
/// events leaves each subscriber one write, not two.
const MAX_IOV: usize = 1024;
/// Reads per wake before the task lets others on its thread run.
const READS_PER_POLL: usize = 16;
/// Rounds of write-then-read per wake before yielding.
const ROUNDS_PER_POLL: usize = 8;
/// A kept partial frame buffer larger than this is shrunk when mostly empty.
const PARTIAL_KEEP: usize = 4 * 1024;

thread_local! {
    /// The read buffer of this I/O thread, shared by every socket it serves.
    static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_BUF_LEN].into_boxed_slice());
}

/// The bytes of an incomplete frame (boxed: an idle socket's slot holds only a pointer).
struct Partial {
    bytes: Vec<u8>,
}

/// An event waiting for inbound budget.
type Waiting = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What this socket still reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    /// Messages go to the hook runner.
    Messages,
    /// The server started a close: read only to see the peer's close frame.
    CloseOnly,
    /// Nothing more: the peer closed, a frame was refused, or the stream ended.
    Nothing,
}

pub(crate) struct Driver {
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    stream: Socket,
    decoder: Decoder,
    /// Bytes of an incomplete frame; none between frames (a pointer's worth in the slab).
    partial: Option<Box<Partial>>,
    /// `partial` may hold whole frames (it was left while an event waited for budget).
    decode_partial: bool,
    /// An event waiting for inbound budget; nothing more is read until it is queued.
    waiting: Option<Box<Waiting>>,
    /// Held while this socket takes messages; dropped when shutdown stops it reading.
    reading: Option<TaskTrackerToken>,
    input: Input,
    /// Frames taken from the outbox and not yet written; allocated while the socket writes
    /// and given back when everything is out (an idle socket holds none).
    taken: Option<Box<Taken>>,
    /// Our close frame is out.
    close_written: bool,
    /// The socket was refusing writes when last tried.
    stalled: bool,
    peer_close: Option<Box<(u16, String)>>,
}

/// The socket is done (closed, failed, aborted).
struct End;

/// One socket as its engine holds it (see [`Driver::run`]).
pub(crate) struct Run {
    driver: Driver,
    slot: Option<Slot>,
    /// Shutdown waits for every socket as for a task.
    _tracked: TaskTrackerToken,
}

impl Run {
    pub(crate) fn socket(&mut self) -> &mut Socket {
        &mut self.driver.stream
    }

    /// Binds the socket to its place `key` in its engine.
    pub(crate) fn bind(&self, key: u32) {
        self.driver.conn.bind(key);
    }

    /// The socket's waker: its `Conn` (made per poll rather than kept in the slab).
    pub(crate) fn waker(&self) -> Waker {
        Waker::from(Arc::clone(&self.driver.conn))
    }

    /// Polling the socket panicked: it is dropped (1006 to the `close` hook) and logged.
    pub(crate) fn panicked(self) {
        self.driver.shared.log(
            2,
            format!(
                "WebSocket {} failed internally and was dropped",
                self.driver.conn.id
            ),
        );
        self.fail();
    }

    /// The engine could not take the socket: it ends now.
    pub(crate) fn fail(mut self) {
        self.driver.conn.abort();
        finish(&self.driver.shared, &self.driver.conn, None);
        self.slot = None;
    }
}

impl Future for Run {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.slot.is_none() {
            return Poll::Ready(()); // already finished
        }
        if this.driver.poll(cx).is_pending() {
            return Poll::Pending;
        }
        let driver = &mut this.driver;
        finish(
            &driver.shared,
            &driver.conn,
            driver.peer_close.take().map(|b| *b),
        );
        this.slot = None;
        Poll::Ready(())
    }
}

impl Driver {
    /// `early`: bytes the HTTP layer read past the upgrade request (frames sent at once).
    pub(crate) fn new(shared: Arc<Shared>, conn: Arc<Conn>, stream: Socket, early: &[u8]) -> Self {
        let reading = (!shared.is_shutting_down()).then(|| shared.readers.token());
        let decoder = Decoder::new(shared.config.max_payload_length);
        Self {
            shared,
            conn,
            stream,
            decoder,
            partial: (!early.is_empty()).then(|| {
                Box::new(Partial {
                    bytes: early.to_vec(),
                })
            }),
            decode_partial: !early.is_empty(),
            waiting: None,
            reading,
            input: Input::Messages,
            taken: None,
            close_written: false,
            stalled: false,
            peer_close: None,
        }
    }

    /// Drives the socket until it is done, then cleans it up (`connection::finish`) and lets
    /// its `slot` go. A hand-written future holding the driver and nothing else (an `async fn`
    /// would keep the driver twice): it is what an open socket costs in its engine's slab.
    pub(crate) fn run(self, slot: Slot) -> Run {
        Run {
            _tracked: self.shared.tracker.token(),
            driver: self,
            slot: Some(slot),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..ROUNDS_PER_POLL {
            if self.conn.outbox.is_aborted() {
                return Poll::Ready(());
            }
            if self.reading.is_some() && self.shared.is_shutting_down() {
                // Shutdown: no message after this one reaches a handler.
                self.reading = None;
            }
            if self.input == Input::Messages && !self.conn.outbox.is_open() {
                self.input = Input::CloseOnly;
            }
            let Ok(wrote) = self.poll_write() else {
                return Poll::Ready(());
            };
            if self.close_written && self.input == Input::Nothing {
                return Poll::Ready(());
            }
            let Ok(read) = self.poll_read(cx) else {
                return Poll::Ready(());
            };
            if !wrote && !read {
                // Socket readiness and any budget wait are registered; last, the outbox.
                let blocked = self.taken.as_ref().is_some_and(|t| !t.is_empty());
                if self.conn.outbox.register_if_idle(cx, !blocked) {
                    return Poll::Pending;
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    // ---- writing --------------------------------------------------------------------------

    /// Writes what the outbox holds; true if anything went out.
    fn poll_write(&mut self) -> Result<bool, End> {
        let mut progress = false;
        loop {
            let taken = self.taken.get_or_insert_default();
            if taken.is_empty() {
                if !self.conn.outbox.take(taken, true) {
                    return Err(End);
                }
                if taken.is_empty() {
                    self.taken = None;
                    self.all_written();
                    return Ok(progress);
                }
            }
            match self.write_taken() {
                Ok(()) => progress = true,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.set_stalled(true);
                    match self.stream.poll_write_ready() {
                        Poll::Ready(()) => continue,
                        Poll::Pending => return Ok(progress),
                    }
                }
                Err(_) => return Err(End),
            }
        }
    }

    /// Writes `taken` until it is empty or the socket stops taking bytes.
    fn write_taken(&mut self) -> io::Result<()> {
        let Some(taken) = self.taken.as_mut() else {
            return Ok(());
        };
        while !taken.is_empty() {
            let items = taken.len();
            let written = if items <= STACK_IOV {
                let mut slices = [IoSlice::new(&[]); STACK_IOV];
                let count = taken.slices(&mut slices);
                self.stream.write_vectored(&slices[..count])?
            } else {
                let mut slices = vec![IoSlice::new(&[]); items.min(MAX_IOV)];
                let count = taken.slices(&mut slices);
                self.stream.write_vectored(&slices[..count])?
            };
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let done = taken.advance(written);
            self.conn.outbox.written(done.data_bytes);
            self.close_written |= done.closed;
        }
        Ok(())
    }

    fn set_stalled(&mut self, stalled: bool) {
        if self.stalled != stalled {
            self.stalled = stalled;
            self.conn.outbox.set_stalled(stalled);
        }
    }

    /// The outbox is empty and written: clear the stall and tell `drain` if it waits.
    fn all_written(&mut self) {
        self.set_stalled(false);
        if self.shared.config.hooks.drain && self.conn.outbox.take_drain() {
            self.conn
                .events(&self.shared)
                .push(Event::Drain { id: self.conn.id });
        }
    }

    // ---- reading --------------------------------------------------------------------------

    fn can_read(&self) -> bool {
        self.waiting.is_none()
            && match self.input {
                Input::Messages => self.reading.is_some(),
                Input::CloseOnly => true,
                Input::Nothing => false,
            }
    }

    /// Reads and decodes what the socket has; true if anything happened.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Result<bool, End> {
        if let Some(waiting) = &mut self.waiting {
            if (**waiting).as_mut().poll(cx).is_pending() {
                return Ok(false);
            }
            self.waiting = None;
            self.decode_partial = true;
        }
        let mut progress = false;
        if mem::take(&mut self.decode_partial) {
            progress = true;
            self.feed(&mut []);
        }
        for _ in 0..READS_PER_POLL {
            if !self.can_read() {
                return Ok(progress);
            }
            if self.stream.poll_read_ready().is_pending() {
                return Ok(progress);
            }
            let read = READ_BUF.with_borrow_mut(|buf| match self.stream.read_once(buf) {
                Ok((0, _)) => Err(End),
                Ok((n, drained)) => {
                    self.conn.touch();
                    self.feed(&mut buf[..n]);
                    Ok((true, drained))
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok((false, true)),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => Ok((false, false)),
                Err(_) => Err(End),
            });
            let (got, drained) = read?;
            progress |= got;
            if drained {
                // Readiness is cleared: the next loop registers for the next arrival.
                continue;
            }
        }
        Ok(true)
    }

    /// Decodes `input` after whatever partial frame is kept, and keeps what is incomplete.
    fn feed(&mut self, input: &mut [u8]) {
        let Some(mut partial) = self.partial.take() else {
            let (used, needed) = self.decode(input);
            if used < input.len() && self.input != Input::Nothing {
                let mut bytes = Vec::with_capacity(needed.max(input.len() - used));
                bytes.extend_from_slice(&input[used..]);
                self.partial = Some(Box::new(Partial { bytes }));
            }
            return;
        };
        let bytes = &mut partial.bytes;
        bytes.extend_from_slice(input);
        let (used, needed) = self.decode(bytes);
        if self.input == Input::Nothing || used == bytes.len() {
            return; // dropped: an idle socket holds no buffer
        }
        bytes.drain(..used);
        if bytes.capacity() > PARTIAL_KEEP && bytes.len() < bytes.capacity() / 4 {
            bytes.shrink_to_fit();
        }
        bytes.reserve(needed.saturating_sub(bytes.len()));
        self.partial = Some(partial);
    }

    /// Decodes whole frames from the start of `input`; returns the bytes used and, when the
    /// input ends inside a frame whose header said, that frame's length (so the kept buffer
    /// grows once). Stops early when an event must wait for budget or the input ends.
    fn decode(&mut self, input: &mut [u8]) -> (usize, usize) {
        let mut at = 0;
        let mut needed = 0;
        while at < input.len() && self.waiting.is_none() && self.input != Input::Nothing {
            match self.decoder.decode(&mut input[at..]) {
                Ok(Decoded::Incomplete { needed: length }) => {
                    needed = length.unwrap_or(0);
                    break;
                }
                Ok(Decoded::Frame { used, inbound }) => {
                    at += used;
                    if let Some(inbound) = inbound {
                        self.on_inbound(inbound);
                    }
                }
                Err(error) => {
                    self.refuse(error);
                    break;
                }
            }
        }
        (at, needed)
    }

    /// A frame the decoder refused: close with its code, read nothing more.
    fn refuse(&mut self, error: DecodeError) {
        self.conn
            .start_close(error.close_code(), error.reason(), false);
        self.input = Input::Nothing;
    }

    fn on_inbound(&mut self, inbound: Inbound) {
        match inbound {
            Inbound::Text(data) => self.on_message(data, false),
            Inbound::Binary(data) => self.on_message(data, true),
            Inbound::Ping(payload) => self.conn.outbox.push_pong(&payload),
            Inbound::Pong => {}
            Inbound::Close(frame) => {
                self.conn.answer_close(&frame);
                self.peer_close = Some(Box::new(frame.unwrap_or((1005, String::new()))));
                self.input = Input::Nothing;
            }
        }
    }

    fn on_message(&mut self, data: Bytes, is_binary: bool) {
        if self.reading.is_some() && self.shared.is_shutting_down() {
            // Shutdown began since this round started: this message reaches no handler.
            self.reading = None;
        }
        if self.input != Input::Messages || self.reading.is_none() {
            return; // closing, or shutdown stopped taking messages
        }
        match control::classify(&data, is_binary) {
            Control::Subscribe(topic) => self.client_subscribe(&topic),
            Control::Unsubscribe(topic) => {
                self.conn.unsubscribe(&self.shared, &topic, false);
            }
            Control::Message(kind) => self.queue(Event::Message {
                id: self.conn.id,
                is_binary,
                kind,
                data,
            }),
        }
    }

    /// A client's `{"type":"subscribe"}`: secure by default (see `docs/ARCHITECTURE.md`).
    fn client_subscribe(&mut self, topic: &str) {
        if self.conn.is_granted(topic) {
            self.conn.subscribe(&self.shared, topic);
        } else if !topic.starts_with("__") && self.shared.config.hooks.subscribe {
            self.queue(Event::Subscribe {
                id: self.conn.id,
                topic: topic.to_string(),
            });
        }
        // Otherwise refused silently: the protocol has no subscribe acknowledgements.
    }

    /// Queues a client-driven event, or parks it until the inbound budget has room.
    fn queue(&mut self, event: Event) {
        let queue = self.conn.events(&self.shared);
        if let Err(event) = queue.try_push_budgeted(event) {
            let events = Arc::clone(queue);
            self.waiting = Some(Box::new(Box::pin(async move {
                events.push_budgeted(event).await
            })));
        }
    }
}
