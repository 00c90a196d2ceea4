//! The server's one timer for all sockets: pings a socket silent for `idle - margin`, drops
//! one silent for the whole idle timeout (1006), and drops one whose close handshake ran out
//! of time. Connections only keep timestamps (`Conn::due`), so an idle socket costs no timer
//! of its own; the tick is a fraction of the ping margin (at most 1 s), which bounds how late
//! a ping or a drop can be.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::Shared;
use super::connection::Due;

/// How often the sweeper looks: an eighth of the ping margin, between 50 ms and 1 s.
pub(crate) fn tick(shared: &Shared) -> Duration {
    shared
        .config
        .idle_schedule()
        .map_or(Duration::from_secs(1), |s| {
            ((s.close_after - s.ping_after) / 8)
                .clamp(Duration::from_millis(50), Duration::from_secs(1))
        })
}

pub(crate) async fn run(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(tick(&shared));
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let schedule = shared.config.idle_schedule();
    loop {
        interval.tick().await;
        let now = shared.clock.now_ms();
        shared.for_each_conn(|conn| match conn.due(now, schedule) {
            Due::Nothing => {}
            Due::Ping => {
                if shared.config.send_pings_automatically {
                    conn.outbox.push_ping();
                }
            }
            Due::TimeOut => conn.abort_with(1006, "WebSocket timed out from inactivity"),
            Due::Drop => conn.abort(),
        });
    }
}
