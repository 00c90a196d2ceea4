//! The I/O runtime's idle hook, with one more park after a burst settles.
//!
//! The binding's `on_idle` returns a thread's freed allocator pages to the OS, forcing the
//! purge at most every 100 ms (a forced purge walks the heap, too costly for every park of a
//! busy thread). The last park after a burst of work (a wave of handshakes) usually falls
//! inside those 100 ms, so the memory the burst freed stayed until something else woke the
//! thread, up to a second later. [`Settle`] wakes a worker once, [`IDLE_SETTLE`] after the
//! last park: its next park is past the limit and purges. An idle runtime is not woken again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use super::engine::IDLE_SETTLE;

pub(crate) struct Settle {
    on_idle: fn(),
    parked: Notify,
    /// The settling wake has happened: the park that follows it arms nothing.
    settled: AtomicBool,
}

impl Settle {
    pub(crate) fn new(on_idle: fn()) -> Arc<Self> {
        Arc::new(Self {
            on_idle,
            parked: Notify::new(),
            settled: AtomicBool::new(false),
        })
    }

    /// The runtime's `on_thread_park` hook.
    pub(crate) fn parked(&self) {
        (self.on_idle)();
        if !self.settled.swap(false, Ordering::AcqRel) {
            self.parked.notify_one();
        }
    }

    /// Runs on the runtime: after parks, waits [`IDLE_SETTLE`], then lets its worker park
    /// once more.
    pub(crate) async fn run(self: Arc<Self>) {
        loop {
            self.parked.notified().await;
            tokio::time::sleep(IDLE_SETTLE).await;
            self.settled.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    static PARKS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

    fn record() {
        PARKS.lock().unwrap().push(Instant::now());
    }

    #[test]
    fn parks_once_more_after_the_burst_then_stays_asleep() {
        let settle = Settle::new(record);
        let hook = Arc::clone(&settle);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .on_thread_park(move || hook.parked())
            .enable_all()
            .build()
            .unwrap();
        runtime.spawn(settle.run());
        std::thread::sleep(Duration::from_millis(400)); // the start-up parks settle too
        let done = runtime.block_on(async {
            for _ in 0..3 {
                tokio::spawn(async { tokio::task::yield_now().await })
                    .await
                    .unwrap();
            }
            Instant::now()
        });
        std::thread::sleep(IDLE_SETTLE * 6);
        let parks: Vec<Duration> = PARKS
            .lock()
            .unwrap()
            .iter()
            .filter(|at| **at >= done)
            .map(|at| at.duration_since(done))
            .collect();
        // One park after the settle delay (the purge), none after the settling is over.
        assert!(
            parks
                .iter()
                .any(|d| *d >= IDLE_SETTLE - Duration::from_millis(10)),
            "no park after the settle delay: {parks:?}"
        );
        assert!(
            parks.iter().all(|d| *d < IDLE_SETTLE * 4),
            "the idle runtime kept waking: {parks:?}"
        );
        drop(runtime);
    }
}
