// What the adapter and the Vite plugin, configured apart, need to know of each other.
//
// Is the `svelte-realtime/vite` plugin in the Vite config? Without it `$live/` imports fail
// with resolver errors that never name the plugin. The plugin marks itself here when Vite
// creates it; the adapter asks in `vite dev` (when SvelteKit calls `emulate`) and, in a
// `vite build` that fails, when the process exits.

const MARK = Symbol.for('svelte-realtime.vitePlugin');
const WEBSOCKET = Symbol.for('svelte-realtime.adapterWebsocket');

/** The adapter says whether the app serves WebSockets (`adapter({ websocket: false })`). */
export function setWebsocketEnabled(enabled) {
  globalThis[WEBSOCKET] = enabled;
}

/** False only when the adapter was configured with `websocket: false`. */
export function websocketEnabled() {
  return globalThis[WEBSOCKET] !== false;
}

export const MISSING_PLUGIN =
  "svelte-realtime: the Vite plugin is missing, so $live/ imports cannot resolve. Add realtime() from 'svelte-realtime/vite' to your Vite plugins:\n" +
  "  import realtime from 'svelte-realtime/vite';\n" +
  '  export default defineConfig({ plugins: [sveltekit(), realtime()] });';

/** Called by the Vite plugin factory. */
export function markPlugin() {
  globalThis[MARK] = true;
}

export function pluginPresent() {
  return globalThis[MARK] === true;
}

/** True when this process runs the Vite CLI (not svelte-check or another config reader). */
function runningVite() {
  return process.argv.slice(1, 3).some((arg) => /[\\/]vite[\\/]bin[\\/]vite\.js$|[\\/]\.bin[\\/]vite$/.test(arg));
}

let watching = false;

/** At exit of a `vite` process, name the missing plugin if it never showed up. */
export function checkAtExit() {
  if (watching || !runningVite()) return;
  watching = true;
  process.once('exit', (code) => {
    if (code !== 0 && !pluginPresent()) console.error(`\n${MISSING_PLUGIN}\n`);
  });
}
