//! Client frames → messages. No I/O and no buffering of its own beyond a fragmented
//! message in progress: the caller hands [`Decoder::decode`] the bytes it has, and learns
//! either that a frame is not complete yet (and how long it will be, once the header is in),
//! or how many bytes one frame used and what it completed.
//!
//! Checks, each mapped to the close code the connection answers with ([`DecodeError`]):
//! client frames must be masked; no reserved bits (no extension is negotiated); control
//! frames are final and at most 125 bytes; continuations only inside a fragmented message
//! and no new message inside one; close codes must be ones a peer may send and close reasons
//! UTF-8; text must be UTF-8 (checked per fragment as it arrives, so a bad sequence fails at
//! once); a message longer than the limit fails as soon as its header says so.

use std::io::Cursor;

use bytes::Bytes;
use thiserror::Error;
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};

/// A whole message or control frame from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    Text(Bytes),
    Binary(Bytes),
    /// Must be answered with a pong carrying the same payload (at most 125 bytes).
    Ping(Bytes),
    Pong,
    /// The peer's close frame: its code and reason, or `None` for an empty close frame.
    Close(Option<(u16, String)>),
}

/// What one call to [`Decoder::decode`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Not a whole frame yet. `needed` is the frame's full length once the header is in.
    Incomplete { needed: Option<usize> },
    /// One frame used `used` bytes; `inbound` is what it completed, if anything (a
    /// fragment in the middle of a message completes nothing).
    Frame {
        used: usize,
        inbound: Option<Inbound>,
    },
}

/// A frame the server refuses; the connection closes with [`DecodeError::close_code`].
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    #[error("invalid UTF-8")]
    Utf8,
    #[error("message too big")]
    TooBig,
}

impl DecodeError {
    /// RFC 6455 §7.4.1: 1002 protocol error, 1007 inconsistent data, 1009 too big.
    pub fn close_code(self) -> u16 {
        match self {
            DecodeError::Protocol(_) => 1002,
            DecodeError::Utf8 => 1007,
            DecodeError::TooBig => 1009,
        }
    }

    /// The close reason sent with the code.
    pub fn reason(self) -> &'static str {
        match self {
            DecodeError::Protocol(_) => "Protocol error",
            DecodeError::Utf8 => "Invalid UTF-8",
            DecodeError::TooBig => "Message too big",
        }
    }
}

/// A fragmented message being assembled.
#[derive(Debug)]
struct Fragments {
    text: bool,
    data: Vec<u8>,
    /// Bytes of `data` known to be complete, valid UTF-8 (text only).
    checked: usize,
}

/// The per-connection decoding state: only a fragmented message in progress.
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    /// Boxed: a socket that is not in the middle of a fragmented message holds nothing.
    fragments: Option<Box<Fragments>>,
}

impl Decoder {
    /// `max_message`: the largest message accepted, fragments together (`maxPayloadLength`).
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            fragments: None,
        }
    }

    /// True when no fragmented message is in progress (nothing held).
    pub fn is_idle(&self) -> bool {
        self.fragments.is_none()
    }

    /// Decodes at most one frame from the start of `input`, unmasking its payload in place.
    pub fn decode(&mut self, input: &mut [u8]) -> Result<Decoded, DecodeError> {
        let mut cursor = Cursor::new(&input[..]);
        let Some((header, length)) = FrameHeader::parse(&mut cursor)
            .map_err(|_| DecodeError::Protocol("reserved opcode"))?
        else {
            return Ok(Decoded::Incomplete { needed: None });
        };
        let header_len = cursor.position() as usize;
        self.check_header(&header, length)?;
        // `check_header` bounded `length` by `max_message` (data) or 125 (control).
        let total = header_len + length as usize;
        if input.len() < total {
            return Ok(Decoded::Incomplete {
                needed: Some(total),
            });
        }
        let payload = &mut input[header_len..total];
        if let Some(mask) = header.mask {
            unmask(payload, mask);
        }
        let inbound = self.complete(&header, payload)?;
        Ok(Decoded::Frame {
            used: total,
            inbound,
        })
    }

    fn check_header(&self, header: &FrameHeader, length: u64) -> Result<(), DecodeError> {
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(DecodeError::Protocol("reserved bits set"));
        }
        if header.mask.is_none() {
            return Err(DecodeError::Protocol("unmasked client frame"));
        }
        match header.opcode {
            OpCode::Control(_) => {
                if !header.is_final {
                    return Err(DecodeError::Protocol("fragmented control frame"));
                }
                if length > 125 {
                    return Err(DecodeError::Protocol("control frame over 125 bytes"));
                }
            }
            OpCode::Data(data) => {
                match (data, &self.fragments) {
                    (Data::Continue, None) => {
                        return Err(DecodeError::Protocol("continuation without a message"));
                    }
                    (Data::Text | Data::Binary, Some(_)) => {
                        return Err(DecodeError::Protocol("new message inside a fragmented one"));
                    }
                    _ => {}
                }
                let held = self.fragments.as_ref().map_or(0, |f| f.data.len()) as u64;
                if held.saturating_add(length) > self.max_message as u64 {
                    return Err(DecodeError::TooBig);
                }
            }
        }
        Ok(())
    }

    fn complete(
        &mut self,
        header: &FrameHeader,
        payload: &[u8],
    ) -> Result<Option<Inbound>, DecodeError> {
        let inbound = match header.opcode {
            OpCode::Data(Data::Text) if header.is_final => {
                std::str::from_utf8(payload).map_err(|_| DecodeError::Utf8)?;
                Inbound::Text(Bytes::copy_from_slice(payload))
            }
            OpCode::Data(Data::Binary) if header.is_final => {
                Inbound::Binary(Bytes::copy_from_slice(payload))
            }
            OpCode::Data(Data::Text | Data::Binary) => {
                let mut fragments = Fragments {
                    text: header.opcode == OpCode::Data(Data::Text),
                    data: payload.to_vec(),
                    checked: 0,
                };
                if fragments.text {
                    check_utf8(&fragments.data, &mut fragments.checked, false)?;
                }
                self.fragments = Some(Box::new(fragments));
                return Ok(None);
            }
            OpCode::Data(Data::Continue) => {
                let fragments = self.fragments.as_mut().expect("checked in check_header");
                fragments.data.extend_from_slice(payload);
                if fragments.text {
                    check_utf8(&fragments.data, &mut fragments.checked, header.is_final)?;
                }
                if !header.is_final {
                    return Ok(None);
                }
                let Fragments { text, data, .. } = *self.fragments.take().expect("present");
                if text {
                    Inbound::Text(Bytes::from(data))
                } else {
                    Inbound::Binary(Bytes::from(data))
                }
            }
            OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
                return Err(DecodeError::Protocol("reserved opcode"));
            }
            OpCode::Control(Control::Ping) => Inbound::Ping(Bytes::copy_from_slice(payload)),
            OpCode::Control(Control::Pong) => Inbound::Pong,
            OpCode::Control(Control::Close) => Inbound::Close(close_payload(payload)?),
        };
        Ok(Some(inbound))
    }
}

/// Code and reason of a close frame's payload (RFC 6455 §5.5.1, §7.4).
fn close_payload(payload: &[u8]) -> Result<Option<(u16, String)>, DecodeError> {
    match payload {
        [] => Ok(None),
        [_] => Err(DecodeError::Protocol("close frame with a 1-byte payload")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !CloseCode::from(code).is_allowed() {
                return Err(DecodeError::Protocol("close code a peer may not send"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| DecodeError::Utf8)?;
            Ok(Some((code, reason.to_string())))
        }
    }
}

/// Validates `data[checked..]` as UTF-8 and moves `checked` past what is complete. A
/// sequence cut at the end is fine until the message is final; an invalid one fails now.
fn check_utf8(data: &[u8], checked: &mut usize, is_final: bool) -> Result<(), DecodeError> {
    match std::str::from_utf8(&data[*checked..]) {
        Ok(_) => {
            *checked = data.len();
            Ok(())
        }
        Err(error) if error.error_len().is_none() && !is_final => {
            *checked += error.valid_up_to();
            Ok(())
        }
        Err(_) => Err(DecodeError::Utf8),
    }
}

/// XORs `payload` with the client's masking key (RFC 6455 §5.3), eight bytes at a time.
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = payload.chunks_exact_mut(8);
    for word in &mut words {
        let value = u64::from_ne_bytes((&*word).try_into().expect("8 bytes")) ^ wide;
        word.copy_from_slice(&value.to_ne_bytes());
    }
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A masked client frame, as a browser sends it.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&MASK);
        let mut masked = payload.to_vec();
        unmask(&mut masked, MASK);
        out.extend_from_slice(&masked);
        out
    }

    fn decode_all(decoder: &mut Decoder, mut input: Vec<u8>) -> Result<Vec<Inbound>, DecodeError> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < input.len() {
            match decoder.decode(&mut input[at..])? {
                Decoded::Incomplete { .. } => panic!("incomplete at {at}"),
                Decoded::Frame { used, inbound } => {
                    at += used;
                    out.extend(inbound);
                }
            }
        }
        Ok(out)
    }

    #[test]
    fn rfc_6455_masked_hello() {
        // RFC 6455 §5.7: a single-frame masked text message.
        let mut frame = vec![
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let mut decoder = Decoder::new(1024);
        assert_eq!(
            decoder.decode(&mut frame),
            Ok(Decoded::Frame {
                used: 11,
                inbound: Some(Inbound::Text(Bytes::from_static(b"Hello")))
            })
        );
    }

    #[test]
    fn incomplete_frames_say_how_long_they_will_be() {
        let frame = client_frame(0x82, &[7u8; 300]);
        let mut decoder = Decoder::new(1024);
        assert_eq!(
            decoder.decode(&mut frame[..1].to_vec()),
            Ok(Decoded::Incomplete { needed: None })
        );
        assert_eq!(
            decoder.decode(&mut frame[..10].to_vec()),
            Ok(Decoded::Incomplete { needed: Some(308) })
        );
        let Ok(Decoded::Frame {
            inbound: Some(Inbound::Binary(data)),
            ..
        }) = decoder.decode(&mut frame.clone())
        else {
            panic!("a whole frame");
        };
        assert_eq!(&data[..], &[7u8; 300][..]);
    }

    #[test]
    fn fragments_join_with_control_frames_between() {
        let mut input = client_frame(0x01, "Hé".as_bytes()); // text, not final
        input.extend(client_frame(0x89, b"ping!")); // ping in the middle
        input.extend(client_frame(0x00, b"llo ")); // continuation
        input.extend(client_frame(0x80, "wörld".as_bytes())); // final continuation
        let mut decoder = Decoder::new(1024);
        assert_eq!(
            decode_all(&mut decoder, input),
            Ok(vec![
                Inbound::Ping(Bytes::from_static(b"ping!")),
                Inbound::Text(Bytes::from("Héllo wörld")),
            ])
        );
        assert!(decoder.is_idle());
    }

    #[test]
    fn utf8_split_across_fragments_is_fine_but_invalid_fails_at_once() {
        let euro = "€".as_bytes(); // three bytes
        let mut input = client_frame(0x01, &euro[..1]);
        input.extend(client_frame(0x80, &euro[1..]));
        assert_eq!(
            decode_all(&mut Decoder::new(64), input),
            Ok(vec![Inbound::Text(Bytes::from("€"))])
        );
        // 0xff can never appear in UTF-8: the first fragment already fails.
        let mut decoder = Decoder::new(64);
        assert_eq!(
            decoder.decode(&mut client_frame(0x01, &[b'a', 0xff])),
            Err(DecodeError::Utf8)
        );
        // A sequence still cut when the message ends.
        let mut input = client_frame(0x01, b"ok");
        input.extend(client_frame(0x80, &euro[..2]));
        assert_eq!(
            decode_all(&mut Decoder::new(64), input),
            Err(DecodeError::Utf8)
        );
    }

    #[test]
    fn framing_violations_are_protocol_errors() {
        let cases: Vec<(Vec<u8>, DecodeError)> = vec![
            // Unmasked.
            (
                vec![0x81, 0x02, b'h', b'i'],
                DecodeError::Protocol("unmasked client frame"),
            ),
            // RSV1 without a negotiated extension.
            (
                client_frame(0xc1, b"x"),
                DecodeError::Protocol("reserved bits set"),
            ),
            // Reserved opcodes 3 and 11.
            (
                client_frame(0x83, b"x"),
                DecodeError::Protocol("reserved opcode"),
            ),
            (
                client_frame(0x8b, b"x"),
                DecodeError::Protocol("reserved opcode"),
            ),
            // A fragmented ping, and a 126-byte one.
            (
                client_frame(0x09, b"x"),
                DecodeError::Protocol("fragmented control frame"),
            ),
            (
                client_frame(0x89, &[0; 126]),
                DecodeError::Protocol("control frame over 125 bytes"),
            ),
            // Continuation first.
            (
                client_frame(0x80, b"x"),
                DecodeError::Protocol("continuation without a message"),
            ),
            // Close codes and payloads.
            (
                client_frame(0x88, &[0x03]),
                DecodeError::Protocol("close frame with a 1-byte payload"),
            ),
            (
                client_frame(0x88, &1005u16.to_be_bytes()),
                DecodeError::Protocol("close code a peer may not send"),
            ),
            (
                client_frame(0x88, &999u16.to_be_bytes()),
                DecodeError::Protocol("close code a peer may not send"),
            ),
            (client_frame(0x88, &[0x03, 0xe8, 0xff]), DecodeError::Utf8),
        ];
        for (mut frame, expected) in cases {
            assert_eq!(
                Decoder::new(64).decode(&mut frame),
                Err(expected),
                "{frame:02x?}"
            );
        }
        let mut decoder = Decoder::new(64);
        decoder.decode(&mut client_frame(0x01, b"a")).unwrap();
        assert_eq!(
            decoder.decode(&mut client_frame(0x81, b"b")),
            Err(DecodeError::Protocol("new message inside a fragmented one"))
        );
    }

    #[test]
    fn close_frames_carry_code_and_reason() {
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice("bye ü".as_bytes());
        assert_eq!(
            decode_all(&mut Decoder::new(64), client_frame(0x88, &payload)),
            Ok(vec![Inbound::Close(Some((1000, "bye ü".into())))])
        );
        assert_eq!(
            decode_all(&mut Decoder::new(64), client_frame(0x88, &[])),
            Ok(vec![Inbound::Close(None)])
        );
        for code in [1000u16, 1001, 1003, 1007, 1011, 3000, 4999] {
            let frame = client_frame(0x88, &code.to_be_bytes());
            assert!(decode_all(&mut Decoder::new(64), frame).is_ok(), "{code}");
        }
    }

    #[test]
    fn too_big_fails_from_the_header_alone() {
        let mut decoder = Decoder::new(100);
        // Header of a 2^40-byte frame, no payload: refused without waiting for it.
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&(1u64 << 40).to_be_bytes());
        header.extend_from_slice(&MASK);
        assert_eq!(decoder.decode(&mut header), Err(DecodeError::TooBig));
        // Fragments count together.
        let mut decoder = Decoder::new(100);
        decoder.decode(&mut client_frame(0x02, &[0; 60])).unwrap();
        assert_eq!(
            decoder.decode(&mut client_frame(0x80, &[0; 41])),
            Err(DecodeError::TooBig)
        );
        assert_eq!(
            decode_all(&mut Decoder::new(100), client_frame(0x82, &[1; 100])).map(|v| v.len()),
            Ok(1)
        );
    }

    #[test]
    fn unmask_matches_the_byte_by_byte_definition() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1037).collect();
        for start in 0..9 {
            let mut fast = data[start..].to_vec();
            unmask(&mut fast, MASK);
            let slow: Vec<u8> = data[start..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ MASK[i % 4])
                .collect();
            assert_eq!(fast, slow);
        }
    }
}
