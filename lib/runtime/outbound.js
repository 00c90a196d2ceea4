// Replies leave the JS thread in batches, like events arrive: the `__rpc` replies `handleRpc`
// sends during one turn of the event loop are written into one buffer and handed to Rust in
// one `sendBatch` call at the end of the turn (a microtask), which queues them and wakes each
// socket once, so a socket's replies go out in one write. One napi call and one wake per
// turn instead of one of each per reply.
//
// Order: every other call that puts frames on a socket (`platform.send/publish/sendTo`,
// `ws.send/end`) flushes the batch first, so a socket's frames keep the order they were
// produced in (reference-protocol §1.3).
//
// Those calls also `hold()` the socket wakes for the rest of the turn (`holdWakes` in Rust):
// a turn that publishes 100 times queues all 100 frames before any I/O thread is woken, so
// each subscriber gets one write with all of them, and each I/O thread one wake. The
// microtask at the end of the turn releases them.
//
// Record layout, little-endian (read by crates/realtime-core/src/reply_batch.rs):
//   connection id f64 | byte length u32 | the envelope as UTF-8
//   connection id f64 | byte length + STRING_TAIL u32 | string bytes u32 | the envelope up
//     to a plain call's value, then a string's raw UTF-8: Rust writes it as a JSON literal
//     and closes the envelope

const INITIAL_BYTES = 64 * 1024;
const RECORD_HEADER = 12;
const TAIL_HEADER = 16;
const STRING_TAIL = 2 ** 31;

/**
 * The reply buffer is a Node Buffer: `utf8Write` encodes straight into it at an offset,
 * where `TextEncoder.encodeInto` needs a fresh view of the rest of the buffer per reply.
 */
const allocate = (size) => Buffer.allocUnsafeSlow(size);

/** `,"data":` */
const DATA_KEY = Buffer.from(',"data":');
/** A plain call's reply around the JSON of its value: `,"data":{"ok":true,"data":` ... `}`. */
const DATA_OK = Buffer.from(',"data":{"ok":true,"data":');
const DATA_OK_EMPTY = Buffer.from(',"data":{"ok":true}');
/** Envelope heads `{"topic":"<topic>","event":` kept per topic (replies use one or two). */
const MAX_HEADS = 64;

/**
 * Writes `name` as a JSON string literal at `at` when it is printable ASCII without `"` or
 * `\` (ids and event names nearly always are: a byte loop, no string built); returns the
 * end, or -1 when it needs escaping.
 */
function writePlainName(buffer, name, at) {
  const length = name.length;
  buffer[at] = 0x22;
  for (let i = 0; i < length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return -1;
    buffer[at + 1 + i] = c;
  }
  buffer[at + 1 + length] = 0x22;
  return at + 2 + length;
}

/**
 * Copies `bytes` (a constant) into `buffer` at `at`; returns the end. `set` is a memcpy: a
 * byte loop cost about 3 ns a byte here, so twice the time for a 25-byte head.
 */
function put(buffer, bytes, at) {
  buffer.set(bytes, at);
  return at + bytes.length;
}

/** @param {() => import('../../index.js').NativeServer} getNative */
export function createOutbound(getNative) {
  let buffer = allocate(INITIAL_BYTES);
  let view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let used = 0;
  let scheduled = false;
  let holding = false;
  const heads = new Map();

  function headOf(topic) {
    let head = heads.get(topic);
    if (head === undefined) {
      head = Buffer.from(`{"topic":${JSON.stringify(topic)},"event":`);
      if (heads.size < MAX_HEADS) heads.set(topic, head);
    }
    return head;
  }

  function grow(needed) {
    let size = buffer.length;
    while (size < needed) size *= 2;
    const next = allocate(size);
    buffer.copy(next, 0, 0, used);
    buffer = next;
    view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  function flush() {
    if (used === 0) return;
    const batch = buffer.subarray(0, used);
    used = 0;
    getNative().sendBatch(batch);
    if (buffer.length > 4 * INITIAL_BYTES) {
      buffer = allocate(INITIAL_BYTES);
      view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    }
  }

  /** The end of the turn: the replies go to Rust, and the held wakes are released. */
  function endTurn() {
    scheduled = false;
    flush();
    if (holding) {
      holding = false;
      getNative().releaseWakes();
    }
  }

  function schedule() {
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(endTurn);
    }
  }

  /**
   * Starts a record: room for `dataBytes` more bytes of data, then the envelope up to and
   * including `key` (`,"data":` or a plain call's longer one). Returns where the data goes.
   */
  function begin(topic, event, key, dataBytes, header = RECORD_HEADER) {
    const head = headOf(topic);
    // An escaped name takes at most 6 bytes per UTF-16 unit.
    const worst = used + header + head.length + event.length * 6 + 2 + key.length + dataBytes + 2;
    if (worst > buffer.length) grow(worst);
    let at = put(buffer, head, used + header);
    const named = writePlainName(buffer, event, at);
    at = named === -1 ? at + buffer.utf8Write(JSON.stringify(event), at) : named;
    return put(buffer, key, at);
  }

  /**
   * Commits the record ending at `end` for connection `id`; `tail`, the byte length of a
   * string tail (see the layout above), or -1 for a plain record.
   */
  function finish(id, end, tail = -1) {
    view.setFloat64(used, id, true);
    if (tail < 0) {
      view.setUint32(used + 8, end - used - RECORD_HEADER, true);
    } else {
      view.setUint32(used + 8, end - used - TAIL_HEADER + STRING_TAIL, true);
      view.setUint32(used + 12, tail, true);
    }
    used = end;
    schedule();
  }

  /** Closes the envelope ending at `at` and commits the plain record. */
  function commit(id, at) {
    buffer[at] = 0x7d;
    finish(id, at + 1);
  }

  return {
    /**
     * Queues `{"topic":topic,"event":event,"data":<json>}` for connection `id`, written in
     * place piece by piece (no envelope string is built).
     */
    send(id, topic, event, json) {
      // UTF-8 takes at most 3 bytes per UTF-16 unit.
      const at = begin(topic, event, DATA_KEY, json.length * 3);
      commit(id, at + buffer.utf8Write(json, at));
    },
    /**
     * Queues a plain call's reply, whose data is `{"ok":true,"data":<JSON of value>}`
     * (`{"ok":true}` when JSON has no value for it, as `JSON.stringify` of the wrapper
     * gives). A string goes as its raw UTF-8 in a string-tail record, which Rust writes as
     * a JSON literal: no `JSON.stringify` here (on Node 20 about 5 ns a character), no
     * check. Only a string with a lone surrogate (`utf8Write` would replace it,
     * `JSON.stringify` escapes it) takes the general path. Throws what `JSON.stringify`
     * throws (a cycle, a BigInt), with nothing queued.
     */
    sendOk(id, topic, event, value) {
      if (typeof value === 'string') {
        // UTF-8 takes at most 3 bytes per UTF-16 unit.
        const at = begin(topic, event, DATA_OK, value.length * 3, TAIL_HEADER);
        const bytes = buffer.utf8Write(value, at);
        // As many bytes as units: ASCII, so well-formed without asking.
        if (bytes === value.length || value.isWellFormed()) {
          finish(id, at + bytes, bytes);
          return;
        }
      }
      const json = JSON.stringify(value);
      if (json === undefined) {
        commit(id, begin(topic, event, DATA_OK_EMPTY, 0));
        return;
      }
      let at = begin(topic, event, DATA_OK, json.length * 3);
      at += buffer.utf8Write(json, at);
      buffer[at] = 0x7d;
      commit(id, at + 1);
    },
    /** Hands what is queued to Rust now (before any other frame goes out). */
    flush,
    /**
     * Before a direct send or publish: holds the socket wakes until the end of the turn
     * (one napi call per turn), then pushes the queued replies so they stay first.
     */
    hold() {
      if (!holding) {
        holding = true;
        getNative().holdWakes();
        schedule();
      }
      flush();
    },
    get pending() {
      return used > 0;
    },
  };
}
