// The `platform` object: what hooks receive and what SvelteKit will see as `event.platform`.
// Envelopes are built in Rust from the topic, the event and `JSON.stringify(data)`; a
// publish is serialized once whatever the number of subscribers.

import { DROPPED, SUCCESS, internals, isOpen, socketId } from './websocket.js';
import { topicHelpers } from '../shared/topic.js';

/**
 * JSON text of `data`; `undefined` (and functions, symbols) become `null`. Data JSON cannot
 * carry (a cycle, a BigInt, nesting too deep for the serializer) throws a TypeError naming
 * the call, with the serializer's error as `cause`.
 */
export function toJson(data, call = 'send', topic = undefined, event = undefined) {
  let json;
  try {
    json = JSON.stringify(data);
  } catch (cause) {
    const where = topic === undefined ? '' : ` for ${JSON.stringify(topic)} / ${JSON.stringify(event)}`;
    throw new TypeError(`svelte-realtime: ${call}()${where}: data cannot be sent as JSON (${cause.message})`, { cause });
  }
  return json === undefined ? 'null' : json;
}

function assertName(kind, value) {
  if (typeof value !== 'string') {
    throw new TypeError(`${kind} must be a string, got ${typeof value}`);
  }
}

/**
 * Where `platform.send` exposes its batched form, `(ws, topic, event, data) => status`, for
 * `handleRpc`'s replies (see outbound.js). On the function, so a wrapped platform that
 * passes `send` through keeps it, and one that replaces `send` does not.
 */
const BATCHED = Symbol.for('svelte-realtime.batchedSend');

/**
 * Where a platform keeps the accessor of its native server, for the Redis and Postgres
 * helpers (`bus.activate(platform)` attaches the bus in Rust). Not enumerable.
 */
export const NATIVE_SERVER = Symbol.for('svelte-realtime.nativeServer');

/**
 * @param {() => import('../../index.js').NativeServer} getNative
 * @param {Map<number, import('./websocket.js').ServerWebSocket>} connections
 * @param {ReturnType<typeof import('./outbound.js').createOutbound>} outbound
 */
export function createPlatform(getNative, connections, outbound, isShared = () => false, remote = null) {
  const platform = {
    /**
     * Sends `{topic, event, data}` to every subscriber of `topic`, the publishing socket
     * included. Returns true if anyone was subscribed here. With a Redis bus attached
     * (`svelte-realtime/redis`), the message also reaches the other instances, unless
     * `options.relay` is false.
     */
    publish(topic, event, data, options) {
      assertName('topic', topic);
      assertName('event', event);
      const json = toJson(data, 'platform.publish', topic, event);
      outbound.hold();
      return getNative().publish(topic, event, json, options?.relay !== false) > 0;
    },

    /** Sends one envelope to one socket; returns 0, 1 or 2 like `ws.send`. */
    send(ws, topic, event, data) {
      assertName('topic', topic);
      assertName('event', event);
      const handle = ws?.[internals];
      if (!handle) throw new TypeError('platform.send needs a WebSocket from this server');
      if (!handle[isOpen]()) return DROPPED;
      const json = toJson(data, 'platform.send', topic, event);
      outbound.hold();
      return getNative().sendEnvelope(handle[socketId], topic, event, json);
    },

    /**
     * Sends one envelope to every socket whose user data passes `filter`; returns the count.
     * With worker threads every thread's sockets (see lib/runtime/mirror.js).
     */
    sendTo(filter, topic, event, data) {
      assertName('topic', topic);
      assertName('event', event);
      const ids = [];
      for (const [id, ws] of connections) {
        if (filter(ws.getUserData())) ids.push(id);
      }
      // With worker threads: the other threads' sockets, by their user data at open.
      if (remote) for (const [id, userData] of remote) if (filter(userData)) ids.push(id);
      if (ids.length === 0) return 0;
      const json = toJson(data, 'platform.sendTo', topic, event);
      outbound.hold();
      return getNative().sendEnvelopeMany(ids, topic, event, json);
    },

    /** Number of sockets subscribed to `topic` in this process. */
    subscribers(topic) {
      assertName('topic', topic);
      return getNative().subscriberCount(topic);
    },

    /** Number of open WebSockets in this process (every runner's, with worker threads). */
    get connections() {
      return isShared() ? getNative().connectionCount() : connections.size;
    },

    /** Helpers bound to one topic. */
    topic(name) {
      assertName('topic', name);
      return topicHelpers((t, e, d) => platform.publish(t, e, d), name);
    },
  };
  /**
   * `send` batched with the other replies of this turn: one napi call and one wake per
   * socket per turn. Reports SUCCESS for an open socket (the status of the write itself is
   * not known yet; refused frames are still counted by `stats().droppedMessages`).
   */
  Object.defineProperty(platform, NATIVE_SERVER, { value: getNative });
  // `plainOk`: `data` is a plain call's `{ ok: true, data: <value> }` whose JSON is the
  // wrapper around the value's own, so the wrapper is written as bytes (see rpc.js `isPlainOk`).
  platform.send[BATCHED] = (ws, topic, event, data, plainOk) => {
    const handle = ws?.[internals];
    if (!handle) return platform.send(ws, topic, event, data);
    if (!handle[isOpen]()) return DROPPED;
    if (plainOk) {
      outbound.sendOk(handle[socketId], topic, event, data.data);
    } else {
      outbound.send(handle[socketId], topic, event, toJson(data, 'platform.send', topic, event));
    }
    return SUCCESS;
  };
  return platform;
}
