// `live.rateLimit({ points, window, key? }, fn)`: a sliding-window limit per caller.
//
// Each limiter keeps its own buckets, so its sweep uses its own window (reference bug §9.13
// swept every bucket with the current limiter's window). Callers without a user id are
// limited per connection, not all together under one 'anon' key. The refusal carries
// `retryAfter` (ms) to the client as an extra field of the error payload.

import { LiveError } from './errors.js';
import { mark, metaOf } from './meta.js';

const MAX_BUCKETS = 10_000;
const SWEEP_EVERY_MS = 60_000;

/** Anonymous connections get stable ids for bucketing. */
const connectionIds = new WeakMap();
let nextConnection = 0;

function defaultKey(ctx) {
  const id = ctx.user?.id;
  if (id !== undefined && id !== null) return `user:${id}`;
  if (ctx.ws && typeof ctx.ws === 'object') {
    let n = connectionIds.get(ctx.ws);
    if (n === undefined) connectionIds.set(ctx.ws, (n = nextConnection++));
    return `conn:${n}`;
  }
  return 'anon';
}

export function rateLimit(config, fn) {
  const { points, window: windowMs, key = defaultKey } = config ?? {};
  if (!(Number.isInteger(points) && points > 0)) throw new TypeError('live.rateLimit: points must be a positive integer');
  if (!(Number.isFinite(windowMs) && windowMs > 0)) throw new TypeError('live.rateLimit: window must be a positive number of ms');
  if (typeof key !== 'function') throw new TypeError('live.rateLimit: key must be a function (ctx) => string');
  if (typeof fn !== 'function') throw new TypeError('live.rateLimit(config, fn): fn must be a function');
  /** key → { prev, curr, start, seen } */
  const buckets = new Map();
  let lastSweep = Date.now();

  function sweep(now) {
    lastSweep = now;
    for (const [k, bucket] of buckets) if (now - bucket.seen >= 2 * windowMs) buckets.delete(k);
  }

  const limited = async (ctx, ...args) => {
    const now = Date.now();
    if (now - lastSweep >= SWEEP_EVERY_MS) sweep(now);
    const k = String(await key(ctx));
    let bucket = buckets.get(k);
    if (!bucket) {
      if (buckets.size >= MAX_BUCKETS) buckets.delete(buckets.keys().next().value);
      bucket = { prev: 0, curr: 0, start: now, seen: now };
      buckets.set(k, bucket);
    }
    const elapsed = now - bucket.start;
    if (elapsed >= 2 * windowMs) {
      bucket.prev = 0;
      bucket.curr = 0;
      bucket.start = now;
    } else if (elapsed >= windowMs) {
      bucket.prev = bucket.curr;
      bucket.curr = 0;
      bucket.start += windowMs;
    }
    bucket.seen = now;
    const into = now - bucket.start;
    const estimate = bucket.prev * Math.max(0, 1 - into / windowMs) + bucket.curr;
    if (estimate >= points) {
      const error = new LiveError('RATE_LIMITED', 'Too many requests');
      error.retryAfter = Math.ceil(windowMs - into);
      throw error;
    }
    bucket.curr += 1;
    return fn(ctx, ...args);
  };
  const inner = metaOf(fn);
  return mark(limited, inner && inner.kind !== 'guard' ? inner : { kind: 'rpc' });
}
