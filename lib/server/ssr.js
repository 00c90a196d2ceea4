// `.load(platform, { args, user })` on stream exports: server-side rendering calls the
// stream's init directly, with the same checks as a subscription (middleware, the module
// guard, the gate and the access predicate; the reference skipped the last two, bug §9.2),
// but no socket and no subscription. Returns the init's raw result (a paginated stream
// returns its `{ data, hasMore, cursor }`; `hydrate()` on the client understands both).

import { CODES, LiveError } from './errors.js';
import { createCtx } from './ctx.js';
import { withMiddleware } from './execute.js';
import { metaOf } from './meta.js';
import { defaultRegistry } from './registry.js';

export async function loadStream(fn, platform, { args = [], user = null, registry = defaultRegistry } = {}) {
  if (!Array.isArray(args)) throw new TypeError('.load(platform, { args }): args must be an array');
  const meta = metaOf(fn);
  const ctx = createCtx({ ws: null, platform, user, cursor: null });
  const path = registry.paths.get(fn);
  const run = async () => {
    const moduleGuard = path ? registry.guardFor(path) : undefined;
    if (moduleGuard) await moduleGuard(ctx);
    if (meta.gate && !(await meta.gate(ctx, ...args))) return { ok: true, data: null };
    if (meta.access && !(await meta.access(ctx))) throw new LiveError(CODES.FORBIDDEN, 'Access denied');
    return { ok: true, data: await fn(ctx, ...args) };
  };
  const payload = await withMiddleware(registry.middleware, ctx, run);
  assertSendable(path, payload.data);
  return payload.data;
}

/**
 * The same data must be able to reach the browser over the WebSocket later, as JSON: fail
 * the render with the reason now rather than hydrate a store the live path cannot serve.
 */
function assertSendable(path, data) {
  try {
    JSON.stringify(data);
  } catch (cause) {
    throw new TypeError(
      `svelte-realtime: ${path ?? 'stream'}.load(): the stream's data cannot be sent as JSON (${cause.message})`,
      { cause },
    );
  }
}
