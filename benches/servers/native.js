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
commandLoop({
  publish: (data) => server.platform.publish(TOPIC, 'created', data),
  quit: () => server.close().then(() => process.exit(0)),
});
console.log('PORT', server.port);
