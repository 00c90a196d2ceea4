//! Graceful shutdown, in a fixed order.
//!
//! 1. Stop accepting and tell hyper to finish: idle keep-alive connections close, requests in
//!    flight complete.
//! 2. Refuse upgrades still waiting for the `upgrade` hook (503).
//! 3. Close every WebSocket with 1001 `Server shutting down`.
//! 4. Wait for all connection tasks, at most `timeout`.
//! 5. Past the timeout, drop what is left: sockets are aborted (close code 1006) and HTTP
//!    requests still waiting for the handler get 503.
//! 6. Queue [`Event::Stopped`]: the hook runner has seen every `Close` by then and may
//!    release itself (in Node, the threadsafe function that keeps the process alive).

use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use crate::events::Event;

/// Time given to aborted connections to report their close before `Stopped` is sent.
const ABORT_GRACE: Duration = Duration::from_secs(1);

pub(crate) async fn run(shared: Arc<Shared>, timeout: Duration) {
    shared.shutdown.cancel();
    shared.pending_upgrades.lock().clear();
    for conn in shared.all_conns() {
        conn.start_close(1001, "Server shutting down", false);
    }
    shared.tracker.close();
    if tokio::time::timeout(timeout, shared.tracker.wait())
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
    shared.events.push(Event::Stopped);
}
