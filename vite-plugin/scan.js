// Static analysis of a live module (`src/live/*.js`): which exports are client-callable and
// how. Parsing, not importing: building the client must never run server code (database
// connections, secrets). The analysis follows the `live` and `pipe` bindings imported from
// `svelte-realtime` / `svelte-realtime/server`, whatever their local names.

import { parseAst } from 'vite';

const PACKAGES = new Set(['svelte-realtime', 'svelte-realtime/server']);
const STREAM_OPTIONS = ['merge', 'key', 'prepend', 'max', 'version'];

/**
 * @typedef {{
 *   name: string,
 *   kind: 'rpc' | 'stream' | 'binary' | 'room' | 'server',
 *   dynamic?: boolean,
 *   eager?: boolean,
 *   gated?: boolean,
 *   options?: Record<string, unknown>,
 *   room?: { presence: boolean, cursors: boolean, actions: string[], merge?: string, key?: string },
 * }} LiveExport
 */

/** A literal value, or undefined when the expression is not a plain literal. */
function literal(node) {
  if (!node) return undefined;
  if (node.type === 'Literal') return node.value;
  if (node.type === 'UnaryExpression' && node.operator === '-' && node.argument.type === 'Literal') {
    return -node.argument.value;
  }
  if (node.type === 'TemplateLiteral' && node.expressions.length === 0) return node.quasis[0].value.cooked;
  return undefined;
}

function propertyName(prop) {
  if (prop.type !== 'Property' || prop.computed) return undefined;
  return prop.key.type === 'Identifier' ? prop.key.name : literal(prop.key);
}

/** The literal stream options the client needs (merge, key, prepend, max, version). */
function streamOptions(node) {
  const out = {};
  if (node?.type !== 'ObjectExpression') return out;
  for (const prop of node.properties) {
    const name = propertyName(prop);
    if (!STREAM_OPTIONS.includes(name)) continue;
    const value = literal(prop.value);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

const isFunction = (node) =>
  node?.type === 'ArrowFunctionExpression' || node?.type === 'FunctionExpression';

/**
 * Analyses one module's source.
 * @param {string} code
 * @returns {{ exports: LiveExport[], warnings: string[] }}
 */
export function scanLiveModule(code) {
  const ast = parseAst(code);
  const liveNames = new Set();
  const pipeNames = new Set();
  const namespaces = new Set();
  for (const node of ast.body) {
    if (node.type !== 'ImportDeclaration' || !PACKAGES.has(node.source.value)) continue;
    for (const spec of node.specifiers) {
      if (spec.type === 'ImportNamespaceSpecifier') namespaces.add(spec.local.name);
      else if (spec.type === 'ImportSpecifier') {
        const imported = spec.imported.name ?? spec.imported.value;
        if (imported === 'live') liveNames.add(spec.local.name);
        if (imported === 'pipe') pipeNames.add(spec.local.name);
      }
    }
  }

  /** `live` / `pipe` imported under `names`, or read as `ns.<property>` from a namespace import. */
  const refersTo = (node, names, property) =>
    (node?.type === 'Identifier' && names.has(node.name)) ||
    (node?.type === 'MemberExpression' &&
      !node.computed &&
      node.object.type === 'Identifier' &&
      namespaces.has(node.object.name) &&
      node.property.name === property);
  const isLive = (node) => refersTo(node, liveNames, 'live');
  const isPipe = (node) => refersTo(node, pipeNames, 'pipe');

  /** Classifies a call expression; undefined when it is not one of ours. */
  function classify(node) {
    if (node?.type !== 'CallExpression') return undefined;
    const callee = node.callee;
    if (isLive(callee)) return { kind: 'rpc' };
    if (isPipe(callee)) {
      const inner = classify(node.arguments[0]);
      return inner?.kind === 'stream' ? inner : undefined;
    }
    if (callee.type !== 'MemberExpression' || callee.computed || !isLive(callee.object)) return undefined;
    const method = callee.property.name;
    const [a, b, c] = node.arguments;
    switch (method) {
      case 'stream':
        return { kind: 'stream', dynamic: isFunction(a), options: streamOptions(c) };
      case 'channel':
        return { kind: 'stream', dynamic: isFunction(a), options: { merge: 'set', ...streamOptions(b) } };
      case 'derived':
        return { kind: 'stream', dynamic: false, eager: true, options: { merge: 'set', ...streamOptions(c) } };
      case 'aggregate':
        return { kind: 'stream', dynamic: false, eager: true, options: { merge: 'set' } };
      case 'gate': {
        const inner = classify(b);
        return inner?.kind === 'stream' ? { ...inner, gated: true } : undefined;
      }
      case 'validated':
      case 'rateLimit':
        return { kind: 'rpc' };
      case 'binary':
        return { kind: 'binary' };
      case 'room':
        return { kind: 'room', room: roomOf(a) };
      case 'cron':
      case 'effect':
        return { kind: 'server', eager: true };
      case 'webhook':
        return { kind: 'server' };
      default:
        return undefined;
    }
  }

  function roomOf(config) {
    const room = { presence: false, cursors: false, actions: [] };
    if (config?.type !== 'ObjectExpression') return room;
    for (const prop of config.properties) {
      const name = propertyName(prop);
      if (name === 'presence') room.presence = literal(prop.value) !== false && literal(prop.value) !== null;
      if (name === 'cursors') room.cursors = Boolean(literal(prop.value) ?? true);
      if (name === 'merge' || name === 'key') room[name] = literal(prop.value);
      if (name === 'actions' && prop.value.type === 'ObjectExpression') {
        for (const action of prop.value.properties) {
          const actionName = propertyName(action);
          if (typeof actionName === 'string') room.actions.push(actionName);
        }
      }
    }
    return room;
  }

  const exports = [];
  const warnings = [];
  const serverOnly = (name, how) =>
    warnings.push(
      `export "${name}" is ${how}, so it is not callable from the client; ` +
        `wrap it as \`export const ${name} = live(...)\` (or live.stream(), live.*()) to call it through $live/`,
    );
  /** Top-level `const x = ...` initializers, so `export { x }` can be followed. */
  const locals = new Map();
  for (const node of ast.body) {
    const declaration = node.type === 'ExportNamedDeclaration' ? node.declaration : node;
    if (declaration?.type !== 'VariableDeclaration') continue;
    for (const declarator of declaration.declarations) {
      if (declarator.id.type === 'Identifier') locals.set(declarator.id.name, declarator.init);
    }
  }
  const exportBinding = (name, init) => {
    if (name === '_guard') return;
    const info = classify(init);
    if (info) exports.push({ name, ...info });
    else if (init?.type === 'CallExpression') serverOnly(name, 'not a direct live(), live.*() or pipe() call');
    else serverOnly(name, 'not wrapped in live*()');
  };
  for (const node of ast.body) {
    if (node.type === 'ExportDefaultDeclaration') {
      serverOnly('default', 'a default export');
      continue;
    }
    if (node.type !== 'ExportNamedDeclaration') continue;
    const declaration = node.declaration;
    if (!declaration) {
      // `export { x }` (TypeScript compiles `export const x = ...` to this) or a re-export.
      for (const spec of node.specifiers) {
        const name = spec.exported.name ?? spec.exported.value;
        const local = spec.local.name ?? spec.local.value;
        if (!node.source && locals.has(local)) exportBinding(name, locals.get(local));
        else serverOnly(name, 're-exported from another module (the scan follows only this file)');
      }
      continue;
    }
    if (declaration.type === 'FunctionDeclaration' || declaration.type === 'ClassDeclaration') {
      if (declaration.id?.name) serverOnly(declaration.id.name, `a plain ${declaration.type === 'ClassDeclaration' ? 'class' : 'function'}`);
      continue;
    }
    if (declaration.type !== 'VariableDeclaration') continue;
    for (const declarator of declaration.declarations) {
      if (declarator.id.type === 'Identifier') exportBinding(declarator.id.name, declarator.init);
    }
  }
  return { exports, warnings };
}
