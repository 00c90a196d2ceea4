// Routes decoded events to the user's hooks. Runs on Node's main thread, once per batch.
// A hook that throws or rejects is logged and never takes the server down; nothing thrown
// here may reach the addon's callback.

import * as ev from './batch.js';
import { parseCookies } from './cookies.js';
import { ServerWebSocket, internals, isOpen, markClosed } from './websocket.js';

const LEVELS = ['info', 'warn', 'error'];

/** What `call` returns when the hook threw synchronously. */
const FAILED = Symbol('hook failed');

/**
 * Calls a hook and logs a throw or a rejection; a promise it returns is in flight until it
 * settles (shutdown waits for it). Returns the hook's result, or `FAILED` when it threw
 * synchronously.
 */
function call(log, inflight, name, hook, ...args) {
  try {
    const result = hook(...args);
    if (result && typeof result.then === 'function') {
      inflight.track(result);
      result.then(undefined, (error) => log.error(`[svelte-realtime] ${name} hook rejected:`, error));
    }
    return result;
  } catch (error) {
    log.error(`[svelte-realtime] ${name} hook threw:`, error);
    return FAILED;
  }
}

/**
 * @param {{
 *   getNative: () => import('../../index.js').NativeServer,
 *   hooks: Record<string, Function>,
 *   platform: object,
 *   connections: Map<number, ServerWebSocket>,
 *   http: ReturnType<typeof import('./http.js').createHttpBridge>,
 *   log: Pick<Console, 'info' | 'warn' | 'error'>,
 *   inflight: ReturnType<typeof import('./inflight.js').createInflight>,
 *   dev?: { maxPayloadLength: number },
 *   outbound: ReturnType<typeof import('./outbound.js').createOutbound>,
 *   onDrained: () => void,
 *   onStopped: () => void,
 * }} ctx
 * @returns {(batch: Uint8Array) => void}
 */
export function createDispatcher({ getNative, hooks, platform, connections, http, log, clientAddress, inflight, dev, outbound, mirror, onDrained, onStopped }) {
  const socketContext = { inflight, dev, outbound };
  // svelte-realtime's own `message` hook reads the message in place (no ArrayBuffer copy).
  const rawMessage = hooks.message?.[Symbol.for('svelte-realtime.rawMessage')];
  // ...and takes a plain call Rust delimited straight from its bytes (`code`: part lengths).
  const rawCall = hooks.message?.[Symbol.for('svelte-realtime.rawCall')];
  /** User data of accepted upgrades, waiting for their `OPEN`. */
  const accepted = new Map();

  /**
   * The socket address of a new socket, as the string of the previous one when the bytes are
   * the same: behind a reverse proxy every socket comes from the proxy's address, and one
   * string serves them all (an idle socket's JS side is that much smaller).
   */
  let lastAddress = '';
  function addressAt(bytes, start, end) {
    const length = end - start;
    if (length === lastAddress.length) {
      let i = 0;
      while (i < length && lastAddress.charCodeAt(i) === bytes[start + i]) i++;
      if (i === length) return lastAddress;
    }
    lastAddress = ev.text(bytes, start, end);
    return lastAddress;
  }

  let addressWarned = false;
  function upgrade(id, request) {
    let remoteAddress = request.remoteAddress;
    try {
      // Behind a proxy, the client's address comes from a header (ADDRESS_HEADER/XFF_DEPTH).
      if (clientAddress) remoteAddress = clientAddress(request.headers, request.remoteAddress);
    } catch (error) {
      // A request that did not come through the proxy (a health probe, a misconfiguration):
      // keep the socket's address, which is the proxy's or the peer's, never a spoofed one.
      if (!addressWarned) {
        addressWarned = true;
        log.warn(`[svelte-realtime] WebSocket upgrade without the client address header (${error?.message ?? error}); using the socket address ${request.remoteAddress}. Logged once.`);
      }
    }
    const ctx = {
      headers: request.headers,
      cookies: parseCookies(request.headers.cookie),
      url: request.url,
      remoteAddress,
    };
    const decide = (userData) => {
      if (userData === false) {
        getNative().resolveUpgrade(id, 401);
      } else if (getNative().resolveUpgrade(id, 101)) {
        accepted.set(id, { userData: userData || {}, remoteAddress });
      }
    };
    const refuse = (error) => {
      log.error('[svelte-realtime] upgrade hook failed:', error);
      getNative().resolveUpgrade(id, 500);
    };
    let result;
    try {
      result = hooks.upgrade(ctx);
    } catch (error) {
      refuse(error);
      return;
    }
    if (result && typeof result.then === 'function') {
      result.then(decide, refuse);
    } else {
      decide(result);
    }
  }

  function open(id, socketAddress) {
    const entry = accepted.get(id);
    accepted.delete(id);
    // Without an upgrade hook (and no `clientAddress`), Rust accepted it: the socket's address.
    socketContext.native ??= getNative();
    const ws = new ServerWebSocket(socketContext.native, id, entry?.userData, entry?.remoteAddress ?? socketAddress, socketContext);
    connections.set(id, ws);
    if (hooks.open) call(log, inflight, 'open', hooks.open, ws, { platform });
    // Only with worker threads: reading the user data would make the `{}` of every socket.
    mirror?.opened(id, () => ws.getUserData());
  }

  function close(id, code, message) {
    const ws = connections.get(id);
    if (!ws) return;
    connections.delete(id);
    mirror?.closed(id);
    ws[internals][markClosed]();
    if (hooks.close) call(log, inflight, 'close', hooks.close, ws, { code, message, platform });
  }

  function subscribe(ws, topic) {
    const allow = (answer) => {
      if (answer !== false && ws[internals][isOpen]()) ws.subscribe(topic);
    };
    const result = call(log, inflight, 'subscribe', hooks.subscribe, ws, topic, { platform });
    if (result && typeof result.then === 'function') {
      result.then(allow, () => {});
    } else if (result !== FAILED) {
      allow(result);
    }
  }

  function handle(kind, id, flags, code, bytes, start, end) {
    switch (kind) {
      case ev.MESSAGE: {
        const ws = connections.get(id);
        if (ws && rawCall && (flags & 6) === 6) {
          // Our own entry (never a promise, never throws for a bad message): called directly,
          // without `call`'s rest-argument array per message.
          try {
            rawCall(ws, bytes, start, end, code, (flags & 1) === 1, platform);
          } catch (error) {
            log.error('[svelte-realtime] message hook threw:', error);
          }
        } else if (ws && rawMessage) {
          call(log, inflight, 'message', rawMessage, ws, bytes.subarray(start, end), (flags & 1) === 1, platform);
        } else if (ws && hooks.message) {
          const data = ev.copy(bytes, start, end);
          call(log, inflight, 'message', hooks.message, ws, { data, isBinary: (flags & 1) === 1, platform });
        }
        break;
      }
      case ev.UPGRADE:
        upgrade(id, JSON.parse(ev.text(bytes, start, end)));
        break;
      case ev.UPGRADE_ABORTED:
        accepted.delete(id);
        break;
      case ev.OPEN:
        open(id, addressAt(bytes, start, end));
        break;
      case ev.CLOSE:
        close(id, code, ev.copy(bytes, start, end));
        break;
      case ev.DRAIN: {
        const ws = connections.get(id);
        if (ws && hooks.drain) call(log, inflight, 'drain', hooks.drain, ws, { platform });
        break;
      }
      case ev.SUBSCRIBE: {
        const ws = connections.get(id);
        if (ws && hooks.subscribe) subscribe(ws, ev.text(bytes, start, end));
        break;
      }
      case ev.HTTP_REQUEST:
        http.request(id, JSON.parse(ev.text(bytes, start, end)), (flags & 1) === 1);
        break;
      case ev.HTTP_BODY:
        http.body(id, bytes.slice(start, end));
        break;
      case ev.HTTP_BODY_END:
        http.bodyEnd(id, code);
        break;
      case ev.HTTP_DRAIN:
        http.drain(id);
        break;
      case ev.HTTP_ABORTED:
        http.abort(id);
        break;
      case ev.LOG:
        log[LEVELS[code] ?? 'info'](`[svelte-realtime] ${ev.text(bytes, start, end)}`);
        break;
      case ev.DRAINED:
        onDrained();
        break;
      case ev.STOPPED:
        onStopped();
        break;
      default:
        log.warn(`[svelte-realtime] unknown event kind ${kind}`);
    }
  }

  return function dispatch(batch) {
    try {
      ev.forEachEvent(batch, (kind, id, flags, code, bytes, start, end) => {
        try {
          handle(kind, id, flags, code, bytes, start, end);
        } catch (error) {
          log.error('[svelte-realtime] failed to handle an event:', error);
        }
      });
    } catch (error) {
      log.error('[svelte-realtime] failed to decode an event batch:', error);
    }
  };
}
