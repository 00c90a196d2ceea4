#!/usr/bin/env node
// `npm run demo`: builds the addon (when needed), installs and builds the SvelteKit chat
// demo (examples/chat) with the svelte-realtime adapter, and serves it with `node build`
// on http://localhost:3000 (PORT overrides).

import { spawnSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const app = join(root, 'examples', 'chat');

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run(process.execPath, [join(root, 'scripts', 'ensure-setup.js')], root);
if (!existsSync(join(app, 'node_modules', '.package-lock.json'))) {
  console.log('svelte-realtime demo: installing the demo app');
  run('npm', ['ci', '--no-audit', '--no-fund'], app);
}
console.log('svelte-realtime demo: building the demo app');
run(process.execPath, [join(app, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], app);
const port = process.env.PORT ?? '3000';
console.log(`svelte-realtime demo: open http://localhost:${port} in two browsers (Ctrl+C stops it)`);
const server = spawn(process.execPath, ['build'], { cwd: app, stdio: 'inherit', env: { ...process.env, PORT: port } });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill(signal));
server.on('exit', (code) => process.exit(code ?? 0));
