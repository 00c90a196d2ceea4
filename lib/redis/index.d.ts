import type { Platform } from '../runtime/index.js';

export interface RedisOptions {
  /** `redis://[user:password@]host:port[/db]`. @default process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' */
  url?: string;
  /** Prefix of every key the helpers write (not of the bus channel). @default '' */
  keyPrefix?: string;
}

export interface RedisClient {
  readonly url: string;
  readonly keyPrefix: string;
  /** Runs one command; replies come as JSON values (bulk strings as text). */
  command(name: string, ...args: Array<string | number | Uint8Array>): Promise<unknown>;
}

/** A Redis connection for the helpers below; connects on first use. */
export declare function createRedis(options?: RedisOptions): RedisClient;

export interface PubSubBusOptions {
  /** Prefix of the per-topic Redis channels. @default 'uws:pubsub' */
  channel?: string;
}

export interface BusStats {
  /** This instance's id on the bus (16 hex digits). */
  instance: string;
  published: number;
  /** Pipelines those publishes went in (Redis round trips). */
  pipelines: number;
  /** Publishes not sent (Redis down, queue full). */
  publishFailed: number;
  /** Messages from other instances delivered here. */
  received: number;
  /** Messages refused as foreign, malformed or oversized. */
  dropped: number;
  /** Times the connection to Redis was lost. */
  outages: number;
}

export interface PubSubBus {
  readonly channel: string;
  /** Attaches the bus to this server (idempotent). Call it from `open`. */
  activate(platform: Platform): void;
  /** Attaches the bus and returns the same platform: `createMessage({ platform: (p) => bus.wrap(p) })`. */
  wrap<P extends Platform>(platform: P): P;
  /** The bus counters of this server, or null before it is attached. */
  stats(platform: Platform): BusStats | null;
}

/** Delivers every publish to the subscribers of every instance on the same Redis and channel. */
export declare function createPubSubBus(redis: RedisClient, options?: PubSubBusOptions): PubSubBus;

export interface RateLimitOptions {
  /** Points per window. */
  points: number;
  /** Window length in ms (fixed window). */
  interval: number;
  /** Ban length in ms once a window is exhausted. @default 0 (no ban) */
  blockDuration?: number;
  /** @default 'ip' */
  keyBy?: 'ip' | 'connection' | ((ws: any) => string);
}

export interface RateLimitResult {
  allowed: boolean;
  remaining: number;
  /** Milliseconds until the window refills, or the ban ends. */
  resetMs: number;
}

export interface RateLimiter {
  consume(ws: any, cost?: number): Promise<RateLimitResult>;
  reset(key: string): Promise<void>;
  ban(key: string, duration?: number): Promise<void>;
  unban(key: string): Promise<void>;
  /** Deletes every rate-limit key under the client's prefix; resolves to how many. */
  clear(): Promise<number>;
  /** The key `consume(ws)` uses for this socket. */
  keyOf(ws: any): string;
}

/** One budget across every instance: an atomic Lua script per `consume`, with Redis time. */
export declare function createRateLimit(redis: RedisClient, options: RateLimitOptions): RateLimiter;
