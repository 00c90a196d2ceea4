// Where live functions are found by path (`module/export`, nested modules allowed), plus
// per-module guards and global middleware. One default registry serves the app; the test
// environment makes its own so tests stay independent.

import { metaOf } from './meta.js';
import { addCronJob, clearCronJobs } from './cron.js';

/** `module/export`: at least two segments of `[a-zA-Z0-9_]`. */
export const PATH_PATTERN = /^[a-zA-Z0-9_]+(?:\/[a-zA-Z0-9_]+)+$/;

export class Registry {
  /** @type {Map<string, Function>} */
  handlers = new Map();
  /** @type {Map<string, Function>} */
  guards = new Map();
  /** @type {Map<string, () => Promise<object>>} module name → loader */
  lazy = new Map();
  /** @type {Map<string, Promise<void>>} loads in progress */
  loading = new Map();
  /** @type {Function[]} */
  middleware = [];
  /** @type {WeakMap<Function, string>} function → its path, for SSR `.load` */
  paths = new WeakMap();

  /**
   * Registers the live exports of one module (`chat` for `src/live/chat.js`). `_guard`
   * becomes the module guard; other exports made with `live*()` become callable.
   */
  registerModule(name, exports) {
    if (typeof name !== 'string' || !/^[a-zA-Z0-9_]+(?:\/[a-zA-Z0-9_]+)*$/.test(name)) {
      throw new TypeError(`invalid live module name ${JSON.stringify(name)}: use [a-zA-Z0-9_] segments`);
    }
    for (const [exportName, value] of Object.entries(exports)) {
      const meta = metaOf(value);
      if (!meta) continue;
      if (exportName === '_guard') {
        if (meta.kind !== 'guard') throw new TypeError(`${name}._guard must be made with guard(...)`);
        this.guards.set(name, value);
      } else if (meta.kind === 'cron') {
        addCronJob(`${name}/${exportName}`, meta);
      } else if (meta.kind !== 'guard') {
        this.handlers.set(`${name}/${exportName}`, value);
        this.paths.set(value, `${name}/${exportName}`);
      }
    }
    this.lazy.delete(name);
  }

  /** Registers a module to import on first use (production builds stay lazy). */
  registerLazy(name, loader) {
    this.lazy.set(name, loader);
  }

  /** Finds the function for `path`, importing its module first if it is lazy. */
  async resolve(path) {
    const found = this.handlers.get(path);
    if (found) return found;
    const moduleName = path.slice(0, path.lastIndexOf('/'));
    const loader = this.lazy.get(moduleName);
    if (!loader) return undefined;
    let loading = this.loading.get(moduleName);
    if (!loading) {
      loading = Promise.resolve()
        .then(loader)
        .then((exports) => this.registerModule(moduleName, exports))
        .finally(() => this.loading.delete(moduleName));
      this.loading.set(moduleName, loading);
    }
    await loading;
    return this.handlers.get(path);
  }

  /** The guard of the module that holds `path`. */
  guardFor(path) {
    return this.guards.get(path.slice(0, path.lastIndexOf('/')));
  }

  /** Forgets everything (server-side HMR re-registers from scratch). */
  clear() {
    this.handlers.clear();
    this.guards.clear();
    this.lazy.clear();
    this.middleware.length = 0;
    clearCronJobs();
  }
}

/** The registry `message`, `handleRpc` and `live.middleware` use by default. */
export const defaultRegistry = new Registry();
