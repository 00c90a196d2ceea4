// One call, from a decoded request to a response payload (reference-protocol §4.4, §4.7):
// path and args checks, lookup (lazy modules included), ctx, global middleware, the module
// guard, `beforeExecute`, then the function, the stream path or the binary endpoint.
// `execute` never rejects: every failure becomes `{ ok: false, code, error, issues? }`.

import { CODES, LiveError } from './errors.js';
import { createCtx } from './ctx.js';
import { metaOf } from './meta.js';
import { MAX_PATH_LENGTH, PATH_PATTERN } from './registry.js';
import { subscribeStream } from './stream.js';

/**
 * @typedef {{
 *   ws: any, platform: any, registry: import('./registry.js').Registry,
 *   options: { beforeExecute?: Function, onError?: Function },
 * }} Env
 * @typedef {{
 *   path: unknown, args?: unknown, stream?: boolean, cursor?: unknown, version?: unknown,
 *   seq?: unknown, epoch?: unknown, schemaVersion?: unknown, payload?: ArrayBuffer,
 * }} Request
 */

export { MAX_PATH_LENGTH };
/** Most arguments one call may carry (they are spread into the function call). */
export const MAX_ARGS = 256;

export function errorPayload(code, message, issues) {
  const payload = { ok: false, code, error: message };
  if (issues !== undefined) payload.issues = issues;
  return payload;
}

function isLiveError(error) {
  return error instanceof LiveError || (error?.name === 'LiveError' && typeof error.code === 'string');
}

/** Turns a thrown value into a payload; unexpected errors go to `onError` or the log. */
export function failure(error, path, ctx, options) {
  if (isLiveError(error)) {
    const payload = errorPayload(error.code, error.message, Array.isArray(error.issues) ? error.issues : undefined);
    if (Number.isFinite(error.retryAfter)) payload.retryAfter = error.retryAfter;
    return payload;
  }
  try {
    if (options.onError) options.onError(path, error, ctx);
    else console.error(`[svelte-realtime] ${String(path)} failed:`, error);
  } catch (hookError) {
    console.error('[svelte-realtime] onError threw:', hookError);
  }
  return errorPayload(CODES.INTERNAL_ERROR, 'Internal server error');
}

/**
 * Runs the middleware chain around `run`. A middleware that returns without calling
 * `next()` answers the call with its own return value (the reference sent no response at
 * all, bug §9.15). `next()` resolves to the function's data.
 */
export async function withMiddleware(middleware, ctx, run) {
  if (middleware.length === 0) return run();
  let inner = null;
  const dispatch = (i) => {
    if (i < middleware.length) return middleware[i](ctx, () => dispatch(i + 1));
    inner ??= run();
    return inner.then((payload) => payload.data);
  };
  const returned = await dispatch(0);
  return inner ? inner : { ok: true, data: returned };
}

/**
 * NOT_FOUND, but only for callers the module's guard lets in: a stranger refused by an
 * admin module's `_guard` gets the guard's error for every name, so the module's exports
 * cannot be enumerated by comparing NOT_FOUND with FORBIDDEN. Middleware runs first, as
 * for a real call (it may be what sets `ctx.user`).
 */
async function notFound(env, path, req) {
  const moduleGuard = env.registry.guardFor(path);
  const missing = errorPayload(CODES.NOT_FOUND, 'Not found');
  if (!moduleGuard) return missing;
  const ctx = createCtx({ ws: env.ws, platform: env.platform, cursor: req.payload !== undefined ? null : (req.cursor ?? null) });
  try {
    return await withMiddleware(env.registry.middleware, ctx, async () => {
      await moduleGuard(ctx);
      return missing;
    });
  } catch (error) {
    return failure(error, path, ctx, env.options);
  }
}

/**
 * A plain call's successful payload, `{ ok: true, data }`, from `start`. A class of its own
 * so the reply path can tell it from the other `ok: true` payloads (streams add keys) and
 * write the wrapper as bytes around `JSON.stringify(data)`; its JSON is the same.
 */
export class OkPayload {
  constructor(data) {
    this.ok = true;
    this.data = data;
  }
}

const ok = (data) => new OkPayload(data);

/**
 * `execute`, without a promise when nothing on the way is asynchronous: a plain call of a
 * registered `live()` function with no middleware, module guard or `beforeExecute`, whose
 * function returns a value, is answered in the same turn (no async frames, no microtask hops
 * per call). Everything else, and a function returning a promise, gives a promise. The
 * payload is the same either way; this never throws and the promise never rejects.
 * @param {Env} env
 * @param {Request} req
 * @returns {object | Promise<object>} the response payload
 */
export function start(env, req) {
  const plan = env.registry.planFor(req.path);
  if (
    plan === undefined ||
    plan.meta.kind !== 'rpc' ||
    plan.guard !== undefined ||
    req.payload !== undefined ||
    env.registry.middleware.length > 0 ||
    env.options.beforeExecute
  ) {
    return execute(env, req);
  }
  const args = req.args ?? [];
  if (!Array.isArray(args)) return errorPayload(CODES.INVALID_REQUEST, 'args must be an array');
  if (args.length > MAX_ARGS) return errorPayload(CODES.INVALID_REQUEST, `At most ${MAX_ARGS} arguments per call`);
  const ctx = createCtx({ ws: env.ws, platform: env.platform, cursor: req.cursor ?? null });
  let data;
  try {
    data = plan.fn(ctx, ...args);
  } catch (error) {
    return failure(error, req.path, ctx, env.options);
  }
  if (data !== null && (typeof data === 'object' || typeof data === 'function') && typeof data.then === 'function') {
    return Promise.resolve(data).then(ok, (error) => failure(error, req.path, ctx, env.options));
  }
  return new OkPayload(data);
}

/** True for what `start` returns when the payload is not known yet. */
export const isPending = (result) => result instanceof Promise;

/**
 * @param {Env} env
 * @param {Request} req
 * @returns {Promise<object>} the response payload
 */
export async function execute(env, req) {
  const { path } = req;
  let ctx;
  try {
    if (typeof path !== 'string' || path.length > MAX_PATH_LENGTH || !PATH_PATTERN.test(path)) {
      return errorPayload(CODES.INVALID_REQUEST, 'Invalid path');
    }
    if (req.args !== undefined && !Array.isArray(req.args)) {
      return errorPayload(CODES.INVALID_REQUEST, 'args must be an array');
    }
    const args = req.args ?? [];
    if (args.length > MAX_ARGS) {
      return errorPayload(CODES.INVALID_REQUEST, `At most ${MAX_ARGS} arguments per call`);
    }
    // Registered functions are found without a promise hop; lazy modules load first.
    const fn = env.registry.handlers.get(path) ?? (await env.registry.resolve(path));
    if (!fn) return await notFound(env, path, req);
    const meta = metaOf(fn);
    const binary = req.payload !== undefined;
    if (binary && meta.kind !== 'binary') {
      return errorPayload(CODES.INVALID_REQUEST, 'Not a binary endpoint');
    }
    if (binary && req.payload.byteLength > meta.maxSize) {
      return errorPayload(CODES.PAYLOAD_TOO_LARGE, 'Binary payload exceeds size limit');
    }
    if (!binary && meta.kind === 'binary') {
      return errorPayload(CODES.INVALID_REQUEST, 'Binary endpoint: send a binary frame');
    }
    ctx = createCtx({ ws: env.ws, platform: env.platform, cursor: binary ? null : (req.cursor ?? null) });
    const run = async () => {
      const moduleGuard = env.registry.guardFor(path);
      if (moduleGuard) await moduleGuard(ctx);
      if (env.options.beforeExecute) {
        await env.options.beforeExecute(env.ws, path, binary ? [req.payload, ...args] : args);
      }
      if (binary) return { ok: true, data: await fn(ctx, req.payload, ...args) };
      if (req.stream && meta.kind === 'stream') return subscribeStream(env, ctx, fn, meta, args, req);
      return { ok: true, data: await fn(ctx, ...args) };
    };
    return await withMiddleware(env.registry.middleware, ctx, run);
  } catch (error) {
    return failure(error, path, ctx, env.options);
  }
}
