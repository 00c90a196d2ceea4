//! Presence and cursors shared through Redis: a late joiner on any instance gets the members
//! and cursors that joined on every other one (the reference gave every late joiner `[]`).
//!
//! Per channel topic one hash, `<channel>:state:<topic>`: field = the member's key as JSON
//! text, value = `<instance>|<order>|<entry JSON>`, where `order` (from the hash's `#`
//! counter) keeps first-join order. The origin of a `join` / cursor `update` writes its
//! entry, a `leave` / `remove` deletes it, in the same script that publishes the event
//! (`replay::PUBLISH`), so a snapshot read after the subscription is confirmed plus the
//! events after it is exactly the state.
//!
//! Every instance refreshes `<channel>:alive:<instance>` (TTL `ALIVE_TTL`) every
//! `HEARTBEAT`; entries of an instance whose key expired are removed by whoever reads the
//! snapshot next, or by the sweep every `SWEEP` of each instance that watches the topic, and
//! their `leave` / `remove` is published once (the `HDEL` that removed them decides who
//! publishes). So the members of a crashed instance disappear within
//! `ALIVE_TTL + SWEEP` (15 s) wherever someone watches.

use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{RedisResult, Script};

use super::wire;

pub const HEARTBEAT: Duration = Duration::from_secs(3);
pub const ALIVE_TTL: Duration = Duration::from_secs(10);
pub const SWEEP: Duration = Duration::from_secs(5);

/// KEYS: the state hash. ARGV: alive-key prefix, the topic's channel, the message header
/// (SR1, no origin), the event part of the removal (`leave` / `remove`). Returns the live
/// entries as `<order>|<json>`.
const SNAPSHOT: &str = r#"
local all = redis.call('HGETALL', KEYS[1])
local alive, out = {}, {}
for i = 1, #all, 2 do
  local field, value = all[i], all[i + 1]
  if field ~= '#' then
    local inst, order, json = string.match(value, '^([^|]*)|([^|]*)|(.*)$')
    if inst then
      if alive[inst] == nil then alive[inst] = redis.call('EXISTS', ARGV[1] .. inst) == 1 end
      if alive[inst] then
        out[#out + 1] = order .. '|' .. json
      elseif redis.call('HDEL', KEYS[1], field) == 1 then
        redis.call('PUBLISH', ARGV[2], ARGV[3] .. '\0\0\0\0\0\0\0\0' .. ARGV[4] .. '{"key":' .. field .. '}')
      end
    end
  end
end
return out
"#;

static SNAPSHOT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SNAPSHOT));

/// What a publish does to the shared state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateOp {
    /// Write the entry (the publish's data) under this key (JSON text).
    Upsert(String),
    Delete(String),
}

/// The op of `event` on a presence (`cursor: false`) or cursor topic, if any: the key comes
/// from the data's `key` field.
pub fn op_of(cursor: bool, event: &str, data: &str) -> Option<StateOp> {
    let upsert = if cursor { "update" } else { "join" };
    let delete = if cursor { "remove" } else { "leave" };
    if event != upsert && event != delete {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    let key = value.get("key")?;
    if !(key.is_string() || key.is_number()) {
        return None;
    }
    let key = key.to_string();
    Some(if event == upsert {
        StateOp::Upsert(key)
    } else {
        StateOp::Delete(key)
    })
}

pub fn state_key(channel: &str, topic: &str) -> String {
    format!("{channel}:state:{topic}")
}

pub fn alive_prefix(channel: &str) -> String {
    format!("{channel}:alive:")
}

/// The shared state of a channel topic as a JSON array in join order, after removing (and
/// announcing the removal of) entries of instances that are gone.
pub async fn snapshot(
    conn: &mut ConnectionManager,
    channel: &str,
    topic: &str,
    cursor: bool,
) -> RedisResult<String> {
    let (head, name) = wire::encode_parts(&[0; 8], 0, if cursor { "remove" } else { "leave" });
    let entries: Vec<String> = SNAPSHOT_SCRIPT
        .key(state_key(channel, topic))
        .arg(alive_prefix(channel))
        .arg(format!("{channel}:{topic}"))
        .arg(head)
        .arg(name)
        .invoke_async(conn)
        .await?;
    let mut ordered: Vec<(u64, &str)> = entries
        .iter()
        .filter_map(|e| {
            let (order, json) = e.split_once('|')?;
            Some((order.parse().ok()?, json))
        })
        .collect();
    ordered.sort_by_key(|(order, _)| *order);
    let mut out = String::from("[");
    for (i, (_, json)) in ordered.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(json);
    }
    out.push(']');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_follow_the_strategy() {
        let join = r#"{"key":"alice","data":{"name":"A"}}"#;
        assert_eq!(
            op_of(false, "join", join),
            Some(StateOp::Upsert("\"alice\"".into()))
        );
        assert_eq!(
            op_of(false, "leave", r#"{"key":7}"#),
            Some(StateOp::Delete("7".into()))
        );
        assert_eq!(
            op_of(true, "update", r#"{"key":"c","data":{"x":1}}"#),
            Some(StateOp::Upsert("\"c\"".into()))
        );
        assert_eq!(
            op_of(true, "remove", r#"{"key":"c"}"#),
            Some(StateOp::Delete("\"c\"".into()))
        );
        assert_eq!(op_of(false, "update", join), None);
        assert_eq!(op_of(false, "join", r#"{"key":{"o":1}}"#), None);
        assert_eq!(op_of(false, "join", "nope"), None);
    }
}
