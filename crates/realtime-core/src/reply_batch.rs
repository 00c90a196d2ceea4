//! The reply batch JavaScript hands over once per turn (`lib/runtime/outbound.js`), read into
//! framed text messages. Little-endian records:
//!
//! - `id: f64 | len: u32 | envelope: [u8; len]`: the envelope as UTF-8, framed as it is;
//! - `id: f64 | len | STRING_TAIL: u32 | value_len: u32 | bytes: [u8; len]`: the envelope
//!   without its end, whose last `value_len` bytes are a string's raw UTF-8. The frame holds
//!   the bytes before it, the string as a JSON literal (escaped as `JSON.stringify` escapes a
//!   well-formed string, by serde_json) and `}}` (the end of a plain call's
//!   `{"ok":true,"data":<value>}` and of the envelope). JavaScript then needs neither
//!   `JSON.stringify` nor a check of the string.
//!
//! A record that is cut short, or whose string is not UTF-8, ends the batch: the batch comes
//! from our own JavaScript, so either means a defect there, not input to recover from.

use bytes::Bytes;

use crate::ConnId;
use crate::ws::encode;

/// The flag on a record's length word that marks a string tail.
pub const STRING_TAIL: u32 = 1 << 31;
const HEADER: usize = 12;
const TAIL_HEADER: usize = 16;
/// What closes a plain call's reply after its value: the wrapper, then the envelope.
const CLOSE: &[u8] = b"}}";

/// The records of `batch`, each as its connection id and its text frame, in order.
pub fn frames(batch: &[u8]) -> Frames<'_> {
    Frames {
        rest: batch,
        scratch: Vec::new(),
    }
}

pub struct Frames<'a> {
    rest: &'a [u8],
    /// A string tail's JSON literal, reused from record to record.
    scratch: Vec<u8>,
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

impl Frames<'_> {
    fn next_record(&mut self) -> Option<(ConnId, Bytes)> {
        let rest = self.rest;
        let id = f64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as ConnId;
        let word = u32_at(rest, 8)?;
        let len = (word & !STRING_TAIL) as usize;
        if word & STRING_TAIL == 0 {
            let text = rest.get(HEADER..HEADER + len)?;
            self.rest = &rest[HEADER + len..];
            return Some((id, encode::frame(encode::TEXT, text)));
        }
        let value_len = u32_at(rest, 12)? as usize;
        let body = rest.get(TAIL_HEADER..TAIL_HEADER + len)?;
        let split = len.checked_sub(value_len)?;
        let value = std::str::from_utf8(&body[split..]).ok()?;
        self.scratch.clear();
        serde_json::to_writer(&mut self.scratch, value).expect("writing to a Vec cannot fail");
        let head = &body[..split];
        let literal = &self.scratch;
        let frame = encode::frame_with(
            encode::TEXT,
            head.len() + literal.len() + CLOSE.len(),
            |out| {
                out.extend_from_slice(head);
                out.extend_from_slice(literal);
                out.extend_from_slice(CLOSE);
            },
        );
        self.rest = &rest[TAIL_HEADER + len..];
        Some((id, frame))
    }
}

impl Iterator for Frames<'_> {
    type Item = (ConnId, Bytes);

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.next_record();
        if next.is_none() {
            self.rest = &[];
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: f64, text: &[u8]) -> Vec<u8> {
        let mut out = id.to_le_bytes().to_vec();
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        out.extend_from_slice(text);
        out
    }

    fn tail_record(id: f64, head: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = id.to_le_bytes().to_vec();
        out.extend_from_slice(&((head.len() + value.len()) as u32 | STRING_TAIL).to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(head);
        out.extend_from_slice(value);
        out
    }

    fn texts(batch: &[u8]) -> Vec<(ConnId, String)> {
        frames(batch)
            .map(|(id, frame)| (id, String::from_utf8(frame[2..].to_vec()).unwrap()))
            .collect()
    }

    const HEAD: &[u8] = br#"{"topic":"__rpc","event":"c1","data":{"ok":true,"data":"#;

    #[test]
    fn plain_records_are_framed_as_they_are() {
        let mut batch = record(3.0, b"{\"a\":1}");
        batch.extend(record(4.0, b"[]"));
        assert_eq!(
            texts(&batch),
            vec![(3, "{\"a\":1}".to_string()), (4, "[]".to_string())]
        );
        assert_eq!(&frames(&batch).next().unwrap().1[..2], &[0x81, 7]);
    }

    #[test]
    fn a_string_tail_becomes_the_json_literal_json_stringify_writes() {
        let value = "say \"hi\"\\ \u{1}\u{8}\t\n\u{c}\r\u{1f}\u{7f} é \u{2028} 😀";
        let mut batch = tail_record(7.0, HEAD, value.as_bytes());
        batch.extend(tail_record(8.0, HEAD, b""));
        batch.extend(record(9.0, b"{}"));
        let expected = r#"{"topic":"__rpc","event":"c1","data":{"ok":true,"data":"say \"hi\"\\ \u0001\b\t\n\f\r\u001f"#
            .to_string()
            + "\u{7f} é \u{2028} 😀\"}}";
        assert_eq!(
            texts(&batch),
            vec![
                (7, expected),
                (
                    8,
                    r#"{"topic":"__rpc","event":"c1","data":{"ok":true,"data":""}}"#.to_string()
                ),
                (9, "{}".to_string()),
            ]
        );
    }

    #[test]
    fn a_record_cut_short_or_not_utf8_ends_the_batch() {
        let whole = record(1.0, b"{}");
        let mut cut = whole.clone();
        cut.extend(&record(2.0, b"{\"long\":true}")[..15]);
        assert_eq!(texts(&cut), vec![(1, "{}".to_string())]);

        let mut bad = tail_record(1.0, HEAD, b"\xff\xfe");
        bad.extend(&whole);
        assert_eq!(texts(&bad), vec![]);

        // A value length past the record's own length.
        let mut wrong = 1f64.to_le_bytes().to_vec();
        wrong.extend_from_slice(&(2 | STRING_TAIL).to_le_bytes());
        wrong.extend_from_slice(&5u32.to_le_bytes());
        wrong.extend_from_slice(b"ab");
        assert_eq!(texts(&wrong), vec![]);
    }
}
