// Loading the user's hooks module (`hooks.ws.js`) and checking its shape.

import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

export const HOOK_NAMES = ['upgrade', 'open', 'message', 'close', 'drain', 'subscribe'];

/**
 * @param {object | string | undefined} source a module namespace/object, or a path or URL
 * @param {{ warn: (msg: string) => void }} log
 * @returns {Promise<Partial<Record<(typeof HOOK_NAMES)[number], Function>>>}
 */
export async function loadHooks(source, log) {
  if (source === undefined || source === null) return {};
  let module = source;
  if (typeof source === 'string' || source instanceof URL) {
    const url =
      source instanceof URL || /^[a-z]+:/i.test(source) ? source : pathToFileURL(resolve(source));
    module = await import(String(url));
  }
  if (typeof module !== 'object') {
    throw new TypeError('hooks must be a module object or a path to one');
  }
  /** @type {Record<string, Function>} */
  const hooks = {};
  for (const name of HOOK_NAMES) {
    const hook = module[name];
    if (hook === undefined) continue;
    if (typeof hook !== 'function') {
      throw new TypeError(`hooks.${name} must be a function, got ${typeof hook}`);
    }
    hooks[name] = hook;
  }
  for (const name of Object.keys(module)) {
    if (!HOOK_NAMES.includes(name) && name !== 'default' && typeof module[name] === 'function') {
      log.warn(
        `hooks export "${name}" is not a WebSocket hook and is ignored ` +
          `(known: ${HOOK_NAMES.join(', ')})`,
      );
    }
  }
  return hooks;
}
