#!/usr/bin/env node
// Builds the native addon from source. Runs as the package's `install` script and by hand
// (`npx svelte-realtime-build`, `npm run build`).
//
// In a checkout (the napi CLI is installed as a dev dependency) it runs `napi build`, which
// also regenerates index.js and index.d.ts; CI fails if they differ from the committed ones.
// Installed as a dependency it runs cargo directly and copies the library next to index.js
// under the name the generated loader looks for (SVELTE_REALTIME_BUILD=cargo forces that
// path). Set SVELTE_REALTIME_SKIP_BUILD=1 to skip, SVELTE_REALTIME_PROFILE=debug for a
// faster, unoptimized build.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const profile = process.env.SVELTE_REALTIME_PROFILE === 'debug' ? 'debug' : 'release';

function say(message) {
  console.log(`svelte-realtime: ${message}`);
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.error?.code === 'ENOENT') {
    console.error(
      `svelte-realtime: \`${command}\` was not found. The native addon builds from source and ` +
        'needs Rust >= 1.85 (https://rustup.rs). Install it, then run `npx svelte-realtime-build`.',
    );
    process.exit(1);
  }
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/** The suffix the napi loader uses for this platform, e.g. `linux-x64-gnu`. */
function platformSuffix() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const musl = existsSync('/usr/bin/ldd') && readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
    return `linux-${arch}-${musl ? 'musl' : 'gnu'}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

function libraryName() {
  if (process.platform === 'win32') return 'svelte_realtime.dll';
  if (process.platform === 'darwin') return 'libsvelte_realtime.dylib';
  return 'libsvelte_realtime.so';
}

if (process.env.SVELTE_REALTIME_SKIP_BUILD === '1') {
  say('SVELTE_REALTIME_SKIP_BUILD=1, not building the native addon');
  process.exit(0);
}

const require = createRequire(import.meta.url);
let napiCli = null;
if (process.env.SVELTE_REALTIME_BUILD !== 'cargo') {
  try {
    napiCli = require.resolve('@napi-rs/cli/package.json', { paths: [root] });
  } catch {
    // installed as a dependency: no CLI, plain cargo
  }
}

say(`building the native addon with cargo (${profile}; a few minutes the first time)`);
if (napiCli) {
  const bin = join(dirname(napiCli), 'dist', 'cli.js');
  const args = [bin, 'build', '--platform', '--esm'];
  if (profile === 'release') args.push('--release');
  run(process.execPath, args);
} else {
  const args = ['build', '--lib', '-p', 'svelte-realtime'];
  if (profile === 'release') args.push('--release');
  run('cargo', args);
  const target = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
  copyFileSync(join(target, profile, libraryName()), join(root, `svelte-realtime.${platformSuffix()}.node`));
}
say('native addon ready');
