//! Replay logs: for each topic a stream with `replay` subscribes to, a sequence, an epoch and
//! the last events, so a client that comes back with its last sequence gets exactly what it
//! missed, or is told to refetch (reference-protocol §9.11 fixed: never a silent gap, never
//! a duplicate).
//!
//! - The sequence counts the topic's publishes, starting from the microseconds since 1970
//!   when the log was created (below 2^53, so exact in JavaScript); every envelope of a
//!   replayed topic carries it (`"seq":N` after `data`), so clients track it from each
//!   event. Starting from the clock means a log created again numbers above the old one, so
//!   a connected client sees a jump (and refetches) instead of numbers it takes for old.
//! - The epoch names one life of the log (a random 64-bit id, sent as 16 hex digits). A log
//!   that is created again (server restart, another instance's memory, an evicted log) has
//!   another epoch, and a client whose epoch differs refetches instead of trusting numbers
//!   from someone else's count.
//! - Bounded: `size` events per topic (default 1000) and `MAX_LOG_BYTES` of event text;
//!   `MAX_TOPICS` logs, the least recently used evicted beyond that.
//!
//! Recording and delivering one publish happen under the topic's lock, so subscribers see
//! sequences in order whichever thread publishes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

pub const DEFAULT_SIZE: usize = 1000;
/// Upper bound on `size`.
pub const MAX_SIZE: usize = 100_000;
/// Event text kept per topic; the oldest go first beyond it.
pub const MAX_LOG_BYTES: usize = 8 * 1024 * 1024;
/// Logs kept at most.
pub const MAX_TOPICS: usize = 10_000;

struct Entry {
    seq: u64,
    event: Box<str>,
    data: Box<str>,
}

/// One topic's log.
pub struct TopicLog {
    epoch: u64,
    seq: u64,
    size: usize,
    bytes: usize,
    entries: VecDeque<Entry>,
    touched: u64,
}

impl TopicLog {
    fn new(size: usize) -> Self {
        Self {
            epoch: new_epoch(),
            seq: clock_base(),
            size,
            bytes: 0,
            entries: VecDeque::new(),
            touched: 0,
        }
    }

    /// Appends one publish; returns its sequence.
    pub fn record(&mut self, event: &str, data: &str) -> u64 {
        self.seq += 1;
        self.bytes += event.len() + data.len();
        self.entries.push_back(Entry {
            seq: self.seq,
            event: event.into(),
            data: data.into(),
        });
        self.trim();
        self.seq
    }

    fn trim(&mut self) {
        while self.entries.len() > self.size
            || (self.bytes > MAX_LOG_BYTES && self.entries.len() > 1)
        {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= old.event.len() + old.data.len();
            }
        }
    }

    /// Events this log keeps at most.
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn position(&self) -> Position {
        Position {
            epoch: self.epoch,
            seq: self.seq,
        }
    }

    /// The events after `seq` as a JSON array of `{seq, event, data}`, if this log is the
    /// client's (`epoch`) and still holds all of them.
    pub fn since(&self, epoch: u64, seq: u64) -> Option<String> {
        if epoch != self.epoch || seq > self.seq {
            return None;
        }
        let first_needed = seq + 1;
        if seq < self.seq && self.entries.front().is_none_or(|e| e.seq > first_needed) {
            return None; // evicted: the buffer no longer covers the gap
        }
        let mut out = String::from("[");
        for entry in self.entries.iter().filter(|e| e.seq > seq) {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str("{\"seq\":");
            out.push_str(&entry.seq.to_string());
            out.push_str(",\"event\":");
            crate::envelope::push_json_string(&mut out, &entry.event);
            out.push_str(",\"data\":");
            out.push_str(&entry.data);
            out.push('}');
        }
        out.push(']');
        Some(out)
    }
}

/// Where a log stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub epoch: u64,
    pub seq: u64,
}

/// The first sequence of a new log: microseconds since 1970.
pub fn clock_base() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_micros() as u64)
}

pub fn new_epoch() -> u64 {
    // Never 0, so a client's missing epoch never matches.
    rand::random::<u64>().max(1)
}

/// Every replay log of one server.
#[derive(Default)]
pub struct ReplayLogs {
    /// Logs in the map; 0 lets every publish skip the lock.
    count: AtomicUsize,
    logs: Mutex<HashMap<Arc<str>, Arc<Mutex<TopicLog>>>>,
    clock: std::sync::atomic::AtomicU64,
}

impl ReplayLogs {
    /// Starts (or keeps) the log of `topic`, with room for at least `size` events.
    pub fn enable(&self, topic: &str, size: usize) -> Position {
        let size = size.clamp(1, MAX_SIZE);
        let log = {
            let mut logs = self.logs.lock();
            match logs.get(topic) {
                Some(log) => Arc::clone(log),
                None => {
                    if logs.len() >= MAX_TOPICS {
                        evict_oldest(&mut logs);
                    }
                    let log = Arc::new(Mutex::new(TopicLog::new(size)));
                    logs.insert(Arc::from(topic), Arc::clone(&log));
                    self.count.store(logs.len(), Ordering::Release);
                    log
                }
            }
        };
        let mut log = log.lock();
        log.size = log.size.max(size);
        log.touched = self.tick();
        log.position()
    }

    /// The log of `topic`, if it has one.
    pub fn get(&self, topic: &str) -> Option<Arc<Mutex<TopicLog>>> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.logs.lock().get(topic).cloned()
    }

    pub fn position(&self, topic: &str) -> Option<Position> {
        Some(self.get(topic)?.lock().position())
    }

    /// See [`TopicLog::since`]; `None` also when the topic has no log.
    pub fn since(&self, topic: &str, epoch: u64, seq: u64) -> Option<String> {
        let log = self.get(topic)?;
        let mut log = log.lock();
        log.touched = self.tick();
        log.since(epoch, seq)
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }
}

fn evict_oldest(logs: &mut HashMap<Arc<str>, Arc<Mutex<TopicLog>>>) {
    let oldest = logs
        .iter()
        .min_by_key(|(_, log)| log.lock().touched)
        .map(|(topic, _)| Arc::clone(topic));
    if let Some(topic) = oldest {
        logs.remove(&topic);
    }
}

/// Epochs travel as 16 hex digits.
pub fn epoch_text(epoch: u64) -> String {
    format!("{epoch:016x}")
}

/// Parses [`epoch_text`]; `None` for anything else.
pub fn parse_epoch(text: &str) -> Option<u64> {
    if text.len() != 16 {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_exactly_what_was_missed() {
        let logs = ReplayLogs::default();
        assert!(logs.get("t").is_none());
        let start = logs.enable("t", 3);
        let b = start.seq;
        assert!(
            b > 1_700_000_000_000_000 && b < 1 << 53,
            "a clock base: {b}"
        );
        let log = logs.get("t").unwrap();
        for i in 1..=2 {
            assert_eq!(
                log.lock().record("created", &format!("{{\"id\":{i}}}")),
                b + i
            );
        }
        let e = start.epoch;
        assert_eq!(logs.since("t", e, b + 2).unwrap(), "[]");
        assert_eq!(
            logs.since("t", e, b + 1).unwrap(),
            format!(
                r#"[{{"seq":{},"event":"created","data":{{"id":2}}}}]"#,
                b + 2
            )
        );
        assert_eq!(logs.since("t", e, b).unwrap().matches("seq").count(), 2);
        // Another epoch, a future seq, an unknown topic: refetch.
        assert!(logs.since("t", e ^ 1, b + 1).is_none());
        assert!(logs.since("t", e, b + 3).is_none());
        assert!(logs.since("u", e, b).is_none());
    }

    #[test]
    fn an_evicted_gap_means_refetch() {
        let logs = ReplayLogs::default();
        let Position { epoch: e, seq: b } = logs.enable("t", 2);
        let log = logs.get("t").unwrap();
        for _ in 0..5 {
            log.lock().record("e", "null");
        }
        // Holds 4 and 5: a client at 3 gets both, one at 2 needs 3, which is gone.
        assert_eq!(logs.since("t", e, b + 3).unwrap().matches("seq").count(), 2);
        assert!(logs.since("t", e, b + 2).is_none());
        assert!(logs.since("t", e, b + 5).unwrap() == "[]");
    }

    #[test]
    fn bounded_by_bytes_and_topics() {
        let logs = ReplayLogs::default();
        logs.enable("big", MAX_SIZE);
        let log = logs.get("big").unwrap();
        let data = "x".repeat(1024 * 1024);
        for _ in 0..20 {
            log.lock().record("e", &data);
        }
        assert!(log.lock().bytes <= MAX_LOG_BYTES + data.len());
        for i in 0..MAX_TOPICS + 5 {
            logs.enable(&format!("t{i}"), 1);
        }
        assert_eq!(logs.logs.lock().len(), MAX_TOPICS);
    }

    #[test]
    fn epochs_round_trip() {
        let e = new_epoch();
        assert_eq!(parse_epoch(&epoch_text(e)), Some(e));
        assert_eq!(parse_epoch("xyz"), None);
        assert_eq!(parse_epoch("00000000000000000"), None);
    }
}
