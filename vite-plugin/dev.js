// `vite dev`: the native runtime on a private loopback port, reached through Vite's own
// port. Upgrade requests for the WebSocket path are piped byte for byte to the runtime, so
// dev goes through the same Rust dispatch, limits, origin check and hooks as production.
// Hooks come from `src/hooks.ws.js` through Vite's SSR loader ($lib, $env work); live
// modules are loaded the same way and re-registered on change. A module that fails to load
// (a syntax error) leaves the previous handlers in place.

import net from 'node:net';
import { defaultRegistry } from '../lib/server/index.js';

const HOOKS = ['upgrade', 'open', 'message', 'close', 'drain', 'subscribe'];

/** The raw request line and headers of an upgrade, to replay to the runtime. */
function rawHead(req) {
  const lines = [`${req.method} ${req.url} HTTP/1.1`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * @param {import('vite').ViteDevServer} server
 * @param {{ path: string, websocket: object, hooksFile: () => string | undefined, registryId: string, liveDir: () => string }} options
 */
export function devRuntime(server, { path, websocket, hooksFile, registryId }) {
  let runtime = null;
  let current = {};
  let starting = null;
  const log = server.config.logger;

  async function loadHooks() {
    const file = hooksFile();
    if (!file) return {};
    const module = await server.ssrLoadModule(file);
    return Object.fromEntries(HOOKS.filter((h) => typeof module[h] === 'function').map((h) => [h, module[h]]));
  }

  async function loadLive() {
    const registry = await server.ssrLoadModule(registryId);
    return registry.loadAll();
  }

  /**
   * Re-imports live modules and swaps the registrations only if all of them load. Vite has
   * already invalidated the changed file; the registry module is invalidated too, so added
   * and removed files count. Other modules ($lib state, database pools) stay as they are.
   */
  async function reload() {
    for (const mod of server.moduleGraph.idToModuleMap.values()) {
      if (mod.id?.includes(registryId)) server.moduleGraph.invalidateModule(mod);
    }
    let modules;
    try {
      modules = await loadLive();
    } catch (error) {
      log.error(`[svelte-realtime] a live module failed to load; the previous handlers stay active:\n${error?.stack ?? error}`);
      return;
    }
    const middleware = defaultRegistry.middleware.slice();
    defaultRegistry.clear();
    defaultRegistry.middleware.push(...middleware);
    for (const [name, exports] of Object.entries(modules)) defaultRegistry.registerModule(name, exports);
    try {
      const next = await loadHooks();
      const added = Object.keys(next).filter((h) => !current[h] && ['upgrade', 'subscribe', 'drain'].includes(h));
      if (added.length) log.warn(`[svelte-realtime] restart vite to use the new ${added.join(', ')} hook`);
      current = next;
    } catch (error) {
      log.error(`[svelte-realtime] src/hooks.ws failed to load; keeping the previous hooks:\n${error?.stack ?? error}`);
    }
  }

  async function start() {
    if (starting) return starting;
    starting = (async () => {
      const { serve } = await import('../lib/runtime/index.js');
      current = await loadHooks().catch((error) => {
        log.error(`[svelte-realtime] src/hooks.ws failed to load:\n${error?.stack ?? error}`);
        return {};
      });
      await reload();
      // Delegate to whatever hooks are current, so edits apply without a restart.
      const hooks = {};
      for (const name of HOOKS) {
        if (current[name]) hooks[name] = (...args) => current[name]?.(...args);
      }
      const { path: _path, ...limits } = websocket;
      runtime = await serve({
        host: '127.0.0.1',
        port: 0,
        signals: false,
        dev: true,
        hooks,
        websocket: { ...limits, path },
        log: { info: (m) => log.info(m), warn: (m) => log.warn(m), error: (...a) => log.error(a.map(String).join(' ')) },
      });
      globalThis.__svelteRealtimeDev = { platform: runtime.platform, port: runtime.port };
      server.httpServer.on('upgrade', (req, socket, head) => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        if (url.pathname !== path) return;
        const upstream = net.connect(runtime.port, '127.0.0.1', () => {
          upstream.write(rawHead(req));
          if (head?.length) upstream.write(head);
          socket.pipe(upstream).pipe(socket);
        });
        const end = () => {
          socket.destroy();
          upstream.destroy();
        };
        upstream.on('error', end);
        socket.on('error', end);
      });
      log.info(`  ➜  svelte-realtime: WebSocket on ${path} (native runtime)`, { timestamp: true });
    })();
    return starting;
  }

  return {
    start: () => start().catch((error) => log.error(`[svelte-realtime] dev runtime failed: ${error?.stack ?? error}`)),
    reload: () => (runtime ? reload() : undefined),
    stop: () => runtime?.close(),
  };
}
