import { afterEach, describe, expect, it, vi } from 'vitest';
import { enableSignals, guard, LiveError, live } from '../../lib/server/index.js';
import { fakePlatform, fakeSocket, registryWith, rpc } from './fakes.js';

afterEach(() => vi.useRealTimers());

describe('ctx', () => {
  it('has user, ws, platform, publish, cursor, throttle, debounce, signal', async () => {
    const m = {
      inspect: live((ctx) =>
        Object.fromEntries(Object.entries(ctx).map(([k, v]) => [k, v === null ? 'null' : typeof v])),
      ),
    };
    expect((await rpc({ registry: registryWith({ m }) }, { rpc: 'm/inspect', args: [] })).data).toEqual({
      user: 'object', ws: 'object', platform: 'object', publish: 'function', cursor: 'null',
      throttle: 'function', debounce: 'function', signal: 'function',
    });
  });

  it('publish and signal go through the platform', async () => {
    const platform = fakePlatform();
    const m = {
      send: live((ctx, text) => {
        ctx.publish('messages', 'created', { text });
        ctx.signal('bob', 'call:offer', { sdp: 1 });
      }),
    };
    await rpc({ registry: registryWith({ m }), platform }, { rpc: 'm/send', args: ['hi'] });
    expect(platform.published).toEqual([
      { topic: 'messages', event: 'created', data: { text: 'hi' } },
      { topic: '__signal:bob', event: 'call:offer', data: { sdp: 1 } },
    ]);
  });

  it('throttle: first at once, then the last value per window, per connection (reference bug §9.12)', async () => {
    vi.useFakeTimers();
    const platform = fakePlatform();
    const m = { move: live((ctx, x) => ctx.throttle('cursors', 'update', { user: ctx.user.id, x }, 50)) };
    const registry = registryWith({ m });
    const alice = fakeSocket({ id: 'alice' });
    const bob = fakeSocket({ id: 'bob' });
    for (const [ws, x] of [[alice, 1], [alice, 2], [bob, 10], [alice, 3], [bob, 11]]) {
      const done = rpc({ registry, platform, ws }, { rpc: 'm/move', args: [x] });
      await vi.runAllTicks();
      await done;
    }
    expect(platform.published.map((p) => p.data)).toEqual([{ user: 'alice', x: 1 }, { user: 'bob', x: 10 }]);
    vi.advanceTimersByTime(50);
    expect(platform.published.map((p) => p.data).slice(2)).toEqual([{ user: 'alice', x: 3 }, { user: 'bob', x: 11 }]);
    const done = rpc({ registry, platform, ws: alice }, { rpc: 'm/move', args: [4] });
    await done;
    expect(platform.published.at(-1).data).toEqual({ user: 'alice', x: 4 });
  });

  it('debounce publishes the last value after silence', async () => {
    vi.useFakeTimers();
    const platform = fakePlatform();
    const m = { search: live((ctx, q) => ctx.debounce('search', 'set', { q }, 300)) };
    const registry = registryWith({ m });
    const ws = fakeSocket({ id: 1 });
    for (const q of ['a', 'ab', 'abc']) {
      await rpc({ registry, platform, ws }, { rpc: 'm/search', args: [q] });
      vi.advanceTimersByTime(100);
    }
    expect(platform.published).toEqual([]);
    vi.advanceTimersByTime(300);
    expect(platform.published).toEqual([{ topic: 'search', event: 'set', data: { q: 'abc' } }]);
  });

  it('enableSignals subscribes the socket to its own signal topic', () => {
    const ws = fakeSocket({ id: 42 });
    enableSignals(ws);
    expect(ws.getTopics()).toEqual(['__signal:42']);
    const custom = fakeSocket({ uid: 'x' });
    enableSignals(custom, { idField: 'uid' });
    expect(custom.getTopics()).toEqual(['__signal:x']);
    const anonymous = fakeSocket({});
    enableSignals(anonymous);
    expect(anonymous.getTopics()).toEqual([]);
  });
});

describe('SSR .load(platform, { args, user })', () => {
  it('runs middleware, the module guard, gate and access, then returns the raw init result', async () => {
    const seen = [];
    const chat = {
      _guard: guard((ctx) => {
        seen.push(`guard ${ctx.user?.id}`);
        if (!ctx.user) throw new LiveError('UNAUTHORIZED', 'Login required');
      }),
      messages: live.stream('messages', (ctx, room) => [{ room, for: ctx.user.id }]),
      admin: live.stream('admin', () => ['x'], { access: (ctx) => ctx.user.role === 'admin' }),
      beta: live.gate((ctx) => false, live.stream('beta', () => ['b'])),
      page: live.stream('page', () => ({ data: [1], hasMore: true, cursor: 1 })),
    };
    const registry = registryWith({ chat });
    const platform = fakePlatform();
    const user = { id: 'u1' };
    expect(await chat.messages.load(platform, { args: ['r1'], user, registry })).toEqual([{ room: 'r1', for: 'u1' }]);
    expect(seen).toEqual(['guard u1']);
    await expect(chat.messages.load(platform, { registry })).rejects.toThrow('Login required');
    await expect(chat.admin.load(platform, { user, registry })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(await chat.beta.load(platform, { user, registry })).toBeNull();
    expect(await chat.page.load(platform, { user, registry })).toEqual({ data: [1], hasMore: true, cursor: 1 });
  });
});
