// Where live functions are found by path (`module/export`, nested modules allowed), plus
// per-module guards and global middleware. One default registry serves the app; the test
// environment makes its own so tests stay independent.

import { metaOf } from './meta.js';
import { addCronJob, clearCronJobs } from './cron.js';
import { addReaction, clearReactions } from './reactive.js';

/** `module/export`: at least two segments of `[a-zA-Z0-9_]`. */
export const PATH_PATTERN = /^[a-zA-Z0-9_]+(?:\/[a-zA-Z0-9_]+)+$/;
/** Longest path accepted: deep paths cost the lazy-module lookup time per segment. */
export const MAX_PATH_LENGTH = 256;

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
  /** @type {Map<string, string>} room endpoint path → its module */
  moduleOf = new Map();
  /**
   * path → `{ fn, meta, guard }` for registered functions whose path is valid, built on
   * first use and dropped whenever registrations change: the per-call lookup is one Map get.
   * @type {Map<string, { fn: Function, meta: import('./meta.js').LiveMeta, guard: Function | undefined }>}
   */
  #plans = new Map();

  /**
   * What a call of `path` runs, or undefined when `path` is not a valid, registered path
   * (a lazy module not loaded yet included).
   */
  planFor(path) {
    let plan = this.#plans.get(path);
    if (plan !== undefined) return plan;
    if (typeof path !== 'string' || path.length > MAX_PATH_LENGTH || !PATH_PATTERN.test(path)) return undefined;
    const fn = this.handlers.get(path);
    if (fn === undefined) return undefined;
    plan = { fn, meta: metaOf(fn), guard: this.guardFor(path) };
    this.#plans.set(path, plan);
    return plan;
  }

  /**
   * Registers the live exports of one module (`chat` for `src/live/chat.js`). `_guard`
   * becomes the module guard; other exports made with `live*()` become callable.
   */
  registerModule(name, exports) {
    this.#plans.clear();
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
      } else if (meta.kind === 'webhook') {
        // Called from HTTP endpoints, never over the WebSocket.
      } else if (meta.kind === 'effect') {
        addReaction(`${name}/${exportName}`, meta);
      } else if (meta.kind === 'room') {
        this.registerRoom(name, exportName, meta);
      } else if (meta.kind !== 'guard') {
        this.handlers.set(`${name}/${exportName}`, value);
        this.paths.set(value, `${name}/${exportName}`);
        if (meta.reaction) addReaction(`${name}/${exportName}`, meta);
      }
    }
    this.lazy.delete(name);
  }

  /**
   * A room's endpoints live under `module/room/`: `__data`, `__presence`, `__cursors` and
   * `__action/<name>`; they keep the module's guard (reference bug §9.3).
   */
  registerRoom(name, exportName, meta) {
    this.#plans.clear();
    for (const [suffix, fn] of Object.entries(meta.endpoints)) {
      const path = `${name}/${exportName}/${suffix}`;
      this.handlers.set(path, fn);
      this.paths.set(fn, path);
      this.moduleOf.set(path, name);
    }
  }

  /** Registers a module to import on first use (production builds stay lazy). */
  registerLazy(name, loader) {
    this.lazy.set(name, loader);
  }

  /** Finds the function for `path`, importing its module first if it is lazy. */
  async resolve(path) {
    const found = this.handlers.get(path);
    if (found) return found;
    const moduleName = this.lazyModuleFor(path);
    if (moduleName === undefined) return undefined;
    const loader = this.lazy.get(moduleName);
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

  /** The lazy module `path` may belong to (the longest registered prefix). */
  lazyModuleFor(path) {
    let end = path.lastIndexOf('/');
    while (end > 0) {
      const candidate = path.slice(0, end);
      if (this.lazy.has(candidate)) return candidate;
      end = path.lastIndexOf('/', end - 1);
    }
    return undefined;
  }

  /** The guard of the module that holds `path`. */
  guardFor(path) {
    return this.guards.get(this.moduleOf.get(path) ?? path.slice(0, path.lastIndexOf('/')));
  }

  /** Forgets everything (server-side HMR re-registers from scratch). */
  clear() {
    this.#plans.clear();
    this.handlers.clear();
    this.guards.clear();
    this.lazy.clear();
    this.middleware.length = 0;
    this.moduleOf.clear();
    clearCronJobs();
    clearReactions();
  }
}

/** The registry `message`, `handleRpc` and `live.middleware` use by default. */
export const defaultRegistry = new Registry();
