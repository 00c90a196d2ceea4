// The browser's one WebSocket to the server: connecting lazily, reconnecting with backoff
// and jitter, the `status` store, topic listeners with reference counts, and a bounded
// queue of messages waiting for the socket to open.
//
// Browser-only code: no Node imports. Under SSR (no `WebSocket`) nothing connects and the
// status stays 'closed'.

import { writable } from './store.js';

export const DEFAULTS = Object.freeze({
  /** Server path of the WebSocket endpoint. */
  path: '/ws',
  /** Full URL instead of `ws(s)://<page host><path>`. */
  url: undefined,
  /** First reconnect delay in ms; each attempt multiplies it by 1.5, plus up to 1 s of jitter. */
  reconnectInterval: 3000,
  /** Longest reconnect delay in ms. */
  maxReconnectInterval: 30_000,
  /** Give up after this many failed attempts. */
  maxReconnectAttempts: Infinity,
});

/** Messages kept while the socket is not open; past it the oldest is dropped. */
export const MAX_SEND_QUEUE = 1000;

let options = { ...DEFAULTS };
let socket = null;
let attempt = 0;
let timer = null;
let stopped = false;
let beforeReconnect = null;
const statusStore = writable('closed');
let current = 'closed';

/** topic → { listeners: Set, announce: boolean } */
const topics = new Map();
/** Functions that see every envelope first (RPC responses, stream buffers). */
const taps = new Set();
/** Messages waiting for the socket: { data, sent, dropped, onDrop } */
const queue = [];

/** `'connecting' | 'open' | 'closed'`. */
export const status = { subscribe: statusStore.subscribe };

export function getStatus() {
  return current;
}

function setStatus(next) {
  current = next;
  statusStore.set(next);
}

function socketUrl() {
  if (options.url) return options.url;
  const { location } = globalThis;
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${options.path}`;
}

/** Whether this environment can open a socket at all (false under SSR). */
export function canConnect() {
  return typeof globalThis.WebSocket === 'function' && (Boolean(options.url) || Boolean(globalThis.location));
}

function control(type, topic) {
  // Byte for byte the reference client's frame: the server detects controls by `{"type"`.
  return JSON.stringify({ type, topic });
}

function open() {
  if (stopped || socket || !canConnect()) return;
  setStatus('connecting');
  let ws;
  try {
    ws = new globalThis.WebSocket(socketUrl());
  } catch {
    setStatus('closed');
    scheduleReconnect();
    return;
  }
  socket = ws;
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    if (socket !== ws) return;
    attempt = 0;
    setStatus('open');
    for (const [topic, entry] of topics) if (entry.announce) ws.send(control('subscribe', topic));
    flush();
  };
  ws.onmessage = (event) => {
    if (socket === ws) receive(event.data);
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    setStatus('closed');
    scheduleReconnect();
  };
  ws.onerror = () => {};
}

function scheduleReconnect() {
  if (stopped || timer || attempt >= options.maxReconnectAttempts) return;
  const delay = Math.min(
    options.reconnectInterval * 1.5 ** attempt + Math.random() * 1000,
    options.maxReconnectInterval,
  );
  attempt += 1;
  timer = setTimeout(async () => {
    timer = null;
    try {
      await beforeReconnect?.();
    } catch (error) {
      console.error('[svelte-realtime] beforeReconnect threw:', error);
    }
    open();
  }, delay);
}

function receive(raw) {
  if (typeof raw !== 'string') return;
  let msg;
  try {
    msg = JSON.parse(raw);
  } catch {
    return;
  }
  if (msg === null || typeof msg !== 'object' || typeof msg.topic !== 'string' || !msg.topic) return;
  if (msg.event === undefined) return;
  for (const tap of taps) tap(msg);
  const entry = topics.get(msg.topic);
  if (entry) for (const listener of [...entry.listeners]) listener(msg.event, msg.data, msg);
}

function flush() {
  while (queue.length > 0 && socket?.readyState === 1) {
    const item = queue.shift();
    item.sent = true;
    socket.send(item.data);
  }
}

/** Connects now (otherwise the first call or subscription connects). */
export function connect(overrides) {
  if (overrides) options = { ...options, ...overrides };
  stopped = false;
  if (!socket && !timer) open();
}

/** Connects now even if a reconnect is scheduled (the "retry now" button). */
export function reconnectNow() {
  clearTimeout(timer);
  timer = null;
  connect();
}

/** Sets options for the next connection (`path`, `url`, reconnect timings). */
export function configureConnection(overrides, hooks = {}) {
  options = { ...options, ...overrides };
  if ('beforeReconnect' in hooks) beforeReconnect = hooks.beforeReconnect;
}

/** Closes for good: no reconnect until `connect()` is called again. */
export function disconnect() {
  stopped = true;
  clearTimeout(timer);
  timer = null;
  const ws = socket;
  socket = null;
  ws?.close();
  if (current !== 'closed') setStatus('closed');
}

/**
 * Sends now if the socket is open, else queues (bounded: the oldest queued message is
 * dropped and its `onDrop` called). Returns the queue item, whose `sent` turns true once
 * written; pass it to `unqueue` to take it back.
 */
export function send(data, { onDrop } = {}) {
  const item = { data, sent: false, onDrop };
  if (socket?.readyState === 1) {
    item.sent = true;
    socket.send(data);
    return item;
  }
  queue.push(item);
  if (queue.length > MAX_SEND_QUEUE) queue.shift().onDrop?.();
  connect();
  return item;
}

/** Takes a queued message back (a call that timed out must not be sent later). */
export function unqueue(item) {
  const i = queue.indexOf(item);
  if (i !== -1) queue.splice(i, 1);
}

/** Sends a control frame if the socket is open (a later open re-announces topics). */
function sendControl(type, topic) {
  if (socket?.readyState === 1) socket.send(control(type, topic));
}

/**
 * Listens to events of `topic`. `announce`: send `{"type":"subscribe"}` now and after each
 * reconnect (streams do not: their request subscribes them on the server). The last
 * listener of a topic sends `{"type":"unsubscribe"}`.
 */
export function listen(topic, listener, { announce = true } = {}) {
  let entry = topics.get(topic);
  if (!entry) {
    entry = { listeners: new Set(), announce: false };
    topics.set(topic, entry);
  }
  entry.listeners.add(listener);
  if (announce && !entry.announce) {
    entry.announce = true;
    sendControl('subscribe', topic);
  }
  connect();
  return () => {
    if (!entry.listeners.delete(listener) || entry.listeners.size > 0) return;
    topics.delete(topic);
    sendControl('unsubscribe', topic);
  };
}

/** Sees every envelope before topic listeners do. */
export function tap(fn) {
  taps.add(fn);
  return () => taps.delete(fn);
}

/** Forgets everything (tests). */
export function resetConnection() {
  disconnect();
  topics.clear();
  taps.clear();
  queue.length = 0;
  attempt = 0;
  options = { ...DEFAULTS };
  beforeReconnect = null;
  stopped = false;
}
