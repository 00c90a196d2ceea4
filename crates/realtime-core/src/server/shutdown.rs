//! Graceful shutdown, in a fixed order.
//!
//! 1. Stop accepting and tell hyper to finish: idle keep-alive connections close, requests in
//!    flight complete.
//! 2. Refuse upgrades still waiting for the `upgrade` hook (503).
//! 3. Stop taking messages: every socket stops reading after the message it is handling, so
//!    nothing new reaches a handler. Once all have, queue [`Event::Drained`].
//! 4. Wait for the hook runner to finish the handlers it has in flight (`finish_shutdown`):
//!    their replies are queued in the outboxes, ahead of the close frame.
//! 5. Close every WebSocket with 1001 `Server shutting down` and wait for the connection tasks.
//! 6. Past the timeout, drop what is left: sockets are aborted (close code 1006) and HTTP
//!    requests still waiting for the handler get 503.
//! 7. Queue [`Event::Stopped`]: the hook runner has seen every `Close` by then and may
//!    release itself (in Node, the threadsafe function that keeps the process alive).
//!
//! Steps 3 and 4 share the timeout with step 5; the close handshake always gets at least
//! [`MIN_CLOSE_TIME`], so sockets see 1001 rather than a reset even when handlers took all
//! of it.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use super::Shared;
use crate::events::Event;

/// Time given to aborted connections to report their close before `Stopped` is sent.
const ABORT_GRACE: Duration = Duration::from_secs(1);
/// The least time the close handshakes get, whatever the handlers used.
const MIN_CLOSE_TIME: Duration = Duration::from_secs(1);

pub(crate) async fn run(shared: Arc<Shared>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    shared.shutdown.cancel();
    shared.pending_upgrades.lock().clear();

    // Each socket notices the shutdown when its task next runs: run them all now.
    shared.for_each_conn(|conn| conn.outbox.notify());
    shared.readers.close();
    let _ = timeout_at(deadline, shared.readers.wait()).await;
    // Every hook runner (the main thread and each worker) finishes its handlers in flight.
    let workers = shared.workers.queues();
    shared.events.push(Event::Drained);
    for queue in &workers {
        queue.push(Event::Drained);
    }
    let runners = 1 + workers.len() as u32;
    let _ = timeout_at(deadline, shared.handlers_done.acquire_many(runners)).await;

    for conn in shared.all_conns() {
        conn.start_close(1001, "Server shutting down", false);
    }
    shared.tracker.close();
    let close_deadline = deadline.max(Instant::now() + MIN_CLOSE_TIME);
    if timeout_at(close_deadline, shared.tracker.wait())
        .await
        .is_err()
    {
        shared.log(
            1,
            format!(
                "shutdown timeout ({} ms) reached; dropping {} open connection(s)",
                timeout.as_millis(),
                shared.all_conns().len()
            ),
        );
        for conn in shared.all_conns() {
            conn.abort();
        }
        shared.pending_http.lock().clear();
        let _ = tokio::time::timeout(ABORT_GRACE, shared.tracker.wait()).await;
    }
    // Anything still registered did not unwind in time: report its close now.
    for conn in shared.all_conns() {
        shared.remove_conn(conn.id);
        conn.report_close(&shared, 1006, "");
    }
    for queue in shared.workers.queues() {
        queue.push(Event::Stopped);
    }
    shared.events.push(Event::Stopped);
}
