// `svelte-realtime/vite`: one plugin next to `sveltekit()`.
//
//   import { sveltekit } from '@sveltejs/kit/vite';
//   import realtime from 'svelte-realtime/vite';
//   export default { plugins: [sveltekit(), realtime()] };
//
// It resolves `$live/<module>` to generated modules (browser stubs, or SSR stubs with
// `.load`), builds the server registry and `src/hooks.ws.js` into the SSR output for the
// adapter, serves the WebSocket in `vite dev` on Vite's own port through the native runtime,
// re-registers live modules when they change, writes typings for `$live/*`, and injects the
// DevTools overlay in dev. Made of small sub-plugins, one concern each.

import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { clientStub, registryModule, ssrStub } from './stubs.js';
import { scanLiveModule } from './scan.js';
import { devRuntime } from './dev.js';
import { writeTypes } from './types.js';
import { stripTypes } from './typescript.js';
import { checkLiveImports } from './imports.js';
import { markPlugin, websocketEnabled } from '../lib/adapter/plugin-check.js';

const LIVE_PREFIX = '$live/';
const VIRTUAL_LIVE = '\0svelte-realtime:live:';
export const REGISTRY_ID = 'virtual:svelte-realtime/registry';
export const DEV_REGISTRY_ID = 'virtual:svelte-realtime/dev-registry';
const RESOLVED_REGISTRY = `\0${REGISTRY_ID}`;
const RESOLVED_DEV_REGISTRY = `\0${DEV_REGISTRY_ID}`;
const EXTENSIONS = ['.js', '.ts', '.mjs'];

/**
 * @param {{
 *   dir?: string,
 *   typedImports?: boolean,
 *   devtools?: boolean,
 *   websocket?: { path?: string } & Record<string, unknown>,
 * }} [options]
 */
export default function realtime(options = {}) {
  const state = {
    root: process.cwd(),
    dir: options.dir ?? 'src/live',
    typedImports: options.typedImports ?? true,
    devtools: options.devtools ?? true,
    websocket: options.websocket ?? {},
    command: 'build',
    logger: console,
  };
  const liveDir = () => resolve(state.root, state.dir);

  /** Whether `file` (symlinks followed) lies inside the live directory. */
  function insideLiveDir(file) {
    let dir;
    let real;
    try {
      dir = realpathSync(liveDir());
      real = realpathSync(file);
    } catch {
      return false;
    }
    const rel = relative(dir, real);
    return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
  }

  /**
   * Absolute file of a live module name, or undefined. A name that leaves the live
   * directory (`../secret`, an absolute path, a symlink pointing out) throws: its code must
   * never be generated into a client or SSR stub.
   */
  function fileOf(name) {
    const escapes = () =>
      new Error(`$live/${name}: resolves outside ${state.dir}; $live/ imports only modules inside it`);
    const segments = name.split(/[\\/]/);
    if (isAbsolute(name) || segments.some((s) => s === '..' || s === '.' || s === '')) throw escapes();
    for (const ext of EXTENSIONS) {
      const file = join(liveDir(), `${name}${ext}`);
      if (!existsSync(file)) continue;
      if (!insideLiveDir(file)) throw escapes();
      return file;
    }
    return undefined;
  }

  /** Every live module under the directory: `{ name, file }`. */
  function listModules(dir = liveDir(), prefix = '') {
    if (!existsSync(dir)) return [];
    const out = [];
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) out.push(...listModules(join(dir, entry.name), `${prefix}${entry.name}/`));
      else if (EXTENSIONS.some((ext) => entry.name.endsWith(ext)) && !entry.name.endsWith('.d.ts')) {
        const file = join(dir, entry.name);
        // A symlink out of the directory is not a live module (see `fileOf`).
        if (entry.isSymbolicLink() && !insideLiveDir(file)) continue;
        out.push({ name: `${prefix}${entry.name.replace(/\.(js|ts|mjs)$/, '')}`, file });
      }
    }
    return out;
  }

  /** file → { mtimeMs, exports }: scans are reused until the file changes. */
  const scans = new Map();

  /**
   * The module's live exports (TypeScript types stripped first); throws a readable error
   * when it does not parse. Its warnings are printed once per version of the file.
   */
  async function scan(file) {
    const mtimeMs = statSync(file).mtimeMs;
    const cached = scans.get(file);
    if (cached?.mtimeMs === mtimeMs) return cached.exports;
    const where = relative(state.root, file);
    let result;
    try {
      result = scanLiveModule(await stripTypes(readFileSync(file, 'utf8'), file));
    } catch (error) {
      throw new Error(`${where}: ${error.message}`, { cause: error });
    }
    scans.set(file, { mtimeMs, exports: result.exports });
    for (const warning of result.warnings) state.logger.warn(`[svelte-realtime] ${where}: ${warning}`);
    if (result.exports.length === 0) {
      state.logger.warn(
        `[svelte-realtime] ${where} exports nothing callable from the client: wrap functions in live(), ` +
          'live.stream() or another live*() helper from svelte-realtime/server',
      );
    }
    return result.exports;
  }

  /** `scan` for typings: a module that does not parse keeps no declarations. */
  async function scanOrNothing(file) {
    try {
      return await scan(file);
    } catch {
      return [];
    }
  }

  async function modulesWithEagerness() {
    return Promise.all(
      listModules().map(async (m) => ({ ...m, eager: (await scanOrNothing(m.file)).some((e) => e.eager) })),
    );
  }

  function writeTypings() {
    if (!state.typedImports) return Promise.resolve();
    return writeTypes(state.root, listModules(), scanOrNothing, state.dir).catch((error) => {
      state.logger.error(`[svelte-realtime] could not write $live typings: ${error.message}`);
    });
  }

  function hooksFile() {
    for (const ext of EXTENSIONS) {
      const file = resolve(state.root, `src/hooks.ws${ext}`);
      if (existsSync(file)) return file;
    }
    return undefined;
  }

  /** `$live/...` imports. */
  const modulesPlugin = {
    name: 'svelte-realtime:live-modules',
    enforce: 'pre',
    config(config, env) {
      state.command = env.command;
      return {
        // One instance of svelte-realtime in SSR, shared with the runtime and the adapter.
        ssr: { external: ['svelte-realtime'] },
        optimizeDeps: { exclude: ['svelte-realtime'] },
      };
    },
    configResolved(config) {
      state.root = config.root;
      state.logger = config.logger;
    },
    resolveId(id) {
      if (id === REGISTRY_ID) return RESOLVED_REGISTRY;
      if (id === DEV_REGISTRY_ID) return RESOLVED_DEV_REGISTRY;
      if (!id.startsWith(LIVE_PREFIX)) return undefined;
      const name = id.slice(LIVE_PREFIX.length).replace(/\.(js|ts|mjs)$/, '');
      let file;
      try {
        file = fileOf(name);
      } catch (error) {
        this.error(error.message);
      }
      if (!file) {
        this.error(`${id}: no file ${state.dir}/${name}.js (or .ts)`);
      }
      return `${VIRTUAL_LIVE}${name}`;
    },
    async load(id, loadOptions) {
      if (id === RESOLVED_REGISTRY) return registryModule(await modulesWithEagerness());
      if (id === RESOLVED_DEV_REGISTRY) {
        const lines = ['export async function loadAll() {', '  return {'];
        for (const m of listModules()) lines.push(`    ${JSON.stringify(m.name)}: await import(${JSON.stringify(m.file)}),`);
        lines.push('  };', '}');
        return `${lines.join('\n')}\n`;
      }
      if (!id.startsWith(VIRTUAL_LIVE)) return undefined;
      const name = id.slice(VIRTUAL_LIVE.length);
      const file = fileOf(name);
      this.addWatchFile(file);
      let exports;
      try {
        exports = await scan(file);
      } catch (error) {
        this.error(error.message);
      }
      if (loadOptions?.ssr) return ssrStub(name, file, exports);
      return clientStub(name, exports, { devtools: state.command === 'serve' && state.devtools });
    },
  };

  /** The SSR build also emits the registry and the WebSocket hooks for the adapter. */
  const buildPlugin = {
    name: 'svelte-realtime:server-entries',
    apply: 'build',
    buildStart() {
      const ssr = this.environment ? this.environment.config.consumer === 'server' : false;
      if (!ssr) return;
      this.emitFile({ type: 'chunk', id: REGISTRY_ID, fileName: 'svelte-realtime/registry.js' });
      const hooks = hooksFile();
      // `adapter({ websocket: false })`: no endpoint, so no hooks to bundle.
      if (hooks && websocketEnabled()) this.emitFile({ type: 'chunk', id: hooks, fileName: 'svelte-realtime/hooks.ws.js' });
    },
  };

  /** `vite dev`: the native runtime behind Vite's port, HMR of live modules, typings. */
  const devPlugin = {
    name: 'svelte-realtime:dev',
    apply: 'serve',
    configureServer(server) {
      const runtime = devRuntime(server, {
        path: state.websocket.path ?? '/ws',
        websocket: state.websocket,
        hooksFile,
        registryId: DEV_REGISTRY_ID,
        liveDir,
      });
      server.httpServer?.once('listening', () => runtime.start());
      server.httpServer?.once('close', () => runtime.stop());
      writeTypings();
      server.watcher.on('all', (event, file) => {
        if (!file.startsWith(liveDir()) || file.endsWith('.d.ts')) return;
        writeTypings();
        runtime.reload();
      });
    },
  };

  /** `vite build`: typings too. */
  const typesPlugin = {
    name: 'svelte-realtime:types',
    apply: 'build',
    buildStart() {
      return writeTypings();
    },
  };

  /** Imports of names a live module does not export: say which, and what it does export. */
  const importsPlugin = {
    name: 'svelte-realtime:live-imports',
    async transform(code, id) {
      if (!code.includes(LIVE_PREFIX) || id.startsWith('\0') || id.includes('/node_modules/')) return undefined;
      const problems = await checkLiveImports(code, (name) => {
        const file = fileOf(name);
        return file ? scanOrNothing(file) : undefined;
      });
      for (const problem of problems) {
        const message = `${relative(state.root, id.split('?')[0])}: ${problem}`;
        // The build fails on it anyway; say why. In dev the page would only show a bare 500.
        if (state.command === 'build') this.error(message);
        state.logger.error(`[svelte-realtime] ${message}`, { timestamp: true });
      }
      return undefined;
    },
  };

  markPlugin();
  return [modulesPlugin, buildPlugin, devPlugin, typesPlugin, importsPlugin];
}

export { realtime };
