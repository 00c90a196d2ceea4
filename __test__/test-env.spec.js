// svelte-realtime/test, including the spec's "Testing" example as written (imports adjusted,
// and the chat module it imports written out with an in-memory db).
import { afterEach, describe, expect, it } from 'vitest';
import { createTestEnv } from '../lib/test/index.js';
import { guard, live, LiveError } from '../lib/server/index.js';

const db = {
  rows: [],
  messages: {
    insert: async (row) => {
      const msg = { id: db.rows.length + 1, ...row };
      db.rows.push(msg);
      return msg;
    },
    latest: async (n) => db.rows.slice(-n),
  },
};

const chat = {
  sendMessage: live(async (ctx, text) => {
    if (!ctx.user) throw new LiveError('UNAUTHORIZED', 'Login required');
    const msg = await db.messages.insert({ userId: ctx.user.id, text });
    ctx.publish('messages', 'created', msg);
    return msg;
  }),
  messages: live.stream('messages', async (ctx) => {
    return db.messages.latest(50);
  }, { merge: 'crud', key: 'id', prepend: true }),
};

describe('chat module', () => {
  const env = createTestEnv();
  afterEach(() => env.cleanup());

  it('sends and receives messages', async () => {
    env.register('chat', chat);

    const alice = env.connect({ id: 'alice', name: 'Alice' });
    const bob = env.connect({ id: 'bob', name: 'Bob' });

    // Subscribe Bob to the messages stream
    const stream = bob.subscribe('chat/messages');
    await new Promise(r => setTimeout(r, 10));

    // Alice sends a message
    const msg = await alice.call('chat/sendMessage', 'Hello!');
    expect(msg.text).toBe('Hello!');

    // Bob receives the live update
    await new Promise(r => setTimeout(r, 10));
    expect(stream.events).toHaveLength(1);
  });
});

describe('createTestEnv', () => {
  const env = createTestEnv();
  afterEach(() => env.cleanup());

  it('TestStream.value merges live events with the Rust merge engine; topic and waitFor', async () => {
    env.register('chat', chat);
    const viewer = env.connect({ id: 'v' });
    const stream = viewer.subscribe('chat/messages');
    await stream.waitFor((v) => Array.isArray(v));
    expect(stream.topic).toBe('messages');
    const before = stream.value.length;
    const writer = env.connect({ id: 'w' });
    await writer.call('chat/sendMessage', 'first');
    await writer.call('chat/sendMessage', 'second');
    const value = await stream.waitFor((v) => v.length === before + 2);
    expect(value[0].text).toBe('second'); // prepend: newest first
    expect(stream.events.map((e) => e.event)).toEqual(['created', 'created']);
  });

  it('call rejects with LiveError code and issues; error on a failed stream', async () => {
    env.register('secure', {
      _guard: guard((ctx) => {
        if (!ctx.user.admin) throw new LiveError('FORBIDDEN', 'Admins only');
      }),
      op: live(() => 'ok'),
      feed: live.stream('feed', () => []),
    });
    const user = env.connect({});
    await expect(user.call('secure/op')).rejects.toMatchObject({ code: 'FORBIDDEN', message: 'Admins only' });
    const stream = user.subscribe('secure/feed');
    await new Promise((r) => setTimeout(r, 10));
    expect(stream.error).toMatchObject({ code: 'FORBIDDEN' });
    expect(await env.connect({ admin: true }).call('secure/op')).toBe('ok');
  });

  it('binary calls, hasMore, platform counters', async () => {
    env.register('files', {
      upload: live.binary((ctx, buf, name) => `${name}:${buf.byteLength}`),
      page: live.stream('page', () => ({ data: [1], hasMore: true, cursor: 1 })),
    });
    const client = env.connect({ id: 1 });
    expect(await client.binary('files/upload', new Uint8Array(5), 'a.bin')).toBe('a.bin:5');
    const page = client.subscribe('files/page');
    await page.waitFor((v) => v !== undefined);
    expect(page.hasMore).toBe(true);
    expect(env.platform.subscribers('page')).toBe(1);
    expect(env.platform.connections).toBe(1);
  });

  it('presence channels: a late joiner sees who is already there (server-held state)', async () => {
    env.register('room', {
      typing: live.channel('typing:lobby', { merge: 'presence' }),
      start: live((ctx) => ctx.publish('typing:lobby', 'join', { key: ctx.user.id, data: { name: ctx.user.name } })),
    });
    const alice = env.connect({ id: 'a', name: 'Alice' });
    const early = alice.subscribe('room/typing');
    await early.waitFor((v) => Array.isArray(v));
    await alice.call('room/start');
    const bob = env.connect({ id: 'b', name: 'Bob' });
    const late = bob.subscribe('room/typing');
    expect(await late.waitFor((v) => Array.isArray(v) && v.length === 1)).toEqual([{ key: 'a', data: { name: 'Alice' } }]);
    expect(early.value).toEqual([{ key: 'a', data: { name: 'Alice' } }]);
  });

  it('disconnect runs onUnsubscribe; later calls reject, subscribe throws', async () => {
    const left = [];
    env.register('lobby', {
      members: live.stream('members', () => [], { onUnsubscribe: (ctx, topic) => left.push([ctx.user.id, topic]) }),
      ping: live(() => 'pong'),
    });
    const client = env.connect({ id: 'c1' });
    const stream = client.subscribe('lobby/members');
    await stream.waitFor((v) => Array.isArray(v));
    client.disconnect();
    await new Promise((r) => setTimeout(r, 0));
    expect(left).toEqual([['c1', 'members']]);
    await expect(client.call('lobby/ping')).rejects.toThrow('Disconnected');
    expect(() => client.subscribe('lobby/members')).toThrow('Disconnected');
    client.reconnect();
    expect(await client.call('lobby/ping')).toBe('pong');
  });

  it('events published while a stream initializes are kept', async () => {
    let release;
    env.register('slow', {
      feed: live.stream('slowfeed', async () => {
        await new Promise((r) => (release = r));
        return [{ id: 1 }];
      }),
    });
    const client = env.connect({});
    const stream = client.subscribe('slow/feed');
    await new Promise((r) => setTimeout(r, 5));
    env.platform.publish('slowfeed', 'created', { id: 2 });
    release();
    expect(await stream.waitFor((v) => v?.length === 2)).toEqual([{ id: 1 }, { id: 2 }]);
  });
});
