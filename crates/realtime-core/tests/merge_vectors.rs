//! The merge engine against the vectors shared with the JavaScript engine
//! (`__test__/vectors/merge.json`, also run by `__test__/merge.spec.js`).

use realtime_core::merge::{MergeOptions, MergeState};
use serde_json::Value;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../__test__/vectors/merge.json"
));

fn options(name: &str, json: &Value) -> MergeOptions {
    let mut options = MergeOptions::default();
    if let Some(merge) = json.get("merge") {
        options.strategy = merge
            .as_str()
            .unwrap_or_else(|| panic!("{name}: merge must be a string"))
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    if let Some(key) = json.get("key") {
        options.key = key.as_str().expect("key is a string").to_owned();
    }
    if let Some(prepend) = json.get("prepend") {
        options.prepend = prepend.as_bool().expect("prepend is a boolean");
    }
    if let Some(max) = json.get("max") {
        options.max = max.as_u64().expect("max is a positive integer") as usize;
    }
    options
}

#[test]
fn every_vector_gives_the_expected_value() {
    let vectors: Vec<Value> = serde_json::from_str(VECTORS).expect("merge.json is valid JSON");
    assert!(vectors.len() >= 30, "only {} vectors", vectors.len());
    let mut failures = Vec::new();
    for vector in &vectors {
        let name = vector["name"].as_str().expect("every vector has a name");
        let mut state =
            MergeState::new(options(name, &vector["options"]), vector["initial"].clone());
        for event in vector["events"].as_array().expect("events is an array") {
            let event_name = event[0].as_str().expect("an event name is a string");
            state.apply(event_name, event[1].clone());
        }
        if state.value() != &vector["expected"] {
            failures.push(format!(
                "{name}\n    expected {}\n    got      {}",
                vector["expected"],
                state.to_json()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n  {}",
        failures.len(),
        vectors.len(),
        failures.join("\n  ")
    );
}
