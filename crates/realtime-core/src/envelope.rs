//! The server→client envelope `{"topic":T,"event":E,"data":D}` (reference-protocol §2.1).
//!
//! Pure string building, no I/O. A published envelope is built once here and the same bytes
//! go to every subscriber.
//!
//! Topic and event: the reference throws for names containing `"`, `\` or control
//! characters. We escape them with JSON's rules instead: for every name the reference
//! accepts, the bytes are identical (no escaping happens, non-ASCII and `/` pass through),
//! and for the rest the reference client's `JSON.parse` recovers the exact name. So an RPC
//! id or topic with a quote is answered instead of silently failing. `data` is a JSON text
//! produced by the caller (`JSON.stringify` in the binding); `None` becomes `null`, never the
//! invalid `undefined` of reference bug §9.7.

use bytes::Bytes;

use crate::ws::encode;

/// A topic or event name as JSON: borrowed when nothing needs escaping (the common case).
enum Name<'a> {
    Plain(&'a str),
    Escaped(String),
}

impl<'a> Name<'a> {
    fn of(s: &'a str) -> Self {
        if needs_escape(s) {
            Name::Escaped(serde_json::to_string(s).expect("a &str always serializes"))
        } else {
            Name::Plain(s)
        }
    }

    fn len(&self) -> usize {
        match self {
            Name::Plain(s) => s.len() + 2,
            Name::Escaped(s) => s.len(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Name::Plain(s) => {
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            }
            Name::Escaped(s) => out.extend_from_slice(s.as_bytes()),
        }
    }
}

/// The envelope as a WebSocket text frame, header and all, in one allocation: the bytes a
/// publish queues for every subscriber. Same text as [`build`].
pub fn framed(topic: &str, event: &str, data_json: Option<&str>) -> Bytes {
    framed_seq(topic, event, data_json, None)
}

/// [`framed`] with the topic's replay sequence appended, `{"topic",..,"data":D,"seq":N}`,
/// for topics that keep a replay log (`crate::replay`). Clients that do not know the field
/// ignore it.
pub fn framed_seq(topic: &str, event: &str, data_json: Option<&str>, seq: Option<u64>) -> Bytes {
    let data = data_json.unwrap_or("null");
    let (topic, event) = (Name::of(topic), Name::of(event));
    let seq = seq.map(|n| n.to_string());
    let seq_len = seq.as_ref().map_or(0, |n| ",\"seq\":".len() + n.len());
    let len = "{\"topic\":,\"event\":,\"data\":}".len()
        + topic.len()
        + event.len()
        + data.len()
        + seq_len;
    encode::frame_with(encode::TEXT, len, |out| {
        out.extend_from_slice(b"{\"topic\":");
        topic.write(out);
        out.extend_from_slice(b",\"event\":");
        event.write(out);
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data.as_bytes());
        if let Some(n) = &seq {
            out.extend_from_slice(b",\"seq\":");
            out.extend_from_slice(n.as_bytes());
        }
        out.push(b'}');
    })
}

/// Builds one envelope.
pub fn build(topic: &str, event: &str, data_json: Option<&str>) -> String {
    let data = data_json.unwrap_or("null");
    let mut out = String::with_capacity(topic.len() + event.len() + data.len() + 32);
    out.push_str("{\"topic\":");
    push_json_string(&mut out, topic);
    out.push_str(",\"event\":");
    push_json_string(&mut out, event);
    out.push_str(",\"data\":");
    out.push_str(data);
    out.push('}');
    out
}

/// Appends `s` as a JSON string literal. The common case (nothing to escape) is a copy.
pub fn push_json_string(out: &mut String, s: &str) {
    if !needs_escape(s) {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    // serde_json escapes exactly `"`, `\` and U+0000..U+001F, which is what JSON requires.
    out.push_str(&serde_json::to_string(s).expect("a &str always serializes"));
}

/// True when `s` contains a byte that cannot appear raw inside a JSON string.
pub fn needs_escape(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_bytes() {
        assert_eq!(
            build("todos", "created", Some(r#"{"id":1,"text":"Buy milk"}"#)),
            r#"{"topic":"todos","event":"created","data":{"id":1,"text":"Buy milk"}}"#
        );
    }

    #[test]
    fn framed_is_the_same_text_behind_a_frame_header() {
        for (topic, event, data) in [
            ("todos", "created", Some(r#"{"id":1}"#)),
            ("a\"b", "x\u{1}", None),
            ("t", "e", Some(&"x".repeat(300)[..])),
        ] {
            let text = build(topic, event, data);
            assert_eq!(
                framed(topic, event, data),
                encode::frame(encode::TEXT, text.as_bytes())
            );
        }
    }

    #[test]
    fn missing_data_is_null() {
        assert_eq!(
            build("t", "e", None),
            r#"{"topic":"t","event":"e","data":null}"#
        );
    }

    #[test]
    fn non_ascii_and_slash_pass_through() {
        assert_eq!(
            build("chat/ü/日本", "é", Some("1")),
            "{\"topic\":\"chat/ü/日本\",\"event\":\"é\",\"data\":1}"
        );
    }

    #[test]
    fn escapes_what_json_requires() {
        let env = build("a\"b\\c\n", "x\u{1}", Some("[]"));
        assert_eq!(env, r#"{"topic":"a\"b\\c\n","event":"x\u0001","data":[]}"#);
        let parsed: serde_json::Value = serde_json::from_str(&env).unwrap();
        assert_eq!(parsed["topic"], "a\"b\\c\n");
        assert_eq!(parsed["event"], "x\u{1}");
    }

    #[test]
    fn needs_escape_boundaries() {
        assert!(!needs_escape(""));
        assert!(!needs_escape(" ~\u{7f}"));
        assert!(needs_escape("\u{1f}"));
        assert!(needs_escape("\""));
        assert!(needs_escape("\\"));
    }
}
