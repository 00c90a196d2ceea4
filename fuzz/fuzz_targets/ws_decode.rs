//! The WebSocket frame decoder never panics, and what it decodes does not depend on how the
//! bytes were cut into reads: decoding the whole input at once and decoding it fed in chunks
//! (kept partial frames, as the connection does) give the same messages and the same error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use realtime_core::ws::{DecodeError, Decoded, Decoder, Inbound};

/// Decodes `input` as it arrives in reads of `chunk` bytes.
fn decode(input: &[u8], chunk: usize) -> (Vec<Inbound>, Option<DecodeError>) {
    let mut decoder = Decoder::new(4096);
    let mut held: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        held.extend_from_slice(piece);
        let mut at = 0;
        loop {
            match decoder.decode(&mut held[at..]) {
                Ok(Decoded::Incomplete { needed }) => {
                    if let Some(needed) = needed {
                        assert!(needed > held.len() - at, "incomplete but long enough");
                    }
                    break;
                }
                Ok(Decoded::Frame { used, inbound }) => {
                    assert!(used > 0 && used <= held.len() - at);
                    at += used;
                    out.extend(inbound);
                }
                Err(error) => return (out, Some(error)),
            }
        }
        held.drain(..at);
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, input)) = data.split_first() else {
        return;
    };
    let whole = decode(input, input.len());
    let chopped = decode(input, usize::from(chunk % 17) + 1);
    assert_eq!(whole, chopped);
});
