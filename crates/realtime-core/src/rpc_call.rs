//! Recognizes the common RPC call frame in the exact shape the clients send it,
//! `{"rpc":"<path>","id":"<id>","args":<json>}` (reference-protocol §4.1), so JavaScript can
//! take the path and id straight from their byte positions and `JSON.parse` only the
//! arguments: no parse of the envelope, no interning of a fresh id string per call.
//!
//! Anything else (other keys, another order, whitespace, escapes or non-ASCII bytes in the
//! path or id, names longer than 255 bytes) is not recognized and takes the general path,
//! which parses the whole message. The arguments are only delimited here (strings, escapes
//! and nesting followed to find where the value ends); JavaScript's `JSON.parse` validates
//! them, and a message whose arguments it refuses falls back to the general path too, so
//! both paths accept exactly the same messages with the same meaning.

const PREFIX: &[u8] = b"{\"rpc\":\"";
const ID: &[u8] = b"\",\"id\":\"";
const ARGS: &[u8] = b"\",\"args\":";

/// Byte lengths of the path and the id of a recognized call. The path starts at byte 8, the
/// id 8 bytes after the path ends, the arguments 9 bytes after the id ends, up to the last
/// byte (`}`), excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallShape {
    pub path_len: u8,
    pub id_len: u8,
}

impl CallShape {
    /// Where the arguments start.
    pub fn args_start(self) -> usize {
        PREFIX.len() + self.path_len as usize + ID.len() + self.id_len as usize + ARGS.len()
    }
}

/// The shape of `data` if it is a plain call.
pub fn recognize(data: &[u8]) -> Option<CallShape> {
    let rest = data.strip_prefix(PREFIX)?;
    let path_len = plain_string(rest)?;
    let rest = rest[path_len..].strip_prefix(ID)?;
    let id_len = plain_string(rest)?;
    let rest = rest[id_len..].strip_prefix(ARGS)?;
    let (&last, args) = rest.split_last()?;
    if last != b'}' || value_end(args, 0)? != args.len() {
        return None;
    }
    Some(CallShape {
        path_len: u8::try_from(path_len).ok()?,
        id_len: u8::try_from(id_len).ok()?,
    })
}

/// Length of a string body made of printable ASCII without `"` or `\`, ending at a `"`.
fn plain_string(data: &[u8]) -> Option<usize> {
    let end = memchr::memchr(b'"', data)?;
    data[..end]
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\')
        .then_some(end)
}

/// Where the JSON value starting at `at` ends (no surrounding whitespace allowed at the top;
/// inside arrays and objects whitespace is skipped). `None` if it does not end in `data`.
fn value_end(data: &[u8], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = at;
    loop {
        match *data.get(i)? {
            b'"' => i = string_end(data, i + 1)?,
            b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                i += 1;
            }
            // Separators and whitespace only count inside a container.
            b',' | b':' | b' ' | b'\t' | b'\n' | b'\r' if depth > 0 => i += 1,
            b'-' | b'0'..=b'9' | b'a'..=b'z' | b'+' | b'.' | b'E' => {
                // Numbers and literals: JSON.parse judges them; here they only need an end.
                while data.get(i).is_some_and(
                    |b| matches!(b, b'-' | b'0'..=b'9' | b'a'..=b'z' | b'+' | b'.' | b'E'),
                ) {
                    i += 1;
                }
            }
            _ => return None,
        }
        if depth == 0 {
            return Some(i);
        }
    }
}

/// Index just past the closing quote of a string whose body starts at `at`.
fn string_end(data: &[u8], mut at: usize) -> Option<usize> {
    loop {
        // The next quote or backslash, found a word at a time (arguments are mostly text).
        at += memchr::memchr2(b'"', b'\\', data.get(at..)?)?;
        if data[at] == b'"' {
            return Some(at + 1);
        }
        at += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(data: &[u8]) -> Option<(&str, &str, &str)> {
        let shape = recognize(data)?;
        let text = std::str::from_utf8(data).unwrap();
        let path = &text[8..8 + shape.path_len as usize];
        let id_start = 8 + shape.path_len as usize + 8;
        let id = &text[id_start..id_start + shape.id_len as usize];
        Some((path, id, &text[shape.args_start()..text.len() - 1]))
    }

    #[test]
    fn the_clients_call_shape_is_recognized() {
        assert_eq!(
            parts(br#"{"rpc":"chat/send","id":"k3f9a","args":["hi"]}"#),
            Some(("chat/send", "k3f9a", r#"["hi"]"#))
        );
        assert_eq!(
            parts(br#"{"rpc":"a/b","id":"1","args":[]}"#),
            Some(("a/b", "1", "[]"))
        );
        let nested = br#"{"rpc":"a/b","id":"1","args":[{"x":[1,2,{"y":"]}\"{"}]}, "z", -1.5e3, true, null]}"#;
        assert_eq!(
            parts(nested).map(|p| p.2),
            Some(r#"[{"x":[1,2,{"y":"]}\"{"}]}, "z", -1.5e3, true, null]"#)
        );
        // A scalar argument list is delimited too; JavaScript passes on what JSON.parse makes.
        assert_eq!(
            parts(br#"{"rpc":"a/b","id":"1","args":5}"#).map(|p| p.2),
            Some("5")
        );
    }

    #[test]
    fn anything_else_takes_the_general_path() {
        for frame in [
            &br#"{"rpc":"a/b","id":"1","args":[],"stream":true}"#[..],
            br#"{"rpc":"a/b","id":"1","args":[1]}}"#,
            br#"{"rpc":"a/b","id":"1","args":[1] }"#,
            br#"{"rpc":"a/b","id":"1","args":[1}"#,
            br#"{"rpc":"a/b","id":"1","args":[1]]}"#,
            br#"{"rpc":"a/b","id":"1","args":"x}"#,
            br#"{"rpc":"a/b","id":"1","args": []}"#,
            br#"{"rpc":"a/b","id":"1"}"#,
            br#"{"id":"1","rpc":"a/b","args":[]}"#,
            br#"{"rpc":"a\"b","id":"1","args":[]}"#,
            br#"{"rpc":"a/b","id":"\u0031","args":[]}"#,
            "{\"rpc\":\"a/b\",\"id\":\"é\",\"args\":[]}".as_bytes(),
            b"{\"rpc\":\"a/b\",\"id\":\"\x01\",\"args\":[]}",
            br#"{"batch":[{"rpc":"a/b","id":"1","args":[]}]}"#,
            br#"{"rpc":"a/b","id":"1","args":}"#,
            br#"{"rpc":"a/b","id":"1","args":[],}"#,
        ] {
            assert_eq!(recognize(frame), None, "{}", String::from_utf8_lossy(frame));
        }
        let long = format!(r#"{{"rpc":"{}","id":"1","args":[]}}"#, "p".repeat(256));
        assert_eq!(recognize(long.as_bytes()), None);
        let fits = format!(r#"{{"rpc":"{}","id":"1","args":[]}}"#, "p".repeat(255));
        assert!(recognize(fits.as_bytes()).is_some());
    }

    /// Whatever serde_json writes as arguments is delimited exactly (a small deterministic
    /// generator of nested values with awkward strings).
    #[test]
    fn any_serialized_arguments_are_delimited_exactly() {
        use serde_json::{Value, json};
        fn value(seed: &mut u64, depth: u32) -> Value {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pick = (*seed >> 33) % if depth > 3 { 5 } else { 7 };
            match pick {
                0 => Value::Null,
                1 => json!(seed.is_multiple_of(2)),
                2 => json!((*seed % 20001) as i64 - 10000),
                3 => json!(((*seed % 1000) as f64) / 7.0e5),
                4 => json!(["", "]", "}", "\"", "\\", "é", "\u{1}", "a,b:c"][(*seed % 8) as usize]),
                5 => Value::Array((0..*seed % 4).map(|_| value(seed, depth + 1)).collect()),
                _ => Value::Object(
                    (0..*seed % 4)
                        .map(|i| (format!("k{i}]\"{{"), value(seed, depth + 1)))
                        .collect(),
                ),
            }
        }
        let mut seed = 7;
        for _ in 0..2000 {
            let args = serde_json::to_string(&value(&mut seed, 0)).unwrap();
            let frame = format!(r#"{{"rpc":"a/b","id":"x1","args":{args}}}"#);
            assert_eq!(parts(frame.as_bytes()).map(|p| p.2), Some(args.as_str()));
        }
    }

    #[test]
    fn truncated_or_unbalanced_input_never_panics() {
        let call = br#"{"rpc":"a/b","id":"1","args":[{"k":"v\\"},[1,2]]}"#;
        for cut in 0..call.len() {
            let _ = recognize(&call[..cut]);
        }
        assert!(recognize(call).is_some());
        assert_eq!(recognize(br#"{"rpc":"a/b","id":"1","args":]]]]}"#), None);
        assert_eq!(recognize(br#"{"rpc":"a/b","id":"1","args":"\"#), None);
    }
}
