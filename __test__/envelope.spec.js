import { afterEach, describe, expect, it } from 'vitest';
import { connect, start } from './helpers.js';

let server;
afterEach(() => server?.close());

/** A server whose `open` hook subscribes every socket to the listed topics. */
async function withTopics(topics, extra = {}) {
  const sockets = [];
  server = await start({
    hooks: {
      open(ws) {
        for (const t of topics) ws.subscribe(t);
        sockets.push(ws);
      },
      ...extra,
    },
  });
  return sockets;
}

describe('envelopes', () => {
  it('publish sends the reference bytes', async () => {
    await withTopics(['todos']);
    const client = await connect(server.wsUrl);
    await new Promise((r) => setTimeout(r, 20));
    expect(server.platform.publish('todos', 'created', { id: 1, text: 'Buy milk' })).toBe(true);
    expect(await client.next()).toBe('{"topic":"todos","event":"created","data":{"id":1,"text":"Buy milk"}}');
  });

  it('undefined data becomes null, never invalid JSON', async () => {
    await withTopics(['t']);
    const client = await connect(server.wsUrl);
    await new Promise((r) => setTimeout(r, 20));
    server.platform.publish('t', 'e');
    server.platform.topic('t').set(undefined);
    server.platform.publish('t', 'fn', () => {});
    expect(await client.next()).toBe('{"topic":"t","event":"e","data":null}');
    expect(await client.next()).toBe('{"topic":"t","event":"set","data":null}');
    expect(await client.next()).toBe('{"topic":"t","event":"fn","data":null}');
  });

  it('escapes topics and events the reference would throw on, so they parse back', async () => {
    const odd = 'a"b\\c\n';
    await withTopics([odd]);
    const client = await connect(server.wsUrl);
    await new Promise((r) => setTimeout(r, 20));
    server.platform.publish(odd, 'q"uote', [1]);
    const parsed = JSON.parse(await client.next());
    expect(parsed).toEqual({ topic: odd, event: 'q"uote', data: [1] });
  });

  it('topic helpers map to the documented events', async () => {
    await withTopics(['c']);
    const client = await connect(server.wsUrl);
    await new Promise((r) => setTimeout(r, 20));
    const t = server.platform.topic('c');
    t.created({ id: 1 });
    t.updated({ id: 1 });
    t.deleted({ id: 1 });
    t.set(5);
    t.increment();
    t.decrement(3);
    t.publish('custom', 'x');
    const events = [];
    for (let i = 0; i < 7; i++) events.push(JSON.parse(await client.next()));
    expect(events.map((e) => [e.event, e.data])).toEqual([
      ['created', { id: 1 }],
      ['updated', { id: 1 }],
      ['deleted', { id: 1 }],
      ['set', 5],
      ['increment', 1],
      ['decrement', 3],
      ['custom', 'x'],
    ]);
  });

  it('keeps per-socket FIFO order across publish and direct send', async () => {
    const sockets = await withTopics(['feed']);
    const client = await connect(server.wsUrl);
    await new Promise((r) => setTimeout(r, 20));
    const [ws] = sockets;
    for (let i = 0; i < 500; i++) {
      server.platform.publish('feed', 'n', i);
      server.platform.send(ws, '__rpc', `id${i}`, { ok: true, data: i });
    }
    for (let i = 0; i < 500; i++) {
      expect(JSON.parse(await client.next())).toEqual({ topic: 'feed', event: 'n', data: i });
      expect(JSON.parse(await client.next())).toEqual({
        topic: '__rpc',
        event: `id${i}`,
        data: { ok: true, data: i },
      });
    }
  });

  it('sendTo filters on user data and builds the envelope once', async () => {
    let n = 0;
    server = await start({
      hooks: { upgrade: () => ({ id: n++, role: n % 2 ? 'admin' : 'user' }) },
    });
    const clients = await Promise.all([0, 1, 2, 3].map(() => connect(server.wsUrl)));
    await new Promise((r) => setTimeout(r, 20));
    const count = server.platform.sendTo((u) => u.role === 'admin', 'alerts', 'msg', 'hi');
    expect(count).toBe(2);
    const got = await Promise.allSettled(clients.map((c) => c.next(300)));
    expect(got.filter((r) => r.status === 'fulfilled').map((r) => r.value)).toEqual([
      '{"topic":"alerts","event":"msg","data":"hi"}',
      '{"topic":"alerts","event":"msg","data":"hi"}',
    ]);
  });

  it('rejects non-string topics and events with a TypeError', async () => {
    await withTopics([]);
    expect(() => server.platform.publish(5, 'e', 1)).toThrow(TypeError);
    expect(() => server.platform.publish('t', null, 1)).toThrow(/event must be a string/);
    expect(() => server.platform.publish('t', 'e', 10n)).toThrow(/BigInt/);
  });

  it('platform.send to a closed socket returns DROPPED instead of throwing', async () => {
    const sockets = await withTopics([]);
    const client = await connect(server.wsUrl);
    await new Promise((r) => setTimeout(r, 20));
    client.terminate();
    await new Promise((r) => setTimeout(r, 100));
    expect(server.platform.send(sockets[0], 't', 'e', 1)).toBe(2);
    expect(sockets[0].send('x')).toBe(2);
  });
});

describe('batched replies (lib/runtime/outbound.js)', () => {
  it('writes each envelope in place, escaping names only where JSON needs it', async () => {
    const { createOutbound } = await import('../lib/runtime/outbound.js');
    const batches = [];
    const outbound = createOutbound(() => ({ sendBatch: (b) => batches.push(Buffer.from(b)) }));
    const names = ['k3f9a', 'a"b', 'back\\slash', 'tab\there', 'café', '🙂', 'lone\ud800', 'del\u007f', ''];
    names.forEach((name, i) => outbound.send(i + 1, i % 2 ? '__rpc' : `t-${name}`, name, `{"n":${i}}`));
    outbound.flush();
    expect(batches).toHaveLength(1);
    const records = [];
    for (let at = 0; at < batches[0].length; ) {
      const id = batches[0].readDoubleLE(at);
      const length = batches[0].readUInt32LE(at + 8);
      records.push([id, batches[0].toString('utf8', at + 12, at + 12 + length)]);
      at += 12 + length;
    }
    expect(records.map(([id]) => id)).toEqual(names.map((_, i) => i + 1));
    records.forEach(([, text], i) => {
      const topic = i % 2 ? '__rpc' : `t-${names[i]}`;
      expect(JSON.parse(text)).toEqual({ topic, event: names[i], data: { n: i } });
      // Byte for byte what the envelope is for names that need no escapes.
      if (!/["\\\u0000-\u001f\ud800-\udfff]/.test(names[i])) {
        expect(text).toBe(`{"topic":"${topic}","event":"${names[i]}","data":{"n":${i}}}`);
      }
    });
  });

  it('grows its buffer for a large reply and keeps earlier records', async () => {
    const { createOutbound } = await import('../lib/runtime/outbound.js');
    const batches = [];
    const outbound = createOutbound(() => ({ sendBatch: (b) => batches.push(Buffer.from(b)) }));
    outbound.send(1, '__rpc', 'a', '"small"');
    const big = JSON.stringify('é'.repeat(100_000));
    outbound.send(2, '__rpc', 'b', big);
    outbound.flush();
    const first = batches[0].readUInt32LE(8);
    const second = batches[0].readUInt32LE(12 + first + 8);
    expect(batches[0].toString('utf8', 12, 12 + first)).toBe('{"topic":"__rpc","event":"a","data":"small"}');
    expect(JSON.parse(batches[0].toString('utf8', 24 + first, 24 + first + second)).data).toBe('é'.repeat(100_000));
  });
});
