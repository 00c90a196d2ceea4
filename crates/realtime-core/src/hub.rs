//! The topic index: topic → subscribers, sharded, knowing nothing of sockets.
//!
//! A subscriber is any cheap-to-clone handle with a stable key ([`Subscriber`]); the server
//! stores connection handles here so fan-out needs no second lookup, and the tests store
//! plain numbers. Publishing walks one topic's subscribers under that shard's read lock and
//! hands each to a closure; the closure must not block or await (the server's pushes into
//! outboxes never do), which is why a `parking_lot::RwLock` is the right lock here.
//!
//! Subscribers of a topic live in a dense `Vec` (iteration is a slice walk) plus a key →
//! position map, so subscribe, unsubscribe and membership checks are O(1).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use parking_lot::RwLock;

/// Something that can sit in a topic's subscriber list.
pub trait Subscriber: Clone + Send + Sync {
    /// Stable identity: two handles with the same key are the same subscriber.
    fn key(&self) -> u64;
}

impl Subscriber for u64 {
    fn key(&self) -> u64 {
        *self
    }
}

/// Number of shards; a power of two so the shard is picked with a mask.
const SHARDS: usize = 64;

struct Subscribers<S> {
    list: Vec<S>,
    position: HashMap<u64, usize>,
}

impl<S: Subscriber> Subscribers<S> {
    fn new() -> Self {
        Self {
            list: Vec::new(),
            position: HashMap::new(),
        }
    }

    fn insert(&mut self, sub: S) -> bool {
        let key = sub.key();
        if self.position.contains_key(&key) {
            return false;
        }
        self.position.insert(key, self.list.len());
        self.list.push(sub);
        true
    }

    fn remove(&mut self, key: u64) -> bool {
        let Some(index) = self.position.remove(&key) else {
            return false;
        };
        self.list.swap_remove(index);
        if let Some(moved) = self.list.get(index) {
            self.position.insert(moved.key(), index);
        }
        true
    }
}

type Shard<S> = RwLock<HashMap<Arc<str>, Subscribers<S>>>;

/// The sharded topic index.
pub struct Hub<S> {
    shards: Box<[Shard<S>]>,
    hasher: RandomState,
}

impl<S: Subscriber> Default for Hub<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Subscriber> Hub<S> {
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, topic: &str) -> &Shard<S> {
        let hash = self.hasher.hash_one(topic) as usize;
        &self.shards[hash & (SHARDS - 1)]
    }

    /// Adds `sub` to `topic`. Returns false if it was already subscribed.
    pub fn subscribe(&self, topic: &Arc<str>, sub: S) -> bool {
        self.join(topic, sub).is_some()
    }

    /// [`subscribe`](Self::subscribe), returning the topic's subscriber count right after
    /// (counted under the same lock, so exactly one caller sees 1), or `None` if `sub` was
    /// subscribed already.
    pub fn join(&self, topic: &Arc<str>, sub: S) -> Option<usize> {
        let mut shard = self.shard(topic).write();
        let subs = shard
            .entry(Arc::clone(topic))
            .or_insert_with(Subscribers::new);
        subs.insert(sub).then_some(subs.list.len())
    }

    /// Removes the subscriber with `key` from `topic`; drops the topic when it empties.
    /// Returns false if it was not subscribed.
    pub fn unsubscribe(&self, topic: &str, key: u64) -> bool {
        self.leave(topic, key).is_some()
    }

    /// [`unsubscribe`](Self::unsubscribe), returning the subscribers left (counted under the
    /// same lock, so exactly one caller sees 0), or `None` if `key` was not subscribed.
    pub fn leave(&self, topic: &str, key: u64) -> Option<usize> {
        let mut shard = self.shard(topic).write();
        let subs = shard.get_mut(topic)?;
        let removed = subs.remove(key);
        let left = subs.list.len();
        if left == 0 {
            shard.remove(topic);
        }
        removed.then_some(left)
    }

    /// Whether `key` is subscribed to `topic`.
    pub fn is_subscribed(&self, topic: &str, key: u64) -> bool {
        self.shard(topic)
            .read()
            .get(topic)
            .is_some_and(|subs| subs.position.contains_key(&key))
    }

    /// Number of subscribers of `topic`.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.shard(topic)
            .read()
            .get(topic)
            .map_or(0, |subs| subs.list.len())
    }

    /// Number of topics with at least one subscriber.
    pub fn topic_count(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Every topic with at least one subscriber.
    pub fn topics(&self) -> Vec<Arc<str>> {
        self.shards
            .iter()
            .flat_map(|s| s.read().keys().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// Calls `deliver` for every subscriber of `topic` and returns how many there were.
    /// `deliver` runs under the shard's read lock: it must not block.
    pub fn for_each_subscriber(&self, topic: &str, mut deliver: impl FnMut(&S)) -> usize {
        let shard = self.shard(topic).read();
        let Some(subs) = shard.get(topic) else {
            return 0;
        };
        subs.list.iter().for_each(&mut deliver);
        subs.list.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    fn collect(hub: &Hub<u64>, name: &str) -> Vec<u64> {
        let mut got = Vec::new();
        hub.for_each_subscriber(name, |s| got.push(*s));
        got.sort();
        got
    }

    #[test]
    fn subscribe_publish_unsubscribe() {
        let hub = Hub::new();
        let t = topic("chat");
        assert!(hub.subscribe(&t, 1));
        assert!(hub.subscribe(&t, 2));
        assert!(!hub.subscribe(&t, 1), "double subscribe is a no-op");
        assert_eq!(collect(&hub, "chat"), vec![1, 2]);
        assert_eq!(hub.subscriber_count("chat"), 2);
        assert!(hub.unsubscribe("chat", 1));
        assert!(!hub.unsubscribe("chat", 1));
        assert_eq!(collect(&hub, "chat"), vec![2]);
        assert!(hub.unsubscribe("chat", 2));
        assert_eq!(hub.topic_count(), 0, "empty topics are dropped");
        assert_eq!(hub.for_each_subscriber("chat", |_| panic!()), 0);
    }

    #[test]
    fn swap_remove_keeps_positions_right() {
        let hub = Hub::new();
        let t = topic("t");
        for id in 0..100 {
            hub.subscribe(&t, id);
        }
        for id in (0..100).step_by(3) {
            assert!(hub.unsubscribe("t", id));
        }
        let expected: Vec<u64> = (0..100).filter(|id| id % 3 != 0).collect();
        assert_eq!(collect(&hub, "t"), expected);
        for id in 0..100 {
            assert_eq!(hub.is_subscribed("t", id), id % 3 != 0);
        }
    }

    #[test]
    fn topics_are_independent() {
        let hub = Hub::new();
        for i in 0..1000u64 {
            hub.subscribe(&topic(&format!("topic-{i}")), i);
        }
        assert_eq!(hub.topic_count(), 1000);
        assert_eq!(collect(&hub, "topic-7"), vec![7]);
        assert_eq!(hub.subscriber_count("missing"), 0);
    }

    #[test]
    fn concurrent_subscribe_and_publish() {
        let hub = Arc::new(Hub::new());
        let t = topic("shared");
        let writers: Vec<_> = (0..4u64)
            .map(|w| {
                let hub = Arc::clone(&hub);
                let t = Arc::clone(&t);
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        hub.subscribe(&t, w * 1000 + i);
                    }
                })
            })
            .collect();
        for _ in 0..100 {
            hub.for_each_subscriber("shared", |_| {});
        }
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(hub.subscriber_count("shared"), 4000);
    }
}
