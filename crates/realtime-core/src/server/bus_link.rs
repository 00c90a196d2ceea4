//! The server's side of the Redis bus (`crate::bus`): what arrives is published locally,
//! and the hub tells the bus when a topic gains its first or loses its last local subscriber.
//!
//! The bus holds the server weakly (the server holds the bus), so dropping a server frees
//! both even while the bus tasks are parked on a dead Redis.

use std::sync::{Arc, Weak};

use super::Shared;
use crate::bus::{Bus, BusConfig, BusError, BusSink};

struct ServerSink(Weak<Shared>);

impl BusSink for ServerSink {
    fn deliver(&self, topic: &str, event: &str, data: &str, seq: u64) {
        if let Some(shared) = self.0.upgrade() {
            shared.deliver(topic, event, Some(data), (seq != 0).then_some(seq));
        }
    }

    fn subscribers(&self, topic: &str) -> usize {
        self.0
            .upgrade()
            .map_or(0, |shared| shared.hub.subscriber_count(topic))
    }

    fn shared_topics(&self) -> Vec<(Arc<str>, bool)> {
        let Some(shared) = self.0.upgrade() else {
            return Vec::new();
        };
        let mut topics = shared.topic_states.shared_topics();
        topics.retain(|(topic, _)| shared.hub.subscriber_count(topic) > 0);
        topics
    }

    fn log(&self, level: u16, message: String) {
        if let Some(shared) = self.0.upgrade() {
            shared.log(level, message);
        }
    }
}

/// Starts the bus for `shared` unless one is attached already (then `Ok(false)`). Topics
/// that have subscribers already are subscribed on the bus at once.
pub(super) fn attach(
    shared: &Arc<Shared>,
    config: BusConfig,
    runtime: &tokio::runtime::Handle,
) -> Result<bool, BusError> {
    if shared.bus.get().is_some() {
        return Ok(false);
    }
    let sink = Arc::new(ServerSink(Arc::downgrade(shared)));
    let bus = Bus::start(config, sink, runtime)?;
    if shared.bus.set(Arc::clone(&bus)).is_err() {
        return Ok(false); // another caller won the race; its bus serves
    }
    for topic in shared.hub.topics() {
        bus.topic_changed(&topic);
    }
    Ok(true)
}

impl Shared {
    /// `topic` just gained a local subscriber (`count`: the hub's count right after).
    pub(crate) fn topic_joined(&self, topic: &Arc<str>, count: Option<usize>) {
        if count == Some(1)
            && let Some(bus) = self.bus.get()
        {
            bus.topic_changed(topic);
        }
    }

    /// `topic` just lost a local subscriber (`left`: the hub's count right after).
    pub(crate) fn topic_left(&self, topic: &str, left: Option<usize>) {
        if left == Some(0)
            && let Some(bus) = self.bus.get()
        {
            bus.topic_changed(&Arc::from(topic));
        }
    }
}
