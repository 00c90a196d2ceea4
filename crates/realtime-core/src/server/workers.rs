//! JavaScript workers sharing one server (issue 11): the hook runner on Node's main thread
//! is worker 0 (the server's own event queue); worker threads attach their own queues. Each
//! WebSocket is given to one worker at upgrade and each HTTP request at its start, the one
//! with the least work (connections plus requests in flight), and every event of that
//! socket or request goes to that worker's queue, so per-connection order and user data stay
//! with one thread. Everything else (hub, outboxes, bus) is shared Rust state, so a publish
//! from any worker reaches every subscriber once.
//!
//! Lock: one `RwLock` over the slots, read on every assignment, written on attach/detach.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;

use crate::EventQueue;

/// Worker threads at most (worker 0, the main thread, not counted).
pub const MAX_WORKERS: usize = 64;

/// One attached worker thread.
pub struct Worker {
    pub index: usize,
    pub queue: Arc<EventQueue>,
    /// Sockets and requests it holds.
    load: AtomicUsize,
}

/// A socket's or request's runner. `None` when no worker thread was attached at assignment
/// (then nobody counts load). Dropping it ends its load. One pointer: it lives in every `Conn`.
pub(crate) struct Assigned(Option<Arc<Worker>>);

impl Assigned {
    pub(crate) fn queue<'a>(&'a self, primary: &'a Arc<EventQueue>) -> &'a Arc<EventQueue> {
        self.0.as_ref().map_or(primary, |w| &w.queue)
    }

    pub(crate) fn index(&self) -> usize {
        self.0.as_ref().map_or(0, |w| w.index)
    }
}

impl Drop for Assigned {
    fn drop(&mut self) {
        if let Some(worker) = &self.0 {
            worker.load.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

pub(crate) struct Workers {
    /// Index `i` holds worker `i + 1`.
    slots: RwLock<Vec<Option<Arc<Worker>>>>,
    /// The main thread as runner 0 (its queue is the server's own).
    primary: Arc<Worker>,
    attached: AtomicUsize,
    /// Where the search for the least loaded runner starts (rotates).
    turn: AtomicUsize,
}

impl Workers {
    pub(crate) fn new(primary: Arc<EventQueue>) -> Self {
        Self {
            slots: RwLock::new(Vec::new()),
            primary: Arc::new(Worker {
                index: 0,
                queue: primary,
                load: AtomicUsize::new(0),
            }),
            attached: AtomicUsize::new(0),
            turn: AtomicUsize::new(0),
        }
    }

    /// The runner for a new socket or request: the least loaded; ties rotate, so idle runners
    /// take turns (sequential HTTP requests spread over all of them).
    pub(crate) fn assign(&self) -> Assigned {
        if self.attached.load(Ordering::Acquire) == 0 {
            return Assigned(None);
        }
        let slots = self.slots.read();
        let runners = || std::iter::once(&self.primary).chain(slots.iter().flatten());
        let count = runners().count();
        let start = self.turn.fetch_add(1, Ordering::Relaxed) % count;
        // Visit from `start` round the ring; the first of the least loaded wins.
        let mut best = &self.primary;
        let mut best_load = usize::MAX;
        for candidate in runners().skip(start).chain(runners().take(start)) {
            let load = candidate.load.load(Ordering::Relaxed);
            if load < best_load {
                best = candidate;
                best_load = load;
            }
        }
        best.load.fetch_add(1, Ordering::Relaxed);
        Assigned(Some(Arc::clone(best)))
    }

    /// Attaches worker `index` (1..=MAX_WORKERS). False if taken or out of range.
    pub(crate) fn attach(&self, index: usize, queue: Arc<EventQueue>) -> bool {
        if index == 0 || index > MAX_WORKERS {
            return false;
        }
        let mut slots = self.slots.write();
        if slots.len() < index {
            slots.resize(index, None);
        }
        if slots[index - 1].is_some() {
            return false;
        }
        slots[index - 1] = Some(Arc::new(Worker {
            index,
            queue,
            load: AtomicUsize::new(0),
        }));
        self.attached.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Detaches worker `index`; new work no longer goes to it. Returns whether it was there.
    pub(crate) fn detach(&self, index: usize) -> bool {
        let mut slots = self.slots.write();
        let Some(slot) = index.checked_sub(1).and_then(|i| slots.get_mut(i)) else {
            return false;
        };
        if slot.take().is_some() {
            self.attached.fetch_sub(1, Ordering::AcqRel);
            true
        } else {
            false
        }
    }

    /// Every attached worker's queue (for events all of them must hear).
    pub(crate) fn queues(&self) -> Vec<Arc<EventQueue>> {
        self.slots
            .read()
            .iter()
            .flatten()
            .map(|w| Arc::clone(&w.queue))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_loaded_wins_and_load_ends_with_the_work() {
        let workers = Workers::new(Arc::new(EventQueue::new(1024)));
        assert_eq!(workers.assign().index(), 0, "no workers: the main thread");
        assert!(workers.attach(1, Arc::new(EventQueue::new(1024))));
        assert!(workers.attach(2, Arc::new(EventQueue::new(1024))));
        assert!(!workers.attach(2, Arc::new(EventQueue::new(1024))), "taken");
        assert!(
            !workers.attach(0, Arc::new(EventQueue::new(1024))),
            "0 is the main thread"
        );
        let held: Vec<Assigned> = (0..3).map(|_| workers.assign()).collect();
        let mut indexes: Vec<usize> = held.iter().map(Assigned::index).collect();
        indexes.sort();
        assert_eq!(indexes, [0, 1, 2], "one each");
        // All busy alike: ties rotate.
        let fourth = workers.assign();
        let fifth = workers.assign();
        assert_ne!(fourth.index(), fifth.index());
        drop(held);
        drop(fifth);
        let next = workers.assign();
        assert_ne!(
            next.index(),
            fourth.index(),
            "the least loaded, not the busy one"
        );
        // Sequential work (each finished before the next) visits every runner.
        drop(next);
        drop(fourth);
        let seen: std::collections::HashSet<usize> =
            (0..3).map(|_| workers.assign().index()).collect();
        assert_eq!(seen.len(), 3);
        assert!(workers.detach(2));
        assert!(!workers.detach(2));
        assert_eq!(workers.queues().len(), 1);
    }
}
