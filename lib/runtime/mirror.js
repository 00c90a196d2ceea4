// User data of the other threads' sockets, for a global `platform.sendTo` with worker threads
// (lib/runtime/workers.js). Each runner tells the main thread when a socket opens (with a
// structured clone of its user data, as it stands after the `open` hook) and closes; the main
// thread passes that on to every other runner and sends a newly started worker everything
// it knows. `sendTo` then filters this thread's sockets and the copies, and Rust sends to the
// matching ids wherever they live. A filter sees another thread's socket as its user data was
// at open: later changes to that object stay in its own thread.

export const MIRROR = 'svelte-realtime:mirror';

export function createMirror() {
  /** id → user data of sockets on other runners */
  const remote = new Map();
  let post = null;
  return {
    remote,
    /** Starts telling (`send(message)`); before that nothing is shared. */
    connect(send) {
      post = send;
    },
    /** `userDataOf()` is only called when there are other threads to tell. */
    opened(id, userDataOf) {
      if (!post) return;
      let copy;
      try {
        copy = structuredClone(userDataOf() ?? {});
      } catch {
        copy = null; // not cloneable (functions, sockets): invisible to other threads' filters
      }
      post(['open', id, copy]);
    },
    closed(id) {
      if (post) post(['close', id]);
    },
    /** A message from elsewhere. */
    apply(message) {
      const [kind, a, b] = message;
      if (kind === 'open' && b !== null) remote.set(a, b);
      else if (kind === 'close') remote.delete(a);
      else if (kind === 'sync') for (const [id, data] of a) remote.set(id, data);
    },
  };
}
