#!/usr/bin/env node
// Fails when generated files differ from the committed ones: index.js / index.d.ts (from
// `napi build`, never edited by hand) and the demo's lockfile, which records this package's
// own manifest (a stale one makes `npm run demo` modify the clone, or `npm ci` refuse).

import { spawnSync } from 'node:child_process';

const result = spawnSync('git', ['diff', '--exit-code', '--stat', '--', 'index.js', 'index.d.ts'], {
  stdio: 'inherit',
});
if (result.status !== 0) {
  console.error(
    'index.js / index.d.ts changed after the build: commit the regenerated files ' +
      '(they come from `napi build`; never edit them by hand).',
  );
  process.exit(1);
}

const demo = new URL('../examples/chat/', import.meta.url);
const lock = spawnSync('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund', '--ignore-scripts'], {
  cwd: demo,
  stdio: 'ignore',
});
const stale = spawnSync('git', ['diff', '--exit-code', '--stat', '--', 'examples/chat/package-lock.json'], { stdio: 'inherit' });
if (lock.status !== 0 || stale.status !== 0) {
  console.error('examples/chat/package-lock.json is out of date: commit the updated lockfile.');
  process.exit(1);
}
