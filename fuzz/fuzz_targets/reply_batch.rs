//! Reading a reply batch never panics, whatever the bytes; every frame it yields is one
//! complete unmasked text frame whose header states its payload's length, and a string
//! tail's payload ends with the JSON literal of that string.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_core::reply_batch;

/// The payload of a final text frame, checked against the length in its header.
fn payload(frame: &[u8]) -> &[u8] {
    assert_eq!(frame[0], 0x81, "a final text frame");
    let (len, header) = match frame[1] {
        126 => (u16::from_be_bytes([frame[2], frame[3]]) as usize, 4),
        127 => (
            u64::from_be_bytes(frame[2..10].try_into().unwrap()) as usize,
            10,
        ),
        short => (short as usize, 2),
    };
    assert_eq!(frame.len(), header + len);
    &frame[header..]
}

fuzz_target!(|data: &[u8]| {
    for (_, frame) in reply_batch::frames(data) {
        payload(&frame);
    }
    // A one-record batch whose string tail is `data`: the frame is the head (`[`), the
    // string's JSON literal and `}}`.
    if let Ok(text) = std::str::from_utf8(data) {
        let mut batch = 1f64.to_le_bytes().to_vec();
        batch
            .extend_from_slice(&((text.len() as u32 + 1) | reply_batch::STRING_TAIL).to_le_bytes());
        batch.extend_from_slice(&(text.len() as u32).to_le_bytes());
        batch.push(b'[');
        batch.extend_from_slice(data);
        let frames: Vec<_> = reply_batch::frames(&batch).collect();
        assert_eq!(frames.len(), 1);
        let body = payload(&frames[0].1);
        assert_eq!(body[0], b'[');
        let (literal, end) = body[1..].split_at(body.len() - 3);
        assert_eq!(end, b"}}");
        assert_eq!(serde_json::from_slice::<String>(literal).unwrap(), text);
    }
});
