// The stack svelte-realtime replaces, for side-by-side benchmarks: uWebSockets.js v20 (the npm
// package `uwebsockets` 3.0.6 repackages it) with a runtime shaped like svelte-adapter-uws
// (reference-protocol §1-3, §7.4): 16 KiB max payload, 1 MiB backpressure, subscribe /
// unsubscribe control frames handled in the runtime, the `{"topic","event","data"}` envelope,
// `platform.send` / `publish`, and the app's hooks called with `(ws, { data, isBinary,
// platform })`. The hooks are the same live module the native benchmark server runs, through
// svelte-realtime's own `message` hook, so the only difference is the runtime.
import { createRequire } from 'node:module';
import * as hooks from './live-module.js';
import { TOPIC, commandLoop } from './common.js';

const uWS = createRequire(import.meta.url)('uwebsockets');
const decoder = new TextDecoder();

/** The reference envelope (its esc() throws on names needing escapes; ours never do here). */
const envelope = (topic, event, data) =>
  `{"topic":${JSON.stringify(topic)},"event":${JSON.stringify(event)},"data":${JSON.stringify(data ?? null)}}`;

const app = uWS.App();
const platform = {
  publish: (topic, event, data) => app.publish(topic, envelope(topic, event, data), false, false),
  send: (ws, topic, event, data) => ws.send(envelope(topic, event, data), false, false),
  subscribers: (topic) => app.numSubscribers(topic),
  get connections() {
    return open;
  },
};
let open = 0;

app.ws('/ws', {
  maxPayloadLength: 16 * 1024,
  maxBackpressure: 1024 * 1024,
  idleTimeout: 120,
  sendPingsAutomatically: true,
  compression: uWS.DISABLED,
  upgrade(res, req, context) {
    res.upgrade(
      { remoteAddress: '' },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open() {
    open += 1;
  },
  message(ws, data, isBinary) {
    // The adapter's control frames: short text starting with {"type".
    if (!isBinary && data.byteLength < 512) {
      const bytes = new Uint8Array(data);
      if (bytes[0] === 0x7b && bytes[2] === 0x74) {
        try {
          const msg = JSON.parse(decoder.decode(bytes));
          if (msg.type === 'subscribe' && typeof msg.topic === 'string') return void ws.subscribe(msg.topic);
          if (msg.type === 'unsubscribe' && typeof msg.topic === 'string') return void ws.unsubscribe(msg.topic);
        } catch {
          // not a control frame
        }
      }
    }
    hooks.message(ws, { data, isBinary, platform });
  },
  close(ws, code, message) {
    open -= 1;
    hooks.close(ws, { code, message, platform });
  },
});

app.listen('127.0.0.1', 0, (socket) => {
  if (!socket) throw new Error('uWS could not listen');
  console.log('PORT', uWS.us_socket_local_port(socket));
  commandLoop({
    publish: (data) => platform.publish(TOPIC, 'created', data),
    quit: () => {
      uWS.us_listen_socket_close(socket);
      process.exit(0);
    },
  });
});
