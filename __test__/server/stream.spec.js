import { describe, expect, it, vi } from 'vitest';
import { close, LiveError, live } from '../../lib/server/index.js';
import { TOPIC_STATE } from '../../lib/server/stream.js';
import { fakePlatform, fakeSocket, registryWith, rpc } from './fakes.js';

const stream = (path, extra = {}) => ({ rpc: path, args: [], stream: true, ...extra });

describe('stream subscribe', () => {
  it('answers data with topic and merge options, and subscribes the socket before init runs', async () => {
    const ws = fakeSocket();
    const seen = [];
    const m = {
      messages: live.stream(
        'messages',
        async () => {
          seen.push(ws.isSubscribed('messages'));
          return [{ id: 1 }];
        },
        { merge: 'crud', key: 'id', prepend: true },
      ),
    };
    const payload = await rpc({ registry: registryWith({ m }), ws }, stream('m/messages'));
    expect(payload).toEqual({ ok: true, data: [{ id: 1 }], topic: 'messages', merge: 'crud', key: 'id', prepend: true });
    expect(seen).toEqual([true]);
  });

  it('defaults: merge crud, key id; max and prepend only when set', async () => {
    const m = { s: live.stream('t', () => []), l: live.stream('l', () => [], { merge: 'latest', max: 3 }) };
    const registry = registryWith({ m });
    expect(await rpc({ registry }, stream('m/s'))).toEqual({ ok: true, data: [], topic: 't', merge: 'crud', key: 'id' });
    expect(await rpc({ registry }, stream('m/l'))).toEqual({ ok: true, data: [], topic: 'l', merge: 'latest', key: 'id', max: 3 });
  });

  it('dynamic topics come from the topic function; reserved prefixes are refused', async () => {
    const m = {
      room: live.stream((ctx, id) => `chat:${id}`, (ctx, id) => [{ id, by: ctx.user.id }]),
      sneaky: live.stream((ctx, id) => `__signal:${id}`, () => []),
    };
    const registry = registryWith({ m });
    const ws = fakeSocket({ id: 'u1' });
    expect(await rpc({ registry, ws }, stream('m/room', { args: ['7'] }))).toMatchObject({
      data: [{ id: '7', by: 'u1' }],
      topic: 'chat:7',
    });
    expect(ws.getTopics()).toEqual(['chat:7']);
    expect(await rpc({ registry, ws }, stream('m/sneaky', { args: ['bob'] }))).toEqual({
      ok: false,
      code: 'INVALID_REQUEST',
      error: 'Reserved topic prefix',
    });
    expect(ws.getTopics()).toEqual(['chat:7']);
  });

  it('access denies with FORBIDDEN and no subscription; live.access helpers', async () => {
    const m = {
      admin: live.stream('admin', () => ['secret'], { access: live.access.role({ admin: true, viewer: false }) }),
      mine: live.stream('mine', () => [], { filter: live.access.owner() }),
      either: live.stream('either', () => [], {
        access: live.access.any(live.access.team(), (ctx) => ctx.user.vip === true),
      }),
      both: live.stream('both', () => [], { access: live.access.all(live.access.owner(), live.access.team()) }),
    };
    const registry = registryWith({ m });
    const viewer = fakeSocket({ id: 1, role: 'viewer' });
    expect(await rpc({ registry, ws: viewer }, stream('m/admin'))).toEqual({ ok: false, code: 'FORBIDDEN', error: 'Access denied' });
    expect(viewer.getTopics()).toEqual([]);
    const admin = fakeSocket({ id: 2, role: 'admin' });
    expect((await rpc({ registry, ws: admin }, stream('m/admin'))).data).toEqual(['secret']);
    const proto = fakeSocket({ id: 3, role: '__proto__' });
    expect((await rpc({ registry, ws: proto }, stream('m/admin'))).code).toBe('FORBIDDEN');
    expect((await rpc({ registry, ws: fakeSocket({}) }, stream('m/mine'))).code).toBe('FORBIDDEN');
    expect((await rpc({ registry, ws: fakeSocket({ id: 1 }) }, stream('m/mine'))).ok).toBe(true);
    expect((await rpc({ registry, ws: fakeSocket({ vip: true }) }, stream('m/either'))).ok).toBe(true);
    expect((await rpc({ registry, ws: fakeSocket({ id: 1 }) }, stream('m/both'))).code).toBe('FORBIDDEN');
    expect((await rpc({ registry, ws: fakeSocket({ id: 1, teamId: 9 }) }, stream('m/both'))).ok).toBe(true);
  });

  it('a gate that says no answers {data:null, gated:true} without subscribing', async () => {
    const m = { beta: live.gate((ctx) => ctx.user.beta === true, live.stream('beta', () => ['b'])) };
    const registry = registryWith({ m });
    const ws = fakeSocket({});
    expect(await rpc({ registry, ws }, stream('m/beta'))).toEqual({ ok: true, data: null, gated: true });
    expect(ws.getTopics()).toEqual([]);
    expect((await rpc({ registry, ws: fakeSocket({ beta: true }) }, stream('m/beta'))).data).toEqual(['b']);
  });

  it('onSubscribe runs after the subscribe and before init; its errors are swallowed', async () => {
    const order = [];
    const m = {
      s: live.stream('room', () => (order.push('init'), []), {
        onSubscribe: (ctx, topic) => {
          order.push(`onSubscribe ${topic}`);
          throw new Error('ignored');
        },
      }),
    };
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    expect((await rpc({ registry: registryWith({ m }) }, stream('m/s'))).ok).toBe(true);
    spy.mockRestore();
    expect(order).toEqual(['onSubscribe room', 'init']);
  });

  it('without stream:true a stream just runs its init; stream:true on a call is a plain call', async () => {
    const m = { s: live.stream('t', () => [1]), c: live(() => 'c') };
    const registry = registryWith({ m });
    const ws = fakeSocket();
    expect(await rpc({ registry, ws }, { rpc: 'm/s', args: [] })).toEqual({ ok: true, data: [1] });
    expect(ws.getTopics()).toEqual([]);
    expect(await rpc({ registry, ws }, stream('m/c'))).toEqual({ ok: true, data: 'c' });
  });
});

describe('pagination', () => {
  const m = {
    posts: live.stream('posts', (ctx) => {
      const start = ctx.cursor ?? 0;
      const data = [start, start + 1].map((id) => ({ id }));
      return { data, hasMore: start < 4, cursor: start + 2 };
    }),
    last: live.stream('last', () => ({ data: [], hasMore: false })),
  };

  it('detects { data, hasMore, cursor } and passes ctx.cursor back', async () => {
    const registry = registryWith({ m });
    expect(await rpc({ registry }, stream('m/posts'))).toEqual({
      ok: true, data: [{ id: 0 }, { id: 1 }], topic: 'posts', merge: 'crud', key: 'id', hasMore: true, cursor: 2,
    });
    expect(await rpc({ registry }, stream('m/posts', { cursor: 4 }))).toMatchObject({
      data: [{ id: 4 }, { id: 5 }], hasMore: false, cursor: 6,
    });
    expect(await rpc({ registry }, stream('m/last'))).toEqual({
      ok: true, data: [], topic: 'last', merge: 'crud', key: 'id', hasMore: false,
    });
  });
});

describe('delta sync, replay, schema evolution', () => {
  it('delta: unchanged, diff, or full data when diff returns null', async () => {
    const diff = vi.fn((since) => (since === 1 ? [{ sku: 'a', qty: 2 }] : null));
    const m = {
      inv: live.stream('inv', () => [{ sku: 'a', qty: 2 }, { sku: 'b', qty: 1 }], {
        key: 'sku',
        delta: { version: () => 3, diff },
      }),
    };
    const registry = registryWith({ m });
    expect(await rpc({ registry }, stream('m/inv', { version: 3 }))).toEqual({
      ok: true, data: [], topic: 'inv', merge: 'crud', key: 'sku', unchanged: true, version: 3,
    });
    expect(await rpc({ registry }, stream('m/inv', { version: 1 }))).toMatchObject({
      data: [{ sku: 'a', qty: 2 }], delta: true, version: 3,
    });
    const full = await rpc({ registry }, stream('m/inv', { version: 0 }));
    expect(full.data).toHaveLength(2);
    expect(full.version).toBe(3);
    expect(full.delta).toBeUndefined();
  });

  function replayPlatform(buffer, current) {
    const platform = fakePlatform();
    platform.replay = { since: async (t, s) => buffer.filter((e) => e.seq > s), seq: async () => current };
    return platform;
  }

  it('replay answers the missed events when they are contiguous', async () => {
    const m = { feed: live.stream('feed', () => ['full'], { merge: 'latest', replay: true }) };
    const registry = registryWith({ m });
    const buffer = [3, 4, 5].map((seq) => ({ seq, event: 'created', data: seq }));
    const platform = replayPlatform(buffer, 5);
    expect(await rpc({ registry, platform }, stream('m/feed', { seq: 2 }))).toMatchObject({
      data: buffer, seq: 5, replay: true,
    });
    expect(await rpc({ registry, platform }, stream('m/feed', { seq: 5 }))).toMatchObject({ data: [], replay: true, seq: 5 });
  });

  it('replay falls back to full data on a gap or an evicted buffer (reference bug §9.11)', async () => {
    const m = { feed: live.stream('feed', () => ['full'], { merge: 'latest', replay: true }) };
    const registry = registryWith({ m });
    const evicted = replayPlatform([], 9);
    expect(await rpc({ registry, platform: evicted }, stream('m/feed', { seq: 2 }))).toMatchObject({
      data: ['full'], seq: 9, replay: false,
    });
    const gap = replayPlatform([{ seq: 7 }, { seq: 8 }], 8);
    expect(await rpc({ registry, platform: gap }, stream('m/feed', { seq: 2 }))).toMatchObject({
      data: ['full'], replay: false,
    });
  });

  it('migrates old clients item by item and reports schemaVersion', async () => {
    const m = {
      todos: live.stream('todos', () => [{ id: 1, done: true }], {
        version: 3,
        migrate: {
          1: (item) => ({ ...item, priority: item.priority ?? 'medium' }),
          2: ({ done, ...rest }) => ({ ...rest, completed: done ?? false }),
        },
      }),
    };
    const registry = registryWith({ m });
    expect(await rpc({ registry }, stream('m/todos', { schemaVersion: 1 }))).toMatchObject({
      data: [{ id: 1, priority: 'medium', completed: true }],
      schemaVersion: 3,
    });
    expect((await rpc({ registry }, stream('m/todos', { schemaVersion: 3 }))).data).toEqual([{ id: 1, done: true }]);
  });
});

describe('channels', () => {
  it('answer null for set and [] otherwise, subscribing the socket', async () => {
    const m = { flag: live.channel('flag'), typing: live.channel('typing:lobby', { merge: 'presence' }) };
    const registry = registryWith({ m });
    const ws = fakeSocket();
    expect(await rpc({ registry, ws }, stream('m/flag'))).toEqual({ ok: true, data: null, topic: 'flag', merge: 'set', key: 'id' });
    expect((await rpc({ registry, ws }, stream('m/typing'))).data).toEqual([]);
    expect(ws.getTopics()).toEqual(['flag', 'typing:lobby']);
  });

  it('presence and cursor channels answer the state the runtime holds', async () => {
    const tracked = [];
    const ws = fakeSocket();
    ws[TOPIC_STATE] = {
      track: (topic, options) => tracked.push([topic, options]),
      snapshot: (topic) => [{ key: 'alice', data: { topic } }],
    };
    const m = { cursors: live.channel((ctx, doc) => `cursors:${doc}`, { merge: 'cursor' }) };
    const payload = await rpc({ registry: registryWith({ m }), ws }, stream('m/cursors', { args: ['d1'] }));
    expect(payload.data).toEqual([{ key: 'alice', data: { topic: 'cursors:d1' } }]);
    expect(tracked).toEqual([['cursors:d1', { merge: 'cursor', key: 'id' }]]);
  });
});

describe('close hook', () => {
  it('fires onUnsubscribe for static and dynamic topics the socket subscribed to', async () => {
    const left = [];
    const onUnsubscribe = (ctx, topic) => left.push(`${ctx.user.id} left ${topic}`);
    const m = {
      lobby: live.stream('lobby', () => [], { onUnsubscribe }),
      room: live.stream((ctx, id) => `room:${id}`, () => [], { onUnsubscribe }),
      quiet: live.stream('quiet', () => []),
    };
    const registry = registryWith({ m });
    const ws = fakeSocket({ id: 'u1' });
    const platform = fakePlatform();
    await rpc({ registry, ws, platform }, stream('m/lobby'));
    await rpc({ registry, ws, platform }, stream('m/room', { args: ['1'] }));
    await rpc({ registry, ws, platform }, stream('m/room', { args: ['2'] }));
    await rpc({ registry, ws, platform }, stream('m/quiet'));
    close(ws, { platform });
    await new Promise((r) => setTimeout(r, 0));
    expect(left.sort()).toEqual(['u1 left lobby', 'u1 left room:1', 'u1 left room:2']);
    close(ws, { platform });
    await new Promise((r) => setTimeout(r, 0));
    expect(left).toHaveLength(3);
  });

  it('fires only for streams this socket joined through a stream request', async () => {
    const left = [];
    const onUnsubscribe = (ctx, topic) => left.push(topic);
    let allow = false;
    const m = {
      // Same topic the app subscribes to by hand, never requested as a stream.
      feed: live.stream('feed', () => [], { onUnsubscribe }),
      // Two streams on one topic: one joins, the other is refused.
      open: live.stream('shared', () => [], { onUnsubscribe: (ctx, t) => left.push(`open ${t}`) }),
      locked: live.stream('shared', () => {
        if (!allow) throw new LiveError('FORBIDDEN', 'no');
        return [];
      }, { onUnsubscribe: (ctx, t) => left.push(`locked ${t}`) }),
    };
    const registry = registryWith({ m });
    const ws = fakeSocket({ id: 'u1' });
    const platform = fakePlatform();
    ws.subscribe('feed');
    await rpc({ registry, ws, platform }, stream('m/open'));
    expect((await rpc({ registry, ws, platform }, stream('m/locked'))).code).toBe('FORBIDDEN');
    close(ws, { platform });
    await new Promise((r) => setTimeout(r, 0));
    expect(left).toEqual(['open shared']);
  });
});

describe('definition errors', () => {
  it.each([
    [() => live.stream(5, () => {}), /topic must be/],
    [() => live.stream('t'), /init must be a function/],
    [() => live.stream('t', () => {}, { merge: 'nope' }), /merge must be one of/],
    [() => live.stream('t', () => {}, { maxx: 1 }), /unknown option "maxx"/],
    [() => live.stream('t', () => {}, { migrate: {} }), /migrate needs version/],
    [() => live.channel(''), /topic must be/],
    [() => live(null), /live\(fn\) must be a function/],
    [() => live.binary(() => {}, { maxSize: -1 }), /maxSize/],
  ])('%#', (define, message) => {
    expect(define).toThrow(message);
  });

  it('LiveError defaults its message to the code', () => {
    const error = new LiveError('UNAUTHORIZED');
    expect(error.message).toBe('UNAUTHORIZED');
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error).toBeInstanceOf(Error);
  });
});

describe('a socket that closed during the request', () => {
  it('a subscribe that throws answers CONNECTION_CLOSED', async () => {
    const m = { s: live.stream('t', () => []) };
    const ws = fakeSocket();
    ws.subscribe = () => {
      throw new Error('Invalid access of closed uWS.WebSocket');
    };
    expect(await rpc({ registry: registryWith({ m }), ws }, stream('m/s'))).toEqual({
      ok: false,
      code: 'CONNECTION_CLOSED',
      error: 'WebSocket closed',
    });
  });
});
