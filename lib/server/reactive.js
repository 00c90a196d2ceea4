// Server-side reactions to publishes: `live.derived` (a stream recomputed when a source
// topic publishes), `live.effect` (a side effect) and `live.aggregate` (incremental
// reducers published as a stream).
//
// They see publishes made through a platform object that is activated: `_activateDerived
// (platform)` in the `open` hook, or automatically for the platform `handleRpc` receives.
// Activation wraps that object's `publish` once; it looks up watchers at publish time, so
// it works however late modules register (reference bug §9.14), and `ctx.publish` always
// goes through the wrapper. Reactions publish with the original `publish` (no cascades).
// Derived topics are `__derived:<module>/<export>`: stable, whatever the definition order.

//
// With worker threads sharing one server (CLUSTER_WORKERS, lib/runtime/workers.js) reactions
// run once per process, on the main thread: a worker forwards each publish of a watched
// topic to it, and the main thread runs the reactions and passes the event on to every
// worker, which only updates its aggregates' state (so a stream served by any thread starts
// from the same value). Each source publish triggers one recomputation.

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { mark } from './meta.js';
import { reportCronError } from './cron.js';

/** The message that carries a watched publish between threads. */
const REACTION = 'svelte-realtime:reaction';
const inSharedWorker = !isMainThread && Boolean(workerData?.['svelte-realtime:attach']);
/** Where the main thread's runtime hands forwarded publishes over (lib/runtime/workers.js). */
const RUN_REACTIONS = Symbol.for('svelte-realtime.runReactions');
/** Where the main thread's runtime relays a watched publish to the workers. */
const RELAY_REACTION = Symbol.for('svelte-realtime.relayReaction');
/** platform → its `publish` before activation */
const originals = new WeakMap();

/** source topic → Set<watcher> */
const watchers = new Map();
const activated = new WeakSet();

/** `watcher`: `{ run(event, data, platform, publish), observe?(event, data) }`. */
function watch(topics, watcher) {
  for (const topic of topics) {
    if (!watchers.has(topic)) watchers.set(topic, new Set());
    watchers.get(topic).add(watcher);
  }
}

/** Whether any derived stream, effect or aggregate is registered. */
export function hasReactions() {
  return watchers.size > 0;
}

/** Makes publishes through `platform` trigger derived streams, effects and aggregates. */
export function activate(platform) {
  if (!platform || typeof platform.publish !== 'function' || activated.has(platform)) return;
  activated.add(platform);
  const original = platform.publish;
  const publishOriginal = (topic, event, data) => original.call(platform, topic, event, data);
  originals.set(platform, publishOriginal);
  platform.publish = function publish(topic, event, data, options) {
    const result = original.call(platform, topic, event, data, options);
    if (watchers.has(topic)) {
      if (inSharedWorker) forward(topic, event, data);
      else react(topic, event, data, platform, publishOriginal);
    }
    return result;
  };
}

/** Runs the reactions to one publish (main thread, or a process without workers). */
function react(topic, event, data, platform, publish) {
  const interested = watchers.get(topic);
  if (!interested) return;
  for (const watcher of interested) watcher.run(event, data, platform, publish);
  globalThis[RELAY_REACTION]?.(topic, event, data);
}

function forward(topic, event, data) {
  // Structured clone of what JSON would carry (the publish itself was JSON).
  const clean = data === undefined ? null : JSON.parse(JSON.stringify(data));
  parentPort?.postMessage({ [REACTION]: [topic, event, clean] });
}

if (isMainThread) {
  /** A worker's publish of a watched topic, handed over by the runtime with its platform. */
  globalThis[RUN_REACTIONS] = (topic, event, data, platform) => {
    activate(platform);
    react(topic, event, data, platform, originals.get(platform));
  };
} else if (inSharedWorker) {
  // The main thread ran the reactions: bring this thread's aggregate state along.
  parentPort?.on('message', (message) => {
    const relayed = message?.[REACTION];
    if (!Array.isArray(relayed)) return;
    const [topic, event, data] = relayed;
    for (const watcher of watchers.get(topic) ?? []) watcher.observe?.(event, data);
  });
  parentPort?.unref(); // listening must not keep a worker alive once its server is gone
}

/** Calls `run` now, or after `ms` of quiet when debounced; errors are reported. */
function scheduler(path, ms) {
  let timer = null;
  return (run) => {
    const go = () => Promise.resolve().then(run).catch((error) => reportCronError(path, error));
    if (!ms) return void go();
    clearTimeout(timer);
    timer = setTimeout(go, ms);
    timer.unref?.();
  };
}

function sourceList(name, sources) {
  const list = typeof sources === 'string' ? [sources] : sources;
  if (!Array.isArray(list) || list.length === 0 || !list.every((t) => typeof t === 'string' && t)) {
    throw new TypeError(`${name}: sources must be a topic or a non-empty array of topics`);
  }
  return list;
}

/** `live.derived(sources, fn, { merge = 'set', debounce = 0 })`. */
export function derived(sources, fn, options = {}) {
  const list = sourceList('live.derived', sources);
  if (typeof fn !== 'function') throw new TypeError('live.derived: fn must be a function');
  const topicRef = { value: null };
  const stream = (ctx, ...args) => fn(ctx, ...args);
  return mark(stream, {
    kind: 'stream',
    topic: null,
    topicRef,
    dynamic: false,
    merge: options.merge ?? 'set',
    key: 'id',
    reaction: { type: 'derived', sources: list, fn, debounce: options.debounce ?? 0 },
  });
}

/** `live.effect(sources, fn(event, data, platform), { debounce })`: not callable by clients. */
export function effect(sources, fn, options = {}) {
  const list = sourceList('live.effect', sources);
  if (typeof fn !== 'function') throw new TypeError('live.effect: fn must be a function');
  const run = (event, data, platform) => fn(event, data, platform);
  return mark(run, { kind: 'effect', reaction: { type: 'effect', sources: list, fn, debounce: options.debounce ?? 0 } });
}

/**
 * `live.aggregate(source, { field: { init, reduce } | { compute } }, { topic, debounce })`:
 * reducers run on each event of `source`; computed fields see the state (and earlier
 * computed fields); the result is published as `set` on `topic` and served as a stream.
 */
export function aggregate(source, reducers, options = {}) {
  const list = sourceList('live.aggregate', source);
  if (typeof options.topic !== 'string' || !options.topic) throw new TypeError('live.aggregate: options.topic is required');
  for (const [field, spec] of Object.entries(reducers ?? {})) {
    const ok = typeof spec?.compute === 'function' || (typeof spec?.init === 'function' && typeof spec?.reduce === 'function');
    if (!ok) throw new TypeError(`live.aggregate: ${field} needs init and reduce, or compute`);
  }
  const state = {};
  for (const [field, spec] of Object.entries(reducers)) if (spec.init) state[field] = spec.init();
  const computed = () => {
    const out = { ...state };
    for (const [field, spec] of Object.entries(reducers)) if (spec.compute) out[field] = spec.compute(out);
    return out;
  };
  const stream = () => computed();
  return mark(stream, {
    kind: 'stream',
    topic: options.topic,
    dynamic: false,
    merge: 'set',
    key: 'id',
    reaction: {
      type: 'aggregate',
      sources: list,
      debounce: options.debounce ?? 0,
      apply(event, data) {
        for (const [field, spec] of Object.entries(reducers)) {
          if (spec.reduce) state[field] = spec.reduce(state[field], event, data);
        }
        return computed();
      },
    },
  });
}

/** Registers the reaction of a registered export (called by the registry). */
export function addReaction(path, meta) {
  const reaction = meta.reaction;
  if (meta.topicRef) meta.topicRef.value = `__derived:${path}`;
  const schedule = scheduler(path, reaction.debounce);
  if (reaction.type === 'derived') {
    watch(reaction.sources, {
      run: (event, data, platform, publish) => schedule(async () => publish(meta.topicRef.value, 'set', await reaction.fn())),
    });
  } else if (reaction.type === 'effect') {
    watch(reaction.sources, { run: (event, data, platform) => schedule(() => reaction.fn(event, data, platform)) });
  } else if (reaction.type === 'aggregate') {
    watch(reaction.sources, {
      run: (event, data, platform, publish) => {
        const value = reaction.apply(event, data);
        schedule(() => publish(meta.topic, 'set', value));
      },
      observe: (event, data) => reaction.apply(event, data),
    });
  }
}

/** Forgets every reaction (registry cleared). */
export function clearReactions() {
  watchers.clear();
}
