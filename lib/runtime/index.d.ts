// Types of `svelte-realtime/runtime`. Defaults here mirror lib/runtime/options.js and
// crates/realtime-core/src/config.rs.

/** `ws.send` results, numbered as uWebSockets.js does. */
export declare const BACKPRESSURE: 0;
export declare const SUCCESS: 1;
export declare const DROPPED: 2;
export type SendStatus = 0 | 1 | 2;

/** The WebSocket object hooks receive (the uWebSockets.js / svelte-adapter-uws API). */
export interface ServerWebSocket<UserData = any> {
  /** What the `upgrade` hook returned (or `{}`). */
  getUserData(): UserData;
  /** Subscribes this socket and grants the topic, so its client may re-subscribe to it. */
  subscribe(topic: string): boolean;
  /** Unsubscribes this socket and withdraws the grant. */
  unsubscribe(topic: string): boolean;
  isSubscribed(topic: string): boolean;
  getTopics(): string[];
  /**
   * Queues a message. 1 = SUCCESS, 0 = BACKPRESSURE (queued; the socket is not keeping up),
   * 2 = DROPPED (over `maxBackpressure`, or the socket is closed).
   */
  send(message: string | ArrayBuffer | ArrayBufferView, isBinary?: boolean): SendStatus;
  /** Graceful close with a close frame. Codes: 1000-1003, 1007-1014, 3000-4999. */
  end(code?: number, shortMessage?: string | ArrayBuffer | ArrayBufferView): void;
  /** Immediate close without a close frame; the `close` hook sees 1006. */
  close(): void;
  /** Bytes queued for this socket and not yet written. */
  getBufferedAmount(): number;
  /** The peer's IP address as UTF-8 text in an ArrayBuffer, as uWebSockets.js returns it. */
  getRemoteAddressAsText(): ArrayBuffer;
  /** Runs `callback` at once (sends are batched per socket already). */
  cork(callback: () => void): this;
}

export interface TopicHelpers {
  publish(event: string, data?: unknown): boolean;
  created(data?: unknown): boolean;
  updated(data?: unknown): boolean;
  deleted(data?: unknown): boolean;
  set(value?: unknown): boolean;
  /** @default amount 1 */
  increment(amount?: number): boolean;
  /** @default amount 1 */
  decrement(amount?: number): boolean;
}

/** What hooks receive as `platform`, and SvelteKit as `event.platform`. */
export interface Platform {
  /**
   * Sends `{"topic","event","data"}` to every subscriber of `topic` (the sender included).
   * `data` is serialized once with `JSON.stringify`; `undefined` becomes `null`.
   * Returns true if the topic had subscribers.
   */
  publish(topic: string, event: string, data?: unknown, options?: { relay?: boolean }): boolean;
  /** Sends one envelope to one socket. Returns the `ws.send` status; 2 if it is closed. */
  send(ws: ServerWebSocket, topic: string, event: string, data?: unknown): SendStatus;
  /** Sends one envelope to every socket whose user data passes `filter`; returns the count. */
  sendTo(filter: (userData: any) => boolean, topic: string, event: string, data?: unknown): number;
  /** Subscribers of `topic` in this process. */
  subscribers(topic: string): number;
  /** Open WebSockets in this process. */
  readonly connections: number;
  topic(name: string): TopicHelpers;
}

export interface UpgradeContext {
  /** Request headers, lower-case names; repeated headers joined with `, ` (`; ` for cookie). */
  headers: Record<string, string>;
  /** Parsed `cookie` header (an object without prototype). */
  cookies: Record<string, string>;
  /** Path and query string of the upgrade request. */
  url: string;
  /** The peer's IP address. */
  remoteAddress: string;
}

/** The hooks of `hooks.ws.js`. All optional. */
export interface WebSocketHooks<UserData = any> {
  /**
   * Decides who connects. Return user data (any value; falsy becomes `{}`), or `false` for
   * 401. A throw or rejection answers 500; no answer within `upgradeTimeout` answers 504.
   */
  upgrade?(ctx: UpgradeContext): UserData | false | Promise<UserData | false>;
  open?(ws: ServerWebSocket<UserData>, ctx: { platform: Platform }): void;
  /** Every message that is not a subscribe/unsubscribe control frame. */
  message?(
    ws: ServerWebSocket<UserData>,
    ctx: { data: ArrayBuffer; isBinary: boolean; platform: Platform },
  ): void;
  /** After the socket closed. `message` is the close reason (UTF-8). */
  close?(
    ws: ServerWebSocket<UserData>,
    ctx: { code: number; message: ArrayBuffer; platform: Platform },
  ): void;
  /** A socket that reported backpressure (or drops) has emptied its queue. */
  drain?(ws: ServerWebSocket<UserData>, ctx: { platform: Platform }): void;
  /**
   * A client asks to subscribe to a topic the server has not granted it. Return `false`
   * (or reject) to refuse. Never asked for topics starting with `__`.
   */
  subscribe?(
    ws: ServerWebSocket<UserData>,
    topic: string,
    ctx: { platform: Platform },
  ): boolean | void | Promise<boolean | void>;
}

export interface WebSocketOptions {
  /** @default '/ws' */
  path?: string;
  /** Largest inbound message in bytes; larger closes the socket with 1009. @default 16384 */
  maxPayloadLength?: number;
  /** Seconds of inbound silence before the socket is closed (0 disables). @default 120 */
  idleTimeout?: number;
  /** Ping a silent socket before the idle timeout closes it. @default true */
  sendPingsAutomatically?: boolean;
  /** Bytes queued per socket before sends are dropped. @default 1048576 */
  maxBackpressure?: number;
  /** Close a socket over `maxBackpressure` (close code 1008) instead of dropping. @default false */
  closeOnBackpressureLimit?: boolean;
  /** Open WebSockets (plus upgrades in progress) above which upgrades get 503. @default 100000 */
  maxConnections?: number;
  /** Seconds the `upgrade` hook may take before the client gets 504 (0 disables). @default 10 */
  upgradeTimeout?: number;
  /** Origins allowed to open a WebSocket. @default 'same-origin' */
  allowedOrigins?: 'same-origin' | '*' | string[];
}

export interface ServeOptions {
  /** @default 3000 (0 picks a free port) */
  port?: number;
  /** @default '0.0.0.0' */
  host?: string;
  /** The hooks module (`import * as hooks from './hooks.ws.js'`) or a path/URL to import. */
  hooks?: WebSocketHooks | string | URL;
  /**
   * The client's address for a WebSocket (`ctx.remoteAddress` in `upgrade`,
   * `ws.getRemoteAddressAsText()`), from the upgrade's lowercase headers and the socket's
   * address. The adapter sets it from ADDRESS_HEADER / XFF_DEPTH. If it throws (the header
   * is missing), the socket's address is used and a warning is logged once.
   */
  clientAddress?: (headers: Record<string, string>, socketAddress: string) => string;
  /** HTTP requests that are not WebSocket upgrades. Without it, they get 404. */
  fetch?: (
    request: Request,
    ctx: { platform: Platform; getClientAddress(): string },
  ) => Response | Promise<Response>;
  /** WebSocket options, or `false` for no WebSocket endpoint (the path is plain HTTP). */
  websocket?: WebSocketOptions | false;
  /**
   * Development checks (the Vite plugin sets it under `vite dev`): warns about replies
   * larger than `maxPayloadLength`. @default false
   */
  dev?: boolean;
  /** I/O threads (0 = one per core but one, at least one: the other core is the JavaScript thread's): that many tokio workers and that many WebSocket engine threads. @default 0 */
  workers?: number;
  /**
   * Where the WebSockets are read, decoded and written. `'inline'`: on the JavaScript
   * thread, inside Node's event loop, as uWebSockets.js does (no thread hop per message; a
   * hook that blocks the thread holds the sockets too); `'threads'`: on `workers` engine
   * threads, beside the JavaScript thread. `'auto'` is inline on machines with at most 2
   * cores when `workers` is not set, threads otherwise. `'inline'` needs a Unix system.
   * @default 'auto'
   */
  engine?: 'auto' | 'inline' | 'threads';
  /** Largest HTTP request body in bytes (413 above); `Infinity` disables. @default 524288 */
  bodySizeLimit?: number;
  /** Seconds a client may take to send a request head. @default 10 */
  headerReadTimeout?: number;
  /**
   * Longest silence, in seconds, between two reads of a request body for `fetch`; past it
   * the server answers 408 and closes the connection (0 disables). @default 10
   */
  bodyReadTimeout?: number;
  /**
   * Seconds to receive a whole request body however steadily it trickles (Node's
   * `requestTimeout`); past it, 408 and close (0 disables). @default 300
   */
  requestTimeout?: number;
  /**
   * Seconds `close()` takes at most: handlers in flight finish and send their replies, then
   * sockets close with 1001 while HTTP requests in flight finish. @default 30
   */
  shutdownTimeout?: number;
  /** Answered `200 OK` by the server itself; `false` disables. @default '/healthz' */
  healthCheckPath?: string | false;
  /** Close gracefully on SIGTERM/SIGINT. @default true */
  signals?: boolean;
  /**
   * The app's origin (the adapter's `ORIGIN`): used to build `Request` URLs (else `http://`
   * + the Host header), and, with `allowedOrigins: 'same-origin'`, the one origin allowed
   * to open a WebSocket (behind a TLS proxy the Host and scheme seen here differ from it).
   */
  origin?: string;
  /** Proxy header with the original scheme, for the same-origin check. */
  protocolHeader?: string;
  /** Proxy header with the original host, for the same-origin check. */
  hostHeader?: string;
  /** Proxy header with the original port, for the same-origin check. */
  portHeader?: string;
  /** Bytes of inbound messages waiting for hooks before sockets stop being read. @default 67108864 */
  inboundQueueBytes?: number;
  /**
   * Directories served by Rust before `fetch` is asked: ETag/304, immutable caching under
   * `immutablePrefix`, precompressed `.br`/`.gz`, HEAD; prerendered dirs answer `x` for
   * `x.html` and `x/` for `x/index.html`.
   */
  staticFiles?: { dirs: Array<{ path: string; base?: string; prerendered?: boolean }>; immutablePrefix?: string };
  /** Where runtime logs go. @default console */
  log?: Pick<Console, 'info' | 'warn' | 'error'>;
  /**
   * JavaScript on several threads: `count` runners in all (this thread and `count - 1`
   * worker threads running `module`, which calls `serve({ attach: true, ... })` with the
   * same hooks). Resolves once every worker serves. @default { count: 1 }
   */
  jsWorkers?: { count: number; module: string | URL; workerData?: Record<string, unknown> };
  /**
   * In a worker thread started by `spawnWorkers` / `jsWorkers`: `true` attaches to the main
   * thread's server instead of starting one (network options are the main thread's).
   */
  attach?: true | { key: number; index: number };
}

/** The worker threads of a server (`RealtimeServer.spawnWorkers`). */
export interface WorkerSet {
  /** Worker threads running now (the main thread not counted). */
  readonly size: number;
  /** Resolves once every worker serves (again, after a restart); rejects after `timeoutMs` if given. */
  ready(timeoutMs?: number): Promise<void>;
  /** The worker threads (`node:worker_threads` Worker objects). */
  workers(): Array<{ threadId: number; terminate(): Promise<number> }>;
  /** No more restarts; resolves once every worker exited. */
  stop(graceMs?: number): Promise<void>;
}

export declare class RealtimeServer {
  private constructor();
  readonly platform: Platform;
  readonly port: number;
  readonly address: string;
  /** Where the WebSockets run, `engine` resolved: `'inline'` or `'threads'`. */
  readonly engine: 'inline' | 'threads';
  /** `http://host:port`, with `localhost` for wildcard addresses. */
  readonly url: string;
  /** Open WebSockets (every runner's when worker threads share the server). */
  readonly connections: number;
  /** This runner: 0 on the main thread, 1.. in a worker thread. */
  readonly worker: number;
  /** Whether worker threads share this server. */
  readonly sharing: boolean;
  /**
   * Starts worker threads running `module` on this server, `count` runners in all (this
   * thread included). Each new WebSocket (at upgrade) and HTTP request goes to the least
   * busy runner and stays there; a crashed worker's sockets close with 1011 and it restarts
   * (100 ms doubling to 5 s).
   */
  spawnWorkers(module: string | URL, count: number, options?: { workerData?: Record<string, unknown> }): WorkerSet;
  /** Counters for monitoring. */
  stats(): {
    connections: number;
    topics: number;
    /** Bytes of inbound messages waiting for hooks. */
    inboundQueueBytes: number;
    /** Messages dropped for backpressure since start. */
    droppedMessages: number;
  };
  /** Graceful shutdown; idempotent (every call returns the same promise). */
  close(): Promise<void>;
}

/** Starts the server; resolves once it listens. */
export declare function serve(options?: ServeOptions): Promise<RealtimeServer>;

/** In a worker thread started by `spawnWorkers`: its `{ key, index }`, else null. */
export declare function workerAttachment(): { key: number; index: number } | null;

export declare const DEFAULTS: Readonly<{
  host: string;
  port: number;
  workers: number;
  shutdownTimeout: number;
  headerReadTimeout: number;
  bodyReadTimeout: number;
  requestTimeout: number;
  bodySizeLimit: number;
  healthCheckPath: string;
  signals: boolean;
  websocket: Readonly<Required<WebSocketOptions>>;
}>;
