//! The NOTIFY listener: one dedicated connection per bridge that `LISTEN`s on a channel and
//! hands every notification to a sink (the server publishes it locally). The connection is
//! reopened with a fixed interval after a loss, and `LISTEN` sent again. PostgreSQL keeps
//! no notifications for a listener that is not connected: what is sent meanwhile is lost,
//! which is why the sink's users refetch (streams do on reconnect) rather than trust it.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

/// Where and how to listen.
#[derive(Clone, Debug)]
pub struct ListenConfig {
    pub channel: String,
    /// Wait between reconnect attempts.
    pub reconnect_interval: Duration,
    /// Reconnect after a loss (otherwise the listener ends).
    pub auto_reconnect: bool,
}

/// What the listener does with what arrives.
pub trait NotifySink: Send + Sync + 'static {
    /// One notification. Returns false if it was refused (malformed): counted as dropped.
    fn notification(&self, channel: &str, payload: &str) -> bool;
    /// A line for the server's log (`level`: 0 info, 1 warn, 2 error).
    fn log(&self, level: u16, message: String);
}

/// Counters of one listener.
#[derive(Debug, Default)]
pub struct ListenStats {
    pub received: AtomicU64,
    pub dropped: AtomicU64,
    /// Connections opened (1 + reconnects).
    pub connects: AtomicU64,
}

/// A running listener; `stop` ends it (UNLISTEN happens by closing its connection).
pub struct Listener {
    cancel: CancellationToken,
    pub stats: ListenStats,
    listening: AtomicBool,
}

impl Listener {
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Whether `LISTEN` is in effect right now.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }
}

/// `LISTEN "<channel>"` with the identifier quoted (`"` doubled).
pub fn listen_sql(channel: &str) -> String {
    format!("LISTEN \"{}\"", channel.replace('"', "\"\""))
}

/// Starts listening on `runtime`.
pub fn listen(
    pg: tokio_postgres::Config,
    config: ListenConfig,
    sink: Arc<dyn NotifySink>,
    runtime: &tokio::runtime::Handle,
) -> Arc<Listener> {
    let listener = Arc::new(Listener {
        cancel: CancellationToken::new(),
        stats: ListenStats::default(),
        listening: AtomicBool::new(false),
    });
    runtime.spawn(run(pg, config, sink, Arc::clone(&listener)));
    listener
}

async fn run(
    pg: tokio_postgres::Config,
    config: ListenConfig,
    sink: Arc<dyn NotifySink>,
    listener: Arc<Listener>,
) {
    reconnect_loop(pg, config, sink, &listener).await;
    listener.listening.store(false, Ordering::Release);
}

async fn reconnect_loop(
    pg: tokio_postgres::Config,
    config: ListenConfig,
    sink: Arc<dyn NotifySink>,
    listener: &Listener,
) {
    let sql = listen_sql(&config.channel);
    let mut failing = false;
    loop {
        let outcome = tokio::select! {
            outcome = session(&pg, &sql, &config.channel, &*sink, listener) => outcome,
            () = listener.cancel.cancelled() => return,
        };
        listener.listening.store(false, Ordering::Release);
        match outcome {
            Ok(()) => {
                sink.log(1, format!("Postgres NOTIFY: connection for channel {:?} closed; notifications sent until it is back are lost", config.channel));
                failing = false;
            }
            Err(error) if !failing => {
                sink.log(2, format!("Postgres NOTIFY: channel {:?}: {error}; notifications sent until it is back are lost", config.channel));
                failing = true;
            }
            Err(_) => {} // still down: logged once
        }
        if !config.auto_reconnect {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(config.reconnect_interval) => {}
            () = listener.cancel.cancelled() => return,
        }
    }
}

/// One connection's life: connect, LISTEN, forward until it ends.
async fn session(
    pg: &tokio_postgres::Config,
    sql: &str,
    channel: &str,
    sink: &dyn NotifySink,
    listener: &Listener,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = pg.connect(NoTls).await?;
    listener.stats.connects.fetch_add(1, Ordering::Relaxed);
    let drive = async {
        loop {
            match poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if n.channel() != channel {
                        continue;
                    }
                    listener.stats.received.fetch_add(1, Ordering::Relaxed);
                    if !sink.notification(n.channel(), n.payload()) {
                        listener.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    };
    tokio::pin!(drive);
    tokio::select! {
        result = client.batch_execute(sql) => result?,
        result = &mut drive => return result,
    }
    listener.listening.store(true, Ordering::Release);
    sink.log(0, format!("Postgres NOTIFY: listening on {channel:?}"));
    let result = drive.await;
    drop(client);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_the_channel() {
        assert_eq!(listen_sql("table_changes"), r#"LISTEN "table_changes""#);
        assert_eq!(listen_sql(r#"we"ird"#), r#"LISTEN "we""ird""#);
    }
}
