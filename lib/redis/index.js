// `svelte-realtime/redis`: several instances behind a load balancer share topics, presence
// and rate limits through one Redis (reference-protocol §8.1-8.3, with the bugs of §9.11,
// §9.13 and §9.18 fixed). The work happens in Rust: the bus lives inside the native server
// (remote messages land in the hub without entering JavaScript), the limiter is one Lua
// script per call on the addon's background thread.

import { randomBytes } from 'node:crypto';
import { native } from '../runtime/native.js';
import { NATIVE_SERVER } from '../runtime/platform.js';

/** A platform's hook for the stream path: wait until the bus is subscribed to a topic. */
export const BUS_READY = Symbol.for('svelte-realtime.busReady');
const NATIVE_REDIS = Symbol('svelte-realtime.nativeRedis');

function fail(message) {
  throw new TypeError(`svelte-realtime/redis: ${message}`);
}

function positiveInteger(value, name) {
  if (!Number.isSafeInteger(value) || value <= 0) fail(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}

function nonNegativeInteger(value, name) {
  if (!Number.isSafeInteger(value) || value < 0) fail(`${name} must be a non-negative integer, got ${String(value)}`);
  return value;
}

/**
 * A Redis connection: `url` (default `REDIS_URL`, else `redis://127.0.0.1:6379`) and a
 * `keyPrefix` for every key the helpers write (not for the bus channel, as §8.1). Nothing
 * connects until first use; a lost connection reconnects with backoff.
 *
 * @param {{ url?: string, keyPrefix?: string }} [options]
 */
export function createRedis(options = {}) {
  if (options === null || typeof options !== 'object') fail('createRedis(options) takes an object');
  const url = options.url ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const keyPrefix = options.keyPrefix ?? '';
  if (typeof url !== 'string' || url === '') fail('url must be a redis:// URL');
  if (typeof keyPrefix !== 'string') fail('keyPrefix must be a string');
  const client = new (native().NativeRedis)(url);
  return {
    url,
    keyPrefix,
    [NATIVE_REDIS]: client,
    /**
     * Runs one Redis command: `await redis.command('HGET', 'key', 'field')`. Replies come
     * as JSON values (bulk strings as text).
     */
    command(name, ...args) {
      const words = [name, ...args].map((word) => (word instanceof Uint8Array ? Buffer.from(word) : String(word)));
      return client.command(words);
    },
  };
}

function nativeOf(redis) {
  const client = redis?.[NATIVE_REDIS];
  if (!client) fail('expected the client returned by createRedis()');
  return client;
}

/**
 * The pub/sub bus (§8.1): `platform.publish` (and so `ctx.publish`) reaches every instance
 * on the same Redis and `channel`; each instance subscribes only to the topics it has
 * subscribers for. Attach it with `activate(platform)` (in `open`) or `wrap(platform)` (in
 * `createMessage({ platform })`); both return at once and are idempotent.
 *
 * @param {ReturnType<typeof createRedis>} redis
 * @param {{ channel?: string }} [options]
 */
export function createPubSubBus(redis, options = {}) {
  nativeOf(redis);
  const channel = options.channel ?? 'uws:pubsub';
  if (typeof channel !== 'string' || channel === '') fail('channel must be a non-empty string');
  const attached = new WeakSet();
  let warned = false;

  function attach(platform) {
    if (attached.has(platform)) return true;
    const getNative = platform?.[NATIVE_SERVER];
    if (typeof getNative !== 'function') {
      if (!warned) {
        warned = true;
        console.warn('[svelte-realtime] createPubSubBus: this platform is not a svelte-realtime server platform; publishes stay local.');
      }
      return false;
    }
    const server = getNative();
    server.attachBus(redis.url, channel);
    Object.defineProperty(platform, BUS_READY, {
      value: (topic) => server.busReady(topic),
      configurable: true,
    });
    attached.add(platform);
    return true;
  }

  return {
    channel,
    /** Connects this server to the bus. Call it from `open` (idempotent, cheap). */
    activate(platform) {
      attach(platform);
    },
    /**
     * The platform to hand to `createMessage`: the same object (no allocation per message,
     * `platform.replay` and every other property kept, §9.18), with the bus attached.
     */
    wrap(platform) {
      attach(platform);
      return platform;
    },
    /** This instance's bus counters (`server.stats().bus`), or null before `activate`. */
    stats(platform) {
      return platform?.[NATIVE_SERVER]?.().stats().bus ?? null;
    },
  };
}

const decoder = new TextDecoder();

function remoteAddressOf(ws) {
  const data = ws?.getUserData?.() ?? {};
  const fromData = data.remoteAddress || data.ip || data.address;
  if (fromData) return String(fromData);
  const text = ws?.getRemoteAddressAsText?.();
  return text ? decoder.decode(text) || 'unknown' : 'unknown';
}

/**
 * A rate limiter shared by every instance (§8.2): `points` per `interval` ms per key, fixed
 * window, then a ban of `blockDuration` ms if set. `keyBy`: `'ip'` (the client's address,
 * behind a proxy the one ADDRESS_HEADER / XFF_DEPTH name), `'connection'` (unique across
 * instances), or `(ws) => key`. Every `consume` is one atomic script with Redis time.
 *
 * @param {ReturnType<typeof createRedis>} redis
 * @param {{ points: number, interval: number, blockDuration?: number, keyBy?: 'ip' | 'connection' | ((ws: any) => string) }} options
 */
export function createRateLimit(redis, options) {
  const client = nativeOf(redis);
  if (options === null || typeof options !== 'object') fail('createRateLimit(redis, { points, interval }) needs options');
  const points = positiveInteger(options.points, 'points');
  const interval = positiveInteger(options.interval, 'interval');
  const blockDuration = nonNegativeInteger(options.blockDuration ?? 0, 'blockDuration');
  const keyBy = options.keyBy ?? 'ip';
  if (keyBy !== 'ip' && keyBy !== 'connection' && typeof keyBy !== 'function') {
    fail(`keyBy must be 'ip', 'connection' or a function, got ${String(keyBy)}`);
  }
  const prefix = `${redis.keyPrefix}ratelimit:`;
  // 'connection' keys: this process's id plus a counter, so instances never share one (§9.13).
  const instance = randomBytes(8).toString('hex');
  const connectionKeys = new WeakMap();
  let connections = 0;

  function keyOf(ws) {
    if (keyBy === 'ip') return remoteAddressOf(ws);
    if (keyBy === 'connection') {
      let key = connectionKeys.get(ws);
      if (!key) connectionKeys.set(ws, (key = `__conn:${instance}:${++connections}`));
      return key;
    }
    const key = keyBy(ws);
    if (key === undefined || key === null || key === '') fail('keyBy(ws) returned no key');
    return String(key);
  }

  function keyArg(key) {
    if (typeof key !== 'string' || key === '') fail('key must be a non-empty string');
    return prefix + key;
  }

  return {
    /**
     * Spends `cost` points (a positive integer) for this socket's key. Resolves to
     * `{ allowed, remaining, resetMs }`; rejects if Redis cannot be reached.
     */
    consume(ws, cost = 1) {
      try {
        positiveInteger(cost, 'cost');
        return client.rateLimitConsume(prefix + keyOf(ws), points, interval, blockDuration, cost);
      } catch (error) {
        return Promise.reject(error);
      }
    },
    /** Forgets a key: a full window and no ban. */
    reset(key) {
      return client.rateLimitReset(keyArg(key));
    },
    /** Bans a key for `duration` ms (default `blockDuration`, else `interval`), in Redis time. */
    ban(key, duration = blockDuration || interval) {
      return client.rateLimitBan(keyArg(key), positiveInteger(duration, 'duration'));
    },
    /** Lifts a ban. */
    unban(key) {
      return client.rateLimitUnban(keyArg(key));
    },
    /** Deletes every rate-limit key under this client's prefix; resolves to how many. */
    clear() {
      return client.deletePrefixed(prefix);
    },
    /** The key `consume(ws)` uses. */
    keyOf,
  };
}
