//! The plain-call recognizer never panics, and when it delimits a call the parts mean what a
//! full JSON parse of the message means: the same path, id and arguments, and the arguments
//! parse exactly when the whole message does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_core::rpc_call;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some(shape) = rpc_call::recognize(data) else {
        return;
    };
    let path = &data[8..8 + shape.path_len as usize];
    let id_start = 8 + shape.path_len as usize + 8;
    let id = &data[id_start..id_start + shape.id_len as usize];
    let args = serde_json::from_slice::<Value>(&data[shape.args_start()..data.len() - 1]);
    let whole = serde_json::from_slice::<Value>(data);
    assert_eq!(args.is_ok(), whole.is_ok());
    if let (Ok(args), Ok(Value::Object(whole))) = (args, whole) {
        assert_eq!(whole.len(), 3);
        assert_eq!(whole["rpc"].as_str().map(str::as_bytes), Some(path));
        assert_eq!(whole["id"].as_str().map(str::as_bytes), Some(id));
        assert_eq!(whole["args"], args);
    }
});
