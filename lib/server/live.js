// `live()` and its family: they mark functions as callable over the WebSocket and carry
// their options. Nothing runs here; `rpc.js` and `stream.js` execute what is marked.

import { LiveError } from './errors.js';
import { mark, metaOf } from './meta.js';
import { defaultRegistry } from './registry.js';
import { validatorFor } from './validate.js';
import { loadStream } from './ssr.js';
import { cron } from './cron.js';
import { rateLimit } from './ratelimit.js';
import { aggregate, derived, effect } from './reactive.js';
import { webhook } from './webhook.js';

/** Gives a stream function its SSR `.load(platform, { args, user })`. */
function withLoad(fn) {
  fn.load = (platform, options) => loadStream(fn, platform, options);
  return fn;
}

export const MERGES = ['crud', 'latest', 'set', 'presence', 'cursor'];
export const DEFAULT_MAX_BINARY = 10 * 1024 * 1024;

const STREAM_OPTIONS = new Set([
  'merge', 'key', 'prepend', 'max', 'replay', 'onSubscribe', 'onUnsubscribe',
  'filter', 'access', 'delta', 'version', 'migrate',
]);

function assertFunction(name, value) {
  if (typeof value !== 'function') {
    throw new TypeError(`${name} must be a function, got ${value === null ? 'null' : typeof value}`);
  }
}

function assertTopic(name, topic) {
  if (typeof topic === 'function') return;
  if (typeof topic !== 'string' || topic === '') {
    throw new TypeError(`${name}: topic must be a non-empty string or a function (ctx, ...args) => string`);
  }
}

/** Validates stream options and fills in defaults (merge `crud` or `set`, key `id`). */
function streamOptions(name, options, defaultMerge) {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${name}: options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (!STREAM_OPTIONS.has(key)) throw new TypeError(`${name}: unknown option "${key}"`);
  }
  const merge = options.merge ?? defaultMerge;
  if (!MERGES.includes(merge)) {
    throw new TypeError(`${name}: merge must be one of ${MERGES.join(', ')}, got ${JSON.stringify(merge)}`);
  }
  if (options.key !== undefined && typeof options.key !== 'string') {
    throw new TypeError(`${name}: key must be a string`);
  }
  if (options.max !== undefined && !(Number.isInteger(options.max) && options.max > 0)) {
    throw new TypeError(`${name}: max must be a positive integer`);
  }
  for (const hook of ['onSubscribe', 'onUnsubscribe', 'access', 'filter']) {
    if (options[hook] !== undefined) assertFunction(`${name}: ${hook}`, options[hook]);
  }
  if (options.delta !== undefined) {
    assertFunction(`${name}: delta.version`, options.delta?.version);
    assertFunction(`${name}: delta.diff`, options.delta?.diff);
  }
  if (options.version !== undefined && !(Number.isInteger(options.version) && options.version >= 1)) {
    throw new TypeError(`${name}: version must be an integer >= 1`);
  }
  if (options.migrate !== undefined) {
    if (options.version === undefined) throw new TypeError(`${name}: migrate needs version`);
    for (const [from, fn] of Object.entries(options.migrate)) {
      assertFunction(`${name}: migrate[${from}]`, fn);
    }
  }
  return {
    merge,
    key: options.key ?? 'id',
    prepend: options.prepend,
    max: options.max,
    replay: options.replay,
    onSubscribe: options.onSubscribe,
    onUnsubscribe: options.onUnsubscribe,
    access: options.access ?? options.filter,
    delta: options.delta,
    version: options.version,
    migrate: options.migrate,
  };
}

/** Marks `fn(ctx, ...args)` as callable from the client. */
export function live(fn) {
  assertFunction('live(fn)', fn);
  return mark(fn, { kind: 'rpc' });
}

/**
 * A stream: clients get `init`'s data, then live events published on `topic`.
 * @param {string | ((ctx: any, ...args: any[]) => string)} topic
 * @param {(ctx: any, ...args: any[]) => any} init
 * @param {object} [options]
 */
live.stream = function stream(topic, init, options = {}) {
  assertTopic('live.stream', topic);
  assertFunction('live.stream: init', init);
  const opts = streamOptions('live.stream', options, 'crud');
  const fn = (ctx, ...args) => init(ctx, ...args);
  return withLoad(mark(fn, { kind: 'stream', topic, dynamic: typeof topic === 'function', ...opts }));
};

/** An ephemeral topic with no initial data (merge `set` by default). */
live.channel = function channel(topic, options = {}) {
  assertTopic('live.channel', topic);
  const opts = streamOptions('live.channel', options, 'set');
  const fn = () => (opts.merge === 'set' ? null : []);
  return withLoad(
    mark(fn, { kind: 'stream', channel: true, topic, dynamic: typeof topic === 'function', ...opts }),
  );
};

/** A binary endpoint: `fn(ctx, payload: ArrayBuffer, ...args)`; payloads over `maxSize` are refused. */
live.binary = function binary(fn, options = {}) {
  assertFunction('live.binary(fn)', fn);
  const maxSize = options.maxSize ?? DEFAULT_MAX_BINARY;
  if (!(Number.isInteger(maxSize) && maxSize > 0)) {
    throw new TypeError('live.binary: maxSize must be a positive integer');
  }
  return mark(fn, { kind: 'binary', maxSize });
};

/** Validates the first argument against `schema` before `fn` runs (`VALIDATION` with issues). */
live.validated = function validated(schema, fn) {
  const validate = validatorFor(schema);
  assertFunction('live.validated(schema, fn)', fn);
  const wrapped = async (ctx, input, ...rest) => {
    const result = await validate(input);
    if (result.issues) throw new LiveError('VALIDATION', 'Validation failed', { issues: result.issues });
    return fn(ctx, result.value, ...rest);
  };
  return mark(wrapped, { kind: 'rpc' });
};

/** Runs `fn` on a cron schedule and publishes its result as `set` on `topic`. */
live.cron = cron;
/** A sliding-window limit per caller around `fn`. */
live.rateLimit = rateLimit;
/** A stream recomputed when a source topic publishes. */
live.derived = derived;
/** A server-side side effect of publishes on source topics. */
live.effect = effect;
/** Incremental reducers over a source topic, published and served as a stream. */
live.aggregate = aggregate;
/** An HTTP webhook → publish bridge (`.handle({ body, headers, platform })`). */
live.webhook = webhook;

/** Global middleware `(ctx, next) => any`, run in registration order before module guards. */
live.middleware = function middleware(fn) {
  assertFunction('live.middleware(fn)', fn);
  defaultRegistry.middleware.push(fn);
};

/** Serves a stream only when `predicate(ctx, ...args)` holds; otherwise `{ data: null, gated: true }`. */
live.gate = function gate(predicate, streamFn) {
  assertFunction('live.gate(predicate)', predicate);
  const meta = metaOf(streamFn);
  if (meta?.kind !== 'stream') throw new TypeError('live.gate(predicate, stream): stream must come from live.stream');
  const fn = (ctx, ...args) => streamFn(ctx, ...args);
  return withLoad(mark(fn, { ...meta, gate: predicate }));
};

const isThenable = (value) => value !== null && typeof value?.then === 'function';

/**
 * `any` (decisive = true) or `all` (decisive = false) over predicates. Stays synchronous
 * while the predicates do, so `any(a, b)(ctx) && x` composes by hand; from the first
 * predicate that returns a promise on, the answer is a promise too.
 */
function combine(name, predicates, decisive) {
  predicates.forEach((p, i) => assertFunction(`${name}() argument ${i + 1}`, p));
  const from = (ctx, start) => {
    for (let i = start; i < predicates.length; i++) {
      const answer = predicates[i](ctx);
      if (isThenable(answer)) {
        return Promise.resolve(answer).then((value) => (Boolean(value) === decisive ? decisive : from(ctx, i + 1)));
      }
      if (Boolean(answer) === decisive) return decisive;
    }
    return !decisive;
  };
  return (ctx) => from(ctx, 0);
}

/** Subscribe-time access predicates for the `access` stream option. */
live.access = Object.freeze({
  /** Allowed when `ctx.user[field]` is present. */
  owner: (field = 'id') => (ctx) => ctx.user?.[field] != null,
  /** Allowed when `ctx.user.teamId` is present. */
  team: () => (ctx) => ctx.user?.teamId != null,
  /** `{ admin: true, viewer: (ctx) => boolean }` keyed by `ctx.user.role`. */
  role: (map) => (ctx) => {
    const role = ctx.user?.role;
    if (typeof role !== 'string' || !Object.hasOwn(map, role)) return false;
    const rule = map[role];
    return rule === true || (typeof rule === 'function' && rule(ctx));
  },
  /** OR of predicates: a boolean when every predicate answers synchronously. */
  any: (...predicates) => combine('live.access.any', predicates, true),
  /** AND of predicates: a boolean when every predicate answers synchronously. */
  all: (...predicates) => combine('live.access.all', predicates, false),
});

/**
 * Per-module auth: export `_guard = guard(...fns)` from a live module. Functions run in order
 * with `ctx` and may enrich it; a throw stops the call.
 */
export function guard(...fns) {
  fns.forEach((fn, i) => assertFunction(`guard() argument ${i + 1}`, fn));
  const run =
    fns.length === 1
      ? (ctx) => fns[0](ctx)
      : async (ctx) => {
          for (const fn of fns) await fn(ctx);
        };
  return mark(run, { kind: 'guard' });
}
