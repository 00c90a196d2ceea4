//! The bytes a publish travels in between instances, without I/O.
//!
//! `SR1` | origin instance id (8 bytes) | flags (1 byte) | sequence (8 bytes, big-endian;
//! 0 when the topic keeps no replay) | event length (u16, big-endian) | event (UTF-8) | data
//! (JSON text, UTF-8). The topic is the Redis channel's suffix, so it is not repeated. The
//! receiver builds the envelope from topic, event and data with the same writer a local
//! publish uses, so the bytes are identical; the origin id suppresses echoes. Anything else on
//! the channel (another program, a truncated or oversized message) is refused, and counted
//! by the caller.

use thiserror::Error;

const MAGIC: &[u8; 3] = b"SR1";
const HEADER_LEN: usize = 3 + 8 + 1 + 8 + 2;

/// One instance's identity on the bus.
pub type InstanceId = [u8; 8];

/// A decoded bus message.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub origin: InstanceId,
    pub flags: u8,
    /// Replay sequence of the topic (0: none).
    pub seq: u64,
    pub event: &'a str,
    pub data: &'a str,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("not a svelte-realtime bus message")]
    Foreign,
    #[error("truncated bus message")]
    Truncated,
    #[error("bus message is not UTF-8")]
    Utf8,
    #[error("bus message over {0} bytes")]
    TooLarge(usize),
}

/// Flag: the origin delivers this message to its own subscribers when it comes back
/// (a sequenced publish: local subscribers must see the sequence Redis gave it).
pub const AWAIT_ECHO: u8 = 1;

/// A message in the three parts the replay script joins around the sequence Redis gives:
/// the header up to the sequence, then the event's length and name; the data follows.
pub fn encode_parts(origin: &InstanceId, flags: u8, event: &str) -> (Vec<u8>, Vec<u8>) {
    let event_len = u16::try_from(event.len()).unwrap_or(u16::MAX);
    let event = &event.as_bytes()[..usize::from(event_len)];
    let mut head = Vec::with_capacity(12);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(origin);
    head.push(flags);
    let mut name = Vec::with_capacity(2 + event.len());
    name.extend_from_slice(&event_len.to_be_bytes());
    name.extend_from_slice(event);
    (head, name)
}

/// Encodes one message.
pub fn encode(origin: &InstanceId, seq: u64, event: &str, data: &str) -> Vec<u8> {
    let event_len = u16::try_from(event.len()).unwrap_or(u16::MAX);
    let event = &event.as_bytes()[..usize::from(event_len)];
    let mut out = Vec::with_capacity(HEADER_LEN + event.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(origin);
    out.push(0);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&event_len.to_be_bytes());
    out.extend_from_slice(event);
    out.extend_from_slice(data.as_bytes());
    out
}

/// Decodes one message of at most `max_len` bytes.
pub fn decode(bytes: &[u8], max_len: usize) -> Result<Message<'_>, WireError> {
    if bytes.len() > max_len {
        return Err(WireError::TooLarge(max_len));
    }
    if bytes.len() < 3 || &bytes[..3] != MAGIC {
        return Err(WireError::Foreign);
    }
    if bytes.len() < HEADER_LEN {
        return Err(WireError::Truncated);
    }
    let origin: InstanceId = bytes[3..11].try_into().expect("8 bytes");
    let flags = bytes[11];
    let seq = u64::from_be_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let event_len = usize::from(u16::from_be_bytes([bytes[20], bytes[21]]));
    let rest = &bytes[HEADER_LEN..];
    if rest.len() < event_len {
        return Err(WireError::Truncated);
    }
    let (event, data) = rest.split_at(event_len);
    let event = std::str::from_utf8(event).map_err(|_| WireError::Utf8)?;
    let data = std::str::from_utf8(data).map_err(|_| WireError::Utf8)?;
    if data.is_empty() {
        return Err(WireError::Truncated);
    }
    Ok(Message {
        origin,
        flags,
        seq,
        event,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: InstanceId = *b"abcdefgh";

    #[test]
    fn round_trips() {
        let bytes = encode(&ID, 42, "created", r#"{"id":1}"#);
        assert_eq!(
            decode(&bytes, 1 << 20),
            Ok(Message {
                origin: ID,
                flags: 0,
                seq: 42,
                event: "created",
                data: r#"{"id":1}"#
            })
        );
    }

    #[test]
    fn parts_join_into_a_message() {
        let (head, name) = encode_parts(&ID, AWAIT_ECHO, "created");
        let mut bytes = head;
        bytes.extend_from_slice(&7u64.to_be_bytes());
        bytes.extend_from_slice(&name);
        bytes.extend_from_slice(b"null");
        let message = decode(&bytes, 1024).unwrap();
        assert_eq!(
            (message.flags, message.seq, message.event, message.data),
            (AWAIT_ECHO, 7, "created", "null")
        );
    }

    #[test]
    fn refuses_what_is_not_ours() {
        assert_eq!(
            decode(b"{\"instanceId\":\"x\"}", 1024),
            Err(WireError::Foreign)
        );
        let bytes = encode(&ID, 0, "e", "null");
        assert_eq!(decode(&bytes[..10], 1024), Err(WireError::Truncated));
        assert_eq!(decode(&bytes, 8), Err(WireError::TooLarge(8)));
        let mut bad = bytes.clone();
        let at = bad.len() - 1;
        bad[at] = 0xff;
        assert_eq!(decode(&bad, 1024), Err(WireError::Utf8));
        // An event length pointing past the end.
        let mut long = bytes;
        long[20] = 0xff;
        assert_eq!(decode(&long, 1024), Err(WireError::Truncated));
    }
}
