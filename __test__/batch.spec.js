// The JavaScript decoder against the byte layout the Rust encoder is tested on
// (crates/realtime-core/src/events.rs, `encodes_records_byte_for_byte`).
import { describe, expect, it } from 'vitest';
import * as ev from '../lib/runtime/batch.js';

function collect(bytes) {
  const out = [];
  ev.forEachEvent(bytes, (kind, id, flags, code, b, start, end) =>
    out.push({ kind, id, flags, code, payload: [...b.subarray(start, end)] }),
  );
  return out;
}

describe('event batch decoding', () => {
  it('decodes the records the Rust encoder writes', () => {
    const message = [4, 0b101, 0, 0, 2, 0, 0, 0, 6, 5, 4, 3, 2, 1, 0, 0, 104, 105];
    const close = [5, 0, 0xf1, 0x03, 3, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 98, 105, 103];
    expect(collect(new Uint8Array([...message, ...close]))).toEqual([
      { kind: ev.MESSAGE, id: 0x010203040506, flags: 5, code: 0, payload: [104, 105] },
      { kind: ev.CLOSE, id: 7, flags: 0, code: 1009, payload: [98, 105, 103] },
    ]);
  });

  it('works on a view into a larger buffer', () => {
    const record = [6, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0];
    const big = new Uint8Array([1, 2, 3, ...record]);
    expect(collect(big.subarray(3))).toEqual([{ kind: ev.DRAIN, id: 9, flags: 0, code: 0, payload: [] }]);
  });

  it('rejects a truncated batch', () => {
    expect(() => collect(new Uint8Array([4, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]))).toThrow(/truncated/);
  });

  it('copies payloads into independent ArrayBuffers', () => {
    const bytes = new Uint8Array([1, 2, 3, 4]);
    const copy = ev.copy(bytes, 1, 3);
    bytes[1] = 9;
    expect([...new Uint8Array(copy)]).toEqual([2, 3]);
  });
});
