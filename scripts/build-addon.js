#!/usr/bin/env node
// Builds the native addon from source. Runs as the package's `install` script and by hand
// (`npx svelte-realtime-build`, `npm run build`).
//
// In a checkout (the napi CLI is installed as a dev dependency) it runs `napi build`, which
// also regenerates index.js and index.d.ts; CI fails if they differ from the committed ones.
// Installed as a dependency it runs cargo directly, in a target directory outside the
// package (a per-user cache, so node_modules keeps only the built `.node` and a reinstall
// reuses the compiled dependencies), and copies the library next to index.js under the name
// the generated loader looks for (SVELTE_REALTIME_BUILD=cargo forces that path). When a
// prebuilt per-platform package (npm/<platform>, published as an optional dependency) is
// installed, nothing is compiled.
//
// npm runs install scripts with their output hidden, so progress goes to the terminal
// directly when there is one. Set SVELTE_REALTIME_SKIP_BUILD=1 to skip,
// SVELTE_REALTIME_PROFILE=debug for a faster, unoptimized build, CARGO_TARGET_DIR to choose
// where cargo builds.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const profile = process.env.SVELTE_REALTIME_PROFILE === 'debug' ? 'debug' : 'release';
const require = createRequire(import.meta.url);

/** Where progress goes: the terminal itself when npm hides our output, else stdout. */
const progress = (() => {
  if (process.env.npm_lifecycle_event === 'install' && process.platform !== 'win32') {
    try {
      return openSync('/dev/tty', 'w');
    } catch {
      // no terminal (CI): npm prints the output if the build fails
    }
  }
  return 'inherit';
})();

function say(message) {
  writeSync(typeof progress === 'number' ? progress : 1, `svelte-realtime: ${message}\n`);
}

function run(command, args, env = process.env) {
  const result = spawnSync(command, args, {
    cwd: root,
    env,
    stdio: ['ignore', progress, progress],
    shell: process.platform === 'win32',
  });
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

/** A prebuilt binary package for this platform, if one is installed. */
function prebuilt() {
  try {
    return require.resolve(`${pkg.name}-${platformSuffix()}/package.json`, { paths: [root] });
  } catch {
    return null;
  }
}

/** cargo's target directory for an install: outside the package, shared between installs. */
function cacheTarget() {
  if (process.env.CARGO_TARGET_DIR) return process.env.CARGO_TARGET_DIR;
  const base = process.env.XDG_CACHE_HOME ?? (process.platform === 'win32' ? process.env.LOCALAPPDATA : null) ?? join(homedir(), '.cache');
  return join(base, pkg.name, 'target');
}

if (process.env.SVELTE_REALTIME_SKIP_BUILD === '1') {
  say('SVELTE_REALTIME_SKIP_BUILD=1, not building the native addon');
  process.exit(0);
}

let napiCli = null;
if (process.env.SVELTE_REALTIME_BUILD !== 'cargo') {
  try {
    napiCli = require.resolve('@napi-rs/cli/package.json', { paths: [root] });
  } catch {
    // installed as a dependency: no CLI, plain cargo
  }
}

if (!napiCli && prebuilt()) {
  say(`using the prebuilt ${pkg.name}-${platformSuffix()} binary`);
  process.exit(0);
}

if (napiCli) {
  say(`building the native addon with napi (${profile})`);
  const bin = join(dirname(napiCli), 'dist', 'cli.js');
  const args = [bin, 'build', '--platform', '--esm'];
  if (profile === 'release') args.push('--release');
  run(process.execPath, args);
} else {
  const target = cacheTarget();
  say(
    `compiling the native addon from source with cargo (Rust, ${profile} build): ` +
      `about 1-3 minutes the first time, seconds once cached in ${target}`,
  );
  const args = ['build', '--lib', '-p', 'svelte-realtime'];
  if (profile === 'release') args.push('--release');
  // cargo draws its progress bar only on a terminal; ours is /dev/tty, not its stderr.
  const bar = typeof progress === 'number' ? { CARGO_TERM_PROGRESS_WHEN: 'always', CARGO_TERM_PROGRESS_WIDTH: '80' } : {};
  run('cargo', args, { ...process.env, CARGO_TARGET_DIR: target, ...bar });
  copyFileSync(join(target, profile, libraryName()), join(root, `svelte-realtime.${platformSuffix()}.node`));
}
say('native addon ready');
