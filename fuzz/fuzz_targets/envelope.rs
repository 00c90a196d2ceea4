//! Any topic and event produce an envelope that parses back to the same names, with the
//! fields in the reference order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_core::envelope;

fuzz_target!(|input: (String, String)| {
    let (topic, event) = input;
    let text = envelope::build(&topic, &event, Some("[1,{\"a\":null}]"));
    assert!(text.starts_with("{\"topic\":"));
    let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(value["topic"].as_str(), Some(topic.as_str()));
    assert_eq!(value["event"].as_str(), Some(event.as_str()));
    assert_eq!(value["data"], serde_json::json!([1, {"a": null}]));
});
