// What `live()` and friends attach to a function: one frozen metadata object under a
// registry symbol, so two copies of the package in one process still agree.

export const LIVE = Symbol.for('svelte-realtime.live');

/**
 * @typedef {{
 *   kind: 'rpc' | 'stream' | 'binary' | 'guard',
 *   topic?: string | ((ctx: any, ...args: any[]) => string),
 *   dynamic?: boolean,
 *   channel?: boolean,
 *   merge?: string, key?: string, prepend?: boolean, max?: number,
 *   replay?: boolean | object,
 *   onSubscribe?: Function, onUnsubscribe?: Function,
 *   access?: Function, gate?: Function,
 *   delta?: { version: Function, diff: Function },
 *   version?: number, migrate?: Record<number, Function>,
 *   maxSize?: number,
 * }} LiveMeta
 */

/** @returns {LiveMeta | undefined} */
export function metaOf(value) {
  return typeof value === 'function' ? value[LIVE] : undefined;
}

/** Attaches `meta` to `fn` (not enumerable, not writable) and returns `fn`. */
export function mark(fn, meta) {
  Object.defineProperty(fn, LIVE, { value: Object.freeze({ ...meta }) });
  return fn;
}
