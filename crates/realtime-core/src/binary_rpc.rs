//! The binary RPC frame (reference-protocol §4.1 step 2, §4.7), without I/O.
//!
//! ```text
//! 0x00 | header length (u16, big-endian) | header (UTF-8 JSON) | payload (raw bytes)
//! ```
//!
//! The header is `{"rpc":"module/fn","id":"k3f9e","args":[…]}` with `args` omitted when empty.
//! [`split`] is the cheap structural check (no allocation, no JSON); [`decode`] also parses
//! the header. Both reject every malformed frame with an error instead of panicking, which
//! the fuzz target in `fuzz/` checks.

use serde::Deserialize;
use thiserror::Error;

/// First byte of every binary RPC frame.
pub const MARKER: u8 = 0x00;
/// Bytes before the header: marker plus the u16 length.
pub const PREFIX_LEN: usize = 3;
/// Largest header the u16 length can describe.
pub const MAX_HEADER_LEN: usize = u16::MAX as usize;

/// Why a byte string is not a binary RPC frame.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BinaryRpcError {
    #[error("frame shorter than 4 bytes")]
    TooShort,
    #[error("first byte is {0:#04x}, not the 0x00 marker")]
    NoMarker(u8),
    #[error("header length is zero")]
    EmptyHeader,
    #[error("header length {header_len} runs past the end of a {frame_len}-byte frame")]
    Truncated { header_len: usize, frame_len: usize },
    #[error("header is not a JSON object with string `rpc` and `id`: {0}")]
    BadHeader(String),
    #[error("header of {0} bytes does not fit the u16 length field")]
    HeaderTooLong(usize),
}

/// A structurally valid frame, borrowing from the input.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Frame<'a> {
    /// The JSON header bytes (not yet parsed).
    pub header: &'a [u8],
    /// Everything after the header; may be empty.
    pub payload: &'a [u8],
}

/// The parsed header. `args` stays raw JSON so the caller decides how to materialize it.
#[derive(Debug, Deserialize)]
pub struct Header<'a> {
    #[serde(borrow)]
    pub rpc: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub id: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    pub args: Option<&'a serde_json::value::RawValue>,
}

/// Splits a frame into header and payload without parsing the header.
pub fn split(buf: &[u8]) -> Result<Frame<'_>, BinaryRpcError> {
    if buf.len() < PREFIX_LEN + 1 {
        return Err(BinaryRpcError::TooShort);
    }
    if buf[0] != MARKER {
        return Err(BinaryRpcError::NoMarker(buf[0]));
    }
    let header_len = u16::from_be_bytes([buf[1], buf[2]]) as usize;
    if header_len == 0 {
        return Err(BinaryRpcError::EmptyHeader);
    }
    let header_end = PREFIX_LEN + header_len;
    if header_end > buf.len() {
        return Err(BinaryRpcError::Truncated {
            header_len,
            frame_len: buf.len(),
        });
    }
    Ok(Frame {
        header: &buf[PREFIX_LEN..header_end],
        payload: &buf[header_end..],
    })
}

/// Splits a frame and parses its header.
pub fn decode(buf: &[u8]) -> Result<(Header<'_>, &[u8]), BinaryRpcError> {
    let frame = split(buf)?;
    let header: Header<'_> = serde_json::from_slice(frame.header)
        .map_err(|e| BinaryRpcError::BadHeader(e.to_string()))?;
    Ok((header, frame.payload))
}

/// Builds a frame from a JSON header and a payload.
pub fn encode(header_json: &[u8], payload: &[u8]) -> Result<Vec<u8>, BinaryRpcError> {
    if header_json.is_empty() {
        return Err(BinaryRpcError::EmptyHeader);
    }
    if header_json.len() > MAX_HEADER_LEN {
        return Err(BinaryRpcError::HeaderTooLong(header_json.len()));
    }
    let mut out = Vec::with_capacity(PREFIX_LEN + header_json.len() + payload.len());
    out.push(MARKER);
    out.extend_from_slice(&(header_json.len() as u16).to_be_bytes());
    out.extend_from_slice(header_json);
    out.extend_from_slice(payload);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &[u8] = br#"{"rpc":"upload/avatar","id":"k3f9e","args":["a.png"]}"#;

    #[test]
    fn decodes_a_reference_frame() {
        let mut frame = vec![0x00, 0x00, HEADER.len() as u8];
        frame.extend_from_slice(HEADER);
        frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let (header, payload) = decode(&frame).unwrap();
        assert_eq!(header.rpc, "upload/avatar");
        assert_eq!(header.id, "k3f9e");
        assert_eq!(header.args.unwrap().get(), r#"["a.png"]"#);
        assert_eq!(payload, &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn empty_payload_and_absent_args() {
        let header = br#"{"rpc":"a/b","id":"x"}"#;
        let frame = encode(header, &[]).unwrap();
        assert_eq!(&frame[..3], &[0x00, 0x00, header.len() as u8]);
        let (h, payload) = decode(&frame).unwrap();
        assert!(h.args.is_none());
        assert!(payload.is_empty());
    }

    #[test]
    fn length_is_big_endian() {
        let header = vec![b' '; 0x0102];
        let frame = encode(&header, b"p").unwrap();
        assert_eq!(&frame[..3], &[0x00, 0x01, 0x02]);
        assert_eq!(split(&frame).unwrap().payload, b"p");
    }

    #[test]
    fn rejects_malformed_frames() {
        assert_eq!(split(&[0, 0, 1]), Err(BinaryRpcError::TooShort));
        assert_eq!(split(&[0x7b, 0, 1, 0]), Err(BinaryRpcError::NoMarker(0x7b)));
        assert_eq!(split(&[0, 0, 0, 0]), Err(BinaryRpcError::EmptyHeader));
        assert_eq!(
            split(&[0, 0, 5, b'{']),
            Err(BinaryRpcError::Truncated {
                header_len: 5,
                frame_len: 4
            })
        );
        assert!(matches!(
            decode(&[0, 0, 2, b'{', b'}']),
            Err(BinaryRpcError::BadHeader(_))
        ));
        assert!(matches!(
            decode(&encode(br#"{"rpc":1,"id":"x"}"#, &[]).unwrap()),
            Err(BinaryRpcError::BadHeader(_))
        ));
        assert_eq!(
            encode(&vec![b' '; 70_000], &[]),
            Err(BinaryRpcError::HeaderTooLong(70_000))
        );
    }

    #[test]
    fn escaped_strings_in_header() {
        let header = br#"{"rpc":"a/b","id":"q\"1"}"#;
        let frame = encode(header, &[]).unwrap();
        let (h, _) = decode(&frame).unwrap();
        assert_eq!(h.id, "q\"1");
    }
}
