// A real server (native runtime + svelte-realtime/server) and the browser client pointed at
// it, with the `ws` package standing in for the browser's WebSocket.
import WebSocket from 'ws';
import { close, createMessage, enableSignals, Registry } from '../../lib/server/index.js';
import * as client from '../../lib/client/index.js';
import { start } from '../helpers.js';

globalThis.WebSocket = WebSocket;

/**
 * Starts a server with `modules` registered and points the client at it.
 * `frames` records every inbound message text, `sockets` the open server-side sockets.
 */
export async function startRealtime(modules, { hooks = {}, configure = {}, signals = false } = {}) {
  const registry = new Registry();
  for (const [name, exports] of Object.entries(modules)) registry.registerModule(name, exports);
  const frames = [];
  const sockets = new Set();
  const handle = createMessage({ registry });
  const server = await start({
    hooks: {
      open(ws) {
        sockets.add(ws);
        if (signals) enableSignals(ws);
      },
      message(ws, ctx) {
        frames.push(ctx.isBinary ? '<binary>' : Buffer.from(ctx.data).toString());
        handle(ws, ctx);
      },
      close(ws, ctx) {
        sockets.delete(ws);
        close(ws, ctx);
      },
      ...hooks,
    },
  });
  client.__reset();
  client.configure({ url: server.wsUrl, reconnectInterval: 50, maxReconnectInterval: 200, ...configure });
  return { server, registry, frames, sockets, client };
}

const watchers = new Set();

/** Subscribes to a store; returns the values seen and the unsubscribe function. */
export function watch(store) {
  const values = [];
  const unsubscribe = store.subscribe((v) => values.push(Array.isArray(v) ? v.slice() : v));
  const stop = () => {
    if (watchers.delete(stop)) unsubscribe();
  };
  watchers.add(stop);
  return { values, stop, get last() { return values.at(-1); } };
}

/** Ends every watch a test left open, then resets the client and stops the server. */
export async function teardown(env) {
  for (const stop of [...watchers]) stop();
  env?.client.__reset();
  await env?.server.close();
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
