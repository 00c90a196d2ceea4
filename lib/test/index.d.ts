// Types of `svelte-realtime/test`.
import type { Platform } from '../runtime/index.js';

export interface TestStream<T = any> {
  /** The initial data merged with every live event since. */
  readonly value: T | undefined;
  /** The LiveError when the subscription failed. */
  readonly error: (Error & { code: string; issues?: unknown[] }) | undefined;
  readonly topic: string | undefined;
  /** Every live event received. */
  readonly events: Array<{ event: string; data: any }>;
  readonly hasMore: boolean;
  /** Resolves with `value` once `predicate(value)` holds. @default timeout 5000 */
  waitFor(predicate: (value: T | undefined) => boolean, timeout?: number): Promise<T>;
}

export interface TestClient {
  call<R = any>(path: string, ...args: unknown[]): Promise<R>;
  subscribe<T = any>(path: string, ...args: unknown[]): TestStream<T>;
  binary<R = any>(path: string, buffer: ArrayBuffer | ArrayBufferView, ...args: unknown[]): Promise<R>;
  /** Ends the connection: subscriptions end, `onUnsubscribe` hooks run. */
  disconnect(): void;
  /** A new connection for the same user (streams are not resubscribed). */
  reconnect(): void;
}

export interface TestEnv {
  register(moduleName: string, exports: object): void;
  connect(userData?: unknown): TestClient;
  /** Clears clients, subscriptions and channel state (not the registry). */
  cleanup(): void;
  platform: Platform;
  tick(): Promise<void>;
}

export declare function createTestEnv(): TestEnv;
