// The `ws` object handed to hooks: the uWebSockets.js / svelte-adapter-uws API, backed by the
// native connection of the same id. Every method is a synchronous call into Rust.

/** `send` results, numbered as uWebSockets.js does. */
export const BACKPRESSURE = 0;
export const SUCCESS = 1;
export const DROPPED = 2;

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** Internal hooks of the runtime, not part of the public API. */
export const internals = Symbol('svelte-realtime.ws');
export const socketId = Symbol('svelte-realtime.ws.id');
export const isOpen = Symbol('svelte-realtime.ws.isOpen');
export const markClosed = Symbol('svelte-realtime.ws.markClosed');

/**
 * Server-held channel state (presence/cursor), read by svelte-realtime/server's stream path
 * through this registry symbol so the two layers share no imports.
 */
const TOPIC_STATE = Symbol.for('svelte-realtime.topicState');
/** `{ begin, end, track }`: work graceful shutdown waits for (see inflight.js). */
const INFLIGHT = Symbol.for('svelte-realtime.inflight');
/** `{ maxPayloadLength }` under `vite dev` (development checks), else undefined. */
const DEV = Symbol.for('svelte-realtime.dev');
const topicStates = new WeakMap();

function topicStateOf(native) {
  let capability = topicStates.get(native);
  if (!capability) {
    capability = {
      track: (topic, { merge, key, anchor }) => native.trackTopic(topic, merge, key ?? 'id', anchor),
      // A promise: with a Redis bus, presence and cursors come from Redis (every instance's).
      snapshot: async (topic) => {
        const json = await native.topicState(topic);
        return json === null || json === undefined ? undefined : JSON.parse(json);
      },
    };
    topicStates.set(native, capability);
  }
  return capability;
}

function assertTopic(topic) {
  if (typeof topic !== 'string') {
    throw new TypeError(`topic must be a string, got ${typeof topic}`);
  }
}

/** Close codes a server may send (RFC 6455 §7.4). */
function isValidCloseCode(code) {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))
  );
}

/** Bytes of any message form `send` accepts. */
function toBytes(message) {
  if (typeof message === 'string') return encoder.encode(message);
  if (message instanceof ArrayBuffer) return new Uint8Array(message);
  if (ArrayBuffer.isView(message)) {
    return new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
  }
  throw new TypeError('message must be a string, an ArrayBuffer or a typed array');
}

export class ServerWebSocket {
  /** The server's shared pieces, `{ native, inflight?, dev?, outbound? }` (one per server). */
  #server;
  /** The connection id while open; its negative once closed (one field for both). */
  #id;
  #userData;
  #remoteAddress;

  /**
   * @param {import('../../index.js').NativeServer} native
   * @param {number} id
   * @param {any} userData
   * @param {string} remoteAddress
   * @param {{
   *   inflight?: ReturnType<typeof import('./inflight.js').createInflight>,
   *   dev?: { maxPayloadLength: number },
   *   outbound?: ReturnType<typeof import('./outbound.js').createOutbound>,
   * }} [context] the server's shared pieces: in-flight tracking, dev checks, reply batching
   */
  constructor(native, id, userData, remoteAddress, context = {}) {
    // Four fields per socket: the native handle lives in the shared context.
    this.#server = context.native === native ? context : { ...context, native };
    this.#id = id;
    this.#userData = userData;
    this.#remoteAddress = remoteAddress;
  }

  /** What the `upgrade` hook returned (or `{}`, made on first use: an idle socket costs less). */
  getUserData() {
    return (this.#userData ??= {});
  }

  /** Subscribes this socket to `topic` and grants it, so the client may re-subscribe. */
  subscribe(topic) {
    assertTopic(topic);
    return this.#id > 0 && this.#server.native.subscribe(this.#id, topic);
  }

  /** Unsubscribes this socket and withdraws the grant. */
  unsubscribe(topic) {
    assertTopic(topic);
    return this.#id > 0 && this.#server.native.unsubscribe(this.#id, topic);
  }

  isSubscribed(topic) {
    assertTopic(topic);
    return this.#id > 0 && this.#server.native.isSubscribed(this.#id, topic);
  }

  getTopics() {
    return this.#id > 0 ? this.#server.native.topics(this.#id) : [];
  }

  /**
   * Sends a message. Returns 1 (SUCCESS), 0 (BACKPRESSURE: queued, the socket is not keeping
   * up) or 2 (DROPPED: over `maxBackpressure`, or the socket is closed).
   * @param {string | ArrayBuffer | ArrayBufferView} message
   * @param {boolean} [isBinary]
   */
  send(message, isBinary = false) {
    if (this.#id < 0) return DROPPED;
    this.#server.outbound?.hold();
    if (isBinary) return this.#server.native.sendBinary(this.#id, toBytes(message));
    const text = typeof message === 'string' ? message : utf8.decode(toBytes(message));
    return this.#server.native.sendText(this.#id, text);
  }

  /** Closes gracefully with a close frame. */
  end(code = 1000, shortMessage = '') {
    if (!isValidCloseCode(code)) {
      throw new RangeError(`invalid close code ${code}: use 1000-1003, 1007-1014 or 3000-4999`);
    }
    if (this.#id < 0) return;
    this.#server.outbound?.flush();
    this.#server.native.end(this.#id, code, typeof shortMessage === 'string' ? shortMessage : utf8.decode(toBytes(shortMessage)));
  }

  /** Closes at once, without a close frame; the `close` hook sees 1006. */
  close() {
    if (this.#id > 0) this.#server.native.abort(this.#id);
  }

  /** Bytes queued for this socket and not yet written. */
  getBufferedAmount() {
    return this.#id > 0 ? this.#server.native.bufferedAmount(this.#id) : 0;
  }

  /** The peer address as text, in an ArrayBuffer (as uWebSockets.js returns it). */
  getRemoteAddressAsText() {
    return encoder.encode(this.#remoteAddress).buffer;
  }

  /** Runs `callback` at once: sends are already batched per socket by the writer. */
  cork(callback) {
    callback();
    return this;
  }

  /**
   * The runtime's own handle: the socket itself, whose `[socketId]`, `[isOpen]()` and
   * `[markClosed]()` live on the prototype, so a connection costs no closures (memory per
   * idle socket) and the public surface stays the uWS one.
   */
  get [internals]() {
    return this;
  }

  get [socketId]() {
    return Math.abs(this.#id);
  }

  [isOpen]() {
    return this.#id > 0;
  }

  [markClosed]() {
    if (this.#id > 0) this.#id = -this.#id;
  }

  get [TOPIC_STATE]() {
    return topicStateOf(this.#server.native);
  }

  get [INFLIGHT]() {
    return this.#server.inflight;
  }

  get [DEV]() {
    return this.#server.dev;
  }
}
