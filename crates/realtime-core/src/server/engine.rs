//! The connection engine: every open WebSocket is a state machine (`driver::Run`) in a slab,
//! driven by its engine's own epoll set, not a tokio task and registration of its own.
//!
//! A server has one engine per I/O thread. An engine is one thread blocking in its own
//! `epoll_wait` (a `mio::Poll`) over its sockets and a wake descriptor (`mio::Waker`, an
//! eventfd). When sockets are ready it polls each one's state machine; when another thread
//! queues frames for a socket (JS replies, publishes), the outbox wakes the socket's waker,
//! which puts its slab key on the engine's ready list and, if the engine is not already
//! awake, writes the eventfd once. The tokio runtime keeps accept, hyper, upgrades, the
//! sweeper and the bus; the engine threads enter its context, so what a socket does may still
//! spawn tokio tasks.
//!
//! Why: a tokio task costs a socket a 128-byte-aligned task cell and a 128-byte-aligned
//! `ScheduledIo`, 640 bytes of allocator blocks; here an idle socket costs its slab slot
//! (the driver and its waker, no allocation of its own) and epoll's kernel entry. The waker
//! is the socket's `Arc<Conn>` (no allocation), which knows its engine and slab key. One
//! `epoll_wait` per wake gives both the socket events and the cross-thread wakes.
//!
//! Inline mode ([`EngineMode::Inline`](crate::EngineMode::Inline)): the one engine has no
//! thread; the hook runner's event loop watches its epoll set and drives it
//! ([`InlineEngine`]), so a message is read, handed to JavaScript and answered on one
//! thread, as uWebSockets.js does it.
//!
//! Fairness: sockets are polled in the order they became ready, each for a bounded amount of
//! work (`driver`'s per-poll limits); a socket with more to do wakes itself and goes to the
//! back of the list.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Context;
use std::thread::JoinHandle;
use std::time::Duration;

use mio::{Interest, Token};
use parking_lot::Mutex;
use slab::Slab;

use super::driver::Run;

/// Wakes gathered on this thread (see [`gathering_wakes`]): per engine, the keys woken.
type Gathered = Vec<(Arc<Engine>, Vec<u32>)>;

thread_local! {
    static GATHERED: RefCell<Option<Gathered>> = const { RefCell::new(None) };
}

/// Runs `f` with the socket wakes it causes gathered, then hands each engine its keys with
/// one inbox lock and at most one eventfd write: a publish to N sockets, or a batch of
/// replies, costs each engine one wake instead of N.
pub(crate) fn gathering_wakes<R>(f: impl FnOnce() -> R) -> R {
    struct Flush(bool);
    impl Drop for Flush {
        fn drop(&mut self) {
            if self.0 {
                release_wakes(); // else an outer call, or `release_wakes`, flushes
            }
        }
    }
    let outer = GATHERED.with_borrow_mut(|gathered| {
        let outer = gathered.is_none();
        if outer {
            *gathered = Some(Vec::new());
        }
        outer
    });
    let _flush = Flush(outer);
    f()
}

/// Holds the socket wakes this thread causes from now on, until [`release_wakes`]: a
/// JavaScript turn that publishes many times (or publishes and replies) wakes each engine
/// once, at its end, and each socket is written once with everything the turn queued for
/// it. Only for a thread that is sure to release (the JavaScript runtime releases in a
/// microtask at the end of the turn that held).
pub fn hold_wakes() {
    GATHERED.with_borrow_mut(|gathered| {
        if gathered.is_none() {
            *gathered = Some(Vec::new());
        }
    });
}

/// Wakes what [`hold_wakes`] held: each engine its keys, one inbox lock and at most one
/// eventfd write each.
pub fn release_wakes() {
    // The turn's last run of publishes is queued (and its wakes gathered) first.
    super::coalesce::flush();
    let Some(gathered) = GATHERED.with_borrow_mut(Option::take) else {
        return;
    };
    for (engine, mut keys) in gathered {
        engine.inbox.lock().ready.append(&mut keys);
        engine.notify();
    }
}

/// Whether this thread gathers its socket wakes now (a held JavaScript turn, or inside
/// [`gathering_wakes`]): what it queues is woken for when the gathering ends.
pub(crate) fn holding_wakes() -> bool {
    GATHERED.with_borrow(Option::is_some)
}

/// Socket events taken per `epoll_wait`.
const EVENTS: usize = 1024;
/// How long an engine that ran out of work waits before its second `on_idle`.
pub(crate) const IDLE_SETTLE: Duration = Duration::from_millis(150);

/// Where an engine is between work and sleep.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Idle {
    Busy,
    /// Out of work; `on_idle` ran once, the next runs after [`IDLE_SETTLE`].
    Settling,
    /// Both ran: sleep until woken.
    Settled,
}

/// The token of the engine's wake descriptor (slab keys are far below it).
const WAKE: Token = Token(usize::MAX);

/// The engines of one server; new sockets go to them in turn.
pub(crate) struct Engines {
    engines: Box<[Arc<Engine>]>,
    /// Messages refused for backpressure on any socket of this server (`stats()`): kept
    /// here, where every socket's `Conn` reaches it through its engine.
    pub(crate) dropped: Arc<AtomicU64>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next: AtomicUsize,
    /// The loop of an inline engine, until the hook runner's thread takes it.
    inline: Mutex<Option<InlineEngine>>,
}

impl Engines {
    /// Starts `count` engine threads in the context of `runtime`; `on_idle` runs when an
    /// engine runs out of work, before it blocks.
    pub(crate) fn start(
        count: usize,
        runtime: &tokio::runtime::Handle,
        on_idle: Option<fn()>,
        inline: bool,
    ) -> io::Result<Self> {
        if inline {
            let dropped = Arc::new(AtomicU64::new(0));
            let (engine, engine_loop) = Self::engine(&dropped, on_idle)?;
            return Ok(Self {
                engines: vec![engine].into_boxed_slice(),
                dropped,
                threads: Mutex::new(Vec::new()),
                next: AtomicUsize::new(0),
                inline: Mutex::new(Some(InlineEngine {
                    engine_loop,
                    runtime: runtime.clone(),
                })),
            });
        }
        let mut engines = Vec::with_capacity(count.max(1));
        let mut threads = Vec::with_capacity(count.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        for i in 0..count.max(1) {
            let (engine, mut engine_loop) = Self::engine(&dropped, on_idle)?;
            let runtime = runtime.clone();
            let thread = std::thread::Builder::new()
                .name(format!("svelte-realtime-ws-{i}"))
                .spawn(move || {
                    let _context = runtime.enter();
                    engine_loop.run();
                })?;
            engines.push(engine);
            threads.push(thread);
        }
        Ok(Self {
            engines: engines.into_boxed_slice(),
            dropped,
            threads: Mutex::new(threads),
            next: AtomicUsize::new(0),
            inline: Mutex::new(None),
        })
    }

    fn engine(dropped: &Arc<AtomicU64>, on_idle: Option<fn()>) -> io::Result<(Arc<Engine>, Loop)> {
        let poll = mio::Poll::new()?;
        let engine = Arc::new(Engine {
            waker: mio::Waker::new(poll.registry(), WAKE)?,
            inbox: Mutex::new(Inbox::default()),
            notified: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            dropped: Arc::clone(dropped),
        });
        let engine_loop = Loop {
            engine: Arc::clone(&engine),
            poll,
            events: mio::Events::with_capacity(EVENTS),
            sockets: Slab::new(),
            ready: Vec::new(),
            adopted: Vec::new(),
            on_idle,
        };
        Ok((engine, engine_loop))
    }

    /// The inline engine's loop, for the hook runner's thread to drive (once).
    pub(crate) fn take_inline(&self) -> Option<InlineEngine> {
        self.inline.lock().take()
    }

    /// The engine the next socket goes to.
    pub(crate) fn pick(&self) -> Arc<Engine> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.engines.len();
        Arc::clone(&self.engines[i])
    }

    /// Stops every engine and waits for its thread: the sockets still open are dropped
    /// (closed without a handshake), as a runtime shutdown drops its tasks.
    pub(crate) fn stop(&self) {
        for engine in self.engines.iter() {
            engine.stopping.store(true, Ordering::Release);
            let _ = engine.waker.wake();
        }
        let current = std::thread::current().id();
        for thread in self.threads.lock().drain(..) {
            // An engine thread dropping the last server handle cannot wait for itself.
            if thread.thread().id() != current {
                let _ = thread.join();
            }
        }
    }
}

#[derive(Default)]
struct Inbox {
    /// Sockets handed over, not yet in the slab.
    adopt: Vec<Run>,
    /// Slab keys woken since the engine last looked.
    ready: Vec<u32>,
}

/// The part of an engine other threads reach: its inbox and its wake descriptor.
pub(crate) struct Engine {
    waker: mio::Waker,
    inbox: Mutex<Inbox>,
    /// The engine is awake or already woken: the inbox will be looked at without a wake.
    notified: AtomicBool,
    stopping: AtomicBool,
    dropped: Arc<AtomicU64>,
}

impl Engine {
    /// A socket of this server refused `count` messages for backpressure.
    pub(crate) fn count_dropped(&self, count: u32) {
        self.dropped.fetch_add(u64::from(count), Ordering::Relaxed);
    }

    /// Hands a socket to this engine, which registers and runs it.
    pub(crate) fn adopt(&self, run: Run) {
        self.inbox.lock().adopt.push(run);
        self.notify();
    }

    /// The socket at `key` has something to do (its waker was woken).
    pub(crate) fn wake(self: &Arc<Self>, key: u32) {
        let gathered = GATHERED.with_borrow_mut(|gathered| {
            let Some(gathered) = gathered else {
                return false;
            };
            match gathered.iter_mut().find(|(e, _)| Arc::ptr_eq(e, self)) {
                Some((_, keys)) => keys.push(key),
                None => gathered.push((Arc::clone(self), vec![key])),
            }
            true
        });
        if !gathered {
            self.inbox.lock().ready.push(key);
            self.notify();
        }
    }

    fn notify(&self) {
        // A load first: while the engine is awake, wakes cost no write to the shared flag.
        if !self.notified.load(Ordering::Acquire) && !self.notified.swap(true, Ordering::AcqRel) {
            let _ = self.waker.wake();
        }
    }
}

/// An engine driven by the hook runner's own thread (the JavaScript thread) instead of a
/// thread of its own ([`EngineMode::Inline`](crate::EngineMode::Inline)). The runner's event
/// loop watches [`fd`](Self::fd), the engine's epoll set, which becomes readable when a
/// socket has events or another thread woke the engine; then the runner calls
/// [`begin`](Self::begin), [`turn`](Self::turn) as often as it likes (handing JavaScript the
/// events in between), and [`end`](Self::end). Dropping it drops its sockets; it belongs to
/// the runner's thread from then on.
pub struct InlineEngine {
    engine_loop: Loop,
    runtime: tokio::runtime::Handle,
}

impl InlineEngine {
    /// The descriptor to watch for readability (the engine's epoll set).
    #[cfg(unix)]
    pub fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.engine_loop.poll.as_raw_fd()
    }

    /// The runner is at work: wakes from here on (its own replies, its publishes) only put
    /// keys on the ready list, without writing the wake descriptor.
    pub fn begin(&self) {
        self.engine_loop
            .engine
            .notified
            .store(true, Ordering::Release);
    }

    /// One round of socket work without blocking: what epoll reports and what was woken,
    /// each ready socket polled once (reads decoded into events, queues written). True when
    /// work is left over (a socket used up its per-poll budget).
    pub fn turn(&mut self) -> bool {
        let _context = self.runtime.enter();
        self.engine_loop.turn()
    }

    /// The runner goes back to its event loop: from here a wake writes the descriptor
    /// again. True when work arrived in between (the caller asks for another round).
    pub fn end(&mut self) -> bool {
        self.engine_loop
            .engine
            .notified
            .store(false, Ordering::Release);
        let _context = self.runtime.enter();
        self.engine_loop.take_inbox();
        !self.engine_loop.ready.is_empty()
    }

    /// Asks for another round through the watched descriptor, after the runner's other
    /// callbacks (timers, I/O) had their turn.
    pub fn wake_later(&self) {
        let _ = self.engine_loop.engine.waker.wake();
    }

    /// The engine ran out of work: the same `on_idle` an engine thread calls before it
    /// sleeps (the binding returns freed allocator pages from it).
    pub fn idle(&self) {
        if let Some(on_idle) = self.engine_loop.on_idle {
            on_idle();
        }
    }
}

/// One socket in the slab: its state machine.
struct Entry {
    run: Run,
}

/// An engine thread's own state.
struct Loop {
    engine: Arc<Engine>,
    poll: mio::Poll,
    events: mio::Events,
    sockets: Slab<Entry>,
    /// Keys to poll next (swapped with the inbox's list).
    ready: Vec<u32>,
    adopted: Vec<Run>,
    on_idle: Option<fn()>,
}

impl Loop {
    fn run(&mut self) {
        // Idle after work: `on_idle` runs now and once more after `IDLE_SETTLE` without work,
        // so memory freed just before the thread went quiet is still given back (the
        // allocator purges only what has been free for a while, `return_free_memory`).
        let mut idle = Idle::Busy;
        while !self.engine.stopping.load(Ordering::Acquire) {
            let mut timeout = Some(Duration::ZERO);
            if self.ready.is_empty() {
                // About to sleep: from here a wake must write the eventfd, and anything
                // queued before this point is taken now.
                self.engine.notified.store(false, Ordering::Release);
                self.take_inbox();
                if self.ready.is_empty() {
                    if idle != Idle::Settled
                        && let Some(on_idle) = self.on_idle
                    {
                        on_idle();
                    }
                    (idle, timeout) = match idle {
                        Idle::Busy => (Idle::Settling, Some(IDLE_SETTLE)),
                        Idle::Settling | Idle::Settled => (Idle::Settled, None),
                    };
                }
            }
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
            for event in self.events.iter() {
                let token = event.token();
                if token == WAKE {
                    continue;
                }
                let failed = event.is_error();
                let readable = failed || event.is_readable() || event.is_read_closed();
                let writable = failed || event.is_writable() || event.is_write_closed();
                if let Some(entry) = self.sockets.get_mut(token.0) {
                    entry.run.socket().set_ready(readable, writable);
                    self.ready.push(token.0 as u32);
                }
            }
            self.take_inbox();
            let mut ready = std::mem::take(&mut self.ready);
            if !ready.is_empty() {
                idle = Idle::Busy;
            }
            for key in ready.drain(..) {
                self.poll_socket(key as usize);
            }
            // Keys woken while polling (a socket waking itself) are in the inbox.
            self.ready = ready;
            self.take_inbox();
        }
        self.sockets.clear();
    }

    /// One round without blocking: socket events and wakes so far, every ready socket
    /// polled. Returns true when work is left (a socket that used its budget).
    fn turn(&mut self) -> bool {
        match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
            Ok(()) => {}
            Err(_) => return false,
        }
        for event in self.events.iter() {
            let token = event.token();
            if token == WAKE {
                continue;
            }
            let failed = event.is_error();
            let readable = failed || event.is_readable() || event.is_read_closed();
            let writable = failed || event.is_writable() || event.is_write_closed();
            if let Some(entry) = self.sockets.get_mut(token.0) {
                entry.run.socket().set_ready(readable, writable);
                self.ready.push(token.0 as u32);
            }
        }
        self.take_inbox();
        let mut ready = std::mem::take(&mut self.ready);
        for key in ready.drain(..) {
            self.poll_socket(key as usize);
        }
        self.ready = ready;
        self.take_inbox();
        !self.ready.is_empty()
    }

    fn take_inbox(&mut self) {
        let mut adopted = std::mem::take(&mut self.adopted);
        {
            let mut inbox = self.engine.inbox.lock();
            std::mem::swap(&mut inbox.adopt, &mut adopted);
            self.ready.append(&mut inbox.ready);
        }
        for run in adopted.drain(..) {
            self.adopt(run);
        }
        self.adopted = adopted;
    }

    fn adopt(&mut self, mut run: Run) {
        let entry = self.sockets.vacant_entry();
        let key = entry.key();
        if self
            .poll
            .registry()
            .register(
                run.socket().source(),
                Token(key),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            run.fail();
            return;
        }
        run.bind(key as u32);
        entry.insert(Entry { run });
        self.ready.push(key as u32);
    }

    /// Polls the socket at `key`; drops it when it is done.
    fn poll_socket(&mut self, key: usize) {
        let Some(entry) = self.sockets.get_mut(key) else {
            return; // woken after it ended (a stale waker): nothing to do
        };
        let waker = entry.run.waker();
        let mut cx = Context::from_waker(&waker);
        // A bug in one socket's state machine must not take the engine thread, and every other
        // socket on it, down with it: that socket alone is dropped and cleaned up.
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Pin::new(&mut entry.run).poll(&mut cx)
        }));
        match polled {
            Ok(std::task::Poll::Pending) => {}
            // Closing the descriptor (dropping the socket) takes it out of the epoll set.
            Ok(std::task::Poll::Ready(())) => drop(self.sockets.remove(key)),
            Err(_) => self.sockets.remove(key).run.panicked(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    /// What an idle socket costs the engine: its slab slot (the driver, no
    /// allocation of its own) and its `Arc<Conn>` (one allocator block). Growing either past
    /// these bounds is a memory regression per connection (benches/README.md, idle sockets).
    #[test]
    fn an_idle_socket_stays_small() {
        assert!(
            size_of::<super::Entry>() <= 128,
            "slab slot: {} bytes",
            size_of::<super::Entry>()
        );
        let conn = size_of::<super::super::connection::Conn>();
        assert!(
            conn + 16 <= 192,
            "Conn: {conn} bytes (+16 for the Arc counts)"
        );
    }
}
