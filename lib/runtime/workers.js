// JavaScript on every core (issue 11): worker threads that attach to the main thread's
// native server. The Rust server is created once per process; each worker thread loads the
// app (hooks, live modules, SvelteKit) and calls `serve({ attach: true, ... })`, which gives it
// a handle with its own event queue. Rust gives each new WebSocket (at upgrade) and each HTTP
// request to the least busy runner, the main thread included, and keeps all of that socket's
// events on that runner. Hub, outboxes and the Redis bus are shared Rust state: a publish
// from any runner reaches every subscriber once, and `platform.subscribers` / `connections`
// count every runner's sockets.
//
// A worker that throws at startup or crashes: Rust closes its sockets with 1011, and it is
// started again after 100 ms, doubling up to 5 s while it keeps failing (reset after 30 s
// of good health). Graceful shutdown drains every worker (each finishes its handlers in
// flight before the sockets close).

import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { MIRROR } from './mirror.js';

/** Where a worker thread finds its attachment in `workerData`. */
export const ATTACH = 'svelte-realtime:attach';
/** The message a worker posts once it serves. */
export const READY = 'svelte-realtime:ready';
/** A watched publish between threads (lib/server/reactive.js). */
const REACTION = 'svelte-realtime:reaction';
const RUN_REACTIONS = Symbol.for('svelte-realtime.runReactions');
const RELAY_REACTION = Symbol.for('svelte-realtime.relayReaction');
const FIRST_BACKOFF = 100;
const MAX_BACKOFF = 5000;
const HEALTHY_AFTER = 30_000;

/** In a worker thread started by `spawnWorkers`: `{ key, index }`, else null. */
export function workerAttachment() {
  if (isMainThread) return null;
  const attach = workerData?.[ATTACH];
  return attach && Number.isInteger(attach.key) && Number.isInteger(attach.index) ? attach : null;
}

/** `CLUSTER_WORKERS`-style count: a positive integer, or `auto` (cores). 1 means no workers. */
export function workerCount(value, cores) {
  if (value === undefined || value === null || value === '') return 1;
  if (value === 'auto') return Math.max(1, cores);
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65) {
    throw new TypeError(`workers must be a positive integer up to 65 or 'auto', got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * Starts `count - 1` worker threads running `module` (the main thread is the first runner).
 * @param {{ native: any, platform: object, module: string | URL, count: number, workerData?: object, log: any, argv?: string[] }} options
 */
export function spawnWorkers({ native, platform, mirror, connections, module, count, workerData: data = {}, log, argv }) {
  const key = native.share();
  /** socket id → the worker whose socket it is (for the user-data mirror). */
  const owners = new Map();
  const toOthers = (message, except) => {
    for (const runner of runners.values()) if (runner.index !== except && runner.ready) runner.worker.postMessage({ [MIRROR]: message });
  };
  // This thread's sockets, told to every worker (lib/runtime/mirror.js).
  mirror?.connect((message) => toOthers(message, 0));
  const snapshot = () => {
    const entries = [...(mirror?.remote ?? [])];
    for (const [id, ws] of connections ?? []) {
      try {
        entries.push([id, structuredClone(ws.getUserData() ?? {})]);
      } catch {
        // not cloneable: invisible to other threads' filters
      }
    }
    return entries;
  };
  // Reactions (live.derived / effect / aggregate) run here once per publish; workers hear
  // the events so their aggregates' state follows.
  globalThis[RELAY_REACTION] = (topic, event, value) => {
    const clean = value === undefined ? null : JSON.parse(JSON.stringify(value));
    for (const runner of runners.values()) runner.worker.postMessage({ [REACTION]: [topic, event, clean] });
  };
  const runners = new Map();
  let stopping = false;
  /** Resolvers waiting for every worker to serve. */
  let waiting = [];
  const allReady = () => [...runners.values()].length === count - 1 && [...runners.values()].every((r) => r.ready);
  const settle = () => {
    if (!allReady()) return;
    for (const resolve of waiting) resolve();
    waiting = [];
  };

  function start(index, backoff) {
    const startedAt = Date.now();
    const worker = new Worker(module, { workerData: { ...data, [ATTACH]: { key, index } }, argv });
    const runner = { worker, index, exited: null, ready: false };
    runner.exited = new Promise((resolve) => worker.once('exit', resolve));
    runners.set(index, runner);
    worker.on('message', (message) => {
      const reaction = message?.[REACTION];
      if (Array.isArray(reaction)) {
        globalThis[RUN_REACTIONS]?.(reaction[0], reaction[1], reaction[2], platform);
        return;
      }
      const mirrored = message?.[MIRROR];
      if (Array.isArray(mirrored)) {
        if (mirrored[0] === 'open') owners.set(mirrored[1], index);
        if (mirrored[0] === 'close') owners.delete(mirrored[1]);
        mirror?.apply(mirrored);
        toOthers(mirrored, index);
        return;
      }
      if (message?.[READY] !== index) return;
      worker.postMessage({ [MIRROR]: ['sync', snapshot()] });
      runner.ready = true;
      settle();
    });
    worker.on('error', (error) => log.error(`[svelte-realtime] worker ${index} failed:`, error));
    worker.once('exit', (code) => {
      runners.delete(index);
      // Its sockets are gone (Rust closes them); their close hooks ran nowhere.
      for (const [id, owner] of owners) {
        if (owner !== index) continue;
        owners.delete(id);
        mirror?.apply(['close', id]);
        toOthers(['close', id], index);
      }
      // Its sockets close with 1011; nothing new goes to it.
      try {
        native.detachWorker(index);
      } catch {
        // the server is gone
      }
      if (stopping) {
        // Crashed while the server drains: it will not say it is done, so say it for it.
        if (code !== 0) {
          try {
            native.finishShutdown();
          } catch {
            // the server is gone
          }
        }
        return;
      }
      const healthy = Date.now() - startedAt > HEALTHY_AFTER;
      const wait = healthy ? FIRST_BACKOFF : backoff;
      log.error(`[svelte-realtime] worker ${index} exited with code ${code}; restarting in ${wait} ms`);
      setTimeout(() => {
        if (!stopping) start(index, Math.min(wait * 2, MAX_BACKOFF));
      }, wait).unref();
    });
  }

  for (let index = 1; index < count; index++) start(index, FIRST_BACKOFF);

  return {
    /** Runners besides the main thread. */
    get size() {
      return runners.size;
    },
    /**
     * Resolves once every worker serves (again, after a restart); with `timeoutMs`, rejects
     * if they do not by then (they keep being restarted).
     */
    ready(timeoutMs) {
      if (allReady()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        let timer = null;
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        waiting.push(done);
        if (timeoutMs !== undefined) {
          timer = setTimeout(() => {
            waiting = waiting.filter((w) => w !== done);
            reject(new Error(`worker threads not serving after ${timeoutMs} ms (see the errors above); the running threads serve meanwhile`));
          }, timeoutMs);
          timer.unref();
        }
      });
    },
    /** Threads, by index (tests). */
    workers() {
      return [...runners.values()].map((r) => r.worker);
    },
    /** No more restarts (shutdown has begun). */
    halt() {
      stopping = true;
    },
    /** No more restarts; resolves once every worker has exited (terminated after `graceMs`). */
    async stop(graceMs = 1000) {
      stopping = true;
      const all = [...runners.values()];
      const timer = setTimeout(() => all.forEach((r) => r.worker.terminate()), graceMs);
      timer.unref();
      await Promise.all(all.map((r) => r.exited));
      clearTimeout(timer);
    },
  };
}
