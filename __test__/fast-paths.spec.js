// The runtime's fast paths for svelte-realtime's own hook: messages read in place (no
// ArrayBuffer copy) and replies batched per turn (one napi call, one wake per socket).
// Behaviour must be exactly that of the plain paths, order included.
import { afterEach, describe, expect, it } from 'vitest';
import { createMessage, live, Registry } from '../lib/server/index.js';
import { connect, start, waitFor } from './helpers.js';

let server;
afterEach(() => server?.close());

async function setup(extra = {}) {
  const registry = new Registry();
  const unhandled = [];
  registry.registerModule('m', {
    echo: live((ctx, x) => x),
    announce: live((ctx, x) => {
      ctx.publish('news', 'said', x);
      return `announced ${x}`;
    }),
    feed: live.stream('news', () => []),
  });
  const message = createMessage({ registry, onUnhandled: (ws, data) => unhandled.push(data), ...extra });
  server = await start({ hooks: { message } });
  const client = await connect(server.wsUrl);
  return { client, unhandled };
}

const frames = (client, n) => waitFor(() => client.received.length >= n && client.received.splice(0, n).map((m) => JSON.parse(m)));

describe('fast paths', () => {
  it('many calls in one burst are all answered, each with its own id', async () => {
    const { client } = await setup();
    for (let i = 0; i < 300; i++) client.send(JSON.stringify({ rpc: 'm/echo', id: `e${i}`, args: [i] }));
    const replies = await frames(client, 300);
    expect(replies.map((r) => r.event).sort()).toEqual(Array.from({ length: 300 }, (_, i) => `e${i}`).sort());
    expect(replies.every((r) => r.topic === '__rpc' && r.data.ok && r.data.data === Number(r.event.slice(1)))).toBe(true);
  });

  it('a publish made by a call reaches the socket before the call\'s batched reply', async () => {
    const { client } = await setup();
    client.send(JSON.stringify({ rpc: 'm/feed', id: 's', args: [], stream: true }));
    expect((await frames(client, 1))[0].event).toBe('s');
    client.send(JSON.stringify({ rpc: 'm/announce', id: 'a', args: ['hi'] }));
    client.send(JSON.stringify({ rpc: 'm/echo', id: 'b', args: [1] }));
    const [first, second, third] = await frames(client, 3);
    expect(first).toEqual({ topic: 'news', event: 'said', data: 'hi' });
    expect([second.event, third.event].sort()).toEqual(['a', 'b']);
  });

  it('a message that is not an RPC reaches onUnhandled as its own ArrayBuffer', async () => {
    const { client, unhandled } = await setup();
    client.send('hello there');
    client.send(JSON.stringify({ rpc: 'm/echo', id: 'x', args: [2] }));
    await frames(client, 1);
    await waitFor(() => unhandled.length === 1);
    expect(unhandled[0]).toBeInstanceOf(ArrayBuffer);
    expect(new TextDecoder().decode(unhandled[0])).toBe('hello there');
  });

  it('a call in the clients\' exact shape is answered from its delimited parts, like any other call', async () => {
    const registry = new Registry();
    registry.registerModule('m', { echo: live((ctx, x) => x) });
    const unhandled = [];
    const message = createMessage({ registry, onUnhandled: (ws, data) => unhandled.push(new TextDecoder().decode(data)) });
    // Count what reaches the delimited-call entry, so the test proves which path answered.
    const RAW_CALL = Symbol.for('svelte-realtime.rawCall');
    const viaParts = [];
    const original = message[RAW_CALL];
    message[RAW_CALL] = (ws, bytes, start, end, ...rest) => {
      viaParts.push(new TextDecoder().decode(bytes.subarray(start, end)));
      return original(ws, bytes, start, end, ...rest);
    };
    server = await start({ hooks: { message } });
    const client = await connect(server.wsUrl);
    const value = { text: 'é "quoted" \\ ]}', nested: [1, { a: [null, true] }], n: -1.5e3 };
    const canonical = `{"rpc":"m/echo","id":"p1","args":[${JSON.stringify(value)}]}`;
    const reordered = `{"rpc":"m/echo","args":[${JSON.stringify(value)}],"id":"p2"}`;
    client.send(canonical);
    client.send(reordered);
    const replies = await frames(client, 2);
    const byId = Object.fromEntries(replies.map((r) => [r.event, r.data]));
    expect(byId.p1).toEqual({ ok: true, data: value });
    expect(byId.p2).toEqual(byId.p1);
    expect(viaParts).toEqual([canonical]);
    // Arguments Rust can delimit but JSON.parse refuses: the general path, which does not
    // take the message for an RPC either, so the app's onUnhandled gets it whole.
    const broken = '{"rpc":"m/echo","id":"p3","args":[01]}';
    client.send(broken);
    await waitFor(() => unhandled.length === 1);
    expect(unhandled).toEqual([broken]);
    expect(viaParts).toEqual([canonical, broken]);
  });

  it('names that need escaping are escaped in batched replies', async () => {
    const { client } = await setup();
    client.send(JSON.stringify({ rpc: 'm/echo', id: 'q"uote\\\n', args: ['ünï'] }));
    const [reply] = await frames(client, 1);
    expect(reply).toEqual({ topic: '__rpc', event: 'q"uote\\\n', data: { ok: true, data: 'ünï' } });
  });
});

describe('plain-call replies written around the value\'s JSON', () => {
  // The batched path writes `{"ok":true,"data":` and `}` as bytes around JSON.stringify of the
  // value; every reply must be byte for byte what JSON.stringify of the whole payload gives.
  const big = 2n ** 70n;
  const values = {
    undefined: () => undefined,
    fn: () => () => 1,
    nullish: () => null,
    text: () => 'é "q" \\ \u2028 \ud83d\ude00 \u0001',
    lone: () => '\ud800',
    // Printable ASCII is copied as its own literal, without JSON.stringify.
    plain: () => 'plain ASCII: ~!#$%&()*+,-./09:;<=>?@AZ[]^_`az{|}',
    empty: () => '',
    del: () => 'a\u007fb',
    quote: () => 'say "hi"',
    long: () => 'y'.repeat(100_000),
    number: () => -0,
    nan: () => NaN,
    array: () => [undefined, () => 1, 1],
    object: () => ({ a: undefined, b: { c: [1, 'two'] } }),
    date: () => new Date(0),
    keyed: () => ({ toJSON: (key) => `key:${key}` }),
    async: async () => ({ later: true }),
  };
  const expected = (id, payload) => `{"topic":"__rpc","event":"${id}","data":${JSON.stringify(payload)}}`;

  it('is byte for byte the JSON of { ok: true, data }, for every kind of value', async () => {
    const registry = new Registry();
    registry.registerModule('v', Object.fromEntries(Object.entries(values).map(([k, f]) => [k, live(() => f())])));
    server = await start({ hooks: { message: createMessage({ registry }) } });
    const client = await connect(server.wsUrl);
    const names = Object.keys(values);
    for (const name of names) client.send(JSON.stringify({ rpc: `v/${name}`, id: name, args: [] }));
    await waitFor(() => client.received.length >= names.length);
    const byId = Object.fromEntries(client.received.map((text) => [JSON.parse(text).event, text]));
    for (const name of names) {
      const data = await values[name]();
      expect(byId[name], name).toBe(expected(name, { ok: true, data }));
    }
    // Checked above through JSON.stringify of the whole payload: no `data` key for undefined,
    // and toJSON called with the key "data".
    expect(JSON.parse(byId.undefined).data).toEqual({ ok: true });
    expect(JSON.parse(byId.keyed).data.data).toBe('key:data');
  });

  it('a value JSON cannot carry is answered INTERNAL_ERROR, and the socket stays usable', async () => {
    const registry = new Registry();
    const cycle = {};
    cycle.self = cycle;
    registry.registerModule('v', { big: live(() => big), cycle: live(() => cycle), echo: live((ctx, x) => x) });
    server = await start({ hooks: { message: createMessage({ registry }) } });
    const client = await connect(server.wsUrl);
    const errors = [];
    const original = console.error;
    console.error = (...args) => errors.push(args.join(' '));
    try {
      for (const id of ['big', 'cycle']) client.send(JSON.stringify({ rpc: `v/${id}`, id, args: [] }));
      client.send(JSON.stringify({ rpc: 'v/echo', id: 'after', args: [7] }));
      const replies = await frames(client, 3);
      const byId = Object.fromEntries(replies.map((r) => [r.event, r.data]));
      expect(byId.big).toMatchObject({ ok: false, code: 'INTERNAL_ERROR' });
      expect(byId.cycle).toMatchObject({ ok: false, code: 'INTERNAL_ERROR' });
      expect(byId.after).toEqual({ ok: true, data: 7 });
      expect(errors.some((e) => e.includes('v/big'))).toBe(true);
    } finally {
      console.error = original;
    }
  });
});

describe('wakes held for a turn', () => {
  it('a burst published from a timer goes out whole and in order, with a direct send after it', async () => {
    const sockets = [];
    server = await start({ hooks: { open: (ws) => (ws.subscribe('burst'), sockets.push(ws)) } });
    const clients = await Promise.all([connect(server.wsUrl), connect(server.wsUrl)]);
    await waitFor(() => server.platform.subscribers('burst') === 2);
    // Outside any event batch: only the end-of-turn microtask can release the wakes.
    setTimeout(() => {
      for (let i = 0; i < 150; i++) server.platform.publish('burst', 'n', i);
      sockets[0].send('after');
    }, 5);
    // sockets[0] is whichever client opened first.
    await waitFor(() => clients[0].received.length + clients[1].received.length === 301, 3000);
    const [sender, other] = clients[0].received.length === 151 ? clients : [clients[1], clients[0]];
    expect(sender.received.at(-1)).toBe('after');
    expect(other.received).toHaveLength(150);
    for (const client of clients) {
      expect(client.received.slice(0, 150).map((m) => JSON.parse(m).data)).toEqual(Array.from({ length: 150 }, (_, i) => i));
    }
  });

  it('wakes held and never released by the caller go out with the next event batch', async () => {
    server = await start({ hooks: { open: (ws) => ws.subscribe('held'), message: () => {} } });
    const client = await connect(server.wsUrl);
    await waitFor(() => server.platform.subscribers('held') === 1);
    const native = server.platform[Symbol.for('svelte-realtime.nativeServer')]();
    native.holdWakes();
    native.publish('held', 'e', '1', true);
    await new Promise((r) => setTimeout(r, 100));
    // Held: no engine thread was woken. (An inline engine runs on this thread and writes a
    // socket whenever it polls it, so there the frame may already be out.)
    if (server.engine === 'threads') expect(client.received).toEqual([]);
    client.send('anything'); // its event batch releases what this thread held
    await waitFor(() => client.received.length === 1);
    expect(JSON.parse(client.received[0])).toEqual({ topic: 'held', event: 'e', data: 1 });
  });
});
