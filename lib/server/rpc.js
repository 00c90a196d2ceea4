// The message entry points: `handleRpc` (detect, decode, dispatch, respond), `createMessage`
// and the ready-made `message` hook (reference-protocol §4.1, §4.6, §4.7).
//
// Detection is cheap and synchronous: `handleRpc` returns true when the message is an RPC
// (execution continues asynchronously, so responses may come back out of order) and false
// otherwise, so the caller can handle its own protocol. Works with any `ws`/`platform` of the
// adapter's shape, not only the native runtime's.

import { CODES } from './errors.js';
import { OkPayload, errorPayload, execute, isPending, start } from './execute.js';
import { settleStream } from './stream.js';
import { defaultRegistry } from './registry.js';
import { captureCronPlatform } from './cron.js';
import { activate, hasReactions } from './reactive.js';

/**
 * A `message` hook made by `createMessage` carries a second entry under this symbol,
 * `(ws, bytes: Uint8Array, isBinary, platform)`, which the native runtime calls with a view
 * of the message instead of a fresh ArrayBuffer copy (the copy was a tenth of the JS
 * thread's time per RPC). Other runtimes never see it.
 */
export const RAW_MESSAGE = Symbol.for('svelte-realtime.rawMessage');

/**
 * And a third, `(ws, bytes, start, end, lengths, isBinary, platform)`, for a plain call the
 * native runtime recognized in the clients' exact shape
 * `{"rpc":"<path>","id":"<id>","args":<json>}` (crates/realtime-core/src/rpc_call.rs):
 * `lengths` holds the path length (low byte) and the id length (high byte), so the path and
 * id are sliced from their places and only the arguments go through `JSON.parse` (parsing the
 * whole envelope interned every call's fresh id string: a tenth of the JS thread's time).
 */
export const RAW_CALL = Symbol.for('svelte-realtime.rawCall');

/** Most calls in one batch frame. */
export const MAX_BATCH = 50;
const RPC_TOPIC = '__rpc';
const BATCH_EVENT = '__batch';
const DROPPED = 2;

const decoder = new TextDecoder();

/** `bytes[start..end)` as text; `bytes` is the runtime's Node Buffer (ASCII / UTF-8). */
const latin1 = (bytes, start, end) =>
  typeof bytes.latin1Slice === 'function' ? bytes.latin1Slice(start, end) : decoder.decode(bytes.subarray(start, end));
const utf8 = (bytes, start, end) =>
  typeof bytes.utf8Slice === 'function' ? bytes.utf8Slice(start, end) : decoder.decode(bytes.subarray(start, end));

/**
 * The runtime's in-flight counter, `ws[INFLIGHT]` = `{ begin(), end() }`: graceful shutdown
 * waits for the calls still running. Absent on other runtimes.
 */
const INFLIGHT = Symbol.for('svelte-realtime.inflight');

function bytesOf(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

/** Why `data` cannot be sent as JSON, or null when it can (only asked after a send threw). */
function unserializable(data) {
  try {
    JSON.stringify(data);
    return null;
  } catch (error) {
    return error;
  }
}

/** The runtime's batched `send` (one napi call per turn), when the platform passes it on. */
const BATCHED = Symbol.for('svelte-realtime.batchedSend');

/**
 * For the batched send: true when `payload` is a plain call's `{ ok: true, data }` whose JSON
 * is `{"ok":true,"data":` + JSON of `data` + `}`, so the runtime writes the wrapper as bytes
 * around the value (one `JSON.stringify` of the value, or none for a string, instead of
 * one of the wrapper object). Not for data with a `toJSON`: it would be called with the key
 * "" there and "data" inside the wrapper.
 */
function isPlainOk(payload) {
  if (!(payload instanceof OkPayload)) return false;
  const data = payload.data;
  return data === null || typeof data !== 'object' || typeof data.toJSON !== 'function';
}

function sendEnvelope(env, event, payload) {
  const batched = env.platform.send[BATCHED];
  const status = batched
    ? batched(env.ws, RPC_TOPIC, event, payload, isPlainOk(payload))
    : env.platform.send(env.ws, RPC_TOPIC, event, payload);
  if (status === DROPPED && env.ws.getBufferedAmount?.() > 0) {
    console.warn(`[svelte-realtime] response ${event} dropped: the socket is over maxBackpressure`);
  }
  return status !== DROPPED;
}

/**
 * Sends a response envelope; true when it was queued for the socket. A payload that cannot
 * be serialized (a cycle, a BigInt, nesting too deep) is answered `INTERNAL_ERROR` and
 * logged with its path, instead of leaving the caller to time out.
 */
function reply(env, event, payload, path) {
  try {
    return sendEnvelope(env, event, payload);
  } catch (error) {
    const cause = unserializable(payload);
    // Otherwise the platform threw for a closed socket (the reference does): the client is gone.
    if (!cause) return false;
    console.error(`[svelte-realtime] ${String(path)}: the result cannot be sent as JSON:`, cause);
    try {
      sendEnvelope(env, event, errorPayload(CODES.INTERNAL_ERROR, 'Internal server error'));
    } catch {
      // Closed meanwhile.
    }
    return false;
  }
}

/** The runtime's development checks (`vite dev`): `{ maxPayloadLength }`, else undefined. */
const DEV = Symbol.for('svelte-realtime.dev');
const warnedLarge = new Set();
const encoder = new TextEncoder();

/**
 * In development, a reply larger than the socket's `maxPayloadLength` is worth a warning:
 * the browser receives it, but sending the same data back (a save, an optimistic update)
 * would close the socket with 1009 under the default limits.
 */
function checkSize(env, path, payload) {
  const dev = env.ws?.[DEV];
  if (!dev || warnedLarge.has(path)) return;
  const bytes = encoder.encode(JSON.stringify(payload) ?? '').length;
  if (bytes <= dev.maxPayloadLength) return;
  warnedLarge.add(path);
  console.warn(
    `[svelte-realtime] ${path} replied ${Math.ceil(bytes / 1024)} KiB, more than maxPayloadLength ` +
      `(${Math.round(dev.maxPayloadLength / 1024)} KiB): a client sending this data back would be ` +
      'disconnected (1009). Page the data (return { data, hasMore, cursor }) or raise websocket.maxPayloadLength.',
  );
}

/** Sends one call's payload and confirms or withdraws the stream subscription behind it. */
function answer(env, id, payload, path) {
  const delivered = reply(env, id, payload, path);
  if (delivered) checkSize(env, path, payload);
  settleStream(payload, delivered);
}

function requestOf(msg) {
  return {
    path: msg.rpc,
    args: msg.args,
    stream: msg.stream === true,
    cursor: msg.cursor,
    version: msg.version,
    seq: msg.seq,
    epoch: msg.epoch,
    schemaVersion: msg.schemaVersion,
  };
}

/** Above this many entries an oversized batch gets one error, not one per entry. */
const MAX_BATCH_ERRORS = 1000;

async function runBatch(env, msg) {
  const entries = msg.batch;
  const idOf = (entry) => (typeof entry?.id === 'string' ? entry.id : '');
  if (entries.length > MAX_BATCH) {
    // One error per entry, with its id, so the client can settle every call at once (the
    // reference answered with a single id "" the client could not match, bug §9.16).
    const error = errorPayload(CODES.INVALID_REQUEST, `Batch exceeds maximum of ${MAX_BATCH} calls`);
    const listed = entries.length > MAX_BATCH_ERRORS ? [null] : entries;
    reply(env, BATCH_EVENT, { batch: listed.map((entry) => ({ id: idOf(entry), ...error })) }, 'batch');
    return;
  }
  const one = async (entry) => {
    if (typeof entry?.rpc !== 'string' || typeof entry?.id !== 'string') {
      return errorPayload(CODES.INVALID_REQUEST, 'Each batch entry requires rpc and id');
    }
    return execute(env, requestOf(entry));
  };
  let payloads;
  if (msg.sequential === true) {
    payloads = [];
    for (const entry of entries) payloads.push(await one(entry));
  } else {
    payloads = await Promise.all(entries.map(one));
  }
  let results = payloads.map((payload, i) => ({ id: idOf(entries[i]), ...payload }));
  const failed = new Set();
  let delivered;
  try {
    delivered = sendEnvelope(env, BATCH_EVENT, { batch: results });
  } catch {
    // An entry whose result cannot be serialized fails alone; the others are still answered.
    results = results.map((result, i) => {
      const cause = unserializable(result);
      if (!cause) return result;
      console.error(`[svelte-realtime] ${String(entries[i].rpc)}: the result cannot be sent as JSON:`, cause);
      failed.add(i);
      return { id: result.id, ...errorPayload(CODES.INTERNAL_ERROR, 'Internal server error') };
    });
    delivered = failed.size > 0 && reply(env, BATCH_EVENT, { batch: results }, 'batch');
  }
  payloads.forEach((payload, i) => settleStream(payload, delivered && !failed.has(i)));
}

function handleBinary(env, bytes) {
  const headerLength = (bytes[1] << 8) | bytes[2];
  if (headerLength === 0 || 3 + headerLength > bytes.length) return false;
  let header;
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(3, 3 + headerLength)));
  } catch {
    return false;
  }
  if (typeof header?.rpc !== 'string' || typeof header.id !== 'string') return false;
  const payload = bytes.slice(3 + headerLength).buffer;
  const inflight = env.ws?.[INFLIGHT];
  inflight?.begin();
  execute(env, { path: header.rpc, args: header.args, payload }).then((result) => {
    try {
      answer(env, header.id, result, header.rpc);
    } finally {
      inflight?.end();
    }
  });
  return true;
}

/**
 * Handles one message if it is an RPC. Returns true when it was (the response follows
 * asynchronously on topic `__rpc`), false when the caller should handle it.
 * @param {any} ws the adapter's WebSocket (`getUserData`, `subscribe`, ...)
 * @param {ArrayBuffer | ArrayBufferView | string} data
 * @param {any} platform the adapter's platform (`send`, `publish`, ...)
 * @param {{ beforeExecute?: Function, onError?: Function }} [options]
 */
export function handleRpc(ws, data, platform, options = {}) {
  enter(platform);
  let text;
  if (typeof data === 'string') {
    if (data.length < 10 || data.charCodeAt(0) !== 0x7b) return false;
    const third = data.charCodeAt(2);
    if (third !== 0x72 && third !== 0x62) return false;
    text = data;
  } else {
    const bytes = bytesOf(data);
    if (!bytes || bytes.length < 4) return false;
    const env = { ws, platform, options, registry: options.registry ?? defaultRegistry };
    if (bytes[0] === 0x00) return handleBinary(env, bytes);
    if (bytes.length < 10 || bytes[0] !== 0x7b || (bytes[2] !== 0x72 && bytes[2] !== 0x62)) return false;
    text = decoder.decode(bytes);
  }
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return false;
  }
  if (msg === null || typeof msg !== 'object') return false;
  const env = { ws, platform, options, registry: options.registry ?? defaultRegistry };
  if (Array.isArray(msg.batch)) {
    const inflight = ws?.[INFLIGHT];
    inflight?.begin();
    runBatch(env, msg).then(
      () => inflight?.end(),
      (error) => {
        inflight?.end();
        console.error('[svelte-realtime] batch failed:', error);
      },
    );
    return true;
  }
  if (typeof msg.rpc !== 'string' || typeof msg.id !== 'string') return false;
  run(env, msg.id, requestOf(msg));
  return true;
}

/** What every incoming call does first: cron and reactive publishes learn the platform. */
function enter(platform) {
  captureCronPlatform(platform);
  if (hasReactions()) activate(platform);
}

/**
 * Executes one call and answers it under `id`: at once when it completed synchronously,
 * else when it settles (graceful shutdown waits for it).
 */
function run(env, id, request) {
  const result = start(env, request);
  if (!isPending(result)) {
    answer(env, id, result, request.path);
    return;
  }
  const inflight = env.ws?.[INFLIGHT];
  inflight?.begin();
  result.then((payload) => {
    try {
      answer(env, id, payload, request.path);
    } finally {
      inflight?.end();
    }
  });
}

/**
 * Path strings of recent calls, by length: a call's path is compared byte for byte with the
 * one seen last at that length instead of being sliced into a new string (most calls repeat
 * a handful of paths; a byte loop costs less than the slice).
 */
const recentPaths = [];

/** The path at `bytes[start..end)` (plain ASCII, see `RAW_CALL`). */
function pathAt(bytes, start, end) {
  const length = end - start;
  const known = recentPaths[length];
  if (known !== undefined) {
    let i = 0;
    while (i < length && known.charCodeAt(i) === bytes[start + i]) i++;
    if (i === length) return known;
  }
  const path = latin1(bytes, start, end);
  recentPaths[length] = path;
  return path;
}

/** A plain call the native runtime delimited (see `RAW_CALL`); false if its args do not parse. */
function runCall(ws, bytes, start, end, lengths, platform, options) {
  const pathEnd = start + 8 + (lengths & 0xff);
  const idStart = pathEnd + 8;
  const idEnd = idStart + (lengths >> 8);
  let args;
  try {
    args = JSON.parse(utf8(bytes, idEnd + 9, end - 1));
  } catch {
    return false;
  }
  enter(platform);
  const env = { ws, platform, options, registry: options.registry ?? defaultRegistry };
  run(env, latin1(bytes, idStart, idEnd), { path: pathAt(bytes, start + 8, pathEnd), args, stream: false });
  return true;
}

/**
 * A `message` hook with options:
 * - `platform(p)`: transforms the platform (e.g. a Redis bus wrapper); called once per
 *   platform object, not once per message;
 * - `beforeExecute(ws, path, args)`: runs after guards, before the function; throw to refuse;
 * - `onError(path, error, ctx)`: unexpected (non-LiveError) errors;
 * - `onUnhandled(ws, data, platform)`: messages that are not RPCs.
 */
export function createMessage(options = {}) {
  const transformed = new WeakMap();
  const platformOf = (platform) => {
    if (!options.platform) return platform;
    let p = transformed.get(platform);
    if (!p) {
      p = options.platform(platform);
      transformed.set(platform, p);
    }
    return p;
  };
  function message(ws, { data, platform }) {
    const p = platformOf(platform);
    if (!handleRpc(ws, data, p, options)) options.onUnhandled?.(ws, data, p);
  }
  /**
   * The runtime's fast entry (see `RAW_MESSAGE`): `bytes` is a view into the runtime's
   * batch buffer, valid during this call only. handleRpc reads it synchronously; a message
   * that is not an RPC gets the copy the hook contract promises.
   */
  message[RAW_MESSAGE] = (ws, bytes, isBinary, platform) => {
    const p = platformOf(platform);
    if (!handleRpc(ws, bytes, p, options) && options.onUnhandled) {
      // A copy of its own (a Node Buffer's slice() would be a view of the whole batch).
      options.onUnhandled(ws, Uint8Array.prototype.slice.call(bytes).buffer, p);
    }
  };
  message[RAW_CALL] = (ws, bytes, start, end, lengths, isBinary, platform) => {
    // Arguments JSON.parse refuses: the general path decides, as for any other message.
    if (!runCall(ws, bytes, start, end, lengths, platformOf(platform), options)) {
      message[RAW_MESSAGE](ws, bytes.subarray(start, end), isBinary, platform);
    }
  };
  return message;
}

/** The ready-made `message` hook: `export { message } from 'svelte-realtime/server'`. */
export const message = createMessage();
