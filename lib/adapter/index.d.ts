// Types of `svelte-realtime/adapter`.
import type { Adapter } from '@sveltejs/kit';
import type { WebSocketOptions } from '../runtime/index.js';

export interface AdapterOptions {
  /** Output directory. @default 'build' */
  out?: string;
  /** Write .br and .gz next to static files. @default true */
  precompress?: boolean;
  /** Prefix of the environment variables (PORT, HOST, ORIGIN, ...). @default '' */
  envPrefix?: string;
  /** Answered `200 OK` by the server; false disables. @default '/healthz' */
  healthCheckPath?: string | false;
  /**
   * WebSocket endpoint options; `false` serves no WebSocket endpoint (the path is plain
   * HTTP) and bundles no `hooks.ws`. @default true
   */
  websocket?: boolean | WebSocketOptions;
}

export default function adapter(options?: AdapterOptions): Adapter;
