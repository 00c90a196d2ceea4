// Work the hooks started and have not finished, so graceful shutdown can wait for it: the
// promise a hook returns, and the calls `svelte-realtime/server` runs after `handleRpc` has
// returned. The layers above the runtime reach it through a registry symbol on `ws` (they
// share no imports): `ws[INFLIGHT]` is `{ begin(), end(), track(promise) }`. It is a counter,
// not a set: one increment and one decrement per call on the RPC hot path.

/** Where `ws` exposes the in-flight counter to the layers above the runtime. */
export const INFLIGHT = Symbol.for('svelte-realtime.inflight');

export function createInflight() {
  let pending = 0;
  let onIdle = null;

  function end() {
    pending -= 1;
    if (pending === 0 && onIdle) {
      const resolve = onIdle;
      onIdle = null;
      resolve();
    }
  }

  return {
    /** One more piece of work in flight; `end()` when it is done. */
    begin() {
      pending += 1;
    },
    end,
    /** Counts a promise until it settles; returns it. */
    track(promise) {
      if (promise && typeof promise.then === 'function') {
        pending += 1;
        promise.then(end, end);
      }
      return promise;
    },
    get size() {
      return pending;
    },
    /** Resolves once nothing is in flight, or after `timeoutMs` (with what is left). */
    idle(timeoutMs) {
      if (pending === 0) return Promise.resolve(0);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          onIdle = null;
          resolve(pending);
        }, Math.max(0, timeoutMs));
        onIdle = () => {
          clearTimeout(timer);
          resolve(0);
        };
      });
    },
  };
}
