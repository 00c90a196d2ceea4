// Types of `svelte-realtime/client`.

export interface Readable<T> {
  subscribe(run: (value: T) => void): () => void;
}

/** A failed call or stream: `code` is the server's error code or TIMEOUT, DISCONNECTED, ... */
export declare class RpcError extends Error {
  constructor(code: string, message: string, issues?: Array<{ path: Array<string | number>; message: string }>);
  code: string;
  issues?: Array<{ path: Array<string | number>; message: string }>;
}

/** `'connecting' | 'open' | 'closed'`. */
export declare const status: Readable<'connecting' | 'open' | 'closed'>;

export interface ConnectionOptions {
  /** @default '/ws' */
  path?: string;
  /** Full socket URL instead of `ws(s)://<page host><path>`. */
  url?: string;
  /** @default 3000 */
  reconnectInterval?: number;
  /** @default 30000 */
  maxReconnectInterval?: number;
  /** @default Infinity */
  maxReconnectAttempts?: number;
}

export interface OfflineCall {
  path: string;
  args: unknown[];
  queuedAt: number;
}

export interface ClientConfig extends ConnectionOptions {
  /** The socket reopened after a drop. */
  onConnect?(): void;
  /** The socket closed. */
  onDisconnect?(): void;
  /** Before each reconnect attempt. */
  beforeReconnect?(): void | Promise<void>;
  /** ms before a call rejects with TIMEOUT. @default 30000 */
  timeout?: number;
  offline?: {
    queue: boolean;
    /** @default 100 */
    maxQueue?: number;
    /** ms; older queued calls reject with STALE. @default 0 (no limit) */
    maxAge?: number;
    replay?(calls: OfflineCall[]): OfflineCall[] | void;
    beforeReplay?(call: OfflineCall): boolean | void;
    onReplayError?(call: OfflineCall, error: unknown): void;
  };
}

export declare function configure(config: ClientConfig): void;
export declare function connect(options?: ConnectionOptions): void;
export declare function disconnect(): void;
/** Connects now, even if a reconnect attempt is scheduled later. */
export declare function reconnectNow(): void;

/** Sends the calls made in `fn` as one frame (at most 50). */
export declare function batch<T extends readonly unknown[] | []>(
  fn: () => T,
  options?: { sequential?: boolean },
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }>;

export declare function combine<A, B, R>(a: Readable<A>, b: Readable<B>, fn: (a: A, b: B) => R): Readable<R>;
export declare function combine<A, B, C, R>(a: Readable<A>, b: Readable<B>, c: Readable<C>, fn: (a: A, b: B, c: C) => R): Readable<R>;
export declare function combine<A, B, C, D, R>(
  a: Readable<A>, b: Readable<B>, c: Readable<C>, d: Readable<D>, fn: (a: A, b: B, c: C, d: D) => R,
): Readable<R>;
export declare function combine<A, B, C, D, E, R>(
  a: Readable<A>, b: Readable<B>, c: Readable<C>, d: Readable<D>, e: Readable<E>,
  fn: (a: A, b: B, c: C, d: D, e: E) => R,
): Readable<R>;
export declare function combine<A, B, C, D, E, F, R>(
  a: Readable<A>, b: Readable<B>, c: Readable<C>, d: Readable<D>, e: Readable<E>, f: Readable<F>,
  fn: (a: A, b: B, c: C, d: D, e: E, f: F) => R,
): Readable<R>;
export declare function combine(...storesAndFn: unknown[]): Readable<unknown>;

/** Signals for `userId` (sockets the server called `enableSignals` on). */
export declare function onSignal(userId: string | number, callback: (event: string, data: any) => void): () => void;
export declare function onSignal(callback: (event: string, data: any) => void): () => void;

/**
 * What a stream store holds: `undefined` while loading, the data, or `{ error }`. The data
 * side carries an `error?: undefined` so templates narrow the way the docs write them:
 * `{#if $s === undefined}` loading, `{:else if $s?.error}` `{$s.error.message}`, `{:else}`
 * `{#each $s as item (item.id)}`.
 */
export type StreamValue<T> = (T & { error?: undefined }) | undefined | { error: RpcError };

export interface StreamStore<T> extends Readable<StreamValue<T>> {
  readonly hasMore: boolean;
  loadMore(...extraArgs: unknown[]): Promise<boolean>;
  hydrate(data: T | { data: T; hasMore: boolean; cursor?: unknown }): this;
  optimistic(event: string, data: unknown): () => void;
  enableHistory(maxSize?: number): void;
  undo(): void;
  redo(): void;
  readonly canUndo: boolean;
  readonly canRedo: boolean;
  pauseHistory(): void;
  resumeHistory(): void;
  when(condition: boolean | Readable<unknown> | (() => unknown)): Readable<StreamValue<T>>;
}

export interface CallFunction<Args extends unknown[], R> {
  (...args: Args): Promise<R>;
  /** Skips same-microtask deduplication. */
  fresh(...args: Args): Promise<R>;
}

/** @internal used by the generated `$live/...` modules */
export declare function __rpc(path: string): CallFunction<any[], any>;
/** @internal */
export declare function __stream(
  path: string,
  options?: { merge?: string; key?: string; prepend?: boolean; max?: number; version?: number },
  dynamic?: boolean,
): StreamStore<any> | ((...args: any[]) => StreamStore<any>);
/** @internal */
export declare function __binary(path: string): (payload: ArrayBuffer | ArrayBufferView, ...args: any[]) => Promise<any>;
/** @internal */
export declare function __room(
  path: string,
  options?: { presence?: boolean; cursors?: boolean; actions?: string[]; merge?: string; key?: string },
): Record<string, any>;

// ---- types of the generated `$live/<module>` declarations (typedImports) -----------------

type LiveArgs<F> = F extends (ctx: any, ...args: infer A) => any ? A : never;
type LiveResult<F> = F extends (...args: any[]) => infer R ? Awaited<R> : never;
type Unpaged<T> = T extends { data: infer D; hasMore: boolean } ? D : T;

/** A `live()` export as the browser sees it. */
export type LiveCall<F> = CallFunction<LiveArgs<F>, LiveResult<F>>;
/** A `live.binary()` export as the browser sees it. */
export type LiveBinaryCall<F> = F extends (ctx: any, payload: any, ...args: infer A) => infer R
  ? (payload: ArrayBuffer | ArrayBufferView, ...args: A) => Promise<Awaited<R>>
  : never;
/** A static `live.stream()` export: a store. */
export type LiveStreamStore<F> = StreamStore<Unpaged<LiveResult<F>>>;
/** A dynamic `live.stream()` export: a store per arguments. */
export type LiveStreamFactory<F> = (...args: LiveArgs<F>) => StreamStore<Unpaged<LiveResult<F>>>;
/** A `live.room()` export. */
export type LiveRoom<Actions extends readonly string[]> = {
  data(...args: any[]): StreamStore<any>;
  presence(...args: any[]): StreamStore<Array<{ key: string; data: any }>>;
  cursors(...args: any[]): StreamStore<Array<{ key: string; [field: string]: any }>>;
} & { [K in Actions[number]]: (...args: any[]) => Promise<any> };
