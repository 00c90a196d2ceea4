// `svelte-realtime/server` (also the package root): define live functions and streams, and
// wire them into the WebSocket hooks.
export { live, guard } from './live.js';
export { pipe } from './pipe.js';
export { activate as _activateDerived } from './reactive.js';
export { LiveError } from './errors.js';
export { handleRpc, createMessage, message } from './rpc.js';
export { close } from './stream.js';
export { enableSignals } from './ctx.js';
export { setCronPlatform, onCronError } from './cron.js';
export { Registry, defaultRegistry } from './registry.js';

import { defaultRegistry } from './registry.js';

/**
 * Registers a module's live exports under `name` (what the Vite plugin's generated registry
 * does for each file in `src/live/`). Pass a loader function instead of the exports to
 * import the module on first use.
 */
export function registerModule(name, exportsOrLoader) {
  if (typeof exportsOrLoader === 'function') defaultRegistry.registerLazy(name, exportsOrLoader);
  else defaultRegistry.registerModule(name, exportsOrLoader);
}

import { live } from './live.js';
import { room } from './room.js';

/** Data, presence, cursors and scoped actions under one export. */
live.room = room;
