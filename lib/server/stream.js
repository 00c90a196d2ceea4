// The stream subscribe path (reference-protocol §4.5), in its order: gate, topic, access,
// server-side subscribe BEFORE any data is read (so no event published meanwhile is lost:
// it reaches the socket ahead of the response), onSubscribe, then channel state, delta,
// replay or the full fetch. Also the `close` hook that fires `onUnsubscribe`.

import { CODES, LiveError } from './errors.js';
import { createCtx } from './ctx.js';
import { metaOf } from './meta.js';

/** Where a runtime exposes server-held topic state (presence/cursor channels). */
export const TOPIC_STATE = Symbol.for('svelte-realtime.topicState');

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
  try {
    ws.subscribe(topic);
  } catch {
    // The reference adapter throws for a socket that closed meanwhile.
    throw new LiveError(CODES.CONNECTION_CLOSED, 'WebSocket closed');
  }
  if (meta.onUnsubscribe) remember(ws, topic, fn);
  if (meta.onSubscribe) {
    try {
      await meta.onSubscribe(ctx, topic);
    } catch (error) {
      console.error(`[svelte-realtime] onSubscribe for ${topic} threw:`, error);
    }
  }
  const base = { topic, merge: meta.merge, key: meta.key, prepend: meta.prepend, max: meta.max };

  if (meta.channel) {
    const snapshot = state?.snapshot(topic);
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

  const result = await fn(ctx, ...args);
  const page = isPage(result);
  let data = page ? result.data : result;
  if (meta.migrate && typeof req.schemaVersion === 'number' && req.schemaVersion < meta.version) {
    data = migrate(data, req.schemaVersion, meta);
  }
  const payload = { ok: true, data, ...base };
  if (page) {
    payload.hasMore = Boolean(result.hasMore);
    if (result.cursor !== undefined) payload.cursor = result.cursor;
  }
  if (meta.replay && replay) payload.seq = await replay.seq(topic);
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
      Promise.resolve()
        .then(() => hook?.(ctx, topic))
        .catch((error) => console.error(`[svelte-realtime] onUnsubscribe for ${topic} threw:`, error));
    }
  }
}
