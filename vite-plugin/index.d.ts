// Types of `svelte-realtime/vite`.
import type { Plugin } from 'vite';

export interface RealtimeOptions {
  /** Directory of live modules. @default 'src/live' */
  dir?: string;
  /** Write `src/live/$types.d.ts` so `$live/...` imports are typed. @default true */
  typedImports?: boolean;
  /** Inject the DevTools overlay (Ctrl+Shift+L) in `vite dev`. @default true */
  devtools?: boolean;
  /** WebSocket options for `vite dev` (path and limits, as in the adapter). */
  websocket?: { path?: string; maxPayloadLength?: number; idleTimeout?: number; maxBackpressure?: number; upgradeTimeout?: number };
}

export default function realtime(options?: RealtimeOptions): Plugin[];
export { realtime };
