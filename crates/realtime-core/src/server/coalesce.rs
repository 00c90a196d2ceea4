//! Publishes of one JavaScript turn, coalesced per topic: while a thread holds its socket
//! wakes (`hold_wakes`, a JavaScript turn that sends or publishes), consecutive publishes to
//! the same topic are appended to one buffer (a *run*), and the run goes to every subscriber
//! as one frame buffer when anything else happens: a publish to another topic, any other
//! frame queued by this thread, a subscription change, a close, or the end of the turn
//! (`release_wakes`).
//!
//! Why: a turn that publishes 100 events to 1000 subscribers otherwise queues 100,000
//! buffers, each a lock, a reference count and an iovec; as a run it queues 1000, and each
//! subscriber's write is one contiguous buffer.
//!
//! Order is kept: a run holds frames of one topic in publish order, and every other way a
//! frame reaches a socket from this thread, or a subscriber joins or leaves, delivers the run
//! first. Publishes that carry a replay sequence are not coalesced (they are delivered under
//! their topic's lock, in sequence order across threads).

use std::cell::RefCell;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::{Shared, engine};

/// A run stops growing at this size (a subscriber's backpressure limit then applies to
/// pieces of this size at most).
const MAX_RUN_BYTES: usize = 64 * 1024;

/// The frames of a run: one until a second arrives (not copied), then a buffer.
enum Frames {
    One(Bytes),
    Many(BytesMut),
}

struct Run {
    shared: Arc<Shared>,
    topic: Box<str>,
    frames: Frames,
    /// Publishes in the run (a refused delivery counts as that many dropped messages).
    count: u32,
}

impl Run {
    fn len(&self) -> usize {
        match &self.frames {
            Frames::One(frame) => frame.len(),
            Frames::Many(buffer) => buffer.len(),
        }
    }

    fn append(&mut self, frame: &Bytes) {
        if let Frames::One(first) = &self.frames {
            let mut buffer = BytesMut::with_capacity((first.len() + frame.len()) * 4);
            buffer.extend_from_slice(first);
            self.frames = Frames::Many(buffer);
        }
        if let Frames::Many(buffer) = &mut self.frames {
            buffer.extend_from_slice(frame);
        }
        self.count += 1;
    }

    fn deliver(self) {
        let bytes = match self.frames {
            Frames::One(frame) => frame,
            Frames::Many(buffer) => buffer.freeze(),
        };
        let count = self.count;
        engine::gathering_wakes(|| {
            self.shared.hub.for_each_subscriber(&self.topic, |conn| {
                conn.push_flushed(bytes.clone(), true, count);
            })
        });
    }
}

thread_local! {
    static RUN: RefCell<Option<Run>> = const { RefCell::new(None) };
}

/// Takes `frame`, published to `topic`, into this thread's run if the thread holds its
/// wakes; false when it does not (the caller delivers it now).
pub(crate) fn publish(shared: &Arc<Shared>, topic: &str, frame: &Bytes) -> bool {
    if !engine::holding_wakes() {
        return false;
    }
    let appended = RUN.with_borrow_mut(|run| match run {
        Some(run)
            if Arc::ptr_eq(&run.shared, shared)
                && &*run.topic == topic
                && run.len() + frame.len() <= MAX_RUN_BYTES =>
        {
            run.append(frame);
            true
        }
        _ => false,
    });
    if !appended {
        flush();
        RUN.with_borrow_mut(|run| {
            *run = Some(Run {
                shared: Arc::clone(shared),
                topic: topic.into(),
                frames: Frames::One(frame.clone()),
                count: 1,
            });
        });
    }
    true
}

/// Delivers this thread's run, if any: before anything else reaches a socket from here.
pub(crate) fn flush() {
    // Taken out first: the pushes below find no run (and flush nothing).
    if let Some(run) = RUN.with_borrow_mut(Option::take) {
        run.deliver();
    }
}
