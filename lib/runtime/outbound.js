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
// Record layout, little-endian (read by `RunningServer::send_batch`):
//   connection id f64 | byte length u32 | the envelope as UTF-8

const INITIAL_BYTES = 64 * 1024;
const RECORD_HEADER = 12;

/** A JSON string literal for a topic or event name (JSON.stringify escapes as Rust does). */
const quote = (name) => (/["\\\u0000-\u001f]/.test(name) ? JSON.stringify(name) : `"${name}"`);

/**
 * The reply buffer is a Node Buffer: `utf8Write` encodes straight into it at an offset,
 * where `TextEncoder.encodeInto` needs a fresh view of the rest of the buffer per reply.
 */
const allocate = (size) => Buffer.allocUnsafeSlow(size);
const writeUtf8 = (buffer, text, offset) => buffer.utf8Write(text, offset, buffer.length - offset);

/** @param {() => import('../../index.js').NativeServer} getNative */
export function createOutbound(getNative) {
  let buffer = allocate(INITIAL_BYTES);
  let view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let used = 0;
  let scheduled = false;

  function grow(needed) {
    let size = buffer.length;
    while (size < needed) size *= 2;
    const next = allocate(size);
    buffer.copy(next, 0, 0, used);
    buffer = next;
    view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  function flush() {
    scheduled = false;
    if (used === 0) return;
    const batch = buffer.subarray(0, used);
    used = 0;
    getNative().sendBatch(batch);
    if (buffer.length > 4 * INITIAL_BYTES) {
      buffer = allocate(INITIAL_BYTES);
      view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    }
  }

  return {
    /** Queues `{"topic":topic,"event":event,"data":<json>}` for connection `id`. */
    send(id, topic, event, json) {
      const text = `{"topic":${quote(topic)},"event":${quote(event)},"data":${json}}`;
      // UTF-8 takes at most 3 bytes per UTF-16 unit.
      const worst = used + RECORD_HEADER + text.length * 3;
      if (worst > buffer.length) grow(worst);
      const written = writeUtf8(buffer, text, used + RECORD_HEADER);
      view.setFloat64(used, id, true);
      view.setUint32(used + 8, written, true);
      used += RECORD_HEADER + written;
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
    },
    /** Hands what is queued to Rust now (before any other frame goes out). */
    flush,
    get pending() {
      return used > 0;
    },
  };
}
