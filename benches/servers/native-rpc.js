// RPC benchmark server on svelte-realtime's native runtime: the bench live module behind the
// ready-made `message` hook, as an app's hooks.ws.js exports it.
import { serve } from '../../lib/runtime/index.js';
import * as live from './live-module.js';
import { TOPIC, commandLoop } from './common.js';

// Clients may subscribe to the fan-out topic by control frame (the reference allows any).
const hooks = { ...live, subscribe: (ws, topic) => topic === TOPIC };
// JS_WORKERS=N: N JavaScript threads on the one server (benches/workers.js).
const server = await serve({
  host: '127.0.0.1',
  port: 0,
  signals: false,
  hooks,
  workers: Number(process.env.IO_WORKERS ?? 0),
  engine: process.env.ENGINE ?? 'auto', // inline on 2 cores; ENGINE=threads for engine threads
  jsWorkers: { count: Number(process.env.JS_WORKERS ?? 1), module: new URL('./native-rpc-worker.js', import.meta.url) },
});
commandLoop({
  publish: (data) => server.platform.publish(TOPIC, 'created', data),
  quit: () => server.close().then(() => process.exit(0)),
});
console.log('PORT', server.port);
