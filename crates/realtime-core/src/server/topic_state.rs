//! Server-held state of presence and cursor channels, so a late subscriber gets who is
//! already there instead of an empty list.
//!
//! A channel registers its topic on first subscribe ([`TopicStates::track`]); from then on
//! every publish to that topic is merged into the state by the Rust merge engine, whoever
//! publishes (an RPC, a hook, a relay). The state is dropped when the topic's last
//! subscriber leaves. Topics nobody tracks cost one atomic load per publish.
//!
//! Lock: one `parking_lot::Mutex` around the map; nothing awaits under it, and it is never
//! held while a connection's topic lock or a hub shard lock is taken.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use serde_json::Value;

use crate::merge::{MergeOptions, MergeState};

#[derive(Default)]
pub(crate) struct TopicStates {
    tracked: AtomicUsize,
    states: Mutex<HashMap<Arc<str>, MergeState>>,
}

impl TopicStates {
    /// Starts keeping state for `topic` (an empty list) unless it already is.
    pub(crate) fn track(&self, topic: &str, options: MergeOptions) {
        let mut states = self.states.lock();
        if !states.contains_key(topic) {
            states.insert(
                Arc::from(topic),
                MergeState::new(options, Value::Array(Vec::new())),
            );
            self.tracked.store(states.len(), Ordering::Release);
        }
    }

    /// Merges a published event into the topic's state, if it is tracked. Data that is not
    /// valid JSON is ignored (the binding only ever passes `JSON.stringify` output).
    pub(crate) fn apply(&self, topic: &str, event: &str, data_json: Option<&str>) {
        if self.tracked.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut states = self.states.lock();
        if let Some(state) = states.get_mut(topic) {
            let _ = state.apply_json(event, data_json.unwrap_or("null"));
        }
    }

    /// The state as JSON text, if the topic is tracked.
    pub(crate) fn snapshot(&self, topic: &str) -> Option<String> {
        self.states.lock().get(topic).map(MergeState::to_json)
    }

    /// Drops the state of a topic nobody is subscribed to any more.
    pub(crate) fn forget_if_unwatched(&self, topic: &str, subscribers: usize) {
        if subscribers > 0 || self.tracked.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut states = self.states.lock();
        if states.remove(topic).is_some() {
            self.tracked.store(states.len(), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Strategy;

    fn presence() -> MergeOptions {
        MergeOptions {
            strategy: Strategy::Presence,
            ..MergeOptions::default()
        }
    }

    #[test]
    fn tracks_merges_and_forgets() {
        let states = TopicStates::default();
        states.apply("room", "join", Some(r#"{"key":"a"}"#));
        assert_eq!(
            states.snapshot("room"),
            None,
            "untracked topics keep nothing"
        );
        states.track("room", presence());
        assert_eq!(states.snapshot("room").as_deref(), Some("[]"));
        states.apply("room", "join", Some(r#"{"key":"a","data":1}"#));
        states.apply("room", "join", Some(r#"{"key":"b","data":2}"#));
        states.apply("room", "leave", Some(r#"{"key":"a"}"#));
        states.apply("room", "join", Some("not json"));
        assert_eq!(
            states.snapshot("room").as_deref(),
            Some(r#"[{"key":"b","data":2}]"#)
        );
        states.track("room", presence());
        assert_eq!(
            states.snapshot("room").unwrap().len(),
            22,
            "tracking twice keeps state"
        );
        states.forget_if_unwatched("room", 1);
        assert!(states.snapshot("room").is_some());
        states.forget_if_unwatched("room", 0);
        assert_eq!(states.snapshot("room"), None);
    }
}
