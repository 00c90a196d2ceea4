// Plain objects with the adapter's ws/platform shape, to drive handleRpc without a server.
import { handleRpc, Registry } from '../../lib/server/index.js';

let counter = 0;

/** A fake socket: records subscriptions and what it was sent. */
export function fakeSocket(userData = {}) {
  const topics = new Set();
  return {
    sent: [],
    getUserData: () => userData,
    subscribe: (t) => (topics.has(t) ? false : (topics.add(t), true)),
    unsubscribe: (t) => topics.delete(t),
    isSubscribed: (t) => topics.has(t),
    getTopics: () => [...topics],
    getBufferedAmount: () => 0,
  };
}

/** A fake platform: `send` resolves waiters by event (the RPC id). */
export function fakePlatform() {
  const waiters = new Map();
  const published = [];
  return {
    published,
    publish(topic, event, data) {
      published.push({ topic, event, data });
      return true;
    },
    send(ws, topic, event, data) {
      // Round-trip through JSON like the wire does.
      const envelope = JSON.parse(JSON.stringify({ topic, event, data: data ?? null }));
      ws.sent.push(envelope);
      const waiter = waiters.get(event);
      if (waiter) {
        waiters.delete(event);
        waiter(envelope.data);
      }
      return 1;
    },
    /** Resolves with the `data` of the next `__rpc` envelope for `event`. */
    next(event) {
      return new Promise((resolve) => waiters.set(event, resolve));
    },
  };
}

/** A registry with the given modules registered. */
export function registryWith(modules) {
  const registry = new Registry();
  for (const [name, exports] of Object.entries(modules)) registry.registerModule(name, exports);
  return registry;
}

/**
 * Sends `msg` (an object, serialized like the reference client, or raw bytes) through
 * handleRpc and resolves with the response payload.
 */
export function rpc(env, msg, options = {}) {
  const ws = env.ws ?? (env.ws = fakeSocket());
  const platform = env.platform ?? (env.platform = fakePlatform());
  const binaryId = () => {
    const length = (msg[1] << 8) | msg[2];
    return JSON.parse(new TextDecoder().decode(msg.subarray(3, 3 + length))).id;
  };
  const id = msg instanceof Uint8Array ? binaryId() : (msg.id ?? (msg.batch ? '__batch' : `t${counter++}`));
  const body = msg instanceof Uint8Array ? msg : { ...msg, id: msg.batch ? undefined : id };
  const response = platform.next(msg.batch ? '__batch' : id);
  const data = body instanceof Uint8Array ? body : new TextEncoder().encode(JSON.stringify(body));
  const handled = handleRpc(ws, data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength), platform, {
    registry: env.registry,
    ...options,
  });
  if (!handled) throw new Error('handleRpc did not take the message');
  return response;
}
