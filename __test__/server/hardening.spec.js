// Defects found by attacking the server (issue 7), at the RPC layer: refused streams, client
// numbers that drove loops, unserializable results, guards and enumeration, access helpers.
import { describe, expect, it, vi } from 'vitest';
import { guard, live, LiveError } from '../../lib/server/index.js';
import { MAX_ARGS, MAX_PATH_LENGTH } from '../../lib/server/execute.js';
import { fakePlatform, fakeSocket, registryWith, rpc } from './fakes.js';

const stream = (path, extra = {}) => ({ rpc: path, args: [], stream: true, ...extra });

function quietErrors() {
  return vi.spyOn(console, 'error').mockImplementation(() => {});
}

describe('a stream call that fails after its subscribe withdraws it', () => {
  const docs = {
    doc: live.stream(
      (ctx, id) => `doc:${id}`,
      (ctx, id) => {
        if (id !== ctx.user.id) throw new LiveError('FORBIDDEN', 'Not your document');
        return [{ id }];
      },
    ),
  };

  it('init refusing someone else\'s id leaves the caller unsubscribed', async () => {
    const registry = registryWith({ docs });
    const ws = fakeSocket({ id: 'alice' });
    const payload = await rpc({ registry, ws }, stream('docs/doc', { args: ['bob'] }));
    expect(payload).toEqual({ ok: false, code: 'FORBIDDEN', error: 'Not your document' });
    expect(ws.isSubscribed('doc:bob')).toBe(false);
    expect((await rpc({ registry, ws }, stream('docs/doc', { args: ['alice'] }))).ok).toBe(true);
    expect(ws.isSubscribed('doc:alice')).toBe(true);
  });

  it('keeps a topic the socket held from an earlier successful call', async () => {
    let allow = true;
    const m = {
      feed: live.stream('feed', () => {
        if (!allow) throw new LiveError('FORBIDDEN', 'no');
        return [];
      }),
    };
    const registry = registryWith({ m });
    const ws = fakeSocket();
    expect((await rpc({ registry, ws }, stream('m/feed'))).ok).toBe(true);
    allow = false;
    expect((await rpc({ registry, ws }, stream('m/feed'))).code).toBe('FORBIDDEN');
    expect(ws.isSubscribed('feed')).toBe(true);
  });

  it('a topic the client unsubscribed from is withdrawn when the next call is refused', async () => {
    let allow = true;
    const m = { feed: live.stream('feed', () => (allow ? [] : Promise.reject(new LiveError('FORBIDDEN', 'no')))) };
    const registry = registryWith({ m });
    const ws = fakeSocket();
    await rpc({ registry, ws }, stream('m/feed'));
    ws.unsubscribe('feed');
    allow = false;
    expect((await rpc({ registry, ws }, stream('m/feed'))).code).toBe('FORBIDDEN');
    expect(ws.isSubscribed('feed')).toBe(false);
  });

  it('two calls in flight: the one that succeeds keeps the topic whatever the order', async () => {
    const gates = [];
    const m = {
      s: live.stream('shared', (ctx, ok) => new Promise((resolve, reject) => gates.push(() => (ok ? resolve([]) : reject(new LiveError('NOPE', 'no')))))),
    };
    const registry = registryWith({ m });
    const ws = fakeSocket();
    const good = rpc({ registry, ws }, stream('m/s', { args: [true] }));
    const bad = rpc({ registry, ws }, stream('m/s', { args: [false] }));
    await vi.waitFor(() => expect(gates).toHaveLength(2));
    gates[1]();
    expect((await bad).code).toBe('NOPE');
    expect(ws.isSubscribed('shared')).toBe(true);
    gates[0]();
    expect((await good).ok).toBe(true);
    expect(ws.isSubscribed('shared')).toBe(true);
  });

  it('replay, delta and a topic subscribed by the app itself', async () => {
    const spy = quietErrors();
    const m = {
      // A full fetch that fails after replay and delta fell through.
      broken: live.stream('broken', () => {
        throw new Error('db down');
      }, { replay: true, delta: { version: () => 2, diff: () => { throw new Error('no diff'); } } }),
      own: live.stream('own', () => {
        throw new LiveError('FORBIDDEN', 'no');
      }),
    };
    const registry = registryWith({ m });
    const ws = fakeSocket();
    const platform = fakePlatform();
    platform.replay = { since: () => Promise.reject(new Error('replay down')), seq: () => 3 };
    expect((await rpc({ registry, ws, platform }, stream('m/broken', { seq: 1, version: 1 }))).code).toBe('INTERNAL_ERROR');
    expect(ws.isSubscribed('broken')).toBe(false);
    ws.subscribe('own');
    expect((await rpc({ registry, ws, platform }, stream('m/own'))).code).toBe('FORBIDDEN');
    expect(ws.isSubscribed('own'), 'the app subscribed it: the app unsubscribes it').toBe(true);
    spy.mockRestore();
  });

  it('onUnsubscribe runs for a withdrawn call that ran onSubscribe, and not on close', async () => {
    const seen = [];
    const m = {
      room: live.stream('room', () => {
        throw new LiveError('FULL', 'room full');
      }, {
        onSubscribe: (ctx, topic) => seen.push(`join ${topic}`),
        onUnsubscribe: (ctx, topic) => seen.push(`leave ${topic}`),
      }),
    };
    const ws = fakeSocket();
    expect((await rpc({ registry: registryWith({ m }), ws }, stream('m/room'))).code).toBe('FULL');
    await vi.waitFor(() => expect(seen).toEqual(['join room', 'leave room']));
    const { close } = await import('../../lib/server/index.js');
    close(ws, { platform: fakePlatform() });
    await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual(['join room', 'leave room']);
  });

  it('a reply that cannot be serialized withdraws the subscription too', async () => {
    const spy = quietErrors();
    const m = { s: live.stream('big', () => [10n]) };
    const ws = fakeSocket();
    const payload = await rpc({ registry: registryWith({ m }), ws }, stream('m/s'));
    expect(payload).toEqual({ ok: false, code: 'INTERNAL_ERROR', error: 'Internal server error' });
    expect(ws.isSubscribed('big')).toBe(false);
    spy.mockRestore();
  });
});

describe('client numbers cannot drive loops', () => {
  const migrations = [];
  const m = {
    items: live.stream('items', () => [{ v: 1 }], {
      version: 3,
      migrate: { 1: (x) => (migrations.push(1), x), 2: (x) => (migrations.push(2), x) },
    }),
    plain: live.stream('plain', () => []),
    echo: live((ctx, ...args) => args.length),
  };
  const registry = registryWith({ m });

  it.each([-1e308, -1, 0, 1.5, 4, 1e308, Number.MAX_SAFE_INTEGER, '2', null, true])(
    'schemaVersion %s is INVALID_REQUEST for a stream at version 3',
    async (schemaVersion) => {
      const payload = await rpc({ registry }, stream('m/items', { schemaVersion }));
      expect(payload.code).toBe('INVALID_REQUEST');
      expect(payload.error).toBe('schemaVersion must be an integer in 1..3');
    },
  );

  it('schemaVersion 1..version migrates; garbage on an unversioned stream is refused too', async () => {
    migrations.length = 0;
    expect((await rpc({ registry }, stream('m/items', { schemaVersion: 1 }))).schemaVersion).toBe(3);
    expect(migrations).toEqual([1, 2]);
    expect((await rpc({ registry }, stream('m/items', { schemaVersion: 3 }))).ok).toBe(true);
    expect((await rpc({ registry }, stream('m/plain', { schemaVersion: 7 }))).ok).toBe(true);
    expect((await rpc({ registry }, stream('m/plain', { schemaVersion: -1e308 }))).code).toBe('INVALID_REQUEST');
  });

  it.each([-1, 1.5, 1e308, -0.5])('seq %s is INVALID_REQUEST', async (seq) => {
    const ws = fakeSocket();
    const payload = await rpc({ registry, ws }, stream('m/plain', { seq }));
    expect(payload).toEqual({ ok: false, code: 'INVALID_REQUEST', error: 'seq must be a non-negative integer' });
    expect(ws.getTopics()).toEqual([]);
  });

  it('paths and argument lists have bounds', async () => {
    const deep = Array.from({ length: 2000 }, () => 'a').join('/');
    expect(await rpc({ registry }, { rpc: deep, args: [] })).toEqual({ ok: false, code: 'INVALID_REQUEST', error: 'Invalid path' });
    const long = `m/${'x'.repeat(MAX_PATH_LENGTH)}`;
    expect((await rpc({ registry }, { rpc: long, args: [] })).code).toBe('INVALID_REQUEST');
    expect(await rpc({ registry }, { rpc: 'm/echo', args: Array(MAX_ARGS).fill(0) })).toEqual({ ok: true, data: MAX_ARGS });
    expect((await rpc({ registry }, { rpc: 'm/echo', args: Array(MAX_ARGS + 1).fill(0) })).code).toBe('INVALID_REQUEST');
  });

  it('a huge oversized batch gets one error, not one per entry', async () => {
    const env = { registry };
    const batch = Array.from({ length: 5000 }, (_, i) => ({ rpc: 'm/echo', id: `b${i}`, args: [] }));
    const payload = await rpc(env, { batch });
    expect(payload.batch).toHaveLength(1);
    expect(payload.batch[0]).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
    const some = batch.slice(0, 60);
    const listed = await rpc(env, { batch: some });
    expect(listed.batch.map((r) => r.id)).toEqual(some.map((e) => e.id));
  });
});

describe('unserializable results are answered INTERNAL_ERROR and logged', () => {
  const circular = () => {
    const o = { name: 'loop' };
    o.self = o;
    return o;
  };
  const deep = () => {
    const root = {};
    let cur = root;
    for (let i = 0; i < 7000; i++) cur = cur.next = {};
    return root;
  };
  const m = {
    circular: live(() => circular()),
    bigint: live(() => ({ n: 1n })),
    deep: live(() => deep()),
    fine: live(() => 'fine'),
    publishes: live((ctx) => {
      ctx.publish('t', 'e', circular());
      return 'unreachable';
    }),
  };
  const registry = registryWith({ m });

  it.each(['circular', 'bigint', 'deep'])('%s result', async (name) => {
    const spy = quietErrors();
    const payload = await rpc({ registry }, { rpc: `m/${name}`, args: [] });
    expect(payload).toEqual({ ok: false, code: 'INTERNAL_ERROR', error: 'Internal server error' });
    expect(spy).toHaveBeenCalled();
    expect(String(spy.mock.calls[0][0])).toContain(`m/${name}`);
    spy.mockRestore();
  });

  it('in a batch only the bad entry fails', async () => {
    const spy = quietErrors();
    const payload = await rpc({ registry }, {
      batch: [
        { rpc: 'm/fine', id: 'a', args: [] },
        { rpc: 'm/bigint', id: 'b', args: [] },
      ],
    });
    expect(payload.batch).toEqual([
      { id: 'a', ok: true, data: 'fine' },
      { id: 'b', ok: false, code: 'INTERNAL_ERROR', error: 'Internal server error' },
    ]);
    spy.mockRestore();
  });

  it('a binary call', async () => {
    const spy = quietErrors();
    const bin = { up: live.binary(() => circular()) };
    const header = new TextEncoder().encode(JSON.stringify({ rpc: 'bin/up', id: 'x1' }));
    const frame = new Uint8Array(3 + header.length + 2);
    frame[1] = header.length >> 8;
    frame[2] = header.length & 0xff;
    frame.set(header, 3);
    expect((await rpc({ registry: registryWith({ bin }) }, frame)).code).toBe('INTERNAL_ERROR');
    spy.mockRestore();
  });

  it('.load() with data JSON cannot carry throws a clear error', async () => {
    const s = { s: live.stream('s', () => ({ n: 5n })) };
    const reg = registryWith({ s });
    await expect(s.s.load({}, { registry: reg })).rejects.toThrow(/s\/s\.load\(\): the stream's data cannot be sent as JSON/);
  });
});

describe('guarded modules do not reveal their exports', () => {
  const admin = {
    _guard: guard((ctx) => {
      if (ctx.user?.role !== 'admin') throw new LiveError('FORBIDDEN', 'Admins only');
    }),
    deleteUser: live(() => 'deleted'),
  };
  const registry = registryWith({ admin });

  it('a stranger gets the guard\'s error for real and unknown names alike', async () => {
    const ws = fakeSocket({ role: 'guest' });
    const real = await rpc({ registry, ws }, { rpc: 'admin/deleteUser', args: [] });
    const unknown = await rpc({ registry, ws }, { rpc: 'admin/nothingHere', args: [] });
    expect(real).toEqual({ ok: false, code: 'FORBIDDEN', error: 'Admins only' });
    expect(unknown).toEqual(real);
  });

  it('a caller the guard admits gets NOT_FOUND for unknown names', async () => {
    const ws = fakeSocket({ role: 'admin' });
    expect(await rpc({ registry, ws }, { rpc: 'admin/nothingHere', args: [] })).toEqual({
      ok: false,
      code: 'NOT_FOUND',
      error: 'Not found',
    });
    expect(await rpc({ registry, ws }, { rpc: 'nomodule/x', args: [] })).toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('live.access.any / all', () => {
  const yes = () => true;
  const no = () => false;

  it('answer a boolean when every predicate is synchronous', () => {
    expect(live.access.any(no, yes)({})).toBe(true);
    expect(live.access.any(no, no)({})).toBe(false);
    expect(live.access.all(yes, yes)({})).toBe(true);
    expect(live.access.all(yes, no)({})).toBe(false);
    // Composed by hand: a Promise here would always be truthy.
    expect(live.access.any(no, no)({}) && 'granted').toBe(false);
  });

  it('answer a promise only when a predicate is asynchronous', async () => {
    const later = (v) => async () => v;
    const any = live.access.any(no, later(true));
    expect(any({})).toBeInstanceOf(Promise);
    expect(await any({})).toBe(true);
    expect(await live.access.all(yes, later(false))({})).toBe(false);
    expect(live.access.any(yes, later(false))({}), 'decided before the async one').toBe(true);
  });
});
