// Work the hooks started and have not finished, so graceful shutdown can wait for it: the
// promise a hook returns, and the calls `svelte-realtime/server` runs after `handleRpc` has
// returned (it reaches `track` through a registry symbol on `ws`, so the layers share no
// imports). Settled promises leave the set at once; nothing here holds a result.

/** Where `ws` exposes `track(promise)` to the layers above the runtime. */
export const TRACK = Symbol.for('svelte-realtime.track');

export function createInflight() {
  const pending = new Set();
  let onIdle = null;

  function settle(promise) {
    pending.delete(promise);
    if (pending.size === 0 && onIdle) {
      const resolve = onIdle;
      onIdle = null;
      resolve();
    }
  }

  return {
    /** Tracks a promise until it settles; returns it. */
    track(promise) {
      if (promise && typeof promise.then === 'function' && !pending.has(promise)) {
        pending.add(promise);
        promise.then(
          () => settle(promise),
          () => settle(promise),
        );
      }
      return promise;
    },
    get size() {
      return pending.size;
    },
    /** Resolves once nothing is in flight, or after `timeoutMs` (with what is left). */
    idle(timeoutMs) {
      if (pending.size === 0) return Promise.resolve(0);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          onIdle = null;
          resolve(pending.size);
        }, Math.max(0, timeoutMs));
        onIdle = () => {
          clearTimeout(timer);
          resolve(0);
        };
      });
    },
  };
}
