// One app instance for the multi-instance tests: a server on a free port whose hooks use the
// Redis bus, the shared rate limiter and a small live module. Prints `{"ready":port}` on
// stdout once it listens; exits on SIGTERM after a graceful close.
//
//   node instance.js '{"redis":"redis://127.0.0.1:6379","channel":"t:abc","limit":null}'

import { close, createMessage, live, LiveError, Registry } from '../../lib/server/index.js';
import { createPubSubBus, createRateLimit, createRedis } from '../../lib/redis/index.js';
import { createNotifyBridge, createPgClient } from '../../lib/postgres/index.js';
import { serve } from '../../lib/runtime/index.js';

const config = JSON.parse(process.argv[2] ?? '{}');
const redis = createRedis({ url: config.redis, keyPrefix: config.keyPrefix ?? '' });
const bus = createPubSubBus(redis, { channel: config.channel });
const limiter = config.limit ? createRateLimit(redis, config.limit) : null;
const name = config.name ?? String(process.pid);
// `pg: { url, channel, custom }`: a NOTIFY bridge; with `custom`, a parse in JavaScript that
// maps the README trigger's `{table, op, row}` to a crud publish.
const CRUD = { insert: 'created', update: 'updated', delete: 'deleted' };
const notify = config.pg
  ? createNotifyBridge(createPgClient({ connectionString: config.pg.url }), {
      channel: config.pg.channel,
      reconnectInterval: config.pg.reconnectInterval ?? 3000,
      parse: config.pg.custom
        ? (payload) => {
            const { table, op, row } = JSON.parse(payload);
            // The tests' tables carry a random suffix: `orders_1a2b3c4d` is topic `orders`.
            return CRUD[op] ? { topic: table.replace(/_[0-9a-f]{8}$/, ''), event: CRUD[op], data: row } : null;
          }
        : undefined,
    })
  : null;

const registry = new Registry();
registry.registerModule('feed', {
  items: live.stream((ctx, topic) => topic, async () => [], { merge: 'crud', key: 'id' }),
  log: live.stream((ctx, topic) => topic, async () => [{ id: 'full' }], { merge: 'latest', max: 100, replay: { size: 5 } }),
  add: live((ctx, topic, item) => {
    ctx.publish(topic, 'created', { ...item, via: name });
    return true;
  }),
  room: live.room({
    topic: (ctx, id) => `room:${id}`,
    init: () => [],
    presence: (ctx) => ({ name: ctx.user.name }),
    cursors: true,
  }),
  ping: live(() => 'pong'),
});

const server = await serve({
  host: '127.0.0.1',
  port: 0,
  signals: false,
  shutdownTimeout: 2,
  // As the adapter does with ADDRESS_HEADER=x-forwarded-for.
  clientAddress: config.xff ? (headers, socket) => headers['x-forwarded-for']?.split(',').at(-1).trim() ?? socket : undefined,
  log: { info: (...a) => console.error(...a), warn: (...a) => console.error(...a), error: (...a) => console.error(...a) },
  hooks: {
    upgrade: ({ url }) => {
      const name = new URL(url, 'http://x').searchParams.get('u') ?? 'anon';
      return { id: name, name };
    },
    subscribe: () => true,
    open: (ws, { platform }) => {
      bus.activate(platform);
      notify?.activate(platform);
    },
    message: createMessage({
      registry,
      platform: (p) => bus.wrap(p),
      async beforeExecute(ws) {
        if (!limiter) return;
        const { allowed, resetMs } = await limiter.consume(ws);
        if (!allowed) throw new LiveError('RATE_LIMITED', `Retry in ${Math.ceil(resetMs / 1000)}s`);
      },
    }),
    close,
  },
});
bus.activate(server.platform);
notify?.activate(server.platform);

process.on('message', (msg) => {
  if (msg === 'stats') process.send({ stats: server.stats() });
  if (msg === 'notifyStats') process.send({ notifyStats: notify?.stats() ?? null });
  if (msg?.publish) {
    const [topic, event, data, relay = true] = msg.publish;
    server.platform.publish(topic, event, data, { relay });
    process.send({ published: true });
  }
});
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
process.stdout.write(`${JSON.stringify({ ready: server.port })}\n`);
