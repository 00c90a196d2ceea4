//! The server's side of the Postgres NOTIFY bridge (`crate::postgres::notify`): each
//! notification becomes a local publish (never relayed: every instance listens itself).
//! The default parser reads `{"topic","event","data"}` in Rust, so the notification never
//! enters JavaScript; a custom parser hands the payload to a callback instead.

use std::borrow::Cow;
use std::sync::{Arc, Weak};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::Shared;
use crate::postgres::notify::{self, ListenConfig, Listener, NotifySink};

/// A custom parser: `(channel, payload)`; it publishes by itself.
pub type NotifyCallback = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// How a payload becomes a publish.
#[derive(Clone)]
pub enum NotifyParse {
    /// JSON `{topic, event, data}` with a non-empty string topic and event.
    Json,
    /// The payload goes to this callback `(channel, payload)`, which publishes itself.
    Custom(NotifyCallback),
}

#[derive(Deserialize)]
struct Notification<'a> {
    #[serde(borrow)]
    topic: Cow<'a, str>,
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// The default parser: `Some((topic, event, data JSON))`, or `None` for anything else.
pub fn parse_json(payload: &str) -> Option<(Cow<'_, str>, Cow<'_, str>, &str)> {
    let n: Notification<'_> = serde_json::from_str(payload).ok()?;
    if n.topic.is_empty() || n.event.is_empty() {
        return None;
    }
    Some((n.topic, n.event, n.data.map_or("null", RawValue::get)))
}

struct ServerSink {
    shared: Weak<Shared>,
    parse: NotifyParse,
}

impl NotifySink for ServerSink {
    fn notification(&self, channel: &str, payload: &str) -> bool {
        match &self.parse {
            NotifyParse::Json => {
                let Some((topic, event, data)) = parse_json(payload) else {
                    return false;
                };
                if let Some(shared) = self.shared.upgrade() {
                    shared.publish_local(&topic, &event, Some(data));
                }
                true
            }
            NotifyParse::Custom(callback) => {
                callback(channel, payload);
                true
            }
        }
    }

    fn log(&self, level: u16, message: String) {
        if let Some(shared) = self.shared.upgrade() {
            shared.log(level, message);
        }
    }
}

pub(super) fn listen(
    shared: &Arc<Shared>,
    pg: tokio_postgres::Config,
    config: ListenConfig,
    parse: NotifyParse,
    runtime: &tokio::runtime::Handle,
) -> Arc<Listener> {
    let sink = Arc::new(ServerSink {
        shared: Arc::downgrade(shared),
        parse,
    });
    notify::listen(pg, config, sink, runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parser() {
        let (t, e, d) =
            parse_json(r#"{"topic":"orders","event":"created","data":{"id":1}}"#).unwrap();
        assert_eq!((&*t, &*e, d), ("orders", "created", r#"{"id":1}"#));
        let (_, _, d) = parse_json(r#"{"topic":"t","event":"e"}"#).unwrap();
        assert_eq!(d, "null");
        assert!(parse_json(r#"{"topic":"","event":"e"}"#).is_none());
        assert!(parse_json(r#"{"topic":"t"}"#).is_none());
        assert!(parse_json(r#"{"topic":1,"event":"e"}"#).is_none());
        assert!(parse_json("not json").is_none());
        let (t, _, _) = parse_json(r#"{"topic":"a\"b","event":"e","data":1}"#).unwrap();
        assert_eq!(&*t, "a\"b");
    }
}
