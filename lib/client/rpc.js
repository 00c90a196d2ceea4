// Calls: ids, pending requests, timeouts, deduplication, batches, binary frames and the
// offline queue. Responses arrive as envelopes on topic `__rpc` with the request id as
// event (`__batch` for batches); see reference-protocol §4.
//
// Failure codes: TIMEOUT (no answer within the timeout, default 30 s), DISCONNECTED (the
// socket closed after the request was written, so the server may or may not have run it),
// QUEUE_FULL / STALE (offline queue). A request that was never written is not rejected by
// a disconnect: it waits in the send queue (reference bug §9.22: a rejected call was still
// sent later and executed).

import { RpcError, errorFrom } from './errors.js';
import { connect, getStatus, send, status, tap, unqueue } from './connection.js';

/** Most calls in one batch frame (the server refuses more). */
export const MAX_BATCH = 50;

const settings = {
  /** ms before a request rejects with TIMEOUT. */
  timeout: 30_000,
  /** @type {null | { queue: boolean, maxQueue: number, maxAge: number, replay?: Function, beforeReplay?: Function, onReplayError?: Function }} */
  offline: null,
};

const prefix = Math.random().toString(36).slice(2, 6);
let counter = 0;

/** A fresh request id: a per-page prefix and a base-36 counter. */
export function nextId() {
  return prefix + (counter++).toString(36);
}

/** id → { resolve, reject, timer, item, raw } */
const pending = new Map();
/** Undoes `wire()` (tests reset the client between cases). */
let unwire = null;

function wire() {
  if (unwire) return;
  const untap = tap((msg) => {
    if (msg.topic !== '__rpc') return;
    if (msg.event === '__batch') {
      for (const result of msg.data?.batch ?? []) settle(result?.id, result);
    } else {
      settle(msg.event, msg.data);
    }
  });
  let first = true;
  const unsubscribe = status.subscribe((value) => {
    if (first) {
      first = false;
      return;
    }
    if (value === 'closed') {
      for (const [id, entry] of pending) {
        if (entry.item?.sent) fail(id, new RpcError('DISCONNECTED', 'Connection lost before the answer arrived'));
      }
    } else if (value === 'open') {
      replayOffline();
    }
  });
  unwire = () => {
    untap();
    unsubscribe();
  };
}

/** The DevTools overlay's hooks, when it is loaded (dev only). */
const devtools = () => globalThis.__svelteRealtimeDevtools;

function settle(id, payload) {
  const entry = pending.get(id);
  if (!entry) return;
  pending.delete(id);
  clearTimeout(entry.timer);
  devtools()?.callEnd(id, Boolean(payload?.ok), payload?.code);
  if (payload?.ok) entry.resolve(entry.raw ? payload : payload.data);
  else entry.reject(errorFrom(payload));
}

function fail(id, error) {
  const entry = pending.get(id);
  if (!entry) return;
  pending.delete(id);
  clearTimeout(entry.timer);
  devtools()?.callEnd(id, false, error.code);
  if (entry.item) unqueue(entry.item);
  entry.reject(error);
}

/**
 * Registers a pending request and sends `data`. Resolves with the payload's `data`, or the
 * whole payload with `raw` (streams need the topic and merge options).
 */
export function request(id, data, { raw = false, path } = {}) {
  wire();
  devtools()?.callStart(path ?? id, id);
  return new Promise((resolve, reject) => {
    const entry = { resolve, reject, timer: null, item: null, raw };
    pending.set(id, entry);
    entry.timer = setTimeout(() => fail(id, new RpcError('TIMEOUT', 'Request timed out')), settings.timeout);
    entry.item = send(data, {
      onDrop: () => fail(id, new RpcError('QUEUE_FULL', 'Send queue overflow -- oldest message dropped')),
    });
  });
}

/** Forgets a pending request (a stream that lost its last subscriber). */
export function cancel(id) {
  const entry = pending.get(id);
  if (!entry) return;
  pending.delete(id);
  clearTimeout(entry.timer);
  if (entry.item && !entry.item.sent) unqueue(entry.item);
}

// ---- batching -------------------------------------------------------------------------

let collector = null;

/**
 * Sends the calls made during `fn()` as one frame. Resolves like `Promise.all` of what
 * `fn` returned; each call still settles on its own.
 */
export async function batch(fn, { sequential = false } = {}) {
  if (collector) throw new Error('batch() cannot be nested');
  const entries = [];
  collector = entries;
  let results;
  try {
    results = fn();
  } finally {
    collector = null;
  }
  if (entries.length > MAX_BATCH) {
    const error = new RpcError('INVALID_REQUEST', `Batch exceeds maximum of ${MAX_BATCH} calls`);
    for (const entry of entries) entry.reject(error);
  } else if (entries.length > 0) {
    wire();
    const frame = { batch: entries.map((e) => e.message) };
    if (sequential) frame.sequential = true;
    const item = send(JSON.stringify(frame), {
      onDrop: () => entries.forEach((e) => fail(e.message.id, new RpcError('QUEUE_FULL', 'Send queue overflow'))),
    });
    for (const entry of entries) {
      const record = { resolve: entry.resolve, reject: entry.reject, timer: null, item, raw: false };
      record.timer = setTimeout(
        () => fail(entry.message.id, new RpcError('TIMEOUT', 'Request timed out')),
        settings.timeout,
      );
      pending.set(entry.message.id, record);
    }
  }
  return Promise.all(Array.isArray(results) ? results : [results]);
}

// ---- calls ----------------------------------------------------------------------------

function message(path, args) {
  return { rpc: path, id: nextId(), args };
}

function sendCall(path, args) {
  const msg = message(path, args);
  if (collector) {
    return new Promise((resolve, reject) => collector.push({ message: msg, resolve, reject }));
  }
  if (settings.offline?.queue && getStatus() !== 'open') return queueOffline(path, args);
  return request(msg.id, JSON.stringify(msg), { path });
}

/** Same-microtask identical calls share one request. */
const sameTick = new Map();

function dedupKey(path, args) {
  try {
    return `${path}\0${JSON.stringify(args)}`;
  } catch {
    return null;
  }
}

/** The client function for `path`: `fn(...args)`, plus `fn.fresh(...args)` without dedup. */
export function rpcFunction(path) {
  const call = (...args) => {
    if (collector) return sendCall(path, args);
    const key = dedupKey(path, args);
    if (key === null) return sendCall(path, args);
    const existing = sameTick.get(key);
    if (existing) return existing;
    const promise = sendCall(path, args);
    if (sameTick.size === 0) queueMicrotask(() => sameTick.clear());
    sameTick.set(key, promise);
    return promise;
  };
  call.fresh = (...args) => sendCall(path, args);
  return call;
}

/**
 * The client function for a `live.binary` endpoint: `fn(payload, ...args)` sends
 * `0x00 | u16 BE header length | {"rpc","id","args"?} | payload` as a binary frame.
 */
export function binaryFunction(path) {
  return (payload, ...args) => {
    const bytes =
      payload instanceof ArrayBuffer
        ? new Uint8Array(payload)
        : ArrayBuffer.isView(payload)
          ? new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)
          : null;
    if (!bytes) return Promise.reject(new TypeError('binary payload must be an ArrayBuffer or a typed array'));
    const id = nextId();
    const header = { rpc: path, id };
    if (args.length > 0) header.args = args;
    const head = new TextEncoder().encode(JSON.stringify(header));
    if (head.length > 0xffff) return Promise.reject(new RangeError('binary RPC header over 65535 bytes'));
    const frame = new Uint8Array(3 + head.length + bytes.length);
    frame[1] = head.length >> 8;
    frame[2] = head.length & 0xff;
    frame.set(head, 3);
    frame.set(bytes, 3 + head.length);
    return request(id, frame.buffer);
  };
}

// ---- offline queue --------------------------------------------------------------------

/** { path, args, queuedAt, resolve, reject } */
const offlineQueue = [];

function queueOffline(path, args) {
  wire();
  connect();
  return new Promise((resolve, reject) => {
    offlineQueue.push({ path, args, queuedAt: Date.now(), resolve, reject });
    if (offlineQueue.length > settings.offline.maxQueue) {
      offlineQueue
        .shift()
        .reject(new RpcError('QUEUE_FULL', 'Offline queue overflow -- oldest mutation dropped'));
    }
  });
}

async function replayOffline() {
  const config = settings.offline;
  if (!config || offlineQueue.length === 0) return;
  let calls = offlineQueue.splice(0);
  const now = Date.now();
  const keep = [];
  for (const call of calls) {
    if (config.maxAge > 0 && now - call.queuedAt > config.maxAge) {
      call.reject(new RpcError('STALE', 'Offline mutation expired'));
    } else if (config.beforeReplay && config.beforeReplay(call) === false) {
      call.reject(new RpcError('STALE', 'Offline mutation dropped by beforeReplay filter'));
    } else {
      keep.push(call);
    }
  }
  calls = config.replay ? (config.replay(keep) ?? keep) : keep;
  for (const call of calls) {
    const msg = message(call.path, call.args);
    try {
      call.resolve(await request(msg.id, JSON.stringify(msg)));
    } catch (error) {
      try {
        config.onReplayError?.(call, error);
      } catch (hookError) {
        console.error('[svelte-realtime] onReplayError threw:', hookError);
      }
      call.reject(error);
    }
  }
}

/** Applies `configure()` settings that belong to calls. */
export function configureCalls({ timeout, offline }) {
  if (timeout !== undefined) {
    if (!(Number.isFinite(timeout) && timeout > 0)) throw new TypeError('timeout must be a positive number of ms');
    settings.timeout = timeout;
  }
  if (offline !== undefined) {
    settings.offline = offline?.queue
      ? {
          queue: true,
          maxQueue: offline.maxQueue ?? 100,
          maxAge: offline.maxAge ?? 0,
          replay: offline.replay,
          beforeReplay: offline.beforeReplay,
          onReplayError: offline.onReplayError,
        }
      : null;
  }
}

/** Forgets every pending call (tests). */
export function resetCalls() {
  for (const entry of pending.values()) clearTimeout(entry.timer);
  pending.clear();
  offlineQueue.length = 0;
  sameTick.clear();
  collector = null;
  unwire?.();
  unwire = null;
  settings.timeout = 30_000;
  settings.offline = null;
}
