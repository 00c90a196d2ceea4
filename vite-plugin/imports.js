// The names an app imports from `$live/<module>`, checked against what the module exports,
// so a typo (`sendMesage`) is reported in the terminal with the module's real exports and a
// suggestion, instead of a bare 500 in the browser (dev) or a resolver error (build).

import { parseAst } from 'vite';

const LIVE_PREFIX = '$live/';

/** Edit distance, for "did you mean". */
function distance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The closest of `names` to `name`, if it is close enough to be a typo. */
export function closest(name, names) {
  let best;
  let bestDistance = Infinity;
  for (const candidate of names) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Problems with the `$live/` imports of one module's code.
 * @param {string} code JavaScript (Vite has already compiled .svelte and .ts)
 * @param {(module: string) => Promise<Array<{ name: string, kind: string }>> | undefined} exportsOf
 *   the client-visible exports of a live module, or undefined when there is no such module
 * @returns {Promise<string[]>}
 */
export async function checkLiveImports(code, exportsOf) {
  let ast;
  try {
    ast = parseAst(code);
  } catch {
    return []; // not JavaScript we can read; the real compiler will say more
  }
  const problems = [];
  for (const node of ast.body) {
    if (node.type !== 'ImportDeclaration' || typeof node.source.value !== 'string') continue;
    const source = node.source.value;
    if (!source.startsWith(LIVE_PREFIX)) continue;
    const module = source.slice(LIVE_PREFIX.length).replace(/\.(js|ts|mjs)$/, '');
    let pending;
    try {
      pending = exportsOf(module);
    } catch {
      continue; // resolving the id reports it (e.g. a path outside the live directory)
    }
    if (!pending) continue;
    const available = (await pending).filter((e) => e.kind !== 'server').map((e) => e.name);
    for (const spec of node.specifiers) {
      if (spec.type === 'ImportNamespaceSpecifier') continue;
      const name = spec.type === 'ImportDefaultSpecifier' ? 'default' : (spec.imported.name ?? spec.imported.value);
      if (available.includes(name)) continue;
      const guess = closest(name, available);
      const list = available.length ? available.join(', ') : 'nothing callable';
      problems.push(
        `"${name}" is not exported by ${source} (it exports: ${list})` +
          (guess ? `; did you mean "${guess}"?` : ''),
      );
    }
  }
  return problems;
}
