// The stream subscribe path (reference-protocol §4.5), in its order: request checks, gate,
// topic, access, server-side subscribe BEFORE any data is read (so no event published
// meanwhile is lost: it reaches the socket ahead of the response), onSubscribe, then channel
// state, delta, replay or the full fetch. Also the `close` hook that fires `onUnsubscribe`.
//
// A call that fails after its subscribe (init throws FORBIDDEN, replay or delta break, the
// reply cannot be serialized, the socket closed) withdraws the subscription and the grant it
// made, unless the socket held the topic already: from an earlier successful call, from
// another call still in flight, or from the app's own `ws.subscribe`. The reference left a
// refused caller subscribed (§4.5, last line).

import { CODES, LiveError } from './errors.js';
import { createCtx } from './ctx.js';
import { metaOf } from './meta.js';
import { NATIVE_SERVER } from '../runtime/platform.js';

/** Where a runtime exposes server-held topic state (presence/cursor channels). */
export const TOPIC_STATE = Symbol.for('svelte-realtime.topicState');

/** Where a platform with a Redis bus waits for its subscription of a topic (lib/redis). */
const BUS_READY = Symbol.for('svelte-realtime.busReady');

/** ws → Map<topic, Set<stream fn>> for streams with `onUnsubscribe`. */
const unsubscribeHooks = new WeakMap();

function remember(ws, topic, fn) {
  let topics = unsubscribeHooks.get(ws);
  if (!topics) {
    topics = new Map();
    unsubscribeHooks.set(ws, topics);
  }
  let fns = topics.get(topic);
  if (!fns) topics.set(topic, (fns = new Set()));
  fns.add(fn);
}

/**
 * ws → Map<topic, { pending, keep }>: stream calls in flight per topic. `keep` says whether
 * the subscription stays when the last of them ends: true if the socket was subscribed when
 * the first one started, or once any of them succeeded.
 */
const inFlight = new WeakMap();
/** payload → settle(delivered): the claim a successful stream payload still has to confirm. */
const unsettled = new WeakMap();

function claim(ws, topic) {
  let topics = inFlight.get(ws);
  if (!topics) inFlight.set(ws, (topics = new Map()));
  let entry = topics.get(topic);
  if (!entry) {
    entry = { pending: 0, keep: ws.isSubscribed?.(topic) === true };
    topics.set(topic, entry);
  }
  entry.pending += 1;
  return entry;
}

/**
 * Ends one call's claim on `topic`. When it was the last and none succeeded, withdraws the
 * subscription (and with it the grant) and runs `onUnsubscribe` if this call ran
 * `onSubscribe`, so every join has one leave.
 */
function release(env, ctx, fn, meta, topic, entry, succeeded, joined) {
  const { ws } = env;
  entry.pending -= 1;
  if (succeeded) entry.keep = true;
  if (entry.pending > 0) return;
  inFlight.get(ws)?.delete(topic);
  if (entry.keep) return;
  try {
    ws.unsubscribe(topic);
  } catch {
    // The socket closed meanwhile: its subscriptions went with it.
  }
  if (joined && meta.onUnsubscribe) runUnsubscribe(meta.onUnsubscribe, ctx, topic);
}

function runUnsubscribe(hook, ctx, topic) {
  Promise.resolve()
    .then(() => hook(ctx, topic))
    .catch((error) => console.error(`[svelte-realtime] onUnsubscribe for ${topic} threw:`, error));
}

/** Subscribes the socket; a closed socket is `CONNECTION_CLOSED`. */
function subscribeSocket(ws, topic) {
  let subscribed;
  try {
    subscribed = ws.subscribe(topic);
  } catch {
    // The reference adapter throws for a socket that closed meanwhile.
    throw new LiveError(CODES.CONNECTION_CLOSED, 'WebSocket closed');
  }
  // Our runtime answers false for a closed socket (and for one already subscribed).
  if (subscribed === false && ws.isSubscribed?.(topic) === false) {
    throw new LiveError(CODES.CONNECTION_CLOSED, 'WebSocket closed');
  }
}

/**
 * Confirms (`delivered`) or withdraws the subscription behind a stream payload once its
 * reply was sent or could not be. Any other payload is ignored.
 */
export function settleStream(payload, delivered) {
  const settle = payload !== null && typeof payload === 'object' ? unsettled.get(payload) : undefined;
  if (!settle) return;
  unsettled.delete(payload);
  settle(delivered);
}

/** Integer request fields a client controls; anything else is refused before it drives a loop. */
function checkRequest(meta, req) {
  const { schemaVersion, seq } = req;
  if (schemaVersion !== undefined) {
    const top = meta.version ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isSafeInteger(schemaVersion) || schemaVersion < 1 || schemaVersion > top) {
      const range = meta.version ? `1..${meta.version}` : 'a positive integer';
      throw new LiveError(CODES.INVALID_REQUEST, `schemaVersion must be an integer in ${range}`);
    }
  }
  if (typeof seq === 'number' && !(Number.isSafeInteger(seq) && seq >= 0)) {
    throw new LiveError(CODES.INVALID_REQUEST, 'seq must be a non-negative integer');
  }
}

function isPage(result) {
  return (
    result !== null &&
    typeof result === 'object' &&
    !Array.isArray(result) &&
    'data' in result &&
    'hasMore' in result
  );
}

/** Applies `migrate[v]` for v = from … version-1, item by item for arrays. */
function migrate(data, from, meta) {
  let out = data;
  for (let v = from; v < meta.version; v++) {
    const step = meta.migrate[v];
    if (typeof step !== 'function') continue;
    out = Array.isArray(out) ? out.map((item) => step(item)) : step(out);
  }
  return out;
}

/**
 * Replay is trusted only when the missed events are exactly the ones after the client's
 * seq, up to the current seq (reference bug §9.11: an empty or evicted buffer used to be
 * taken for "nothing missed").
 */
function isContiguous(missed, since, current) {
  if (!Array.isArray(missed)) return false;
  if (missed.length === 0) return current === since;
  let expected = since + 1;
  for (const entry of missed) {
    if (entry?.seq !== expected) return false;
    expected += 1;
  }
  return expected - 1 === current;
}

/**
 * @param {import('./execute.js').Env} env
 * @returns {Promise<object>} the response payload
 */
export async function subscribeStream(env, ctx, fn, meta, args, req) {
  checkRequest(meta, req);
  const { ws, platform } = env;
  if (meta.gate && !(await meta.gate(ctx, ...args))) {
    return { ok: true, data: null, gated: true };
  }
  let topic = meta.topicRef ? meta.topicRef.value : meta.topic;
  if (typeof topic !== 'string' && !meta.dynamic) {
    throw new TypeError('this stream has no topic yet: register its module first');
  }
  if (meta.dynamic) {
    topic = await meta.topic(ctx, ...args);
    if (typeof topic !== 'string' || topic === '') {
      throw new TypeError(`the topic function returned ${JSON.stringify(topic)}, not a topic`);
    }
    if (topic.startsWith('__')) throw new LiveError(CODES.INVALID_REQUEST, 'Reserved topic prefix');
  }
  if (meta.access && !(await meta.access(ctx))) {
    throw new LiveError(CODES.FORBIDDEN, 'Access denied');
  }
  const state = meta.channel && (meta.merge === 'presence' || meta.merge === 'cursor') ? ws?.[TOPIC_STATE] : undefined;
  state?.track(topic, { merge: meta.merge, key: meta.key });
  const entry = claim(ws, topic);
  let joined = false;
  let payload;
  try {
    subscribeSocket(ws, topic);
    // With a Redis bus: answer only once other instances' publishes reach us.
    const busReady = platform?.[BUS_READY];
    if (busReady) await busReady(topic);
    if (meta.onSubscribe) {
      joined = true;
      try {
        await meta.onSubscribe(ctx, topic);
      } catch (error) {
        console.error(`[svelte-realtime] onSubscribe for ${topic} threw:`, error);
      }
    }
    payload = await afterSubscribe(env, ctx, fn, meta, args, req, topic, state);
  } catch (error) {
    release(env, ctx, fn, meta, topic, entry, false, joined);
    throw error;
  }
  unsettled.set(payload, (delivered) => {
    // Only a call that reached its client joined: its `onUnsubscribe` fires at close.
    if (delivered && meta.onUnsubscribe) remember(ws, topic, fn);
    release(env, ctx, fn, meta, topic, entry, delivered, joined);
  });
  return payload;
}

/** Everything after the subscribe; a throw here withdraws it (see `release`). */
async function afterSubscribe(env, ctx, fn, meta, args, req, topic, state) {
  const { platform } = env;
  const base = { topic, merge: meta.merge, key: meta.key, prepend: meta.prepend, max: meta.max };

  if (meta.channel) {
    const snapshot = await state?.snapshot(topic);
    const data = snapshot !== undefined ? snapshot : meta.merge === 'set' ? null : [];
    return { ok: true, data, ...base };
  }

  if (meta.delta && req.version !== undefined) {
    try {
      const current = await meta.delta.version();
      if (current === req.version) {
        return { ok: true, data: [], ...base, unchanged: true, version: current };
      }
      const changes = await meta.delta.diff(req.version);
      if (changes != null) return { ok: true, data: changes, ...base, delta: true, version: current };
    } catch (error) {
      console.error(`[svelte-realtime] delta for ${topic} failed, sending full data:`, error);
    }
  }

  const replay = platform?.replay;
  const log = meta.replay && !replay ? builtInReplay(platform) : null;
  if (log) return replayOrFetch(log, ctx, fn, meta, args, req, topic, base);
  if (meta.replay && typeof req.seq === 'number' && replay) {
    try {
      const missed = await replay.since(topic, req.seq);
      const current = await replay.seq(topic);
      if (isContiguous(missed, req.seq, current)) {
        return { ok: true, data: missed, ...base, seq: current, replay: true };
      }
    } catch (error) {
      console.error(`[svelte-realtime] replay for ${topic} failed, sending full data:`, error);
    }
  }

  return fullFetch(ctx, fn, meta, args, req, base, async (payload) => {
    if (meta.replay && replay) payload.seq = await replay.seq(topic);
  });
}

/**
 * The server's own replay log (`replay: true` without a `platform.replay` of the app's): the
 * native server records every publish of the topic with a sequence and an epoch.
 */
function builtInReplay(platform) {
  const server = platform?.[NATIVE_SERVER]?.();
  return typeof server?.replayEnable === 'function' ? server : null;
}

function replaySize(meta) {
  const size = typeof meta.replay === 'object' && meta.replay !== null ? meta.replay.size : undefined;
  return Number.isSafeInteger(size) && size > 0 ? size : 1000;
}

/**
 * A client that sends its last `seq` and `epoch` gets exactly the events after it, if the log
 * is the one it knew (same epoch) and still holds them; otherwise (another instance's log, a
 * restart, evicted events, no epoch) the full data with `replay: false`. The position is read
 * before the init function runs: events after it reach the client live, with their sequence.
 */
async function replayOrFetch(server, ctx, fn, meta, args, req, topic, base) {
  // With a Redis bus both answers come from the shared log in Redis; a null position means
  // Redis could not answer, and the stream answers without replay.
  const position = await server.replayEnable(topic, replaySize(meta));
  if (position && typeof req.seq === 'number' && typeof req.epoch === 'string') {
    const missed = await server.replaySince(topic, req.epoch, req.seq);
    if (missed !== null) {
      const data = JSON.parse(missed);
      const seq = data.length > 0 ? data[data.length - 1].seq : req.seq;
      return { ok: true, data, ...base, seq, epoch: req.epoch, replay: true };
    }
  }
  return fullFetch(ctx, fn, meta, args, req, base, (payload) => {
    if (!position) return;
    payload.seq = position.seq;
    payload.epoch = position.epoch;
  });
}

async function fullFetch(ctx, fn, meta, args, req, base, addReplay) {
  const result = await fn(ctx, ...args);
  const page = isPage(result);
  let data = page ? result.data : result;
  if (meta.migrate && req.schemaVersion !== undefined && req.schemaVersion < meta.version) {
    data = migrate(data, req.schemaVersion, meta);
  }
  const payload = { ok: true, data, ...base };
  if (page) {
    payload.hasMore = Boolean(result.hasMore);
    if (result.cursor !== undefined) payload.cursor = result.cursor;
  }
  await addReplay(payload);
  if (typeof req.seq === 'number') payload.replay = false;
  if (meta.delta) payload.version = await meta.delta.version();
  if (meta.version) payload.schemaVersion = meta.version;
  return payload;
}

/**
 * The `close` hook: fires `onUnsubscribe(ctx, topic)` for every stream this socket
 * subscribed to that has one. Export it from `hooks.ws.js` next to `message`.
 */
export function close(ws, { platform } = {}) {
  const topics = unsubscribeHooks.get(ws);
  if (!topics) return;
  unsubscribeHooks.delete(ws);
  const ctx = createCtx({ ws, platform });
  for (const [topic, fns] of topics) {
    for (const fn of fns) {
      const hook = metaOf(fn)?.onUnsubscribe;
      if (hook) runUnsubscribe(hook, ctx, topic);
    }
  }
}
