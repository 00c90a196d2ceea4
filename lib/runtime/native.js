// Loads the napi addon (the generated `index.js` at the package root) and turns a missing
// build into an error that says how to fix it. Nothing else in lib/ imports the addon.

let binding = null;
let loadError = null;
try {
  binding = await import('../../index.js');
} catch (error) {
  loadError = error;
}

/**
 * What actually failed to load, under the loader's own wrapping: napi's loader says "npm has
 * a bug related to optional dependencies" and suggests deleting node_modules, which is not
 * our case (we build from source, we publish no optional binaries), so only the innermost
 * cause is shown.
 */
function rootCause(error) {
  let cause = error;
  while (cause?.cause instanceof Error) cause = cause.cause;
  return cause?.message?.split('\n')[0] ?? 'unknown';
}

/** @returns {typeof import('../../index.js')} */
export function native() {
  if (binding) return binding;
  const hint =
    'The svelte-realtime native addon is not built. It builds from source with cargo ' +
    '(Rust >= 1.85) when the package installs. npm 11 skips install scripts of dependencies ' +
    'unless approved: run `npm install-scripts approve svelte-realtime && npm rebuild ' +
    'svelte-realtime`, or build it by hand with `npx svelte-realtime-build`.';
  throw new Error(`${hint}\nCause: ${rootCause(loadError)}`, { cause: loadError });
}
