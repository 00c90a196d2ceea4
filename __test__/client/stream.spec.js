import { afterEach, describe, expect, it } from 'vitest';
import { LiveError, live } from '../../lib/server/index.js';
import { __rpc, __stream, combine, onSignal, status } from '../../lib/client/index.js';
import { get } from '../../lib/client/store.js';
import { sleep, startRealtime, watch } from './harness.js';
import { teardown } from './harness.js';
import { waitFor } from '../helpers.js';

let env;
afterEach(async () => {
  await teardown(env);
  env = null;
});

function todosModule(initial = [{ id: 1, text: 'a' }]) {
  const db = initial.slice();
  return {
    db,
    module: {
      todos: live.stream('todos', () => db.slice(), { merge: 'crud', key: 'id' }),
      add: live((ctx, todo) => {
        db.push(todo);
        ctx.publish('todos', 'created', todo);
        return todo;
      }),
    },
  };
}

describe('stream stores against a real server', () => {
  it('undefined while loading, then the data, then live merges', async () => {
    const { module } = todosModule();
    env = await startRealtime({ t: module });
    const todos = __stream('t/todos', { merge: 'crud', key: 'id' });
    const seen = watch(todos);
    expect(seen.values[0]).toBeUndefined();
    await waitFor(() => Array.isArray(seen.last));
    expect(seen.last).toEqual([{ id: 1, text: 'a' }]);
    await __rpc('t/add')({ id: 2, text: 'b' });
    await waitFor(() => seen.last.length === 2);
    env.server.platform.publish('todos', 'updated', { id: 1, text: 'A' });
    env.server.platform.publish('todos', 'deleted', { id: 2 });
    await waitFor(() => seen.last.length === 1 && seen.last[0].text === 'A');
    seen.stop();
    expect(get(todos)).toBeUndefined();
  });

  it('the last unsubscriber sends an unsubscribe control frame', async () => {
    const { module } = todosModule();
    env = await startRealtime({ t: module });
    const todos = __stream('t/todos');
    const a = watch(todos);
    const b = watch(todos);
    await waitFor(() => Array.isArray(a.last));
    a.stop();
    await sleep(30);
    expect(env.server.platform.subscribers('todos')).toBe(1);
    b.stop();
    // Control frames are handled in Rust, so the server's subscriber count shows it.
    await waitFor(() => env.server.platform.subscribers('todos') === 0);
  });

  it('a failing first fetch gives { error }', async () => {
    env = await startRealtime({
      s: {
        secret: live.stream('secret', () => [], { access: () => false }),
        broken: live.stream('broken', () => {
          throw new LiveError('DB_DOWN', 'database unavailable');
        }),
      },
    });
    const secret = watch(__stream('s/secret'));
    const broken = watch(__stream('s/broken'));
    await waitFor(() => secret.last?.error && broken.last?.error);
    expect([secret.last.error.code, secret.last.error.message]).toEqual(['FORBIDDEN', 'Access denied']);
    expect(broken.last.error.code).toBe('DB_DOWN');
  });

  it('events published while the initial data is read are not lost (reference bug §9.10)', async () => {
    let release;
    const gate = new Promise((r) => (release = r));
    env = await startRealtime({
      feed: {
        items: live.stream('items', async () => {
          await gate;
          return [{ id: 1 }];
        }),
      },
    });
    const items = watch(__stream('feed/items'));
    await waitFor(() => env.server.platform.subscribers('items') === 1);
    env.server.platform.publish('items', 'created', { id: 2 });
    release();
    await waitFor(() => Array.isArray(items.last) && items.last.length === 2);
    expect(items.last).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('latest: an event already in the data is not applied twice', async () => {
    let release;
    const gate = new Promise((r) => (release = r));
    const log = [{ n: 1 }];
    env = await startRealtime({
      act: {
        log: live.stream('log', async () => (await gate, log.slice()), { merge: 'latest', max: 10 }),
      },
    });
    const seen = watch(__stream('act/log', { merge: 'latest', max: 10 }));
    await waitFor(() => env.server.platform.subscribers('log') === 1);
    log.push({ n: 2 });
    env.server.platform.publish('log', 'created', { n: 2 });
    release();
    await waitFor(() => Array.isArray(seen.last));
    await sleep(20);
    expect(seen.last).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('dynamic streams: one cached store per arguments, released when unused', async () => {
    env = await startRealtime({
      rooms: { messages: live.stream((ctx, id) => `chat:${id}`, (ctx, id) => [{ id: `${id}-1` }]) },
    });
    const messages = __stream('rooms/messages', {}, true);
    expect(messages('a')).toBe(messages('a'));
    expect(messages('a')).not.toBe(messages('b'));
    const a = watch(messages('a'));
    await waitFor(() => Array.isArray(a.last));
    expect(a.last).toEqual([{ id: 'a-1' }]);
    env.server.platform.publish('chat:a', 'created', { id: 'a-2' });
    env.server.platform.publish('chat:b', 'created', { id: 'b-2' });
    await waitFor(() => a.last.length === 2);
    const first = messages('a');
    a.stop();
    expect(messages('a')).not.toBe(first);
  });

  it('reconnect: stale data stays, one refetch, and events during the refetch are kept', async () => {
    const { db, module } = todosModule();
    env = await startRealtime({ t: module });
    const todos = watch(__stream('t/todos'));
    await waitFor(() => Array.isArray(todos.last));
    const requestsBefore = env.frames.filter((f) => f.includes('"stream":true')).length;
    expect(requestsBefore).toBe(1);
    db.push({ id: 9, text: 'while away' });
    const statuses = watch(status);
    for (const ws of env.sockets) ws.close();
    await waitFor(() => statuses.values.includes('closed'));
    expect(todos.last).toEqual([{ id: 1, text: 'a' }]);
    await waitFor(() => todos.last.length === 2);
    expect(todos.values.every((v) => v !== undefined || todos.values.indexOf(v) === 0)).toBe(true);
    expect(env.frames.filter((f) => f.includes('"stream":true'))).toHaveLength(2);
    expect(env.frames.some((f) => f.includes('unsubscribe'))).toBe(false);
    statuses.stop();
  });

  it('hydrate shows server data at once; the subscription still refreshes it', async () => {
    const { module } = todosModule([{ id: 1, text: 'fresh' }]);
    env = await startRealtime({ t: module });
    const todos = __stream('t/todos').hydrate([{ id: 1, text: 'ssr' }]);
    const seen = watch(todos);
    expect(seen.values[0]).toEqual([{ id: 1, text: 'ssr' }]);
    await waitFor(() => seen.last[0].text === 'fresh');
  });

  it('pagination: hasMore, loadMore appends, cursor 0 is a valid cursor', async () => {
    const rows = Array.from({ length: 5 }, (_, i) => ({ id: i }));
    env = await startRealtime({
      feed: {
        posts: live.stream('posts', (ctx) => {
          const start = ctx.cursor ?? 0;
          const data = rows.slice(start, start + 2);
          return { data, hasMore: start + 2 < rows.length, cursor: start + 2 };
        }),
        zero: live.stream('zero', (ctx) => (ctx.cursor === 0 ? { data: [{ id: 'z' }], hasMore: false } : { data: [], hasMore: true, cursor: 0 })),
      },
    });
    const posts = __stream('feed/posts');
    const seen = watch(posts);
    await waitFor(() => Array.isArray(seen.last));
    expect(posts.hasMore).toBe(true);
    expect(await posts.loadMore()).toBe(true);
    expect(await posts.loadMore()).toBe(false);
    expect(seen.last.map((p) => p.id)).toEqual([0, 1, 2, 3, 4]);
    expect(await posts.loadMore()).toBe(false);
    const zero = __stream('feed/zero');
    const z = watch(zero);
    await waitFor(() => Array.isArray(z.last));
    await zero.loadMore();
    expect(z.last).toEqual([{ id: 'z' }]);
  });

  it('optimistic updates roll back; history undoes and redoes', async () => {
    const { module } = todosModule();
    env = await startRealtime({ t: module });
    const todos = __stream('t/todos');
    const seen = watch(todos);
    await waitFor(() => Array.isArray(seen.last));
    todos.enableHistory(10);
    const rollback = todos.optimistic('created', { id: 'temp', text: 'optimistic' });
    expect(seen.last.map((t) => t.id)).toEqual([1, 'temp']);
    rollback();
    expect(seen.last.map((t) => t.id)).toEqual([1]);
    todos.optimistic('created', { id: 2, text: 'b' });
    expect(todos.canUndo).toBe(true);
    todos.undo();
    expect(seen.last.map((t) => t.id)).toEqual([1]);
    expect(todos.canRedo).toBe(true);
    todos.redo();
    expect(seen.last.map((t) => t.id)).toEqual([1, 2]);
    // A rolled-back optimistic entry leaves no trace in the history.
    todos.optimistic('created', { id: 'temp2', text: 'x' })();
    todos.undo();
    expect(seen.last.map((t) => t.id)).toEqual([1]);
  });

  it('resumeHistory without pauseHistory records nothing; a pause is one undo step', async () => {
    const { module } = todosModule();
    env = await startRealtime({ t: module });
    const todos = __stream('t/todos');
    const seen = watch(todos);
    await waitFor(() => Array.isArray(seen.last));
    todos.enableHistory(10);
    todos.optimistic('created', { id: 2, text: 'b' });
    todos.resumeHistory(); // no pause: must not record a second copy of [1, 2]
    todos.undo();
    expect(seen.last.map((t) => t.id)).toEqual([1]);
    todos.redo();
    todos.pauseHistory();
    todos.optimistic('created', { id: 3, text: 'c' });
    todos.optimistic('created', { id: 4, text: 'd' });
    todos.resumeHistory();
    todos.undo();
    expect(seen.last.map((t) => t.id)).toEqual([1, 2]);
  });

  it('a gated stream stays undefined; when() follows a condition store', async () => {
    env = await startRealtime({
      beta: { feed: live.gate(() => false, live.stream('beta', () => ['x'])), open: live.stream('open', () => ['y']) },
    });
    const gated = watch(__stream('beta/feed'));
    await sleep(100);
    expect(gated.values.every((v) => v === undefined)).toBe(true);
    const { writable } = await import('../../lib/client/store.js');
    const active = writable(false);
    const seen = watch(__stream('beta/open').when(active));
    expect(seen.last).toBeUndefined();
    active.set(true);
    await waitFor(() => Array.isArray(seen.last));
    active.set(false);
    expect(seen.last).toBeUndefined();
  });

  it('combine recomputes from several streams', async () => {
    env = await startRealtime({
      d: { a: live.stream('a', () => [1, 2]), b: live.stream('b', () => [3]) },
    });
    const total = watch(combine(__stream('d/a'), __stream('d/b'), (a, b) => (a && b ? a.length + b.length : null)));
    await waitFor(() => total.last === 3);
    expect(() => combine(__stream('d/a'), () => 1)).toThrow(TypeError);
  });

  it('onSignal receives point-to-point messages for the signed-in user', async () => {
    env = await startRealtime(
      { call: { ring: live((ctx, to) => ctx.signal(to, 'ring', { from: ctx.user.id ?? 'anon' })) } },
      { signals: true, hooks: { upgrade: () => ({ id: 'alice' }) } },
    );
    const got = [];
    const stop = onSignal('alice', (event, data) => got.push([event, data]));
    await __rpc('call/ring')('alice');
    await waitFor(() => got.length === 1);
    expect(got[0]).toEqual(['ring', { from: 'alice' }]);
    stop();
  });
});

describe('channels over the native runtime', () => {
  it('a late joiner of a presence channel gets who is already there; leaves are merged', async () => {
    env = await startRealtime({
      room: {
        typing: live.channel('typing:lobby', {
          merge: 'presence',
          onUnsubscribe: (ctx, topic) => ctx.publish(topic, 'leave', { key: ctx.user.id }),
        }),
        start: live((ctx) => ctx.publish('typing:lobby', 'join', { key: ctx.user.id, data: { name: ctx.user.name } })),
      },
    }, { hooks: { upgrade: ({ url }) => ({ id: new URL(url, 'http://x').searchParams.get('u') ?? 'me', name: 'Me' }) } });
    // A first user (raw socket) joins and announces itself.
    const { connect: rawConnect } = await import('../helpers.js');
    const other = await rawConnect(`${env.server.wsUrl}?u=bob`);
    other.send(JSON.stringify({ rpc: 'room/typing', id: 'o1', args: [], stream: true }));
    await other.next();
    other.send(JSON.stringify({ rpc: 'room/start', id: 'o2', args: [] }));
    // bob hears his own join, then the answer to his call.
    expect(JSON.parse(await other.next())).toMatchObject({ topic: 'typing:lobby', event: 'join' });
    expect(JSON.parse(await other.next())).toMatchObject({ topic: '__rpc', event: 'o2' });
    // The client subscribes later and still sees bob.
    const typing = watch(__stream('room/typing', { merge: 'presence' }));
    await waitFor(() => Array.isArray(typing.last) && typing.last.length === 1);
    expect(typing.last).toEqual([{ key: 'bob', data: { name: 'Me' } }]);
    other.close();
    await waitFor(() => typing.last.length === 0);
  });
});

describe('rooms from the browser', () => {
  it('board.data(id), board.presence(id), board.addCard(id, title)', async () => {
    const { __room } = await import('../../lib/client/index.js');
    env = await startRealtime(
      {
        collab: {
          board: live.room({
            topic: (ctx, boardId) => 'board:' + boardId,
            init: async () => [],
            presence: (ctx) => ({ name: ctx.user.name }),
            actions: { addCard: async (ctx, boardId, title) => (ctx.publish('created', { id: 1, title }), { id: 1, title }) },
          }),
        },
      },
      { hooks: { upgrade: () => ({ id: 'me', name: 'Me' }) } },
    );
    const board = __room('collab/board', { presence: true, actions: ['addCard'] });
    const data = watch(board.data('b1'));
    const users = watch(board.presence('b1'));
    await waitFor(() => Array.isArray(data.last) && users.last?.length === 1);
    expect(users.last).toEqual([{ key: 'me', data: { name: 'Me' } }]);
    expect(await board.addCard('b1', 'New card')).toEqual({ id: 1, title: 'New card' });
    await waitFor(() => data.last.length === 1);
  });
});

describe('reconnect refetch window (reference bug §9.10, second half)', () => {
  it('an event published while the refetch is in flight is applied after the new data', async () => {
    let slow = null;
    const rows = [{ id: 1 }];
    env = await startRealtime({
      f: {
        items: live.stream('items', async () => {
          if (slow) await slow.promise;
          return rows.slice();
        }),
      },
    });
    const items = watch(__stream('f/items'));
    await waitFor(() => items.last?.length === 1);
    let release;
    slow = { promise: new Promise((r) => (release = r)) };
    for (const ws of env.sockets) ws.close();
    // Wait until the refetch has subscribed the new socket, then publish before it answers.
    await waitFor(() => env.frames.filter((f) => f.includes('"stream":true')).length === 2);
    await waitFor(() => env.server.platform.subscribers('items') === 1);
    env.server.platform.publish('items', 'created', { id: 2 });
    release();
    await waitFor(() => items.last.length === 2);
    expect(items.last).toEqual([{ id: 1 }, { id: 2 }]);
  });
});
