// The code examples of the spec's sections "Getting started" to "SSR hydration", "Batching",
// "Request deduplication", "Stream pagination", "Error reporting" and "Custom message
// handling", run as written: server modules through svelte-realtime/test or a real server,
// client snippets through svelte-realtime/client. Only imports differ, and `db` is an
// in-memory stand-in.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { LiveError, createMessage, guard, handleRpc, live, onCronError } from '../lib/server/index.js';
import { createTestEnv } from '../lib/test/index.js';
import { __rpc, __stream, batch, RpcError } from '../lib/client/index.js';
import { startRealtime, teardown, watch } from './client/harness.js';
import { waitFor } from './helpers.js';

function table() {
  const rows = [];
  let next = 1;
  return {
    rows,
    insert: async (row) => {
      const created = { id: next++, ...row };
      rows.push(created);
      return created;
    },
    all: async () => rows.slice(),
    latest: async (n) => rows.slice(-n),
    delete: async (id) => rows.splice(rows.findIndex((r) => r.id === id), 1),
  };
}

const env = createTestEnv();
afterEach(() => env.cleanup());

describe('Getting started (steps 4-6)', () => {
  it('step 4: upgrade returns user data or false', () => {
    const sessions = { s1: { userId: 'u1', name: 'Alice' } };
    const validateSession = (id) => sessions[id];
    // src/hooks.ws.js
    function upgrade({ cookies }) {
      const session = validateSession(cookies.session_id);
      if (!session) return false;
      return { id: session.userId, name: session.name };
    }
    expect(upgrade({ cookies: { session_id: 's1' } })).toEqual({ id: 'u1', name: 'Alice' });
    expect(upgrade({ cookies: {} })).toBe(false);
  });

  it('step 5: sendMessage and the messages stream', async () => {
    const db = { messages: table() };
    // src/live/chat.js
    const sendMessage = live(async (ctx, text) => {
      if (!ctx.user) throw new LiveError('UNAUTHORIZED', 'Login required');
      const msg = await db.messages.insert({ userId: ctx.user.id, text });
      ctx.publish('messages', 'created', msg);
      return msg;
    });
    const messages = live.stream('messages', async (ctx) => {
      return db.messages.latest(50);
    }, { merge: 'crud', key: 'id', prepend: true });

    env.register('chat', { sendMessage, messages });
    const reader = env.connect({ id: 'r' });
    const stream = reader.subscribe('chat/messages');
    await stream.waitFor((v) => Array.isArray(v));
    await env.connect({ id: 'w' }).call('chat/sendMessage', 'hello');
    expect((await stream.waitFor((v) => v.length === 1))[0]).toMatchObject({ userId: 'w', text: 'hello' });
  });
});

describe('Merge strategies', () => {
  it('crud: todos + addTodo', async () => {
    const db = { todos: table() };
    const todos = live.stream('todos', async (ctx) => {
      return db.todos.all();
    }, { merge: 'crud', key: 'id' });
    const addTodo = live(async (ctx, text) => {
      const todo = await db.todos.insert({ text });
      ctx.publish('todos', 'created', todo);
      return todo;
    });
    env.register('todos', { todos, addTodo });
    const c = env.connect({});
    const s = c.subscribe('todos/todos');
    await s.waitFor(Array.isArray);
    await c.call('todos/addTodo', 'Buy milk');
    expect(await s.waitFor((v) => v.length === 1)).toEqual([{ id: 1, text: 'Buy milk' }]);
  });

  it('latest: a ring buffer of max items', async () => {
    const activity = live.stream('activity', async (ctx) => {
      return [{ n: 0 }];
    }, { merge: 'latest', max: 100 });
    env.register('feed', { activity });
    const s = env.connect({}).subscribe('feed/activity');
    await s.waitFor(Array.isArray);
    for (let n = 1; n <= 120; n++) env.platform.publish('activity', 'log', { n });
    const value = await s.waitFor((v) => v.length === 100);
    expect(value[0]).toEqual({ n: 21 });
    expect(value.at(-1)).toEqual({ n: 120 });
  });

  it('set: replaces the value', async () => {
    const stats = live.stream('stats', async (ctx) => {
      return { users: 42, messages: 1337 };
    }, { merge: 'set' });
    env.register('dash', { stats });
    const s = env.connect({}).subscribe('dash/stats');
    await s.waitFor((v) => v?.users === 42);
    env.platform.topic('stats').set({ users: 43, messages: 1338 });
    expect(await s.waitFor((v) => v.users === 43)).toEqual({ users: 43, messages: 1338 });
  });

  it('presence: dynamic topic, join by key', async () => {
    const presence = live.stream(
      (ctx, roomId) => 'presence:' + roomId,
      async (ctx, roomId) => [],
      { merge: 'presence' }
    );
    const join = live(async (ctx, roomId) => {
      ctx.publish('presence:' + roomId, 'join', { key: ctx.user.id, name: ctx.user.name });
    });
    env.register('room', { presence, join });
    const alice = env.connect({ id: 'a', name: 'Alice' });
    const users = alice.subscribe('room/presence', 'r1');
    await users.waitFor(Array.isArray);
    await alice.call('room/join', 'r1');
    await env.connect({ id: 'b', name: 'Bob' }).call('room/join', 'r1');
    await alice.call('room/join', 'r1');
    expect(await users.waitFor((v) => v.length === 2)).toEqual([
      { key: 'a', name: 'Alice' },
      { key: 'b', name: 'Bob' },
    ]);
    env.platform.publish('presence:r1', 'leave', { key: 'a' });
    expect(await users.waitFor((v) => v.length === 1)).toEqual([{ key: 'b', name: 'Bob' }]);
  });

  it('cursor: update and remove by key', async () => {
    const cursors = live.stream(
      (ctx, docId) => 'cursors:' + docId,
      async (ctx, docId) => [],
      { merge: 'cursor' }
    );
    const moveCursor = live(async (ctx, docId, x, y) => {
      ctx.publish('cursors:' + docId, 'update', { key: ctx.user.id, x, y, color: ctx.user.color });
    });
    env.register('doc', { cursors, moveCursor });
    const me = env.connect({ id: 'me', color: 'red' });
    const s = me.subscribe('doc/cursors', 'd1');
    await s.waitFor(Array.isArray);
    await me.call('doc/moveCursor', 'd1', 1, 2);
    await me.call('doc/moveCursor', 'd1', 3, 4);
    expect(await s.waitFor((v) => v.length === 1 && v[0].x === 3)).toEqual([{ key: 'me', x: 3, y: 4, color: 'red' }]);
    env.platform.publish('cursors:d1', 'remove', { key: 'me' });
    await s.waitFor((v) => v.length === 0);
  });
});

describe('Error handling, per-module auth, dynamic topics, validation, channels', () => {
  it('per-module auth: _guard with one and with several functions', async () => {
    const db = { users: { delete: vi.fn(), ban: vi.fn() } };
    const admin = {
      _guard: guard((ctx) => {
        if (ctx.user?.role !== 'admin')
          throw new LiveError('FORBIDDEN', 'Admin only');
      }),
      deleteUser: live(async (ctx, userId) => {
        await db.users.delete(userId);
      }),
      banUser: live(async (ctx, userId) => {
        await db.users.ban(userId);
      }),
    };
    env.register('admin', admin);
    await expect(env.connect({ role: 'user' }).call('admin/deleteUser', 1)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await env.connect({ role: 'admin' }).call('admin/banUser', 2);
    expect(db.users.ban).toHaveBeenCalledWith(2);

    const lookupPermissions = (id) => (id === 'w' ? ['write'] : []);
    const _guard = guard(
      (ctx) => { if (!ctx.user) throw new LiveError('UNAUTHORIZED'); },
      (ctx) => { ctx.permissions = lookupPermissions(ctx.user.id); },
      (ctx) => { if (!ctx.permissions.includes('write')) throw new LiveError('FORBIDDEN'); }
    );
    env.register('docs', { _guard, save: live((ctx) => ctx.permissions) });
    expect(await env.connect({ id: 'w' }).call('docs/save')).toEqual(['write']);
    await expect(env.connect({ id: 'r' }).call('docs/save')).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('dynamic topics: roomMessages + sendToRoom', async () => {
    const db = { messages: table() };
    db.messages.forRoom = async (roomId) => db.messages.rows.filter((m) => m.roomId === roomId);
    const roomMessages = live.stream(
      (ctx, roomId) => 'chat:' + roomId,
      async (ctx, roomId) => db.messages.forRoom(roomId),
      { merge: 'crud', key: 'id' }
    );
    const sendToRoom = live(async (ctx, roomId, text) => {
      const msg = await db.messages.insert({ roomId, userId: ctx.user.id, text });
      ctx.publish('chat:' + roomId, 'created', msg);
      return msg;
    });
    env.register('rooms', { roomMessages, sendToRoom });
    const u = env.connect({ id: 'u' });
    const one = u.subscribe('rooms/roomMessages', 'one');
    const two = u.subscribe('rooms/roomMessages', 'two');
    await one.waitFor(Array.isArray);
    await two.waitFor(Array.isArray);
    await u.call('rooms/sendToRoom', 'one', 'hi');
    await one.waitFor((v) => v.length === 1);
    expect(two.value).toEqual([]);
  });

  it('schema validation: CreateTodo with zod', async () => {
    const db = { todos: table() };
    const CreateTodo = z.object({
      text: z.string().min(1).max(200),
      priority: z.enum(['low', 'medium', 'high']).optional()
    });
    const addTodo = live.validated(CreateTodo, async (ctx, input) => {
      const todo = await db.todos.insert({ ...input, userId: ctx.user.id });
      ctx.publish('todos', 'created', todo);
      return todo;
    });
    env.register('todos', { addTodo });
    const c = env.connect({ id: 'u' });
    expect(await c.call('todos/addTodo', { text: 'x', priority: 'high' })).toMatchObject({ text: 'x', priority: 'high' });
    const error = await c.call('todos/addTodo', { text: '', priority: 'urgent' }).catch((e) => e);
    expect(error.code).toBe('VALIDATION');
    expect(error.issues.map((i) => i.path[0]).sort()).toEqual(['priority', 'text']);
  });

  it('channels: typing presence and dynamic cursors', async () => {
    const typing = live.channel('typing:lobby', { merge: 'presence' });
    const cursors = live.channel(
      (ctx, docId) => 'cursors:' + docId,
      { merge: 'cursor' }
    );
    env.register('typing', { typing, cursors });
    const c = env.connect({});
    const t = c.subscribe('typing/typing');
    const k = c.subscribe('typing/cursors', 'd9');
    await t.waitFor(Array.isArray);
    await k.waitFor(Array.isArray);
    expect(k.topic).toBe('cursors:d9');
    env.platform.publish('typing:lobby', 'join', { key: 'u1', data: { name: 'U' } });
    expect(await t.waitFor((v) => v.length === 1)).toEqual([{ key: 'u1', data: { name: 'U' } }]);
  });
});

describe('client-side sections (real server)', () => {
  let rt;
  afterEach(async () => {
    await teardown(rt);
    rt = null;
  });

  it('error handling: err.code and err.issues on RPC errors; stream { error }', async () => {
    rt = await startRealtime({
      chat: {
        sendMessage: live.validated(z.string().min(1), (ctx, text) => text),
        messages: live.stream('messages', () => {
          throw new LiveError('UNAUTHORIZED', 'Login required');
        }),
      },
    });
    const sendMessage = __rpc('chat/sendMessage');
    let code;
    try {
      await sendMessage('');
    } catch (err) {
      if (err.code === 'VALIDATION') {
        code = `VALIDATION ${err.issues.length}`;
      } else if (err.code === 'UNAUTHORIZED') {
        code = 'UNAUTHORIZED';
      }
    }
    expect(code).toBe('VALIDATION 1');
    const messages = watch(__stream('chat/messages'));
    await waitFor(() => messages.last?.error);
    expect(messages.last.error).toBeInstanceOf(RpcError);
    expect(messages.last.error.message).toBe('Login required');
  });

  it('batching: setupBoard in one frame, parallel and sequential', async () => {
    const created = [];
    rt = await startRealtime({
      boards: {
        createBoard: live((ctx, name) => (created.push(name), { id: 'b1', name })),
        addColumn: live((ctx, ...args) => (created.push(args.at(-1)), { id: 'c1' })),
        addCard: live((ctx, title) => (created.push(title), { id: 'k1', title })),
      },
    });
    const [createBoard, addColumn, addCard] = ['createBoard', 'addColumn', 'addCard'].map((f) => __rpc(`boards/${f}`));
    const [board, column, card] = await batch(() => [
      createBoard('My Board'),
      addColumn('To Do'),
      addCard('First task')
    ]);
    expect([board.name, column.id, card.title]).toEqual(['My Board', 'c1', 'First task']);
    const boardId = board.id;
    created.length = 0;
    const [board2, column2] = await batch(() => [
      createBoard('My Board'),
      addColumn(boardId, 'To Do')
    ], { sequential: true });
    expect(created).toEqual(['My Board', 'To Do']);
    expect([board2.id, column2.id]).toEqual(['b1', 'c1']);
    expect(rt.frames).toHaveLength(2);
  });

  it('request deduplication: getUser twice in one microtask, then .fresh()', async () => {
    let calls = 0;
    rt = await startRealtime({ users: { getUser: live((ctx, id) => (calls++, { id })) } });
    const getUser = __rpc('users/getUser');
    const userId = 7;
    const [a, b] = await Promise.all([
      getUser(userId),
      getUser(userId) // same call, same args -- reuses the first request
    ]);
    expect(a).toEqual(b);
    expect(calls).toBe(1);
    const result = await getUser.fresh(userId); // always sends a new request
    expect(result).toEqual({ id: 7 });
    expect(calls).toBe(2);
  });

  it('stream pagination: posts with limit + 1, loadMore, hasMore', async () => {
    const all = Array.from({ length: 45 }, (_, i) => ({ id: i + 1, title: `p${i + 1}` }));
    const db = { posts: { list: async ({ limit, after }) => all.filter((p) => after == null || p.id > after).slice(0, limit) } };
    rt = await startRealtime({
      feed: {
        posts: live.stream('posts', async (ctx) => {
          const limit = 20;
          const rows = await db.posts.list({ limit: limit + 1, after: ctx.cursor });
          const hasMore = rows.length > limit;
          const data = hasMore ? rows.slice(0, limit) : rows;
          const cursor = data.length > 0 ? data[data.length - 1].id : null;
          return { data, hasMore, cursor };
        }, { merge: 'crud', key: 'id' }),
      },
    });
    const posts = __stream('feed/posts', { merge: 'crud', key: 'id' });
    const seen = watch(posts);
    await waitFor(() => Array.isArray(seen.last));
    async function loadNext() {
      await posts.loadMore();
    }
    expect(posts.hasMore).toBe(true);
    await loadNext();
    await loadNext();
    expect(posts.hasMore).toBe(false);
    expect(seen.last.map((p) => p.id)).toEqual(all.map((p) => p.id));
  });

  it('SSR hydration: load on the server, hydrate on the client', async () => {
    const db = { messages: table() };
    await db.messages.insert({ text: 'from the server' });
    const messages = live.stream('messages', async () => db.messages.latest(50), { merge: 'crud' });
    rt = await startRealtime({ chat: { messages } });
    // src/routes/chat/+page.server.js
    async function load({ platform }) {
      const data = await messages.load(platform);
      return { messages: data };
    }
    const data = await load({ platform: rt.server.platform });
    expect(data.messages).toEqual([{ id: 1, text: 'from the server' }]);
    const msgs = __stream('chat/messages').hydrate(data.messages);
    const seen = watch(msgs);
    expect(seen.values[0]).toEqual([{ id: 1, text: 'from the server' }]);
  });
});

describe('Error reporting and custom message handling', () => {
  it('createMessage onError receives non-LiveError exceptions with path and ctx', async () => {
    const reported = [];
    const sentry = { captureException: (error, extra) => reported.push([error.message, extra]) };
    const message = createMessage({
      onError(path, error, ctx) {
        sentry.captureException(error, {
          tags: { rpc: path },
          user: { id: ctx.user?.id }
        });
      }
    });
    const { defaultRegistry } = await import('../lib/server/index.js');
    defaultRegistry.registerModule('reporting', { boom: live(() => { throw new Error('kaboom'); }) });
    const ws = { getUserData: () => ({ id: 'u1' }), subscribe() {}, getBufferedAmount: () => 0 };
    const answers = [];
    const platform = { send: (w, topic, event, data) => answers.push(data), publish() {} };
    message(ws, { data: new TextEncoder().encode('{"rpc":"reporting/boom","id":"e1","args":[]}').buffer, platform });
    await waitFor(() => answers.length === 1);
    expect(answers[0]).toEqual({ ok: false, code: 'INTERNAL_ERROR', error: 'Internal server error' });
    expect(reported).toEqual([['kaboom', { tags: { rpc: 'reporting/boom' }, user: { id: 'u1' } }]]);
  });

  it('onCronError registers a handler', () => {
    const handler = vi.fn();
    expect(() => onCronError((path, error) => handler(path, error))).not.toThrow();
  });

  it('createMessage onUnhandled, and handleRpc by hand', () => {
    const custom = [];
    const message = createMessage({
      onUnhandled(ws, data, platform) {
        custom.push(new TextDecoder().decode(data));
      }
    });
    const ws = { getUserData: () => ({}) };
    const platform = { send() {}, publish() {} };
    message(ws, { data: new TextEncoder().encode('{"custom":true}').buffer, platform });
    expect(custom).toEqual(['{"custom":true}']);

    const handled = [];
    function manual(ws, { data, platform }) {
      if (handleRpc(ws, data, platform)) return;
      // your custom message handling
      handled.push('custom');
    }
    manual(ws, { data: new TextEncoder().encode('ping').buffer, platform });
    expect(handled).toEqual(['custom']);
  });
});
