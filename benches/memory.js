#!/usr/bin/env node
// Server memory per idle WebSocket and time to accept a connection storm: the native runtime
// vs the plain `ws` server (servers/), same Rust load generator, same run.
//
//   node benches/memory.js [--clients 5000] [--reps 3]
//
// RSS of the server process is read from /proc before the clients connect and one second
// after the last one is open; the difference over the number of clients is the cost of an
// idle connection (kernel socket buffers are not in RSS). Linux only.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const clients = option('--clients', 5000);
const reps = option('--reps', 3);

function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

function lines(child, onLine) {
  let buffer = '';
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  });
}

function waitLine(child, predicate) {
  return new Promise((resolve) => lines(child, (line) => predicate(line) && resolve(line)));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];

async function runOnce(loadgen, kind) {
  const server = spawn(process.execPath, [join(here, 'servers', `${kind}.js`)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = (await waitLine(server, (l) => l.startsWith('PORT '))).split(' ')[1];
  await sleep(500);
  const before = rssKiB(server.pid);
  const started = process.hrtime.bigint();
  const gen = spawn(loadgen, ['idle', `ws://127.0.0.1:${port}/ws`, String(clients)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await waitLine(gen, (l) => l === 'READY');
  const connectSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  await sleep(1000);
  const after = rssKiB(server.pid);
  gen.stdin.end();
  await new Promise((r) => gen.on('exit', r));
  server.stdin.write('quit\n');
  await new Promise((r) => server.on('exit', r));
  return { kind, before, after, perConnectionKiB: (after - before) / clients, connectSeconds };
}

const build = spawnSync('cargo', ['build', '--release', '-q', '-p', 'realtime-loadgen'], {
  cwd: root,
  stdio: 'inherit',
});
if (build.status !== 0) process.exit(1);
const loadgen = join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'release', 'realtime-loadgen');

const results = [];
for (let rep = 0; rep < reps; rep++) {
  for (const kind of rep % 2 ? ['ws', 'native'] : ['native', 'ws']) {
    const r = await runOnce(loadgen, kind);
    results.push(r);
    console.error(
      `  ${kind} rep ${rep + 1}: ${r.perConnectionKiB.toFixed(2)} KiB/connection, ` +
        `${clients} connects in ${r.connectSeconds.toFixed(2)} s (RSS ${r.before} → ${r.after} KiB)`,
    );
  }
}
console.log(`\n| ${clients} idle WebSockets | native (median) | ws (median) |`);
console.log('|---|---|---|');
const of = (kind, key) => median(results.filter((r) => r.kind === kind).map((r) => r[key]));
console.log(`| server RSS per connection | ${of('native', 'perConnectionKiB').toFixed(2)} KiB | ${of('ws', 'perConnectionKiB').toFixed(2)} KiB |`);
console.log(`| time to open all (connection storm) | ${of('native', 'connectSeconds').toFixed(2)} s | ${of('ws', 'connectSeconds').toFixed(2)} s |`);
