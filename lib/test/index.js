// `svelte-realtime/test`: run live functions in a test without a WebSocket server.
//
// `createTestEnv()` gives a registry of its own, a mock platform and fake clients. Requests
// are encoded exactly as the browser client encodes them and go through the real
// `handleRpc`, so guards, middleware, validation and stream options behave as in
// production. A `TestStream`'s `value` is the initial data merged with every live event by
// the Rust merge engine (the code the server uses for channel state), and its `events` list
// keeps the raw `{ event, data }`. Publishes are delivered synchronously, JSON round-tripped
// as on the wire.

import { native } from '../runtime/native.js';
import { topicHelpers } from '../shared/topic.js';
import { close, defaultRegistry, handleRpc, LiveError, Registry } from '../server/index.js';
import { TOPIC_STATE } from '../server/stream.js';

const encoder = new TextEncoder();
const wire = (data) => (data === undefined ? null : JSON.parse(JSON.stringify(data) ?? 'null'));

function errorFrom(payload) {
  return new LiveError(payload?.code || 'UNKNOWN', payload?.error || 'Unknown error', {
    issues: payload?.issues,
  });
}

/**
 * @param {{ registry?: Registry }} [options]
 */
export function createTestEnv(options = {}) {
  const { NativeMergeState } = native();
  const registry = options.registry ?? new Registry();
  // Middleware is global by nature (`live.middleware` at module load): share it.
  if (!options.registry) registry.middleware = defaultRegistry.middleware;

  /** topic → Set<fake socket> */
  const subscribers = new Map();
  /** topic → NativeMergeState for presence/cursor channels */
  const topicStates = new Map();
  const clients = new Set();
  let idCounter = 0;

  const topicState = {
    track(topic, opts) {
      if (!topicStates.has(topic)) {
        topicStates.set(topic, new NativeMergeState({ merge: opts.merge, key: opts.key }, '[]'));
      }
    },
    snapshot(topic) {
      const state = topicStates.get(topic);
      return state ? JSON.parse(state.valueJson()) : undefined;
    },
  };

  function deliver(ws, envelope) {
    ws.__receive(envelope);
  }

  const platform = {
    publish(topic, event, data) {
      const envelope = { topic, event, data: wire(data) };
      topicStates.get(topic)?.apply(event, JSON.stringify(envelope.data));
      for (const ws of [...(subscribers.get(topic) ?? [])]) deliver(ws, envelope);
      return true;
    },
    send(ws, topic, event, data) {
      if (!ws.__open) return 2;
      deliver(ws, { topic, event, data: wire(data) });
      return 1;
    },
    sendTo(filter, topic, event, data) {
      let count = 0;
      for (const client of clients) {
        if (client.ws.__open && filter(client.ws.getUserData())) {
          deliver(client.ws, { topic, event, data: wire(data) });
          count += 1;
        }
      }
      return count;
    },
    subscribers(topic) {
      return subscribers.get(topic)?.size ?? 0;
    },
    get connections() {
      let open = 0;
      for (const client of clients) if (client.ws.__open) open += 1;
      return open;
    },
    topic(name) {
      return topicHelpers((t, e, d) => platform.publish(t, e, d), name);
    },
  };

  function fakeSocket(userData, onEnvelope) {
    const topics = new Set();
    const ws = {
      __open: true,
      __receive: onEnvelope,
      getUserData: () => userData,
      subscribe(topic) {
        if (!ws.__open || topics.has(topic)) return false;
        topics.add(topic);
        if (!subscribers.has(topic)) subscribers.set(topic, new Set());
        subscribers.get(topic).add(ws);
        return true;
      },
      unsubscribe(topic) {
        if (!topics.delete(topic)) return false;
        subscribers.get(topic)?.delete(ws);
        return true;
      },
      isSubscribed: (topic) => topics.has(topic),
      getTopics: () => [...topics],
      send: () => (ws.__open ? 1 : 2),
      end() {},
      close() {},
      getBufferedAmount: () => 0,
      getRemoteAddressAsText: () => encoder.encode('127.0.0.1').buffer,
      cork(fn) {
        fn();
        return ws;
      },
      [TOPIC_STATE]: topicState,
      __leaveAll() {
        for (const topic of [...topics]) ws.unsubscribe(topic);
      },
    };
    return ws;
  }

  /**
   * A fake connected client with `userData` as what `upgrade` returned.
   * @returns {TestClient}
   */
  function connect(userData = {}) {
    /** id → { resolve, reject, raw } */
    const pending = new Map();
    /** topic → Set<stream record> */
    const streams = new Map();
    /** Streams waiting for their response: they buffer every envelope meanwhile. */
    const waiting = new Set();
    let connected = true;

    const onEnvelope = (envelope) => {
      if (envelope.topic === '__rpc') {
        const settle = (id, payload) => {
          const entry = pending.get(id);
          if (!entry) return;
          pending.delete(id);
          if (payload?.ok) entry.resolve(entry.raw ? payload : payload.data);
          else entry.reject(errorFrom(payload));
        };
        if (envelope.event === '__batch') for (const r of envelope.data?.batch ?? []) settle(r.id, r);
        else settle(envelope.event, envelope.data);
        return;
      }
      for (const record of waiting) record.buffer.push(envelope);
      for (const record of streams.get(envelope.topic) ?? []) record.receive(envelope.event, envelope.data);
    };

    let ws = fakeSocket(userData, onEnvelope);
    const client = { ws };
    clients.add(client);

    function send(bytes, id, raw = false) {
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, raw });
        const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
        if (!handleRpc(ws, copy, platform, { registry })) {
          pending.delete(id);
          reject(new Error('the request was not recognized as an RPC'));
        }
      });
    }

    const nextId = () => `test-${(idCounter++).toString(36)}`;

    function requestJson(message) {
      return encoder.encode(JSON.stringify(message));
    }

    const api = {
      /** Calls a `live()` function; resolves with its result or rejects with a LiveError. */
      call(path, ...args) {
        if (!connected) return Promise.reject(new Error('Disconnected'));
        const id = nextId();
        return send(requestJson({ rpc: path, id, args }), id);
      },

      /** Calls a `live.binary()` function with `buffer` as payload. */
      binary(path, buffer, ...args) {
        if (!connected) return Promise.reject(new Error('Disconnected'));
        const id = nextId();
        const header = { rpc: path, id };
        if (args.length) header.args = args;
        const head = encoder.encode(JSON.stringify(header));
        const payload =
          buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
        const frame = new Uint8Array(3 + head.length + payload.length);
        frame[1] = head.length >> 8;
        frame[2] = head.length & 0xff;
        frame.set(head, 3);
        frame.set(payload, 3 + head.length);
        return send(frame, id);
      },

      /** Subscribes to a stream; returns a TestStream at once (the data follows). */
      subscribe(path, ...args) {
        if (!connected) throw new Error('Disconnected');
        return subscribeStream(path, args);
      },

      /** Drops the connection: subscriptions end and `onUnsubscribe` hooks run. */
      disconnect() {
        if (!connected) return;
        connected = false;
        ws.__open = false;
        ws.__leaveAll();
        streams.clear();
        waiting.clear();
        for (const entry of pending.values()) entry.reject(new Error('Disconnected'));
        pending.clear();
        close(ws, { platform });
      },

      /** A new connection for the same user (streams are not resubscribed). */
      reconnect() {
        if (connected) return;
        ws = fakeSocket(userData, onEnvelope);
        client.ws = ws;
        connected = true;
      },
    };

    function subscribeStream(path, args) {
      const record = {
        value: undefined,
        error: undefined,
        topic: undefined,
        hasMore: false,
        cursor: undefined,
        events: [],
        buffer: [],
        state: null,
        receive(event, data) {
          record.events.push({ event, data });
          if (record.state) {
            record.state.apply(event, JSON.stringify(data ?? null));
            record.value = JSON.parse(record.state.valueJson());
          }
        },
      };
      const id = nextId();
      waiting.add(record);
      send(requestJson({ rpc: path, id, args, stream: true }), id, true).then(
        (payload) => {
          waiting.delete(record);
          if (payload.gated) return;
          record.topic = payload.topic;
          record.hasMore = Boolean(payload.hasMore);
          record.cursor = payload.cursor;
          record.state = new NativeMergeState(
            { merge: payload.merge, key: payload.key, prepend: payload.prepend, max: payload.max },
            JSON.stringify(payload.data ?? null),
          );
          record.value = payload.data;
          if (!streams.has(payload.topic)) streams.set(payload.topic, new Set());
          streams.get(payload.topic).add(record);
          // Events published while the initial data was read (the server subscribed first).
          for (const envelope of record.buffer.splice(0)) {
            if (envelope.topic === payload.topic) record.receive(envelope.event, envelope.data);
          }
        },
        (error) => {
          waiting.delete(record);
          record.error = error;
        },
      );
      return {
        /** The initial data merged with every live event since. */
        get value() {
          return record.value;
        },
        /** The LiveError when the subscription failed. */
        get error() {
          return record.error;
        },
        get topic() {
          return record.topic;
        },
        /** Every live `{ event, data }` received. */
        events: record.events,
        get hasMore() {
          return record.hasMore;
        },
        /** Resolves with `value` once `predicate(value)` holds; rejects after `timeout` ms. */
        waitFor(predicate, timeout = 5000) {
          const deadline = Date.now() + timeout;
          return new Promise((resolve, reject) => {
            const poll = () => {
              let ok = false;
              try {
                ok = predicate(record.value);
              } catch {
                ok = false;
              }
              if (ok) resolve(record.value);
              else if (Date.now() > deadline) reject(new Error(`waitFor: condition not met within ${timeout} ms`));
              else setTimeout(poll, 10);
            };
            poll();
          });
        },
      };
    }

    return api;
  }

  return {
    /** Registers a module's exports under `name` (`chat` for `src/live/chat.js`). */
    register(name, exports) {
      registry.registerModule(name, exports);
    },
    connect,
    platform,
    /** Resolves after pending microtasks and timers of 0 ms. */
    tick: () => new Promise((resolve) => setTimeout(resolve, 0)),
    /** Disconnects every client and clears subscriptions and channel state (the registry stays). */
    cleanup() {
      clients.clear();
      subscribers.clear();
      topicStates.clear();
    },
  };
}
