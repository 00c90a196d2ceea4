// TypeScript live modules: the static scan parses JavaScript, so a `.ts` module's types are
// stripped first with the transform Vite itself ships (Oxc in Vite 8, esbuild in Vite 6-7).
// No TypeScript compiler runs; only annotations, interfaces and `import type` go away.

const TS_FILE = /\.(ts|mts|cts)$/;

let transform;

/** The type-stripping transform of the Vite that is installed. */
async function transformer() {
  if (!transform) {
    const vite = await import('vite');
    if (typeof vite.transformWithOxc === 'function') {
      transform = async (code, file) => (await vite.transformWithOxc(code, file, { lang: 'ts' })).code;
    } else {
      transform = async (code, file) =>
        (await vite.transformWithEsbuild(code, file, { loader: 'ts', target: 'esnext', format: 'esm' })).code;
    }
  }
  return transform;
}

/** `code` with its TypeScript types removed when `file` is a TypeScript file. */
export async function stripTypes(code, file) {
  if (!TS_FILE.test(file)) return code;
  return (await transformer())(code, file);
}
