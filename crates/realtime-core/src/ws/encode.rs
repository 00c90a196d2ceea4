//! Server frames, built once: the header (tungstenite's `FrameHeader`, never masked) and the
//! payload share one allocation, and the resulting `Bytes` can sit in any number of
//! outboxes. A published envelope is therefore framed once for all its subscribers.

use bytes::Bytes;
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// The longest server frame header: 2 bytes plus a 64-bit length.
pub const MAX_HEADER_LEN: usize = 10;

pub const TEXT: OpCode = OpCode::Data(Data::Text);
pub const BINARY: OpCode = OpCode::Data(Data::Binary);

fn header(opcode: OpCode) -> FrameHeader {
    FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: None,
    }
}

/// A frame of `len` payload bytes that `fill` appends (exactly `len` of them).
pub fn frame_with(opcode: OpCode, len: usize, fill: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    let header = header(opcode);
    let mut out = Vec::with_capacity(header.len(len as u64) + len);
    header
        .format(len as u64, &mut out)
        .expect("writing to a Vec cannot fail");
    let start = out.len();
    fill(&mut out);
    debug_assert_eq!(out.len() - start, len, "frame payload length");
    Bytes::from(out)
}

/// A frame holding a copy of `payload`.
pub fn frame(opcode: OpCode, payload: &[u8]) -> Bytes {
    frame_with(opcode, payload.len(), |out| out.extend_from_slice(payload))
}

/// A close frame with `code` and `reason` (the caller keeps the reason within 123 bytes).
pub fn close(code: u16, reason: &str) -> Bytes {
    frame_with(OpCode::Control(Control::Close), 2 + reason.len(), |out| {
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(reason.as_bytes());
    })
}

/// A close frame without a code (the answer to one that had none).
pub fn close_empty() -> Bytes {
    Bytes::from_static(&[0x88, 0x00])
}

/// An empty ping.
pub fn ping() -> Bytes {
    Bytes::from_static(&[0x89, 0x00])
}

/// The pong answering a ping with `payload` (at most 125 bytes, checked by the decoder).
pub fn pong(payload: &[u8]) -> Bytes {
    frame(OpCode::Control(Control::Pong), payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_use_the_shortest_length_form() {
        assert_eq!(&frame(TEXT, b"hi")[..], &[0x81, 2, b'h', b'i']);
        let medium = frame(BINARY, &[0; 126]);
        assert_eq!(&medium[..4], &[0x82, 126, 0, 126]);
        assert_eq!(medium.len(), 4 + 126);
        let large = frame(BINARY, &vec![0; 65536]);
        assert_eq!(&large[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn control_frames() {
        assert_eq!(
            &close(1001, "bye")[..],
            &[0x88, 5, 0x03, 0xe9, b'b', b'y', b'e']
        );
        assert_eq!(&ping()[..], &[0x89, 0]);
        assert_eq!(&pong(b"x")[..], &[0x8a, 1, b'x']);
    }
}
