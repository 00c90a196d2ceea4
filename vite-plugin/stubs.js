// Code of the `$live/<module>` modules: the browser stub (calls and stores over the
// WebSocket) and the SSR stub (stores that render undefined or hydrated data, `.load`).
// Server-only exports (cron, effects, webhooks, helpers) appear in neither.

const json = (value) => JSON.stringify(value);

/**
 * @param {string} moduleName e.g. `chat` or `rooms/lobby`
 * @param {import('./scan.js').LiveExport[]} exports
 * @param {{ devtools?: boolean }} [options]
 */
export function clientStub(moduleName, exports, { devtools = false } = {}) {
  const lines = ["import { __rpc, __stream, __binary, __room } from 'svelte-realtime/client';"];
  if (devtools) lines.push("import 'svelte-realtime/devtools';");
  for (const e of exports) {
    const path = `${moduleName}/${e.name}`;
    if (e.kind === 'rpc') lines.push(`export const ${e.name} = __rpc(${json(path)});`);
    else if (e.kind === 'binary') lines.push(`export const ${e.name} = __binary(${json(path)});`);
    else if (e.kind === 'stream') {
      lines.push(`export const ${e.name} = __stream(${json(path)}, ${json(e.options ?? {})}, ${Boolean(e.dynamic)});`);
    } else if (e.kind === 'room') {
      lines.push(`export const ${e.name} = __room(${json(path)}, ${json(e.room)});`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * @param {string} moduleName
 * @param {string} file absolute path of the live module
 * @param {import('./scan.js').LiveExport[]} exports
 */
export function ssrStub(moduleName, file, exports) {
  // Import only the helpers used, so the build has no unused-import warnings.
  const helpers = new Set();
  for (const e of exports) {
    if (e.kind === 'rpc' || e.kind === 'binary') helpers.add('ssrCall');
    else if (e.kind === 'stream') helpers.add('ssrStream');
    else if (e.kind === 'room') helpers.add('ssrRoom');
  }
  const lines = [];
  if (helpers.has('ssrStream')) lines.push(`import * as server from ${json(file)};`);
  if (helpers.size) lines.push(`import { ${[...helpers].sort().join(', ')} } from 'svelte-realtime/internal/ssr';`);
  for (const e of exports) {
    const path = `${moduleName}/${e.name}`;
    if (e.kind === 'rpc' || e.kind === 'binary') lines.push(`export const ${e.name} = ssrCall(${json(path)});`);
    else if (e.kind === 'stream') lines.push(`export const ${e.name} = ssrStream(server.${e.name}, ${Boolean(e.dynamic)});`);
    else if (e.kind === 'room') lines.push(`export const ${e.name} = ssrRoom(${json(path)}, ${json(e.room)});`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The server registry: every live module, imported lazily on first call; modules with
 * cron jobs, effects, derived streams or aggregates are registered at startup so their
 * reactions exist before the first RPC.
 * @param {Array<{ name: string, file: string, eager: boolean }>} modules
 */
export function registryModule(modules) {
  const lines = ["import { registerModule } from 'svelte-realtime/server';"];
  for (const m of modules) {
    if (m.eager) lines.push(`registerModule(${json(m.name)}, await import(${json(m.file)}));`);
    else lines.push(`registerModule(${json(m.name)}, () => import(${json(m.file)}));`);
  }
  lines.push(`export const modules = ${json(modules.map((m) => m.name))};`);
  return `${lines.join('\n')}\n`;
}
