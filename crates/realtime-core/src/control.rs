//! Sorting inbound WebSocket messages, without I/O (reference-protocol §3.1, §4.1).
//!
//! Subscribe and unsubscribe control frames are handled in Rust and never reach the hook
//! runner unless a `subscribe` hook must decide. Everything else is a message for the
//! `message` hook, tagged with a cheap guess of what it is so the RPC layer can skip its own
//! sniffing.
//!
//! Differences from the reference, on purpose: a control frame may be any length (the
//! reference ignores frames of 512 bytes or more, so long topics silently failed to
//! subscribe), but it must still start with `{"type"` as the reference client writes it.

use std::borrow::Cow;

use serde::Deserialize;

use crate::binary_rpc;
use crate::rpc_call::{self, CallShape};

/// What an inbound message is.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// `{"type":"subscribe","topic":T}` with a string topic.
    Subscribe(Cow<'a, str>),
    /// `{"type":"unsubscribe","topic":T}` with a string topic.
    Unsubscribe(Cow<'a, str>),
    /// Anything else, for the `message` hook.
    Message(MessageKind),
}

/// A hint for the RPC layer; the hook still receives the raw bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// Not an RPC by the reference's detection rules.
    Other,
    /// Looks like a JSON RPC or batch request (`{` then `r` or `b` at byte 2, ≥ 10 bytes).
    RpcText,
    /// A structurally valid binary RPC frame.
    RpcBinary,
    /// A plain call in the clients' exact shape, with where its parts are (`rpc_call`).
    RpcCall(CallShape),
}

impl MessageKind {
    /// The kind's number in an event record's flags (bits 1-2; `lib/runtime/batch.js`).
    pub fn number(self) -> u8 {
        match self {
            MessageKind::Other => 0,
            MessageKind::RpcText => 1,
            MessageKind::RpcBinary => 2,
            MessageKind::RpcCall(_) => 3,
        }
    }

    /// The record's `code` field: for a plain call, the path length and the id length
    /// (low and high byte).
    pub fn code(self) -> u16 {
        match self {
            MessageKind::RpcCall(shape) => {
                u16::from(shape.path_len) | (u16::from(shape.id_len) << 8)
            }
            _ => 0,
        }
    }
}

#[derive(Deserialize)]
struct ControlFrame<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    topic: serde_json::Value,
}

const CONTROL_PREFIX: &[u8] = b"{\"type\"";

/// Sorts one inbound message.
pub fn classify(data: &[u8], is_binary: bool) -> Inbound<'_> {
    if !is_binary
        && data.starts_with(CONTROL_PREFIX)
        && let Some(control) = parse_control(data)
    {
        return control;
    }
    Inbound::Message(message_kind(data))
}

fn parse_control(data: &[u8]) -> Option<Inbound<'_>> {
    let frame: ControlFrame<'_> = serde_json::from_slice(data).ok()?;
    let serde_json::Value::String(topic) = frame.topic else {
        return None;
    };
    match frame.kind.as_ref() {
        "subscribe" => Some(Inbound::Subscribe(Cow::Owned(topic))),
        "unsubscribe" => Some(Inbound::Unsubscribe(Cow::Owned(topic))),
        _ => None,
    }
}

/// The reference's RPC detection (§4.1), which ignores the frame type.
pub fn message_kind(data: &[u8]) -> MessageKind {
    if data.len() >= 10 && data[0] == b'{' && (data[2] == b'r' || data[2] == b'b') {
        match rpc_call::recognize(data) {
            Some(shape) => MessageKind::RpcCall(shape),
            None => MessageKind::RpcText,
        }
    } else if binary_rpc::split(data).is_ok() {
        MessageKind::RpcBinary
    } else {
        MessageKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_control_bytes() {
        assert_eq!(
            classify(br#"{"type":"subscribe","topic":"todos"}"#, false),
            Inbound::Subscribe("todos".into())
        );
        assert_eq!(
            classify(br#"{"type":"unsubscribe","topic":"todos"}"#, false),
            Inbound::Unsubscribe("todos".into())
        );
    }

    #[test]
    fn long_topics_are_still_control() {
        let topic = "t".repeat(2000);
        let frame = format!(r#"{{"type":"subscribe","topic":"{topic}"}}"#);
        assert_eq!(
            classify(frame.as_bytes(), false),
            Inbound::Subscribe(topic.into())
        );
    }

    #[test]
    fn escaped_topic_is_unescaped() {
        assert_eq!(
            classify(br#"{"type":"subscribe","topic":"a\"b"}"#, false),
            Inbound::Subscribe("a\"b".into())
        );
    }

    #[test]
    fn non_controls_fall_through_to_message() {
        for frame in [
            &br#"{"type":"replay","topic":"chat","since":12}"#[..],
            br#"{"type":"subscribe","topic":5}"#,
            br#"{"type":"subscribe"}"#,
            br#"{"type":"subscribe","topic":"x""#,
            br#"{ "type":"subscribe","topic":"x"}"#,
            b"hello",
        ] {
            assert_eq!(classify(frame, false), Inbound::Message(MessageKind::Other));
        }
        // Binary frames are never control frames.
        assert_eq!(
            classify(br#"{"type":"subscribe","topic":"x"}"#, true),
            Inbound::Message(MessageKind::Other)
        );
    }

    #[test]
    fn rpc_detection_follows_reference_bytes() {
        let call = br#"{"rpc":"chat/send","id":"a1","args":[]}"#;
        let shape = rpc_call::CallShape {
            path_len: 9,
            id_len: 2,
        };
        assert_eq!(message_kind(call), MessageKind::RpcCall(shape));
        assert_eq!(message_kind(call).code(), 9 | (2 << 8));
        let stream = br#"{"rpc":"chat/send","id":"a1","args":[],"stream":true}"#;
        assert_eq!(message_kind(stream), MessageKind::RpcText);
        assert_eq!(message_kind(br#"{"batch":[]}"#), MessageKind::RpcText);
        // Whitespace after `{` defeats detection, as in the reference.
        assert_eq!(
            message_kind(br#"{ "rpc":"a/b","id":"1"}"#),
            MessageKind::Other
        );
        assert_eq!(message_kind(br#"{"r":1}"#), MessageKind::Other);
        let frame = binary_rpc::encode(br#"{"rpc":"a/b","id":"1"}"#, b"xy").unwrap();
        assert_eq!(message_kind(&frame), MessageKind::RpcBinary);
        assert_eq!(message_kind(&[0, 0, 9, 1]), MessageKind::Other);
    }
}
