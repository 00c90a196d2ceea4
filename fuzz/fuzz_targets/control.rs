//! Sorting inbound frames never panics; a recognized control frame is valid JSON whose
//! `type` and `topic` match what was recognized.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_core::control::{Inbound, classify};

fuzz_target!(|data: &[u8]| {
    for is_binary in [false, true] {
        match classify(data, is_binary) {
            Inbound::Subscribe(topic) | Inbound::Unsubscribe(topic) => {
                assert!(!is_binary);
                let value: serde_json::Value = serde_json::from_slice(data).expect("valid JSON");
                assert_eq!(value["topic"].as_str(), Some(topic.as_ref()));
            }
            Inbound::Message(_) => {}
        }
    }
});
