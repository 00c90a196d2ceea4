// `pipe(stream, ...transforms)`: server-side transforms of a stream's initial data
// (`pipe.filter`, `pipe.sort`, `pipe.limit`, `pipe.join`). Live events pass unchanged: a
// publish is one message for every subscriber, so per-subscriber filtering would need a
// per-event filter in the fan-out (documented, as in the spec's table).

import { mark, metaOf } from './meta.js';
import { loadStream } from './ssr.js';

function isPage(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && 'data' in value && 'hasMore' in value;
}

export function pipe(streamFn, ...transforms) {
  const meta = metaOf(streamFn);
  if (meta?.kind !== 'stream') throw new TypeError('pipe(stream, ...transforms): stream must come from live.stream');
  for (const [i, t] of transforms.entries()) {
    if (typeof t?.transformInit !== 'function') throw new TypeError(`pipe: transform ${i + 1} is not a pipe.* transform`);
  }
  const fn = async (ctx, ...args) => {
    const result = await streamFn(ctx, ...args);
    const page = isPage(result);
    let data = page ? result.data : result;
    for (const t of transforms) data = await t.transformInit(data, ctx);
    return page ? { ...result, data } : data;
  };
  // The reference drops schema versioning and channel-ness from piped streams.
  const { channel, version, migrate, ...rest } = meta;
  const piped = mark(fn, rest);
  piped.load = (platform, options) => loadStream(piped, platform, options);
  return piped;
}

const arrayOnly = (fn) => (data, ctx) => (Array.isArray(data) ? fn(data, ctx) : data);

/** Keeps items for which `predicate(ctx, item)` holds. */
pipe.filter = (predicate) => ({
  transformInit: arrayOnly(async (data, ctx) => {
    const keep = await Promise.all(data.map((item) => predicate(ctx, item)));
    return data.filter((_, i) => keep[i]);
  }),
});

/** Sorts by `field`, `'asc'` (default) or `'desc'`. */
pipe.sort = (field, direction = 'asc') => ({
  transformInit: arrayOnly((data) => {
    const sign = direction === 'desc' ? -1 : 1;
    return [...data].sort((a, b) => (a?.[field] < b?.[field] ? -sign : a?.[field] > b?.[field] ? sign : 0));
  }),
});

/** The first `n` items. */
pipe.limit = (n) => ({ transformInit: arrayOnly((data) => data.slice(0, n)) });

/** Adds `item[as] = await resolver(item[field], ctx)` to each item, in parallel. */
pipe.join = (field, resolver, as) => ({
  transformInit: arrayOnly((data, ctx) =>
    Promise.all(data.map(async (item) => ({ ...item, [as]: await resolver(item?.[field], ctx) }))),
  ),
});
