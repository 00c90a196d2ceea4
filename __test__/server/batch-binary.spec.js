import { describe, expect, it } from 'vitest';
import { LiveError, live } from '../../lib/server/index.js';
import { fakeSocket, registryWith, rpc } from './fakes.js';

function binaryFrame(header, payload) {
  const head = new TextEncoder().encode(JSON.stringify(header));
  const frame = new Uint8Array(3 + head.length + payload.length);
  frame[0] = 0;
  frame[1] = head.length >> 8;
  frame[2] = head.length & 0xff;
  frame.set(head, 3);
  frame.set(payload, 3 + head.length);
  return frame;
}

describe('batch', () => {
  const order = [];
  const m = {
    slow: live(async (ctx, n) => {
      await new Promise((r) => setTimeout(r, 20));
      order.push(`slow ${n}`);
      return n;
    }),
    fast: live((ctx, n) => (order.push(`fast ${n}`), n)),
    fail: live(() => {
      throw new LiveError('NOPE', 'no');
    }),
    feed: live.stream('feed', (ctx) => ({ data: [ctx.cursor], hasMore: true, cursor: 1 }), {
      onSubscribe: (ctx, topic) => order.push(`sub ${topic}`),
    }),
  };

  it('answers one __batch envelope with results in request order; failures are independent', async () => {
    const env = { registry: registryWith({ m }) };
    order.length = 0;
    const payload = await rpc(env, {
      batch: [
        { rpc: 'm/slow', id: 'a', args: [1] },
        { rpc: 'm/fail', id: 'b', args: [] },
        { rpc: 'm/fast', id: 'c', args: [2] },
      ],
    });
    expect(payload).toEqual({
      batch: [
        { id: 'a', ok: true, data: 1 },
        { id: 'b', ok: false, code: 'NOPE', error: 'no' },
        { id: 'c', ok: true, data: 2 },
      ],
    });
    expect(env.ws.sent[0]).toMatchObject({ topic: '__rpc', event: '__batch' });
    expect(order).toEqual(['fast 2', 'slow 1']);
  });

  it('sequential runs one after another', async () => {
    order.length = 0;
    await rpc({ registry: registryWith({ m }) }, {
      batch: [
        { rpc: 'm/slow', id: 'a', args: [1] },
        { rpc: 'm/fast', id: 'b', args: [2] },
      ],
      sequential: true,
    });
    expect(order).toEqual(['slow 1', 'fast 2']);
  });

  it('stream entries take the full stream path (onSubscribe, pagination, cursor)', async () => {
    order.length = 0;
    const ws = fakeSocket();
    const payload = await rpc({ registry: registryWith({ m }), ws }, {
      batch: [{ rpc: 'm/feed', id: 's', args: [], stream: true, cursor: 7 }],
    });
    expect(payload.batch[0]).toEqual({
      id: 's', ok: true, data: [7], topic: 'feed', merge: 'crud', key: 'id', hasMore: true, cursor: 1,
    });
    expect(order).toEqual(['sub feed']);
    expect(ws.getTopics()).toEqual(['feed']);
  });

  it('more than 50 calls: every entry is refused with its own id (reference bug §9.16)', async () => {
    const batch = Array.from({ length: 51 }, (_, i) => ({ rpc: 'm/fast', id: `i${i}`, args: [i] }));
    const payload = await rpc({ registry: registryWith({ m }) }, { batch });
    expect(payload.batch).toHaveLength(51);
    expect(payload.batch[0]).toEqual({ id: 'i0', ok: false, code: 'INVALID_REQUEST', error: 'Batch exceeds maximum of 50 calls' });
    expect(payload.batch[50].id).toBe('i50');
  });

  it('entries without rpc or id are refused; exactly 50 is fine', async () => {
    const payload = await rpc({ registry: registryWith({ m }) }, {
      batch: [{ id: 'x' }, { rpc: 'm/fast' }, null, { rpc: 'm/fast', id: 'ok', args: [1] }],
    });
    const refused = { ok: false, code: 'INVALID_REQUEST', error: 'Each batch entry requires rpc and id' };
    expect(payload.batch).toEqual([
      { id: 'x', ...refused },
      { id: '', ...refused },
      { id: '', ...refused },
      { id: 'ok', ok: true, data: 1 },
    ]);
    const fifty = Array.from({ length: 50 }, (_, i) => ({ rpc: 'm/fast', id: `i${i}`, args: [i] }));
    expect((await rpc({ registry: registryWith({ m }) }, { batch: fifty })).batch.every((r) => r.ok)).toBe(true);
  });
});

describe('binary RPC', () => {
  const m = {
    upload: live.binary(async (ctx, buffer, name) => ({
      name,
      size: buffer.byteLength,
      isArrayBuffer: buffer instanceof ArrayBuffer,
      first: new Uint8Array(buffer)[0],
    }), { maxSize: 8 }),
    plain: live(() => 'x'),
  };

  it('decodes 0x00 | u16 BE length | JSON header | payload', async () => {
    const frame = binaryFrame({ rpc: 'm/upload', id: 'b1', args: ['a.png'] }, new Uint8Array([9, 8, 7]));
    expect(await rpc({ registry: registryWith({ m }) }, frame)).toEqual({
      ok: true,
      data: { name: 'a.png', size: 3, isArrayBuffer: true, first: 9 },
    });
  });

  it('args may be omitted and the payload may be empty', async () => {
    const frame = binaryFrame({ rpc: 'm/upload', id: 'b2' }, new Uint8Array([]));
    expect((await rpc({ registry: registryWith({ m }) }, frame)).data).toMatchObject({ size: 0 });
  });

  it('refuses non-binary endpoints, oversized payloads, and JSON calls to binary endpoints', async () => {
    const registry = registryWith({ m });
    expect(await rpc({ registry }, binaryFrame({ rpc: 'm/plain', id: 'b3' }, new Uint8Array([1])))).toEqual({
      ok: false, code: 'INVALID_REQUEST', error: 'Not a binary endpoint',
    });
    expect(await rpc({ registry }, binaryFrame({ rpc: 'm/upload', id: 'b4' }, new Uint8Array(9)))).toEqual({
      ok: false, code: 'PAYLOAD_TOO_LARGE', error: 'Binary payload exceeds size limit',
    });
    expect((await rpc({ registry }, { rpc: 'm/upload', args: [] })).code).toBe('INVALID_REQUEST');
  });
});
