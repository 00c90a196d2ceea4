// Decodes the event batches the addon hands to JavaScript. The layout is written by
// `encode` in crates/realtime-core/src/events.rs; the record header is 16 bytes:
//   kind u8 | flags u8 | code u16 LE | payload length u32 LE | id u64 LE | payload
// Messages: flags bit 0 = binary frame, bits 1-2 = message kind (0 other, 1 RPC text,
// 2 RPC binary, 3 plain call: code = path length | id length << 8); HTTP requests: bit 0 = a body follows. Close: code = close code. Log:
// code = level. HTTP body end: code = 0 complete, 413 too large, 400 broken. Drained: shutdown
// stopped every socket reading (no client message follows).

export const UPGRADE = 1;
export const UPGRADE_ABORTED = 2;
export const OPEN = 3;
export const MESSAGE = 4;
export const CLOSE = 5;
export const DRAIN = 6;
export const SUBSCRIBE = 7;
export const HTTP_REQUEST = 8;
export const HTTP_ABORTED = 9;
export const LOG = 10;
export const STOPPED = 11;
export const HTTP_BODY = 12;
export const HTTP_BODY_END = 13;
export const HTTP_DRAIN = 14;
export const DRAINED = 15;

export const HEADER_LEN = 16;

/**
 * Size of the one buffer the addon writes every batch into (a batch ends when the next
 * event does not fit; a single larger event comes in a buffer of its own). Pages never
 * written are never resident.
 */
export const BATCH_BUFFER_BYTES = 4 * 1024 * 1024;

const utf8 = new TextDecoder();

/**
 * Calls `visit(kind, id, flags, code, bytes, start, end)` for each record, where
 * `bytes[start..end)` is the payload. `bytes` is a view over the batch: copy what you keep.
 * @param {Uint8Array} batch
 * @param {(kind: number, id: number, flags: number, code: number, bytes: Uint8Array, start: number, end: number) => void} visit
 */
export function forEachEvent(batch, visit) {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  let offset = 0;
  while (offset + HEADER_LEN <= batch.byteLength) {
    const kind = view.getUint8(offset);
    const flags = view.getUint8(offset + 1);
    const code = view.getUint16(offset + 2, true);
    const length = view.getUint32(offset + 4, true);
    const id = view.getUint32(offset + 8, true) + view.getUint32(offset + 12, true) * 2 ** 32;
    const start = offset + HEADER_LEN;
    const end = start + length;
    if (end > batch.byteLength) throw new Error('svelte-realtime: truncated event batch');
    visit(kind, id, flags, code, batch, start, end);
    offset = end;
  }
}

/** UTF-8 text of `bytes[start..end)`. */
export function text(bytes, start, end) {
  return utf8.decode(bytes.subarray(start, end));
}

/** A fresh ArrayBuffer holding `bytes[start..end)`. */
export function copy(bytes, start, end) {
  return bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + end);
}
