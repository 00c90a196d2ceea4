// The server features of the spec's API table beyond RPC and streams: rate limits, pipes,
// derived streams, effects, aggregates, rooms, webhooks. Examples from the spec run as
// written (imports adjusted, `db` in memory).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { _activateDerived, guard, live, LiveError, pipe } from '../../lib/server/index.js';
import { createTestEnv } from '../../lib/test/index.js';

const env = createTestEnv();
afterEach(() => {
  env.cleanup();
  vi.useRealTimers();
});

describe('live.rateLimit', () => {
  it('allows `points` per window per user, then RATE_LIMITED with retryAfter', async () => {
    const db = { messages: { insert: async (m) => ({ id: 1, ...m }) } };
    const sendMessage = live.rateLimit({ points: 5, window: 10000 }, async (ctx, text) => {
      const msg = await db.messages.insert({ userId: ctx.user.id, text });
      ctx.publish('messages', 'created', msg);
      return msg;
    });
    env.register('chat', { sendMessage });
    const alice = env.connect({ id: 'alice' });
    for (let i = 0; i < 5; i++) await alice.call('chat/sendMessage', `m${i}`);
    const error = await alice.call('chat/sendMessage', 'one too many').catch((e) => e);
    expect([error.code, error.message]).toEqual(['RATE_LIMITED', 'Too many requests']);
    expect(await env.connect({ id: 'bob' }).call('chat/sendMessage', 'hi')).toMatchObject({ text: 'hi' });
  });

  it('anonymous callers are limited per connection, not together (reference bug §9.13)', async () => {
    env.register('anon', { ping: live.rateLimit({ points: 1, window: 60_000 }, () => 'pong') });
    expect(await env.connect({}).call('anon/ping')).toBe('pong');
    expect(await env.connect({}).call('anon/ping')).toBe('pong');
  });

  it('the window slides', async () => {
    vi.useFakeTimers({ now: 0 });
    env.register('w', { f: live.rateLimit({ points: 2, window: 1000 }, () => 'ok') });
    const c = env.connect({ id: 1 });
    await c.call('w/f');
    await c.call('w/f');
    await expect(c.call('w/f')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    vi.setSystemTime(1500); // half of the previous window still counts: 2 * 0.5 = 1 < 2
    expect(await c.call('w/f')).toBe('ok');
    await expect(c.call('w/f')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });
});

describe('pipe', () => {
  it('filter, sort, limit, join on the initial data; metadata kept', async () => {
    const rows = [
      { id: 1, authorId: 'a', dismissed: false, createdAt: 1 },
      { id: 2, authorId: 'b', dismissed: true, createdAt: 2 },
      { id: 3, authorId: 'a', dismissed: false, createdAt: 3 },
    ];
    const db = { notifications: { forUser: async () => rows }, users: { getName: async (id) => id.toUpperCase() } };
    const myNotifications = pipe(
      live.stream('notifications', async (ctx) => {
        return db.notifications.forUser(ctx.user.id);
      }, { merge: 'crud', key: 'id' }),
      pipe.filter((ctx, item) => !item.dismissed),
      pipe.sort('createdAt', 'desc'),
      pipe.limit(20),
      pipe.join('authorId', async (id) => db.users.getName(id), 'authorName')
    );
    env.register('n', { myNotifications });
    const s = env.connect({ id: 'u' }).subscribe('n/myNotifications');
    expect(await s.waitFor(Array.isArray)).toEqual([
      { id: 3, authorId: 'a', dismissed: false, createdAt: 3, authorName: 'A' },
      { id: 1, authorId: 'a', dismissed: false, createdAt: 1, authorName: 'A' },
    ]);
    expect(s.topic).toBe('notifications');
  });
});

describe('derived, effects, aggregates', () => {
  it('a derived stream recomputes when a source publishes (debounced) on a stable topic', async () => {
    let orders = 0;
    const db = { orders: { count: async () => orders } };
    const dashboardStats = live.derived(
      ['orders', 'inventory'],
      async () => {
        return { totalOrders: await db.orders.count() };
      },
      { debounce: 20 }
    );
    const placeOrder = live((ctx) => {
      orders += 1;
      ctx.publish('orders', 'created', { id: orders });
    });
    env.register('dashboard', { dashboardStats, placeOrder });
    const client = env.connect({});
    const stats = client.subscribe('dashboard/dashboardStats');
    expect(await stats.waitFor((v) => v !== undefined)).toEqual({ totalOrders: 0 });
    expect(stats.topic).toBe('__derived:dashboard/dashboardStats');
    await client.call('dashboard/placeOrder');
    await client.call('dashboard/placeOrder');
    expect(await stats.waitFor((v) => v.totalOrders === 2)).toEqual({ totalOrders: 2 });
    expect(stats.events).toHaveLength(1); // debounced: one recompute for two orders
  });

  it('effects run on source publishes; errors reach onCronError', async () => {
    const sent = [];
    const email = { send: async (to, subject) => sent.push([to, subject]) };
    const orderNotifications = live.effect(['orders'], async (event, data, platform) => {
      if (event === 'created') {
        await email.send(data.userEmail, 'Order confirmed');
      }
    });
    env.register('notifications', { orderNotifications });
    _activateDerived(env.platform);
    env.platform.publish('orders', 'created', { userEmail: 'a@b.c' });
    env.platform.publish('orders', 'updated', { userEmail: 'a@b.c' });
    await new Promise((r) => setTimeout(r, 10));
    expect(sent).toEqual([['a@b.c', 'Order confirmed']]);
    await expect(env.connect({}).call('notifications/orderNotifications')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('aggregates reduce each event and publish the computed state', async () => {
    const orderStats = live.aggregate('orders', {
      count: { init: () => 0, reduce: (acc, event) => event === 'created' ? acc + 1 : acc },
      total: { init: () => 0, reduce: (acc, event, data) => event === 'created' ? acc + data.amount : acc },
      avg: { compute: (state) => state.count > 0 ? state.total / state.count : 0 }
    }, { topic: 'order-stats' });
    env.register('stats', { orderStats });
    _activateDerived(env.platform);
    const s = env.connect({}).subscribe('stats/orderStats');
    expect(await s.waitFor((v) => v !== undefined)).toEqual({ count: 0, total: 0, avg: 0 });
    env.platform.publish('orders', 'created', { amount: 10 });
    env.platform.publish('orders', 'created', { amount: 20 });
    expect(await s.waitFor((v) => v.count === 2)).toEqual({ count: 2, total: 30, avg: 15 });
  });
});

describe('live.room', () => {
  function board(db = { cards: [] }) {
    return live.room({
      topic: (ctx, boardId) => 'board:' + boardId,
      init: async (ctx, boardId) => db.cards.filter((c) => c.boardId === boardId),
      presence: (ctx) => ({ name: ctx.user.name }),
      cursors: true,
      guard: async (ctx) => {
        if (!ctx.user?.name) throw new LiveError('UNAUTHORIZED');
      },
      actions: {
        addCard: async (ctx, boardId, title) => {
          const card = { id: db.cards.length + 1, boardId, title };
          db.cards.push(card);
          ctx.publish('created', card);
          return card;
        },
      },
    });
  }

  it('data, presence with late joiners, cursors and scoped actions', async () => {
    env.register('collab', { board: board() });
    const alice = env.connect({ id: 'a', name: 'Alice' });
    const data = alice.subscribe('collab/board/__data', 'b1');
    const users = alice.subscribe('collab/board/__presence', 'b1');
    await data.waitFor(Array.isArray);
    expect(await users.waitFor((v) => v?.length === 1)).toEqual([{ key: 'a', data: { name: 'Alice' } }]);
    const card = await alice.call('collab/board/__action/addCard', 'b1', 'New card');
    expect(card).toEqual({ id: 1, boardId: 'b1', title: 'New card' });
    expect(await data.waitFor((v) => v.length === 1)).toEqual([card]);
    // Bob joins later: presence comes from the server-held state.
    const bob = env.connect({ id: 'b', name: 'Bob' });
    bob.subscribe('collab/board/__data', 'b1');
    const bobUsers = bob.subscribe('collab/board/__presence', 'b1');
    await bobUsers.waitFor((v) => v?.length === 2);
    const cursors = bob.subscribe('collab/board/__cursors', 'b1');
    await cursors.waitFor(Array.isArray);
    alice.disconnect();
    expect(await bobUsers.waitFor((v) => v.length === 1)).toEqual([{ key: 'b', data: { name: 'Bob' } }]);
  });

  it('the room guard and the module guard cover every endpoint (reference bug §9.3)', async () => {
    env.register('locked', {
      _guard: guard((ctx) => {
        if (ctx.user.banned) throw new LiveError('FORBIDDEN', 'Banned');
      }),
      board: board(),
    });
    const nobody = env.connect({ id: 'x' });
    for (const path of ['locked/board/__data', 'locked/board/__presence', 'locked/board/__cursors']) {
      const s = nobody.subscribe(path, 'b1');
      await new Promise((r) => setTimeout(r, 5));
      expect(s.error?.code, path).toBe('UNAUTHORIZED');
    }
    await expect(nobody.call('locked/board/__action/addCard', 'b1', 't')).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    const banned = env.connect({ id: 'y', name: 'Y', banned: true });
    await expect(banned.call('locked/board/__action/addCard', 'b1', 't')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(env.platform.subscribers('board:b1')).toBe(0);
  });
});

describe('live.webhook', () => {
  it('verify (async), transform, publish', async () => {
    const webhookSecret = 'whsec';
    const stripe = {
      webhooks: {
        constructEvent: async (body, signature, secret) => {
          if (signature !== secret) throw new Error('bad signature');
          return JSON.parse(body);
        },
      },
    };
    const stripeEvents = live.webhook('payments', {
      verify({ body, headers }) {
        return stripe.webhooks.constructEvent(body, headers['stripe-signature'], webhookSecret);
      },
      transform(event) {
        if (event.type === 'payment_intent.succeeded') {
          return { event: 'created', data: event.data.object };
        }
        return null; // ignore other event types
      }
    });
    env.register('integrations', { stripeEvents });
    const s = env.connect({}).subscribe('integrations/stripeEvents');
    await new Promise((r) => setTimeout(r, 5));
    expect(s.error?.code).toBe('NOT_FOUND'); // not callable over the socket
    const platform = env.platform;
    const publish = vi.spyOn(platform, 'publish');
    const body = JSON.stringify({ type: 'payment_intent.succeeded', data: { object: { id: 'pi_1' } } });
    expect(await stripeEvents.handle({ body, headers: { 'stripe-signature': 'whsec' }, platform })).toEqual({ status: 200, body: 'OK' });
    expect(publish).toHaveBeenCalledWith('payments', 'created', { id: 'pi_1' });
    expect(await stripeEvents.handle({ body, headers: { 'stripe-signature': 'nope' }, platform })).toEqual({ status: 400, body: 'Verification failed' });
    const other = JSON.stringify({ type: 'charge.refunded' });
    expect(await stripeEvents.handle({ body: other, headers: { 'stripe-signature': 'whsec' }, platform })).toEqual({ status: 200, body: 'Ignored' });
  });
});
