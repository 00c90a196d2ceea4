//! The binary RPC frame decoder never panics, and what it accepts re-encodes to the same
//! bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_core::binary_rpc;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = binary_rpc::split(data) {
        let again = binary_rpc::encode(frame.header, frame.payload).expect("split header fits");
        assert_eq!(again, data);
    }
    if let Ok((header, payload)) = binary_rpc::decode(data) {
        assert!(payload.len() <= data.len());
        let _ = (header.rpc.len(), header.id.len(), header.args.map(|a| a.get().len()));
    }
});
