//! The publisher task: one connection, one pipeline at a time, so Redis executes this
//! instance's publishes in the order they were made. Shared-state snapshots queue here too,
//! so they run after every publish made before them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use redis::RedisResult;
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use super::{
    Bus, BusSink, Outgoing, PIPELINE, PROBE_INTERVAL, connect, manager_config, presence, replay,
};

/// What the publisher does, in queue order.
pub(crate) enum Job {
    Publish(Outgoing),
    Snapshot {
        topic: Arc<str>,
        cursor: bool,
        reply: oneshot::Sender<RedisResult<String>>,
    },
}

pub(super) async fn run(
    bus: Arc<Bus>,
    sink: Arc<dyn BusSink>,
    client: redis::Client,
    mut queue: mpsc::Receiver<Job>,
) {
    // Fail fast: a request during an outage makes one reconnect attempt, not a long retry
    // series during which messages would pile up and arrive late.
    let mut conn = connect(
        &bus,
        &*sink,
        &client,
        manager_config().set_number_of_retries(1),
    )
    .await;
    let mut jobs = Vec::with_capacity(PIPELINE);
    let mut batch = Vec::with_capacity(PIPELINE);
    // While Redis is down, one pipeline per PROBE_INTERVAL is tried; the rest is dropped.
    let mut next_try = tokio::time::Instant::now();
    while queue.recv_many(&mut jobs, PIPELINE).await > 0 {
        for job in jobs.drain(..) {
            match job {
                Job::Publish(outgoing) => batch.push(outgoing),
                Job::Snapshot {
                    topic,
                    cursor,
                    reply,
                } => {
                    send(&bus, &*sink, &mut conn, &mut batch, &mut next_try).await;
                    let result = presence::snapshot(&mut conn, &bus.channel, &topic, cursor).await;
                    let _ = reply.send(result);
                }
            }
        }
        send(&bus, &*sink, &mut conn, &mut batch, &mut next_try).await;
    }
}

/// Sends the publishes in `batch` as one pipeline (and empties it).
async fn send(
    bus: &Bus,
    sink: &dyn BusSink,
    conn: &mut ConnectionManager,
    batch: &mut Vec<Outgoing>,
    next_try: &mut tokio::time::Instant,
) {
    if batch.is_empty() {
        return;
    }
    let sent = batch.len() as u64;
    if bus.down.load(Ordering::Acquire) && tokio::time::Instant::now() < *next_try {
        bus.stats.publish_failed.fetch_add(sent, Ordering::Relaxed);
        batch.drain(..).for_each(|o| bus.undelivered(o));
        return;
    }
    if let Err(error) = mark_outages(bus, conn).await {
        bus.stats.publish_failed.fetch_add(sent, Ordering::Relaxed);
        bus.lost(sink, &error);
        *next_try = tokio::time::Instant::now() + PROBE_INTERVAL;
        batch.drain(..).for_each(|o| bus.undelivered(o));
        return;
    }
    let pipe = publish_pipeline(bus, batch);
    let mut result = pipe.query_async::<()>(conn).await;
    if matches!(&result, Err(e) if e.kind() == redis::ErrorKind::NoScriptError) {
        // A Redis that has not seen the script (first use, restart): nothing ran.
        result = match replay::PUBLISH_SCRIPT
            .prepare_invoke()
            .load_async(conn)
            .await
        {
            Ok(_) => pipe.query_async::<()>(conn).await,
            Err(error) => Err(error),
        };
    }
    match result {
        Ok(()) => {
            bus.stats.published.fetch_add(sent, Ordering::Relaxed);
            bus.stats.pipelines.fetch_add(1, Ordering::Relaxed);
            bus.recovered(sink);
            batch.clear();
        }
        Err(error) => {
            bus.stats.publish_failed.fetch_add(sent, Ordering::Relaxed);
            bus.lost(sink, &error);
            *next_try = tokio::time::Instant::now() + PROBE_INTERVAL;
            batch.drain(..).for_each(|o| bus.undelivered(o));
        }
    }
}

/// Gives the logs of the topics whose publishes were lost a new epoch (and their sequence a
/// jump), so no client trusts a log with a hole in it. Runs before any later publish.
async fn mark_outages(bus: &Bus, conn: &mut ConnectionManager) -> redis::RedisResult<()> {
    let tainted: Vec<Arc<str>> = bus.tainted.lock().iter().cloned().collect();
    for topic in tainted {
        replay::mark_outage(conn, &replay::keys(&bus.channel, &topic)).await?;
        bus.tainted.lock().remove(&topic);
    }
    Ok(())
}

/// One `EVALSHA` of the publish script per message (see `replay::PUBLISH`).
fn publish_pipeline(bus: &Bus, batch: &[Outgoing]) -> redis::Pipeline {
    let hash = replay::PUBLISH_SCRIPT.get_hash();
    let epoch = crate::replay::epoch_text(crate::replay::new_epoch());
    let instance = bus.instance_hex();
    let alive = format!("{}{instance}", presence::alive_prefix(&bus.channel));
    let mut pipe = redis::pipe();
    for o in batch {
        let keys = replay::keys(&bus.channel, &o.topic);
        let (op, field) = match &o.state {
            Some(presence::StateOp::Upsert(key)) => ("u", key.as_str()),
            Some(presence::StateOp::Delete(key)) => ("d", key.as_str()),
            None => ("", ""),
        };
        pipe.cmd("EVALSHA")
            .arg(hash)
            .arg(4)
            .arg(&keys[..])
            .arg(presence::state_key(&bus.channel, &o.topic))
            .arg(bus.channel_of(&o.topic))
            .arg(&o.head)
            .arg(&o.name)
            .arg(o.data.as_bytes())
            .arg(replay::event_json(o.event()))
            .arg(o.replay.unwrap_or(crate::replay::DEFAULT_SIZE))
            .arg(replay::TTL_SECONDS)
            .arg(&epoch)
            .arg(if o.replay.is_some() { "1" } else { "0" })
            .arg(op)
            .arg(field)
            .arg(&instance)
            .arg(&alive)
            .arg(presence::ALIVE_TTL.as_millis() as u64)
            .ignore();
    }
    pipe
}
