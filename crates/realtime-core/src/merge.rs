//! The stream merge engine: how a live event (`created`, `join`, `update`, ...) changes a
//! stream's value. The same rules are written in JavaScript for browsers
//! (`lib/shared/merge.js`); both pass the vectors in `__test__/vectors/merge.json`, so a
//! change here needs the same change there and a vector.
//!
//! It owns the value and an index from key to array position, and nothing else: no
//! napi, no I/O, no notification of anyone (the caller reads [`MergeState::value`] after
//! [`MergeState::apply`]).
//!
//! Keys follow JavaScript `Map` semantics, because the browser engine uses a `Map`:
//! the number `1` and the string `"1"` are different keys, `1` and `1.0` are the same
//! (one JavaScript number), a missing key field is its own key (JavaScript's `undefined`)
//! distinct from `null`, and an object or array key never equals anything (a `Map` compares
//! objects by reference, and every event's data is a fresh object). The index therefore
//! stores a canonical byte form of the key value ([`encode_key`]) rather than its JSON
//! text, in which `1` and `1.0` would differ.
//!
//! Cost: a keyed update or upsert of an existing key is one hash lookup; an append is one
//! hash insert; a delete and a prepend shift the positions after the change, O(n) like the
//! array shift they follow. The index always maps a key to the position of its **last**
//! occurrence, which is what rebuilding it from the array gives when a `set` brings
//! duplicate keys: both items stay, the later one is the one events address, and once it
//! is removed the earlier one takes its place in the index.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use thiserror::Error;

/// How events change the value (`merge` in the stream options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// `created` upserts, `updated` replaces a known key, `deleted` removes, by `key`.
    #[default]
    Crud,
    /// Every event's data is appended; only the last `max` items are kept.
    Latest,
    /// Every event's data becomes the value.
    Set,
    /// `join` upserts and `leave` removes by the items' `key` field; `set` replaces all.
    Presence,
    /// `update` upserts and `remove` removes by the items' `key` field; `set` replaces all.
    Cursor,
}

impl Strategy {
    /// The name used in JavaScript options.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crud => "crud",
            Self::Latest => "latest",
            Self::Set => "set",
            Self::Presence => "presence",
            Self::Cursor => "cursor",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = MergeOptionsError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(match name {
            "crud" => Self::Crud,
            "latest" => Self::Latest,
            "set" => Self::Set,
            "presence" => Self::Presence,
            "cursor" => Self::Cursor,
            _ => return Err(MergeOptionsError::UnknownStrategy(name.to_owned())),
        })
    }
}

/// Merge options a stream cannot work with.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MergeOptionsError {
    #[error(
        "unknown merge strategy {0:?}: expected 'crud', 'latest', 'set', 'presence' or 'cursor'"
    )]
    UnknownStrategy(String),
    #[error("max must be a positive integer, got {0}")]
    Max(String),
}

/// The stream options that drive merging, with the defaults of `live.stream()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOptions {
    /// Default [`Strategy::Crud`].
    pub strategy: Strategy,
    /// The key field for `crud`; default `"id"`. Presence and cursor always use `"key"`.
    pub key: String,
    /// `crud` only: a `created` item with a new key goes first instead of last. Default false.
    pub prepend: bool,
    /// `latest` only: how many items are kept. Default 50; 0 keeps none (JavaScript rejects
    /// it before it gets here).
    pub max: usize,
}

impl Default for MergeOptions {
    fn default() -> Self {
        Self {
            strategy: Strategy::Crud,
            key: "id".to_owned(),
            prepend: false,
            max: 50,
        }
    }
}

/// The field keyed strategies index by, or `None` for `latest` and `set`.
fn key_field(options: &MergeOptions) -> Option<&str> {
    match options.strategy {
        Strategy::Crud => Some(&options.key),
        Strategy::Presence | Strategy::Cursor => Some("key"),
        Strategy::Latest | Strategy::Set => None,
    }
}

/// Writes the canonical form of `item[field]` into `out`; `false` when the key can never
/// match (an object or array value, compared by reference in JavaScript).
///
/// One tag byte, then the payload: `u` missing (also when `item` is not an object), `z`
/// null, `t`/`f`, `n` and the f64 bits (so `1`, `1.0` and `-0`/`0` agree, as JavaScript
/// numbers do), `s` and the UTF-8 bytes. The buffer is the whole key, so no delimiter is
/// needed.
fn encode_key(item: &Value, field: &str, out: &mut Vec<u8>) -> bool {
    out.clear();
    let Some(value) = item.as_object().and_then(|object| object.get(field)) else {
        out.push(b'u');
        return true;
    };
    match value {
        Value::Null => out.push(b'z'),
        Value::Bool(true) => out.push(b't'),
        Value::Bool(false) => out.push(b'f'),
        Value::Number(number) => {
            // Every JSON number is finite; integers beyond 2^53 round as JavaScript rounds them.
            let float = number.as_f64().unwrap_or(0.0);
            let float = if float == 0.0 { 0.0 } else { float };
            out.push(b'n');
            out.extend_from_slice(&float.to_bits().to_le_bytes());
        }
        Value::String(text) => {
            out.push(b's');
            out.extend_from_slice(text.as_bytes());
        }
        Value::Array(_) | Value::Object(_) => return false,
    }
    true
}

/// Key → position of the key's last occurrence in the array.
#[derive(Default)]
struct KeyIndex {
    positions: HashMap<Box<[u8]>, usize>,
    /// Items whose key also occurs later in the array (only a `set`, or an initial value,
    /// brings them). While it is 0, a delete never has to look for an earlier occurrence.
    shadowed: usize,
    key: Vec<u8>,
    probe: Vec<u8>,
}

impl KeyIndex {
    fn clear(&mut self) {
        self.positions.clear();
        self.shadowed = 0;
    }

    fn rebuild(&mut self, field: &str, items: &[Value]) {
        self.clear();
        for (position, item) in items.iter().enumerate() {
            if !encode_key(item, field, &mut self.key) {
                continue;
            }
            if let Some(slot) = self.positions.get_mut(&self.key[..]) {
                *slot = position;
                self.shadowed += 1;
            } else {
                self.positions.insert(self.key[..].into(), position);
            }
        }
    }

    /// Replaces the item with `data`'s key, or adds `data` (first when `front`).
    fn upsert(&mut self, field: &str, items: &mut Vec<Value>, data: Value, front: bool) {
        let indexable = encode_key(&data, field, &mut self.key);
        if indexable
            && let Some(&position) = self.positions.get(&self.key[..])
            && let Some(slot) = items.get_mut(position)
        {
            *slot = data;
            return;
        }
        if front {
            for position in self.positions.values_mut() {
                *position += 1;
            }
            items.insert(0, data);
            if indexable {
                self.positions.insert(self.key[..].into(), 0);
            }
        } else {
            if indexable {
                self.positions.insert(self.key[..].into(), items.len());
            }
            items.push(data);
        }
    }

    /// Replaces the item with `data`'s key; an unknown key changes nothing.
    fn update(&mut self, field: &str, items: &mut [Value], data: Value) {
        if encode_key(&data, field, &mut self.key)
            && let Some(&position) = self.positions.get(&self.key[..])
            && let Some(slot) = items.get_mut(position)
        {
            *slot = data;
        }
    }

    /// Removes the item with `data`'s key; an unknown key changes nothing.
    fn remove(&mut self, field: &str, items: &mut Vec<Value>, data: &Value) {
        if !encode_key(data, field, &mut self.key) {
            return;
        }
        let Some(removed) = self.positions.remove(&self.key[..]) else {
            return;
        };
        if removed >= items.len() {
            return;
        }
        items.remove(removed);
        if removed < items.len() {
            // Branch-free: the table is in hash order, so a branch would be mispredicted
            // about half the time (measured 4x slower at 100,000 items).
            for position in self.positions.values_mut() {
                *position -= usize::from(*position > removed);
            }
        }
        if self.shadowed > 0 {
            // The removed item was the key's last occurrence; an earlier one takes over.
            for earlier in (0..removed).rev() {
                if encode_key(&items[earlier], field, &mut self.probe) && self.probe == self.key {
                    self.positions.insert(self.key[..].into(), earlier);
                    self.shadowed -= 1;
                    break;
                }
            }
        }
    }
}

/// A stream's value and what it takes to merge events into it.
pub struct MergeState {
    options: MergeOptions,
    value: Value,
    index: KeyIndex,
}

impl MergeState {
    /// Starts from `initial` (usually the stream's initial data). A non-array value is kept
    /// as it is until an event arrives; then every strategy but `set` starts from `[]`.
    pub fn new(options: MergeOptions, initial: Value) -> Self {
        let mut state = Self {
            options,
            value: Value::Null,
            index: KeyIndex::default(),
        };
        state.set_value(initial);
        state
    }

    pub fn options(&self) -> &MergeOptions {
        &self.options
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Consumes the state, keeping only the value.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// Replaces the whole value (a fresh stream response, a rollback) and rebuilds the index.
    pub fn set_value(&mut self, value: Value) {
        self.value = value;
        match (key_field(&self.options), &self.value) {
            (Some(field), Value::Array(items)) => self.index.rebuild(field, items),
            _ => self.index.clear(),
        }
    }

    /// [`set_value`](Self::set_value) from JSON text; on an error the value is unchanged.
    pub fn set_value_json(&mut self, json: &str) -> Result<(), serde_json::Error> {
        self.set_value(serde_json::from_str(json)?);
        Ok(())
    }

    /// The value as JSON text, object keys in their original order (serde_json's
    /// `preserve_order` feature is on for the workspace).
    pub fn to_json(&self) -> String {
        self.value.to_string()
    }

    /// [`apply`](Self::apply) with the data as JSON text (what the Node binding receives);
    /// on an error nothing is applied.
    pub fn apply_json(&mut self, event: &str, data_json: &str) -> Result<(), serde_json::Error> {
        self.apply(event, serde_json::from_str(data_json)?);
        Ok(())
    }

    /// Merges one event. Events a strategy does not know change nothing (beyond turning a
    /// non-array value into `[]` for the array strategies).
    pub fn apply(&mut self, event: &str, data: Value) {
        let strategy = self.options.strategy;
        if strategy == Strategy::Set {
            self.value = data;
            return;
        }
        if (strategy == Strategy::Presence || strategy == Strategy::Cursor) && event == "set" {
            self.set_value(data);
            return;
        }
        if !self.value.is_array() {
            self.value = Value::Array(Vec::new());
            self.index.clear();
        }
        let Value::Array(items) = &mut self.value else {
            return;
        };
        let index = &mut self.index;
        match (strategy, event) {
            (Strategy::Latest, _) => {
                items.push(data);
                if items.len() > self.options.max {
                    items.drain(..items.len() - self.options.max);
                }
            }
            (Strategy::Crud, "created") => {
                index.upsert(&self.options.key, items, data, self.options.prepend)
            }
            (Strategy::Crud, "updated") => index.update(&self.options.key, items, data),
            (Strategy::Crud, "deleted") => index.remove(&self.options.key, items, &data),
            (Strategy::Presence, "join") | (Strategy::Cursor, "update") => {
                index.upsert("key", items, data, false)
            }
            (Strategy::Presence, "leave") | (Strategy::Cursor, "remove") => {
                index.remove("key", items, &data)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn crud(initial: Value) -> MergeState {
        MergeState::new(MergeOptions::default(), initial)
    }

    fn ids(state: &MergeState) -> Vec<i64> {
        state
            .value()
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_i64().unwrap())
            .collect()
    }

    /// Every indexed position holds an item with that key, and every key present is indexed.
    fn assert_index_consistent(state: &MergeState) {
        let field = key_field(&state.options).unwrap();
        let items = state.value().as_array().unwrap();
        let mut expected = KeyIndex::default();
        expected.rebuild(field, items);
        assert_eq!(state.index.positions, expected.positions);
        assert_eq!(state.index.shadowed, expected.shadowed);
    }

    fn items(n: i64) -> Value {
        Value::Array((0..n).map(|id| json!({ "id": id, "v": 0 })).collect())
    }

    #[test]
    fn strategies_parse_from_their_javascript_names() {
        for strategy in [
            Strategy::Crud,
            Strategy::Latest,
            Strategy::Set,
            Strategy::Presence,
            Strategy::Cursor,
        ] {
            assert_eq!(strategy.name().parse::<Strategy>(), Ok(strategy));
        }
        assert_eq!(
            "CRUD".parse::<Strategy>(),
            Err(MergeOptionsError::UnknownStrategy("CRUD".into()))
        );
    }

    #[test]
    fn delete_in_the_middle_keeps_later_items_addressable() {
        let mut state = crud(items(10));
        state.apply("deleted", json!({ "id": 4 }));
        state.apply("updated", json!({ "id": 7, "v": 1 }));
        state.apply("updated", json!({ "id": 9, "v": 1 }));
        assert_eq!(ids(&state), [0, 1, 2, 3, 5, 6, 7, 8, 9]);
        assert_eq!(state.value()[6], json!({ "id": 7, "v": 1 }));
        assert_eq!(state.value()[8], json!({ "id": 9, "v": 1 }));
        assert_index_consistent(&state);
    }

    #[test]
    fn deleting_the_first_and_last_items() {
        let mut state = crud(items(5));
        state.apply("deleted", json!({ "id": 0 }));
        state.apply("deleted", json!({ "id": 4 }));
        assert_eq!(ids(&state), [1, 2, 3]);
        assert_index_consistent(&state);
        state.apply("created", json!({ "id": 4 }));
        assert_eq!(ids(&state), [1, 2, 3, 4]);
        assert_index_consistent(&state);
    }

    #[test]
    fn prepend_shifts_every_position() {
        let mut state = MergeState::new(
            MergeOptions {
                prepend: true,
                ..MergeOptions::default()
            },
            items(3),
        );
        state.apply("created", json!({ "id": 10 }));
        state.apply("created", json!({ "id": 11 }));
        state.apply("created", json!({ "id": 1, "v": 1 }));
        assert_eq!(ids(&state), [11, 10, 0, 1, 2]);
        assert_eq!(state.value()[3], json!({ "id": 1, "v": 1 }));
        state.apply("deleted", json!({ "id": 10 }));
        state.apply("updated", json!({ "id": 2, "v": 2 }));
        assert_eq!(ids(&state), [11, 0, 1, 2]);
        assert_eq!(state.value()[3], json!({ "id": 2, "v": 2 }));
        assert_index_consistent(&state);
    }

    #[test]
    fn duplicate_keys_promote_the_earlier_item_after_a_delete() {
        let mut state = MergeState::new(
            MergeOptions {
                strategy: Strategy::Presence,
                ..MergeOptions::default()
            },
            json!([
                { "key": "a", "n": 1 },
                { "key": "b" },
                { "key": "a", "n": 2 },
                { "key": "c" }
            ]),
        );
        assert_eq!(state.index.shadowed, 1);
        state.apply("join", json!({ "key": "a", "n": 3 }));
        assert_eq!(state.value()[2], json!({ "key": "a", "n": 3 }));
        state.apply("leave", json!({ "key": "a" }));
        assert_index_consistent(&state);
        assert_eq!(state.index.shadowed, 0);
        state.apply("join", json!({ "key": "a", "n": 4 }));
        assert_eq!(
            state.value(),
            &json!([{ "key": "a", "n": 4 }, { "key": "b" }, { "key": "c" }])
        );
        state.apply("leave", json!({ "key": "a" }));
        assert_eq!(state.value(), &json!([{ "key": "b" }, { "key": "c" }]));
        assert_index_consistent(&state);
    }

    #[test]
    fn keys_follow_javascript_map_semantics() {
        let mut state = crud(json!([
            { "id": 1, "v": "number" },
            { "id": "1", "v": "string" },
            { "id": null, "v": "null" },
            { "v": "missing" },
            { "id": 0, "v": "zero" },
            { "id": [1], "v": "array" }
        ]));
        state.apply("updated", json!({ "id": 1.0, "v": "number 2" }));
        state.apply("updated", json!({ "id": "1", "v": "string 2" }));
        state.apply("updated", json!({ "id": null, "v": "null 2" }));
        state.apply("updated", json!({ "v": "missing 2" }));
        state.apply("updated", json!({ "id": -0.0, "v": "zero 2" }));
        state.apply("updated", json!({ "id": [1], "v": "array 2" }));
        let values: Vec<&str> = state
            .value()
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["v"].as_str().unwrap())
            .collect();
        assert_eq!(
            values,
            [
                "number 2",
                "string 2",
                "null 2",
                "missing 2",
                "zero 2",
                "array"
            ]
        );
    }

    #[test]
    fn random_operations_keep_the_index_consistent() {
        // A small deterministic generator (no rand dependency): xorshift64.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        for prepend in [false, true] {
            let mut state = MergeState::new(
                MergeOptions {
                    prepend,
                    ..MergeOptions::default()
                },
                json!([{ "id": 3 }, { "id": 5 }, { "id": 3, "dup": true }, { "id": 8 }]),
            );
            for step in 0..2_000 {
                let id = next(24);
                let event = ["created", "updated", "deleted"][next(3) as usize];
                state.apply(event, json!({ "id": id, "step": step }));
                assert_index_consistent(&state);
            }
        }
    }

    #[test]
    fn non_array_values_reset_only_when_an_event_arrives() {
        let mut state = crud(json!({ "not": "an array" }));
        assert_eq!(state.value(), &json!({ "not": "an array" }));
        state.apply("whatever", Value::Null);
        assert_eq!(state.value(), &json!([]));
        let mut set = MergeState::new(
            MergeOptions {
                strategy: Strategy::Set,
                ..MergeOptions::default()
            },
            json!(null),
        );
        set.apply("anything", json!(42));
        assert_eq!(set.to_json(), "42");
    }

    #[test]
    fn json_keeps_object_key_order() {
        let mut state = crud(json!([]));
        state
            .apply_json("created", r#"{"key":"a","id":1,"data":{"z":1,"a":2}}"#)
            .unwrap();
        assert_eq!(
            state.to_json(),
            r#"[{"key":"a","id":1,"data":{"z":1,"a":2}}]"#
        );
    }
}
