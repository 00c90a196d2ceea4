import type { Platform } from '../runtime/index.js';

export interface PgOptions {
  /** `postgres://user:password@host:port/db` or `key=value` pairs. @default process.env.DATABASE_URL */
  connectionString?: string;
}

export interface PgField {
  name: string;
  /** The column type's OID. */
  dataTypeID: number;
}

export interface PgQueryResult<Row = Record<string, any>> {
  rows: Row[];
  /** Rows returned, or affected by INSERT / UPDATE / DELETE. */
  rowCount: number;
  fields: PgField[];
}

/** Thrown by `query`: `code` is the SQLSTATE (e.g. `'23505'`) for errors from the server. */
export interface PgError extends Error {
  code?: string;
  query: string;
}

export interface PgClient {
  /**
   * Runs one statement with `$1`-style parameters (Date as ISO, objects as JSON, arrays as
   * Postgres arrays, Buffers as bytea). Without parameters the text may hold several
   * statements. Timestamps come back as `Date`, bigint / numeric as strings, json parsed.
   */
  query<Row = Record<string, any>>(text: string, params?: unknown[]): Promise<PgQueryResult<Row>>;
  /** Closes the connection; a later query opens a new one. */
  end(): void;
}

/** A PostgreSQL connection, opened on first use and reopened after a loss. */
export declare function createPgClient(options?: PgOptions): PgClient;

export interface NotifyMessage {
  topic: string;
  event: string;
  data?: unknown;
}

export interface NotifyBridgeOptions {
  /** The NOTIFY channel to LISTEN on. */
  channel: string;
  /**
   * Turns a payload into a publish, or null to skip it.
   * @default JSON `{topic, event, data}`, parsed in Rust
   */
  parse?: (payload: string, channel: string) => NotifyMessage | null | undefined;
  /** Reconnect after a lost connection. @default true */
  autoReconnect?: boolean;
  /** Wait between reconnect attempts, ms. @default 3000 */
  reconnectInterval?: number;
}

export interface NotifyStats {
  /** Notifications that arrived on the channel. */
  received: number;
  /** Of those, skipped as malformed (or refused by `parse`). */
  dropped: number;
  /** Connections opened: the first and each reconnect. */
  connects: number;
  /** Whether LISTEN is in effect right now. */
  listening: boolean;
}

export interface NotifyBridge {
  readonly channel: string;
  /** Starts listening on this server; later calls are no-ops. Call it from `open`. */
  activate(platform: Platform): void;
  /** Stops listening and closes the dedicated connection. */
  deactivate(): void;
  /** Counters, or null while not active. */
  stats(): NotifyStats | null;
}

/** Publishes each NOTIFY on `channel` to this instance's subscribers (never relayed). */
export declare function createNotifyBridge(pg: PgClient, options: NotifyBridgeOptions): NotifyBridge;
