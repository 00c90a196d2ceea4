//! The connection engine: every open WebSocket is a state machine (`driver::Run`) in a slab,
//! driven by its engine's own epoll set, not a tokio task and registration of its own.
//!
//! A server has one engine per I/O thread. An engine is one tokio task holding a `mio::Poll`
//! (an epoll instance, itself registered with tokio as an `AsyncFd`) and a slab of sockets.
//! When tokio reports the epoll set readable, the engine collects its socket events
//! (`epoll_wait` with no timeout) and polls each ready socket's state machine; when another
//! thread queues frames for a socket (JS replies, publishes), the outbox wakes the socket's
//! waker, which puts its slab key on the engine's ready list and wakes the engine task once.
//!
//! Why: a tokio task costs a socket a 128-byte-aligned task cell and a 128-byte-aligned
//! `ScheduledIo`, 640 bytes of allocator blocks; here an idle socket costs its slab slot
//! (the driver, ~200 bytes, no allocation of its own) and epoll's kernel entry. The waker is
//! the socket's `Arc<Conn>` (no allocation), which knows its engine and slab key.
//!
//! Fairness: one turn of the engine polls at most [`POLLS_PER_TURN`] sockets, then yields to
//! the other tasks of its thread (HTTP requests, the sweeper).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use mio::{Interest, Token};
use parking_lot::Mutex;
use slab::Slab;
use tokio::io::unix::AsyncFd;

use super::driver::Run;

/// Socket events taken from epoll per `epoll_wait`.
const EVENTS: usize = 1024;
/// Socket polls per engine turn before yielding to the thread's other tasks.
const POLLS_PER_TURN: usize = 4096;

/// The engines of one server; new sockets go to them in turn.
pub(crate) struct Engines {
    engines: Box<[Arc<Engine>]>,
    next: AtomicUsize,
}

impl Engines {
    /// Starts `count` engines on `runtime`.
    pub(crate) fn start(count: usize, runtime: &tokio::runtime::Handle) -> io::Result<Self> {
        let _context = runtime.enter();
        let mut engines = Vec::with_capacity(count.max(1));
        for _ in 0..count.max(1) {
            let poll = mio::Poll::new()?;
            let engine = Arc::new(Engine {
                registry: poll.registry().try_clone()?,
                inbox: Mutex::new(Inbox::default()),
                waker: AtomicWaker::new(),
                notified: AtomicBool::new(false),
            });
            let turn = Turn {
                engine: Arc::clone(&engine),
                // SAFETY: the `mio::Poll` owns its epoll descriptor for its whole life and the
                // `AsyncFd` owns the `Poll`: the descriptor stays open and the same until both
                // are dropped together.
                epoll: unsafe {
                    AsyncFd::register_with_interest(poll, tokio::io::Interest::READABLE)
                }
                .map_err(|error| error.into_parts().1)?,
                events: mio::Events::with_capacity(EVENTS),
                sockets: Slab::new(),
                ready: Vec::new(),
                adopted: Vec::new(),
            };
            runtime.spawn(turn);
            engines.push(engine);
        }
        Ok(Self {
            engines: engines.into_boxed_slice(),
            next: AtomicUsize::new(0),
        })
    }

    /// The engine the next socket goes to.
    pub(crate) fn pick(&self) -> Arc<Engine> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.engines.len();
        Arc::clone(&self.engines[i])
    }
}

#[derive(Default)]
struct Inbox {
    /// Sockets handed over, not yet in the slab.
    adopt: Vec<Run>,
    /// Slab keys woken since the last turn.
    ready: Vec<u32>,
}

/// The part of an engine other threads reach: its inbox and the waker of its task.
pub(crate) struct Engine {
    registry: mio::Registry,
    inbox: Mutex<Inbox>,
    waker: AtomicWaker,
    /// The task was woken and has not yet taken the inbox.
    notified: AtomicBool,
}

impl Engine {
    /// Hands a socket to this engine, which registers and runs it.
    pub(crate) fn adopt(&self, run: Run) {
        self.inbox.lock().adopt.push(run);
        self.notify();
    }

    /// The socket at `key` has something to do (its waker was woken).
    pub(crate) fn wake(&self, key: u32) {
        self.inbox.lock().ready.push(key);
        self.notify();
    }

    fn notify(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
    }
}

/// One socket in the slab: its state machine and its waker (built once).
struct Entry {
    run: Run,
    waker: Waker,
}

/// The engine's task.
struct Turn {
    engine: Arc<Engine>,
    epoll: AsyncFd<mio::Poll>,
    events: mio::Events,
    sockets: Slab<Entry>,
    /// Keys to poll this turn (swapped with the inbox's list).
    ready: Vec<u32>,
    adopted: Vec<Run>,
}

impl Turn {
    fn adopt(&mut self, mut run: Run) {
        let entry = self.sockets.vacant_entry();
        let key = entry.key();
        let token = Token(key);
        if self
            .engine
            .registry
            .register(
                run.socket().source(),
                token,
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            run.fail();
            return;
        }
        let waker = run.bind(Arc::clone(&self.engine), key as u32);
        entry.insert(Entry { run, waker });
        self.ready.push(key as u32);
    }

    /// Polls the socket at `key`; drops it when it is done.
    fn poll_socket(&mut self, key: usize) {
        let Some(entry) = self.sockets.get_mut(key) else {
            return; // woken after it ended (a stale waker): nothing to do
        };
        let mut cx = Context::from_waker(&entry.waker);
        if Pin::new(&mut entry.run).poll(&mut cx).is_ready() {
            let mut entry = self.sockets.remove(key);
            let _ = self.engine.registry.deregister(entry.run.socket().source());
        }
    }

    /// Takes what epoll has; returns whether there were any events.
    fn poll_epoll(&mut self, cx: &mut Context<'_>) -> bool {
        let mut guard = match self.epoll.poll_read_ready_mut(cx) {
            Poll::Ready(Ok(guard)) => guard,
            Poll::Ready(Err(_)) | Poll::Pending => return false,
        };
        if guard
            .get_inner_mut()
            .poll(&mut self.events, Some(Duration::ZERO))
            .is_err()
        {
            return false;
        }
        let mut count = 0;
        for event in self.events.iter() {
            count += 1;
            let key = event.token().0;
            let failed = event.is_error();
            let readable = failed || event.is_readable() || event.is_read_closed();
            let writable = failed || event.is_writable() || event.is_write_closed();
            if let Some(entry) = self.sockets.get_mut(key) {
                entry.run.socket().set_ready(readable, writable);
                self.ready.push(key as u32);
            }
        }
        if count < EVENTS {
            // epoll is drained; the next socket event is a new edge for tokio.
            guard.clear_ready();
        }
        count > 0
    }
}

impl Future for Turn {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.engine.waker.register(cx.waker());
        let mut polls = 0;
        loop {
            // Clear before taking: a wake after this point is either in what we take or
            // wakes the task again.
            this.engine.notified.store(false, Ordering::Release);
            {
                let mut inbox = this.engine.inbox.lock();
                std::mem::swap(&mut inbox.adopt, &mut this.adopted);
                this.ready.append(&mut inbox.ready);
            }
            let adopted = std::mem::take(&mut this.adopted);
            let mut adopted = adopted;
            for run in adopted.drain(..) {
                this.adopt(run);
            }
            this.adopted = adopted;
            let events = this.poll_epoll(cx);
            if this.ready.is_empty() && !events {
                return Poll::Pending;
            }
            let mut ready = std::mem::take(&mut this.ready);
            for key in ready.drain(..) {
                this.poll_socket(key as usize);
                polls += 1;
            }
            // Keys woken while polling (a socket waking itself) land in the inbox.
            this.ready = ready;
            if polls >= POLLS_PER_TURN {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }
}
