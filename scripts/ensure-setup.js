#!/usr/bin/env node
// Makes a fresh clone runnable: installs npm packages when they are missing (the install
// script builds the addon), otherwise rebuilds the addon (a no-op for cargo when nothing
// changed). Used by `npm test` and `npm run demo`, so both work right after `git clone`.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
  console.log('svelte-realtime: installing npm packages (first run)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
} else {
  run(process.execPath, [join(root, 'scripts', 'build-addon.js')]);
}
