// Types of `svelte-realtime/server` (also the package root).

import type { Platform, ServerWebSocket, UpgradeContext, WebSocketHooks } from '../runtime/index.js';

/** `UpgradeContext` types the argument of `upgrade` in `hooks.ws.ts`: `export function upgrade({ cookies }: UpgradeContext)`. */
export type { Platform, ServerWebSocket, UpgradeContext, WebSocketHooks };

/** What every live function receives first. */
export interface LiveContext<UserData = any> {
  /** What the `upgrade` hook returned (`null` during SSR `.load` without `user`). */
  user: UserData;
  /** The connection (`null` during SSR `.load`). */
  ws: ServerWebSocket<UserData> | null;
  platform: Platform;
  /** `platform.publish`. */
  publish(topic: string, event: string, data?: unknown): boolean;
  /** The cursor of a `loadMore()` request, else `null`. */
  cursor: unknown;
  /** Publishes at once, then at most once per `ms` (last value wins), per connection. */
  throttle(topic: string, event: string, data: unknown, ms: number): void;
  /** Publishes after `ms` of silence (last value wins), per connection. */
  debounce(topic: string, event: string, data: unknown, ms: number): void;
  /** Point-to-point: publishes on `__signal:<userId>`. */
  signal(userId: string | number, event: string, data?: unknown): void;
  [extra: string]: unknown;
}

export type MergeStrategy = 'crud' | 'latest' | 'set' | 'presence' | 'cursor';

export interface StreamOptions<Ctx = LiveContext> {
  /** @default 'crud' (channels: 'set') */
  merge?: MergeStrategy;
  /** Key field for `crud`. @default 'id' */
  key?: string;
  /** Insert new `crud` items at the front. @default false */
  prepend?: boolean;
  /** Items kept by `latest`. @default 50 (client side) */
  max?: number;
  /** Seq-based replay on reconnect (needs `platform.replay`). @default false */
  replay?: boolean | { size?: number };
  /** After the server-side subscribe, before the initial data. Errors are logged. */
  onSubscribe?(ctx: Ctx, topic: string): unknown;
  /** When the socket closes (export `close` from `hooks.ws.js`). */
  onUnsubscribe?(ctx: Ctx, topic: string): unknown;
  /** Subscribe-time check; false answers FORBIDDEN. */
  access?(ctx: Ctx): boolean | Promise<boolean>;
  /** Alias of `access`. */
  filter?(ctx: Ctx): boolean | Promise<boolean>;
  /** Delta sync on reconnect. */
  delta?: { version(): unknown; diff(since: unknown): unknown[] | null | Promise<unknown[] | null> };
  /** Schema version of the data. */
  version?: number;
  /** `migrate[v]` turns a v item into a v+1 item. */
  migrate?: Record<number, (item: any) => any>;
}

export interface Page<T> {
  data: T;
  hasMore: boolean;
  cursor?: unknown;
}

// `Args extends any[]`, not `unknown[]`: a JavaScript module's unannotated parameters
// (`live(async (ctx, text) => ...)`) are then `any`, as a JS author expects, while
// annotated TypeScript parameters keep their exact types.
type Init<Args extends any[], T> = (ctx: LiveContext, ...args: Args) => T | Promise<T>;

/** A stream export. Calling it runs the init; `.load` is for SSR. */
export interface LiveStream<Args extends any[] = any[], T = unknown> {
  (ctx: LiveContext, ...args: Args): T | Promise<T>;
  /** SSR: runs middleware, the module guard, gate, access and init; no subscription. */
  load(platform: Platform, options?: { args?: Args; user?: unknown }): Promise<T>;
}

export type LiveFunction<Args extends any[] = any[], R = unknown> = (
  ctx: LiveContext,
  ...args: Args
) => R | Promise<R>;

export interface Live {
  /** Marks `fn(ctx, ...args)` as callable from the client. */
  <Args extends any[], R>(fn: (ctx: LiveContext, ...args: Args) => R | Promise<R>): LiveFunction<Args, R>;
  /** Initial data from `init`, then live events on `topic`. */
  stream<Args extends any[], T>(
    topic: string | ((ctx: LiveContext, ...args: Args) => string),
    init: Init<Args, T>,
    options?: StreamOptions,
  ): LiveStream<Args, T>;
  /** An ephemeral topic with no initial data (merge `set` by default). */
  channel<Args extends any[]>(
    topic: string | ((ctx: LiveContext, ...args: Args) => string),
    options?: Pick<StreamOptions, 'merge' | 'key' | 'max' | 'access' | 'filter' | 'onSubscribe' | 'onUnsubscribe'>,
  ): LiveStream<Args, unknown>;
  /** `fn(ctx, payload, ...args)` for binary frames; payloads over `maxSize` are refused. */
  binary<Args extends any[], R>(
    fn: (ctx: LiveContext, payload: ArrayBuffer, ...args: Args) => R | Promise<R>,
    options?: { /** @default 10485760 */ maxSize?: number },
  ): LiveFunction<[ArrayBuffer, ...Args], R>;
  /** Validates the first argument (Standard Schema, Zod or Valibot) before `fn` runs. */
  validated<Input, Args extends any[], R>(
    schema: unknown,
    fn: (ctx: LiveContext, input: Input, ...args: Args) => R | Promise<R>,
  ): LiveFunction<[unknown, ...Args], R>;
  /**
   * Runs `fn` on a 5-field cron schedule (standard semantics, local time) and publishes its
   * result as a `set` event on `topic`.
   */
  cron<R>(schedule: string, topic: string, fn: () => R | Promise<R>): () => Promise<R>;
  /** A sliding-window limit per caller (user id, else connection) around `fn`. */
  rateLimit<F extends LiveFunction>(config: { points: number; window: number; key?(ctx: LiveContext): string | Promise<string> }, fn: F): F;
  /** A stream recomputed when a source topic publishes; topic `__derived:<module>/<export>`. */
  derived<T>(sources: string | string[], fn: (ctx?: LiveContext, ...args: any[]) => T | Promise<T>, options?: { /** @default 'set' */ merge?: MergeStrategy; /** @default 0 */ debounce?: number }): LiveStream<any[], T>;
  /** A side effect of publishes on source topics; not callable by clients. */
  effect(sources: string | string[], fn: (event: string, data: any, platform: Platform) => unknown, options?: { debounce?: number }): unknown;
  /** Incremental reducers over a source topic, published as `set` on `options.topic`. */
  aggregate(
    source: string | string[],
    reducers: Record<string, { init(): unknown; reduce(acc: any, event: string, data: any): unknown } | { compute(state: Record<string, any>): unknown }>,
    options: { topic: string; debounce?: number },
  ): LiveStream<[], Record<string, unknown>>;
  /** Data, presence, cursors and scoped actions under one export. */
  room(config: {
    topic: string | ((ctx: LiveContext, ...args: any[]) => string);
    init?(ctx: LiveContext, ...args: any[]): unknown;
    presence?(ctx: LiveContext): unknown;
    cursors?: boolean;
    guard?(ctx: LiveContext, ...args: any[]): unknown;
    onJoin?(ctx: LiveContext, ...args: any[]): unknown;
    onLeave?(ctx: LiveContext): unknown;
    actions?: Record<string, (ctx: LiveContext & { publish(event: string, data?: unknown): boolean }, ...args: any[]) => unknown>;
    /** @default 'crud' */
    merge?: MergeStrategy;
    /** @default 'id' */
    key?: string;
  }): unknown;
  /** HTTP webhook → publish. */
  webhook(
    topic: string,
    config: {
      verify?(input: { body: unknown; headers: Record<string, string> }): unknown;
      transform?(event: any): { event: string; data?: unknown } | null | undefined | Promise<{ event: string; data?: unknown } | null | undefined>;
    },
  ): { handle(input: { body: unknown; headers: Record<string, string>; platform?: Platform }): Promise<{ status: number; body: string }> };
  /** Global middleware, before module guards, in registration order. */
  middleware(fn: (ctx: LiveContext, next: () => Promise<unknown>) => unknown): void;
  /** Serves the stream only when `predicate` holds, else `{ data: null, gated: true }`. */
  gate<S extends LiveStream>(predicate: (ctx: LiveContext, ...args: any[]) => boolean | Promise<boolean>, stream: S): S;
  access: {
    owner(field?: string): (ctx: LiveContext) => boolean;
    team(): (ctx: LiveContext) => boolean;
    role(map: Record<string, true | false | ((ctx: LiveContext) => boolean)>): (ctx: LiveContext) => boolean;
    /** OR: a boolean when every predicate is synchronous, else a boolean or a promise of one. */
    any(...predicates: Array<(ctx: LiveContext) => boolean>): (ctx: LiveContext) => boolean;
    any(...predicates: Array<(ctx: LiveContext) => boolean | Promise<boolean>>): (ctx: LiveContext) => boolean | Promise<boolean>;
    /** AND: a boolean when every predicate is synchronous, else a boolean or a promise of one. */
    all(...predicates: Array<(ctx: LiveContext) => boolean>): (ctx: LiveContext) => boolean;
    all(...predicates: Array<(ctx: LiveContext) => boolean | Promise<boolean>>): (ctx: LiveContext) => boolean | Promise<boolean>;
  };
}

export declare const live: Live;

/** Per-module auth: `export const _guard = guard(...fns)`. */
export declare function guard(...fns: Array<(ctx: LiveContext) => unknown>): (ctx: LiveContext) => Promise<void>;

/** An expected error: code, message and issues reach the client. */
export declare class LiveError extends Error {
  constructor(code: string, message?: string, extra?: { issues?: Array<{ path: Array<string | number>; message: string }> });
  code: string;
  issues?: Array<{ path: Array<string | number>; message: string }>;
}

export interface MessageOptions {
  /** Transforms the platform (once per platform object), e.g. a Redis bus wrapper. */
  platform?(platform: Platform): Platform;
  /** After guards, before the function; throw a LiveError to refuse. */
  beforeExecute?(ws: ServerWebSocket, path: string, args: unknown[]): unknown;
  /** Unexpected (non-LiveError) errors; the client gets INTERNAL_ERROR. */
  onError?(path: string, error: unknown, ctx: LiveContext): void;
  /** Messages that are not RPCs. */
  onUnhandled?(ws: ServerWebSocket, data: ArrayBuffer, platform: Platform): void;
}

type MessageHook = (ws: ServerWebSocket, ctx: { data: ArrayBuffer; isBinary?: boolean; platform: Platform }) => void;

/** Returns true when `data` was an RPC (answered asynchronously on `__rpc`). */
export declare function handleRpc(
  ws: ServerWebSocket,
  data: ArrayBuffer | ArrayBufferView | string,
  platform: Platform,
  options?: Omit<MessageOptions, 'platform' | 'onUnhandled'>,
): boolean;
export declare function createMessage(options?: MessageOptions): MessageHook;
/** Ready-made `message` hook. */
export declare const message: MessageHook;
/** Ready-made `close` hook: fires `onUnsubscribe`. */
export declare function close(ws: ServerWebSocket, ctx: { platform: Platform }): void;
/** Subscribes `ws` to `__signal:<userData[idField]>`. */
export declare function enableSignals(ws: ServerWebSocket, options?: { /** @default 'id' */ idField?: string }): void;
/** Registers a module's exports (or a lazy loader) under `name`, e.g. `chat` or `rooms/lobby`. */
export declare function registerModule(name: string, exportsOrLoader: object | (() => Promise<object>)): void;

export declare class Registry {
  registerModule(name: string, exports: object): void;
  registerLazy(name: string, loader: () => Promise<object>): void;
  resolve(path: string): Promise<Function | undefined>;
  clear(): void;
}
export declare const defaultRegistry: Registry;

/** The platform cron jobs publish with (otherwise captured from the first RPC). */
export declare function setCronPlatform(platform: Platform): void;
/** Receives failing cron jobs as `(path, error)`. */
export declare function onCronError(handler: (path: string, error: unknown) => void): void;

export interface PipeTransform {
  transformInit(data: unknown, ctx: LiveContext): unknown;
}
/** Transforms of a stream's initial data. */
export declare const pipe: {
  <S extends LiveStream>(stream: S, ...transforms: PipeTransform[]): S;
  filter(predicate: (ctx: LiveContext, item: any) => boolean | Promise<boolean>): PipeTransform;
  sort(field: string, direction?: 'asc' | 'desc'): PipeTransform;
  limit(n: number): PipeTransform;
  join(field: string, resolver: (value: any, ctx: LiveContext) => unknown, as: string): PipeTransform;
};
/** Makes publishes through `platform` trigger derived streams, effects and aggregates. */
export declare function _activateDerived(platform: Platform): void;
