#!/usr/bin/env node
// End-to-end benchmark over loopback: the native runtime against a plain `ws`-package server
// doing the same work (servers/), driven by the same Rust load generator
// (crates/realtime-loadgen) in a separate process, in the same run, alternating order.
//
//   node benches/e2e-publish.js [--reps 5] [--quick]
//
// Scenarios:
//   fanout: N clients subscribe to one topic; the server publishes M envelopes (~100 B of
//           data) in chunks of 100 per event-loop tick; measured from the first message any
//           client receives to the last one every client receives. Nothing may be lost.
//   echo:   N clients each send an RPC-shaped request and wait for the `__rpc` reply, K
//           times; round trips per second and latency percentiles.
// Prints a Markdown table of medians and the native/ws ratio of the medians, and writes the
// raw runs to benches/results/e2e-<timestamp>.json.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const args = process.argv.slice(2);
const reps = Number(args[args.indexOf('--reps') + 1]) || 5;
const quick = args.includes('--quick');

const scenarios = quick
  ? [
      { mode: 'fanout', clients: 100, messages: 500, payload: 100 },
      { mode: 'echo', clients: 20, rounds: 200 },
    ]
  : [
      { mode: 'fanout', clients: 100, messages: 2000, payload: 100 },
      { mode: 'fanout', clients: 1000, messages: 200, payload: 100 },
      { mode: 'echo', clients: 50, rounds: 400 },
    ];

function buildLoadgen() {
  const result = spawnSync('cargo', ['build', '--release', '-q', '-p', 'realtime-loadgen'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) process.exit(1);
  return join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'release', 'realtime-loadgen');
}

/** Spawns a process and resolves lines of its stdout through `onLine`. */
function start(command, argv, onLine) {
  const child = spawn(command, argv, { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  let buffer = '';
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      onLine(line);
    }
  });
  return child;
}

function waitForLine(lines, predicate, timeout = 60_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for a line')), timeout);
    lines.waiters.push((line) => {
      if (!predicate(line)) return false;
      clearTimeout(timer);
      resolve(line);
      return true;
    });
  });
}

function lineHub() {
  const hub = { waiters: [], seen: [] };
  hub.push = (line) => {
    hub.seen.push(line);
    hub.waiters = hub.waiters.filter((w) => !w(line));
  };
  return hub;
}

async function runOnce(loadgen, kind, scenario) {
  const serverLines = lineHub();
  const server = start(process.execPath, [join(here, 'servers', `${kind}.js`)], serverLines.push);
  const portLine = await waitForLine(serverLines, (l) => l.startsWith('PORT '));
  const url = `ws://127.0.0.1:${portLine.split(' ')[1]}/ws`;
  const genLines = lineHub();
  const argv =
    scenario.mode === 'fanout'
      ? ['fanout', url, String(scenario.clients), String(scenario.messages), 'bench']
      : ['echo', url, String(scenario.clients), String(scenario.rounds)];
  const gen = start(loadgen, argv, genLines.push);
  await waitForLine(genLines, (l) => l === 'READY');
  if (scenario.mode === 'fanout') {
    server.stdin.write(`publish ${scenario.messages} ${scenario.payload}\n`);
  }
  const result = JSON.parse(await waitForLine(genLines, (l) => l.startsWith('{')));
  server.stdin.write('quit\n');
  await new Promise((r) => server.on('exit', r));
  await new Promise((r) => (gen.exitCode !== null ? r() : gen.on('exit', r)));
  return result;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function describe(s) {
  return s.mode === 'fanout'
    ? `fanout ${s.clients} clients × ${s.messages} msgs`
    : `echo ${s.clients} clients × ${s.rounds} round trips`;
}

const loadgen = buildLoadgen();
const runs = [];
console.log(`# e2e benchmark, ${reps} reps, ${cpus().length} cores, node ${process.version}`);
for (const scenario of scenarios) {
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 ? ['ws', 'native'] : ['native', 'ws'];
    for (const kind of order) {
      const result = await runOnce(loadgen, kind, scenario);
      runs.push({ scenario: describe(scenario), kind, rep, ...result });
      const rate = result.mode === 'fanout' ? result.deliveries_per_second : result.round_trips_per_second;
      const lost = result.expected - (result.received ?? result.round_trips);
      console.error(`  ${describe(scenario)} · ${kind} · rep ${rep + 1}: ${Math.round(rate)}/s${lost ? `, LOST ${lost}` : ''}`);
    }
  }
}

const rows = [];
for (const scenario of scenarios) {
  const name = describe(scenario);
  const metric = scenario.mode === 'fanout' ? 'deliveries_per_second' : 'round_trips_per_second';
  const of = (kind) => runs.filter((r) => r.scenario === name && r.kind === kind);
  const nat = median(of('native').map((r) => r[metric]));
  const ws = median(of('ws').map((r) => r[metric]));
  const lost = runs
    .filter((r) => r.scenario === name)
    .reduce((n, r) => n + (r.expected - (r.received ?? r.round_trips)), 0);
  let extra = '';
  if (scenario.mode === 'echo') {
    const p99 = (kind) => median(of(kind).map((r) => r.p99_ms)).toFixed(2);
    extra = ` p99 ${p99('native')} ms vs ${p99('ws')} ms`;
  }
  rows.push(`| ${name} | ${Math.round(nat).toLocaleString('en')} /s | ${Math.round(ws).toLocaleString('en')} /s | ${(nat / ws).toFixed(2)}× | ${lost} |${extra}`);
}
console.log('\n| scenario | native (median) | ws (median) | native / ws | lost |');
console.log('|---|---|---|---|---|');
for (const row of rows) console.log(row);

mkdirSync(join(here, 'results'), { recursive: true });
const file = join(here, 'results', `e2e-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ reps, node: process.version, cores: cpus().length, runs }, null, 2));
console.log(`\nraw runs: ${file}`);
