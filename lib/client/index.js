// `svelte-realtime/client`: what components import, plus the helpers the Vite plugin's
// generated `$live/...` stubs call (`__rpc`, `__stream`, `__binary`). Browser-only: no Node
// imports, no dependency on svelte-adapter-uws.

import { configureConnection, connect, disconnect, listen, reconnectNow, resetConnection, status } from './connection.js';
import { batch, binaryFunction, configureCalls, resetCalls, rpcFunction } from './rpc.js';
import { streamExport } from './stream.js';
import { writable } from './store.js';

export { RpcError } from './errors.js';
export { batch, status, connect, disconnect, reconnectNow };

/** Stub helper: the client function of a `live()` export. */
export const __rpc = rpcFunction;
/** Stub helper: the store (or store factory) of a `live.stream()` / `live.channel()` export. */
export const __stream = streamExport;
/** Stub helper: the client function of a `live.binary()` export. */
export const __binary = binaryFunction;

/**
 * Stub helper: a `live.room()` export: `{ data(...args), presence(...args)?,
 * cursors(...args)?, [action](...args) }`.
 */
export function __room(path, { presence = false, cursors = false, actions = [], merge, key } = {}) {
  const room = { data: streamExport(`${path}/__data`, { merge, key }, true) };
  if (presence) room.presence = streamExport(`${path}/__presence`, { merge: 'presence' }, true);
  if (cursors) room.cursors = streamExport(`${path}/__cursors`, { merge: 'cursor' }, true);
  for (const name of actions) room[name] = rpcFunction(`${path}/__action/${name}`);
  return room;
}

let hooks = { onConnect: null, onDisconnect: null };
let watching = null;

function watchTransitions() {
  if (watching) return;
  let seenOpen = false;
  let previous = null;
  watching = status.subscribe((value) => {
    if (previous !== null && value !== previous) {
      if (value === 'open' && seenOpen) hooks.onConnect?.();
      if (value === 'closed' && previous === 'open') hooks.onDisconnect?.();
    }
    if (value === 'open') seenOpen = true;
    previous = value;
  });
}

/**
 * Client settings, once at startup:
 * - `onConnect()`: the socket reopened after a drop; `onDisconnect()`: it closed;
 *   `beforeReconnect()`: before each reconnect attempt (may be async);
 * - `offline: { queue, maxQueue = 100, maxAge, replay, beforeReplay, onReplayError }`;
 * - `timeout` (ms, default 30000);
 * - `path` ('/ws'), `url`, `reconnectInterval` (3000), `maxReconnectInterval` (30000),
 *   `maxReconnectAttempts` (Infinity).
 */
export function configure(config = {}) {
  const { onConnect, onDisconnect, beforeReconnect, offline, timeout, ...connection } = config;
  if (onConnect !== undefined) hooks.onConnect = onConnect;
  if (onDisconnect !== undefined) hooks.onDisconnect = onDisconnect;
  configureConnection(connection, beforeReconnect !== undefined ? { beforeReconnect } : {});
  configureCalls({ timeout, offline });
  watchTransitions();
}

/**
 * One store computed from several: `combine(a, b, ..., (a, b, ...) => value)`. Recomputes
 * when any source changes; subscribers hear only results that differ by reference.
 */
export function combine(...inputs) {
  const fn = inputs.pop();
  if (typeof fn !== 'function' || inputs.length < 2) {
    throw new TypeError('combine(...stores, fn) needs at least two stores and a function');
  }
  return writable(undefined, (set) => {
    const values = new Array(inputs.length);
    let ready = false;
    let last;
    const recompute = () => {
      if (!ready) return;
      const next = fn(...values);
      if (next !== last) {
        last = next;
        set(next);
      }
    };
    const unsubscribers = inputs.map((store, i) =>
      store.subscribe((value) => {
        values[i] = value;
        recompute();
      }),
    );
    ready = true;
    recompute();
    return () => unsubscribers.forEach((u) => u());
  });
}

/**
 * Point-to-point messages for `userId` (the server sends them with `ctx.signal` to sockets
 * that called `enableSignals`). `onSignal(callback)` listens to the legacy `__signal` topic.
 * Returns the unsubscribe function.
 */
export function onSignal(userId, callback) {
  if (typeof userId === 'function') return listen('__signal', (event, data) => userId(event, data));
  return listen(`__signal:${userId}`, (event, data) => callback(event, data));
}

/** Resets the client to its first state (tests only). */
export function __reset() {
  resetCalls();
  resetConnection();
  watching?.();
  watching = null;
  hooks = { onConnect: null, onDisconnect: null };
}
