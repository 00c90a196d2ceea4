// A minimal Svelte store (the store contract: `subscribe(run) => unsubscribe`), so the client
// needs no dependency. Objects always count as changed, as in Svelte, which is what lets a
// stream re-emit the same array after merging an event into it in place.

const changed = (a, b) => a !== b || (a !== null && typeof a === 'object') || typeof a === 'function';

/**
 * @template T
 * @param {T} value
 * @param {(set: (v: T) => void, update: (fn: (v: T) => T) => void) => (void | (() => void))} [start]
 *   runs when the first subscriber arrives; its return value runs when the last one leaves
 */
export function writable(value, start) {
  const subscribers = new Set();
  let stop = null;
  function set(next) {
    if (!changed(value, next)) return;
    value = next;
    for (const run of [...subscribers]) run(value);
  }
  function update(fn) {
    set(fn(value));
  }
  return {
    set,
    update,
    /** The current value without subscribing. */
    get: () => value,
    subscribe(run) {
      subscribers.add(run);
      if (subscribers.size === 1 && start) stop = start(set, update) ?? null;
      run(value);
      return () => {
        if (!subscribers.delete(run)) return;
        if (subscribers.size === 0 && stop) {
          const s = stop;
          stop = null;
          s();
        }
      };
    },
  };
}

/** Reads a store's current value once. */
export function get(store) {
  let value;
  store.subscribe((v) => (value = v))();
  return value;
}
