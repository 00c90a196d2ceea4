//! The origin policy never panics on any header values, and an origin built from the host it
//! is compared with is always same-origin.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_core::origin::{OriginPolicy, RequestOrigin};

fuzz_target!(|input: (String, String, Option<String>, Option<String>)| {
    let (origin, host, proto, port) = input;
    let request = RequestOrigin {
        origin: Some(&origin),
        host: Some(&host),
        forwarded_proto: proto.as_deref(),
        forwarded_port: port.as_deref(),
        tls: false,
    };
    let _ = OriginPolicy::SameOrigin.allows(&request);
    let _ = OriginPolicy::List(vec![origin.clone(), host.clone()]).allows(&request);
    let _ = OriginPolicy::List(vec![origin.clone()]).validate();
    // A plain host[:port] made of safe characters is same-origin with its own http origin.
    if !host.is_empty()
        && host.len() < 200
        && host.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.')
        && !host.starts_with('.')
    {
        let own = format!("http://{host}");
        let plain = RequestOrigin {
            origin: Some(&own),
            host: Some(&host),
            ..Default::default()
        };
        assert!(OriginPolicy::SameOrigin.allows(&plain), "{own} vs {host}");
    }
});
