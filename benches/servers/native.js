// Benchmark server on svelte-realtime's native runtime.
import { serve } from '../../lib/runtime/index.js';
import { TOPIC, commandLoop, echoReply } from './common.js';

const decoder = new TextDecoder();
const server = await serve({
  host: '127.0.0.1',
  port: 0,
  signals: false,
  websocket: { idleTimeout: 0 },
  hooks: {
    subscribe: (ws, topic) => topic === TOPIC,
    message(ws, { data, platform }) {
      const { id, data: reply } = echoReply(decoder.decode(data));
      platform.send(ws, '__rpc', id, reply);
    },
  },
});
// BUS_URL (+ BUS_CHANNEL): join the instances on that Redis (benches/cross-instance.js).
if (process.env.BUS_URL) {
  const { createPubSubBus, createRedis } = await import('../../lib/redis/index.js');
  createPubSubBus(createRedis({ url: process.env.BUS_URL }), { channel: process.env.BUS_CHANNEL }).activate(server.platform);
}
commandLoop({
  stats: () => console.log('STATS ' + JSON.stringify(server.stats().bus ?? null)),
  publish: (data) => server.platform.publish(TOPIC, 'created', data),
  quit: () => server.close().then(() => process.exit(0)),
});
console.log('PORT', server.port);
