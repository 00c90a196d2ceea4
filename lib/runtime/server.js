// `serve()`: the programmatic entry. Starts the native server with a hooks module and
// options, wires events to hooks, and resolves once it listens. Used by tests, benchmarks,
// the demo, and (later) the SvelteKit adapter's `build/index.js`.

import { native } from './native.js';
import { normalizeOptions, nativeOptions } from './options.js';
import { loadHooks } from './hooks.js';
import { createPlatform } from './platform.js';
import { createDispatcher } from './dispatch.js';
import { createHttpBridge } from './http.js';
import { createInflight } from './inflight.js';
import { createOutbound } from './outbound.js';
import { BATCH_BUFFER_BYTES } from './batch.js';
import { READY, spawnWorkers, workerAttachment } from './workers.js';
import { MIRROR, createMirror } from './mirror.js';

/** Servers that listen for SIGTERM/SIGINT, so one signal closes them all. */
const signalled = new Set();
let signalCount = 0;

function onSignal(signal) {
  signalCount += 1;
  if (signalCount > 1) {
    // A second Ctrl+C: stop waiting.
    process.exit(1);
  }
  const closing = [...signalled].map((server) => server.close(signal));
  Promise.allSettled(closing).then(() => {
    process.emit('sveltekit:shutdown', signal);
    // Exit now if nothing else holds the process; otherwise after a short grace.
    setTimeout(() => process.exit(0), 1000).unref();
  });
}

function watchSignals(server) {
  if (signalled.size === 0) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  signalled.add(server);
}

function unwatchSignals(server) {
  if (!signalled.delete(server) || signalled.size > 0) return;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
}

export class RealtimeServer {
  #native;
  #connections;
  #shutdownTimeout;
  #closing = null;
  #stopped;
  #drained;
  #inflight;
  #outbound;
  #log;
  #worker;
  #workers = null;

  #mirror;

  /** @internal */
  constructor({ nativeServer, platform, connections, shutdownTimeout, stopped, drained, inflight, outbound, log, worker = 0, mirror = null }) {
    this.#mirror = mirror;
    this.#native = nativeServer;
    this.#worker = worker;
    this.#connections = connections;
    this.#shutdownTimeout = shutdownTimeout;
    this.#stopped = stopped;
    this.#drained = drained;
    this.#inflight = inflight;
    this.#outbound = outbound;
    this.#log = log;
    /** The platform object hooks receive (`event.platform` in SvelteKit). */
    this.platform = platform;
    /** The port the server listens on (the real one when `port: 0` was asked). */
    this.port = nativeServer.port;
    /** The address the server listens on. */
    this.address = nativeServer.address;
    /** Where the WebSockets run: 'inline' (the JavaScript thread) or 'threads'. */
    this.engine = nativeServer.engine;
  }

  /** `http://host:port`, with `localhost` for wildcard addresses. */
  get url() {
    const host = this.address === '0.0.0.0' || this.address === '::' ? 'localhost' : this.address;
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  /** Open WebSockets, every runner's (the main thread and its worker threads). */
  get connections() {
    return this.#workers || this.#worker !== 0 ? this.#native.connectionCount() : this.#connections.size;
  }

  /** This runner: 0 for the main thread, 1.. for a worker thread. */
  get worker() {
    return this.#worker;
  }

  /**
   * Starts worker threads that run `module` and attach to this server (see
   * `lib/runtime/workers.js`): `count` runners in all, this thread included. `module` calls
   * `serve({ attach: true, hooks, fetch })` with the same hooks.
   * @param {string | URL} module
   * @param {number} count
   * @param {{ workerData?: object }} [options]
   */
  spawnWorkers(module, count, options = {}) {
    if (this.#worker !== 0) throw new Error('spawnWorkers() is for the main thread\'s server');
    if (this.#workers) throw new Error('workers are running already');
    this.#workers = spawnWorkers({ native: this.#native, platform: this.platform, mirror: this.#mirror, connections: this.#connections, module, count, workerData: options.workerData, log: this.#log });
    return this.#workers;
  }

  /** Whether worker threads share this server (then counts are every runner's). */
  get sharing() {
    return this.#workers !== null || this.#worker !== 0;
  }

  /** @internal A worker thread: drain and detach when the main thread shuts the server down. */
  followShutdown() {
    this.#closing = this.#drained
      .then(() => this.#inflight.idle(this.#shutdownTimeout * 1000))
      .then(() => {
        this.#outbound.flush();
        this.#native.finishShutdown();
        return this.#stopped;
      })
      .then(() => this.#native.dispose());
  }

  /**
   * Counters: open connections, topics with subscribers, bytes of inbound messages waiting
   * for hooks, and messages dropped for backpressure since start.
   */
  stats() {
    return this.#native.stats();
  }

  /**
   * Graceful shutdown, all within `shutdownTimeout`: stop accepting connections and stop
   * reading messages; let the handlers in flight finish (their replies are sent); close
   * WebSockets with 1001 (the `close` hook runs for each) while HTTP requests in flight
   * finish; then release the native server. Safe to call more than once; every call returns
   * the same promise.
   */
  close() {
    if (this.#worker !== 0) {
      // A worker leaves: its sockets close with 1011, the server keeps running.
      this.#outbound.flush();
      this.#native.dispose();
      return Promise.resolve();
    }
    if (!this.#closing) {
      this.#workers?.halt();
      const timeoutMs = this.#shutdownTimeout * 1000;
      const deadline = Date.now() + timeoutMs;
      this.#native.shutdown(timeoutMs);
      this.#drained
        .then(() => this.#inflight.idle(deadline - Date.now()))
        .then((left) => {
          if (left > 0) {
            this.#log.warn(`[svelte-realtime] shutdown timeout: ${left} handler(s) still running; closing anyway`);
          }
          // Replies still batched go out ahead of the close frames.
          this.#outbound.flush();
          this.#native.finishShutdown();
        });
      this.#closing = this.#stopped.then(async () => {
        this.#native.dispose();
        unwatchSignals(this);
        await this.#workers?.stop();
      });
    }
    return this.#closing;
  }

  [Symbol.asyncDispose]() {
    return this.close();
  }
}

/**
 * Starts a server and resolves once it listens.
 * @param {import('./index.js').ServeOptions} [options]
 * @returns {Promise<RealtimeServer>}
 */
export async function serve(options = {}) {
  // `attach: true` in a thread started by `spawnWorkers`: join the main thread's server.
  const attach = options.attach === true ? workerAttachment() : options.attach || null;
  if (options.attach === true && !attach) throw new Error('serve({ attach: true }) runs in a worker thread started by spawnWorkers()');
  const { attach: _attach, jsWorkers: _jsWorkers, ...rest } = options;
  const opts = normalizeOptions(rest);
  const { NativeServer } = native();
  const hooks = await loadHooks(opts.hooks, opts.log);
  // The client's address behind a proxy needs the upgrade's headers: hear every upgrade.
  if (opts.clientAddress && !hooks.upgrade) hooks.upgrade = () => ({});
  const connections = new Map();
  /** @type {import('../../index.js').NativeServer} */
  let nativeServer;
  const getNative = () => nativeServer;
  const outbound = createOutbound(getNative);
  let server;
  const mirror = createMirror();
  const platform = createPlatform(getNative, connections, outbound, () => Boolean(attach) || server?.sharing === true, mirror.remote);
  const http = createHttpBridge({
    getNative,
    handler: opts.fetch,
    platform,
    origin: opts.origin,
    log: opts.log,
  });
  let markStopped;
  const stopped = new Promise((resolve) => {
    markStopped = resolve;
  });
  let markDrained;
  const drained = new Promise((resolve) => {
    markDrained = resolve;
  });
  const inflight = createInflight();
  const dispatch = createDispatcher({
    getNative,
    hooks,
    platform,
    connections,
    http,
    log: opts.log,
    clientAddress: opts.clientAddress,
    inflight,
    dev: opts.dev ? { maxPayloadLength: opts.websocket.maxPayloadLength } : undefined,
    outbound,
    mirror,
    onDrained: () => markDrained(),
    onStopped: () => markStopped(),
  });
  // The addon calls `dispatch` asynchronously (never during this constructor), so
  // `nativeServer` is assigned before the first event is handled.
  const batchBuffer = Buffer.allocUnsafeSlow(BATCH_BUFFER_BYTES);
  const onEvents = (batch) => dispatch(typeof batch === 'number' ? batchBuffer.subarray(0, batch) : batch);
  nativeServer = attach
    ? NativeServer.attachWorker(attach.key, attach.index, onEvents, batchBuffer)
    : new NativeServer(nativeOptions(opts, hooks), onEvents, batchBuffer);
  server = new RealtimeServer({
    nativeServer,
    platform,
    connections,
    shutdownTimeout: opts.shutdownTimeout,
    stopped,
    drained,
    inflight,
    outbound,
    log: opts.log,
    worker: attach ? attach.index : 0,
    mirror,
  });
  if (options.jsWorkers && !attach) {
    const { count, module, workerData } = options.jsWorkers;
    if (count > 1) await server.spawnWorkers(module, count, { workerData }).ready();
  }
  if (attach) {
    server.followShutdown();
    // Tell the main thread this worker serves now (spawnWorkers' `ready()`), and share the
    // user data of this thread's sockets for sendTo.
    const { parentPort } = await import('node:worker_threads');
    if (parentPort) {
      mirror.connect((message) => parentPort.postMessage({ [MIRROR]: message }));
      parentPort.on('message', (message) => {
        if (Array.isArray(message?.[MIRROR])) mirror.apply(message[MIRROR]);
      });
      parentPort.unref();
      parentPort.postMessage({ [READY]: attach.index });
    }
  } else if (opts.signals) watchSignals(server);
  return server;
}
