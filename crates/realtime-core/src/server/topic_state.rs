//! Server-held state of presence and cursor channels, so a late subscriber gets who is
//! already there instead of an empty list.
//!
//! A channel registers its topic on first subscribe ([`TopicStates::track`]); from then on
//! every publish to that topic is merged into the state by the Rust merge engine, whoever
//! publishes (an RPC, a hook, a relay). The state is dropped when the topic's last
//! subscriber leaves. A state may be *anchored* to another topic: a room's presence and
//! cursors are tracked from its first member's join (before anyone watches them) and live
//! while the room's data topic or the channel itself has subscribers. Topics nobody tracks
//! cost one atomic load per publish.
//!
//! Lock: one `parking_lot::Mutex` around the map; nothing awaits under it, and it is never
//! held while a connection's topic lock or a hub shard lock is taken.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use serde_json::Value;

use crate::merge::{MergeOptions, MergeState};

struct Tracked {
    state: MergeState,
    /// Another topic whose subscribers keep this state too (a room's data topic).
    anchor: Option<Arc<str>>,
}

#[derive(Default)]
pub(crate) struct TopicStates {
    tracked: AtomicUsize,
    states: Mutex<HashMap<Arc<str>, Tracked>>,
    /// Presence (`false`) and cursor (`true`) topics ever tracked here, kept after their
    /// state is dropped: a member's `leave` comes after the room emptied, and a shared state
    /// (`crate::bus::presence`) must still hear it. Bounded by `MAX_SHARED`.
    shared: Mutex<HashMap<Arc<str>, bool>>,
    /// Entries in `shared`; 0 lets every publish skip its lock.
    shared_count: AtomicUsize,
}

const MAX_SHARED: usize = 100_000;

impl TopicStates {
    /// Starts keeping state for `topic` (an empty list) unless it already is. With an
    /// `anchor`, the state also lives while that topic has subscribers.
    pub(crate) fn track(&self, topic: &str, options: MergeOptions, anchor: Option<&str>) {
        use crate::merge::Strategy;
        if matches!(options.strategy, Strategy::Presence | Strategy::Cursor) {
            let mut shared = self.shared.lock();
            if shared.len() >= MAX_SHARED && !shared.contains_key(topic) {
                shared.clear(); // a cap against unbounded topic names; re-learnt on track
            }
            shared.insert(Arc::from(topic), options.strategy == Strategy::Cursor);
            self.shared_count.store(shared.len(), Ordering::Release);
        }
        let mut states = self.states.lock();
        match states.get_mut(topic) {
            Some(tracked) => {
                if tracked.anchor.is_none() {
                    tracked.anchor = anchor.map(Arc::from);
                }
            }
            None => {
                states.insert(
                    Arc::from(topic),
                    Tracked {
                        state: MergeState::new(options, Value::Array(Vec::new())),
                        anchor: anchor.map(Arc::from),
                    },
                );
                self.tracked.store(states.len(), Ordering::Release);
            }
        }
    }

    /// Merges a published event into the topic's state, if it is tracked. Data that is not
    /// valid JSON is ignored (the binding only ever passes `JSON.stringify` output).
    pub(crate) fn apply(&self, topic: &str, event: &str, data_json: Option<&str>) {
        if self.tracked.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut states = self.states.lock();
        if let Some(tracked) = states.get_mut(topic) {
            let _ = tracked.state.apply_json(event, data_json.unwrap_or("null"));
        }
    }

    /// Whether `topic` is a presence (`Some(false)`) or cursor (`Some(true)`) topic.
    pub(crate) fn shared_kind(&self, topic: &str) -> Option<bool> {
        if self.shared_count.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.shared.lock().get(topic).copied()
    }

    /// Every presence / cursor topic known here.
    pub(crate) fn shared_topics(&self) -> Vec<(Arc<str>, bool)> {
        self.shared
            .lock()
            .iter()
            .map(|(t, c)| (Arc::clone(t), *c))
            .collect()
    }

    /// The state as JSON text, if the topic is tracked.
    pub(crate) fn snapshot(&self, topic: &str) -> Option<String> {
        self.states.lock().get(topic).map(|t| t.state.to_json())
    }

    /// `topic` just lost a subscriber: drops the states it kept (its own, and those anchored
    /// to it) that no topic keeps any more. `subscribers` counts a topic's subscribers.
    pub(crate) fn forget_unwatched(&self, topic: &str, subscribers: impl Fn(&str) -> usize) {
        if self.tracked.load(Ordering::Acquire) == 0 || subscribers(topic) > 0 {
            return;
        }
        let mut states = self.states.lock();
        let before = states.len();
        states.retain(|key, tracked| {
            let concerned = &**key == topic || tracked.anchor.as_deref() == Some(topic);
            !concerned
                || subscribers(key) > 0
                || tracked
                    .anchor
                    .as_deref()
                    .is_some_and(|a| subscribers(a) > 0)
        });
        if states.len() != before {
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
        states.track("room", presence(), None);
        assert_eq!(states.snapshot("room").as_deref(), Some("[]"));
        states.apply("room", "join", Some(r#"{"key":"a","data":1}"#));
        states.apply("room", "join", Some(r#"{"key":"b","data":2}"#));
        states.apply("room", "leave", Some(r#"{"key":"a"}"#));
        states.apply("room", "join", Some("not json"));
        assert_eq!(
            states.snapshot("room").as_deref(),
            Some(r#"[{"key":"b","data":2}]"#)
        );
        states.track("room", presence(), None);
        assert_eq!(
            states.snapshot("room").unwrap().len(),
            22,
            "tracking twice keeps state"
        );
        states.forget_unwatched("room", |_| 1);
        assert!(states.snapshot("room").is_some());
        states.forget_unwatched("room", |_| 0);
        assert_eq!(states.snapshot("room"), None);
    }

    #[test]
    fn an_anchored_state_lives_while_either_topic_is_watched() {
        let states = TopicStates::default();
        // A room's first member joins: presence is tracked before anyone watches it.
        states.track("r:presence", presence(), Some("r"));
        states.apply("r:presence", "join", Some(r#"{"key":"a"}"#));
        let watched = |counts: &'static [(&'static str, usize)]| {
            move |topic: &str| {
                counts
                    .iter()
                    .find(|(t, _)| *t == topic)
                    .map_or(0, |(_, n)| *n)
            }
        };
        // Nobody on the presence channel, members in the room: kept.
        states.forget_unwatched("r:presence", watched(&[("r", 2)]));
        assert!(states.snapshot("r:presence").unwrap().contains("\"a\""));
        // A watcher arrives and leaves while the room still has members: kept.
        states.forget_unwatched("r:presence", watched(&[("r", 1)]));
        assert!(states.snapshot("r:presence").is_some());
        // The room empties while someone watches presence: kept.
        states.forget_unwatched("r", watched(&[("r:presence", 1)]));
        assert!(states.snapshot("r:presence").is_some());
        // Neither is watched: dropped.
        states.forget_unwatched("r", watched(&[]));
        assert_eq!(states.snapshot("r:presence"), None);
    }
}
