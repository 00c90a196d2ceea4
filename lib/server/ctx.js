// The `ctx` every live function receives, and the publish helpers on it.
//
// Throttle and debounce are keyed by topic and event PER CONNECTION (reference bug §9.12:
// a global key made concurrent users overwrite each other's cursor updates). Calls without
// a connection (SSR `.load`, cron) share one key space.

/** platform → its `publish` bound once (stable identity for a given platform object). */
const boundPublish = new WeakMap();

export function publishFor(platform) {
  let publish = boundPublish.get(platform);
  if (!publish) {
    publish = (topic, event, data, options) => platform.publish(topic, event, data, options);
    boundPublish.set(platform, publish);
  }
  return publish;
}

/** owner (ws or the shared fallback) → Map<topic\0event, timer state> */
const throttles = new WeakMap();
const debounces = new WeakMap();
const NO_CONNECTION = {};

function timersOf(store, owner) {
  const key = owner ?? NO_CONNECTION;
  let map = store.get(key);
  if (!map) {
    map = new Map();
    store.set(key, map);
  }
  return map;
}

function unref(timer) {
  timer?.unref?.();
  return timer;
}

function throttle(ws, publish, topic, event, data, ms) {
  const timers = timersOf(throttles, ws);
  const key = `${topic}\0${event}`;
  const entry = timers.get(key);
  if (entry) {
    entry.pending = { data };
    return;
  }
  publish(topic, event, data);
  const state = { pending: null, timer: null };
  state.timer = unref(
    setTimeout(() => {
      timers.delete(key);
      if (state.pending) publish(topic, event, state.pending.data);
    }, ms),
  );
  timers.set(key, state);
}

function debounce(ws, publish, topic, event, data, ms) {
  const timers = timersOf(debounces, ws);
  const key = `${topic}\0${event}`;
  clearTimeout(timers.get(key));
  timers.set(
    key,
    unref(
      setTimeout(() => {
        timers.delete(key);
        publish(topic, event, data);
      }, ms),
    ),
  );
}

/**
 * @param {{ ws: any, platform: any, user?: any, cursor?: any }} input
 */
export function createCtx({ ws, platform, user, cursor = null }) {
  const publish = publishFor(platform);
  return {
    user: user !== undefined ? user : (ws?.getUserData?.() ?? null),
    ws,
    platform,
    publish,
    cursor,
    throttle: (topic, event, data, ms) => throttle(ws, publish, topic, event, data, ms),
    debounce: (topic, event, data, ms) => debounce(ws, publish, topic, event, data, ms),
    signal: (userId, event, data) => publish(`__signal:${userId}`, event, data),
  };
}

/** Subscribes `ws` to its own signal topic `__signal:<userData[idField]>`. */
export function enableSignals(ws, { idField = 'id' } = {}) {
  const id = ws.getUserData?.()?.[idField];
  if (id !== undefined && id !== null) ws.subscribe(`__signal:${id}`);
}
